/* Fuzz target: the admin API (control/server/admin.c) authenticated as the admin, against a
 * real SQLite store: "METHOD PATH [IF-MATCH]\n" (under /api/v1/) then the body.  Checks what the
 * API promises whatever the body: logins it stores are valid, auth keys expire within 10 years, the
 * policy in the store is the one in force and compiles, so are the DNS settings (and a node would
 * take them), and answers are JSON. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/server/ident.h"
#include "tests/fuzz/control/srv_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_user(void *ctx, const struct ctl_user *u)
{
	const char *why;
	(void)ctx;
	if (!ctl_login_valid(u->login, &why))
		abort();
	return 0;
}

static int check_key(void *ctx, const struct ctl_authkey *k)
{
	int64_t now = *(int64_t *)ctx;
	if (k->expires <= now - 5 || k->expires > now + CTL_AUTHKEY_EXPIRY_MAX + 5)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	if (!nl || memchr(data, '\0', (size_t)(nl - data)) || nl - data > 200)
		return 0;
	char head[640], method[16] = "", path[256] = "", cond[100] = "";
	snprintf(head, sizeof(head), "%.*s", (int)(nl - data), (const char *)data);
	if (sscanf(head, "%15s %255s %99s", method, path, cond) < 2)
		return 0;
	/* a third word is an If-Match header (the policy's compare-and-set) */
	snprintf(head, sizeof(head),
		 "%s /api/v1/%s\nAuthorization: Bearer " FZ_ADMIN_TOKEN "\n%s%s%s", method, path,
		 cond[0] ? "If-Match: " : "", cond, cond[0] ? "\n" : "");
	struct ctl_server *srv = fz_srv_open();
	struct fz_reply rep;
	fz_http(srv, head, (const char *)nl + 1, size - (size_t)(nl - data) - 1, &rep);
	if (rep.queued != 1 || !rep.body)
		abort(); /* the admin API always answers */
	json_t *j = json_loads(rep.body, 0, NULL);
	if (!json_is_object(j) ||
	    (rep.status >= 400 && !json_is_string(json_object_get(j, "error"))))
		abort();
	json_decref(j);
	int64_t now = ctl__now_s();
	struct ctl_store *s = srv->store;
	s->ops->user_list(s, check_user, NULL);
	s->ops->authkey_list(s, check_key, &now);
	char *stored = NULL, err[600];
	s->ops->policy_get(s, &stored);
	if (!stored || !srv->policy_text || strcmp(stored, srv->policy_text) != 0 ||
	    ctl__policy_check(srv, stored, err, sizeof(err)) != 0)
		abort(); /* the policy in force is the stored one, and it is valid */
	free(stored);
	/* the DNS settings in force are the stored ones, and a node would take them */
	char *dns = malloc(CTL_DNS_TEXT_MAX + 2);
	struct ctl_dns *d;
	int rc = dns ? s->ops->meta_get(s, "dns", dns, CTL_DNS_TEXT_MAX + 2) : -ENOMEM;
	if (rc == -ENOMEM || (rc == 0 && dns[0]) != (srv->dns_json != NULL) ||
	    (srv->dns_json && (strcmp(dns, srv->dns_json) != 0 ||
			       ctl_dns_parse(dns, strlen(dns), srv->domain, &d, NULL, 0) != 0)))
		abort();
	if (srv->dns_json)
		ctl_dns_free(d);
	free(dns);
	free(rep.body);
	fz_srv_close(srv);
	return 0;
}
