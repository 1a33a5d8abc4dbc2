/* meshctl dns-config: the tailnet's DNS settings in meshcontrol (control/netmap/dns.h).
 *
 *   meshctl dns-config get          the settings control hands every node
 *   meshctl dns-config set FILE     replace them (checked here first, then by control)
 *   meshctl dns-config clear        withdraw them: MagicDNS off, hosts get their own DNS back
 *
 * Named dns-config, not dns: `meshctl dns` is the node's resolver (meshctl_dns.c). */
#include <stdio.h>
#include <stdlib.h>

#include "cmd/meshctl.h"
#include "control/netmap/dns.h"

static bool check(const char *file, const char *text, size_t len)
{
	struct ctl_dns *d;
	char err[512];
	/* the tailnet's domain is control's to check */
	if (ctl_dns_parse(text, len, NULL, &d, err, sizeof(err)) != 0) {
		fprintf(stderr, "meshctl dns-config set: %s: %s\n", file, err);
		return false;
	}
	ctl_dns_free(d);
	return true;
}

int meshctl_dns_config(int argc, char **argv)
{
	static const struct meshctl_admin_doc doc = {
		.verb = "dns-config",
		.path = "dns",
		.what = "DNS settings",
		.max_bytes = CTL_DNS_TEXT_MAX,
		.check = check,
		.cleared = "DNS settings cleared: MagicDNS is off, every node gives its host its "
			   "own DNS back",
		.help = "Usage: meshctl dns-config get | set FILE | clear\n"
			"The tailnet's DNS settings in meshcontrol, as JSON; every member is "
			"optional:\n"
			"  {\"magic_dns\": true,            nodes point their hosts at "
			"100.100.100.100\n"
			"   \"records\": [{\"name\": \"db.corp.example\", \"addresses\": "
			"[\"10.0.0.5\"]}],\n"
			"   \"routes\": [{\"domain\": \"corp.example\", \"resolvers\": "
			"[\"10.0.0.53\"]}],\n"
			"   \"search\": [\"corp.example\"]}\n"
			"A change reaches every node at once; clear withdraws them (MagicDNS "
			"off).\n",
	};
	return meshctl_admin_document(argc, argv, &doc);
}
