/* `meshctl dns query NAME [TYPE]`: a question asked of the view alone, answered as text
 * (ldns's presentation format, what dig prints).  The query is built by ldns and answered
 * by the code that answers the tailnet's clients (dns__answer), so the text is what a
 * client would get; a name the view does not answer is said to go upstream, and is not
 * sent there.  An address stands for its reverse name (PTR, as dig -x). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/internal.h"

static char *upstream_text(const char *name, const struct addr_endpoint *up, size_t n_up)
{
	char buf[1024];
	size_t used = (size_t)snprintf(buf, sizeof(buf),
				       ";; %s is not the tailnet's: it would go upstream to", name);
	for (size_t i = 0; i < n_up && used < sizeof(buf); i++) {
		char e[ADDR_TEXT_MAX];
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, " %s",
					 addr_endpoint_format(&up[i], e));
	}
	if (used < sizeof(buf))
		snprintf(buf + used, sizeof(buf) - used, "\n");
	return strdup(buf);
}

/* An address's reverse name (RFC 1035 3.5, RFC 3596 2.5). */
static void reverse_name(const struct addr_ip *a, char out[static DNS_NAME_TEXT])
{
	size_t n = 0;
	if (a->family == AF_INET) {
		snprintf(out, DNS_NAME_TEXT, "%u.%u.%u.%u.in-addr.arpa", a->bytes[3], a->bytes[2],
			 a->bytes[1], a->bytes[0]);
		return;
	}
	for (int i = 15; i >= 0; i--)
		n += (size_t)snprintf(out + n, DNS_NAME_TEXT - n, "%x.%x.", a->bytes[i] & 15,
				      a->bytes[i] >> 4);
	snprintf(out + n, DNS_NAME_TEXT - n, "ip6.arpa");
}

int dns_view_lookup_text(const struct dns_view *v, const char *name, const char *type, char **out,
			 char *err, size_t errlen)
{
	char canon[DNS_NAME_TEXT], rev[DNS_NAME_TEXT];
	const char *why = NULL;
	struct addr_ip ip;
	if (addr_ip_parse(name, &ip, NULL)) { /* an address: its PTR, as dig -x asks */
		reverse_name(&ip, rev);
		name = rev;
		type = type ? type : "PTR";
	}
	ldns_rr_type t = ldns_get_rr_type_by_name(type ? type : "A");
	*out = NULL;
	if (t == 0) {
		snprintf(err, errlen, "unknown record type '%s'", type);
		return -EINVAL;
	}
	if (!dns_name_canonical(name, canon, &why)) {
		snprintf(err, errlen, "'%s' is not a DNS name: %s", name, why);
		return -EINVAL;
	}
	ldns_pkt *q = NULL, *a = NULL;
	uint8_t *wire = NULL;
	size_t len = 0;
	struct dns_counters c = { 0 };
	struct dns_result res = { 0 };
	const struct addr_endpoint *up = NULL;
	size_t n_up = 0;
	ldns_pkt *parsed = NULL;
	int rc = -ENOMEM;
	if (ldns_pkt_query_new_frm_str(&q, canon, t, LDNS_RR_CLASS_IN, LDNS_RD) != LDNS_STATUS_OK ||
	    ldns_pkt2wire(&wire, q, &len) != LDNS_STATUS_OK)
		goto out;
	rc = dns__answer(v, wire, len, DNS_TCP, &c, &res, &up, &n_up, &parsed);
	if (rc == 1) {
		ldns_pkt_free(parsed);
		*out = upstream_text(canon, up, n_up);
		rc = *out ? 0 : -ENOMEM;
		goto out;
	}
	if (rc < 0)
		goto out;
	if (res.kind != DNS_REPLY) {
		snprintf(err, errlen, "no answer: %s", res.reason ? res.reason : "dropped");
		rc = -EINVAL;
		goto out;
	}
	rc = -ENOMEM;
	if (ldns_wire2pkt(&a, res.msg, res.len) != LDNS_STATUS_OK)
		goto out;
	*out = ldns_pkt2str(a);
	rc = *out ? 0 : -ENOMEM;
out:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	dns_result_clear(&res);
	ldns_pkt_free(a);
	ldns_pkt_free(q);
	free(wire);
	return rc;
}
