/* The --oidc-* options of meshcontrol serve, checked once at start with errors that name the
 * option and quote the bad value, and the client secret read from its file (one line, a
 * file others may read refused, never logged).  Also who the lists let in. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "common/file.h"
#include "control/server/ident.h"
#include "control/server/server.h"
#include "control/server/sso.h"
#include "control/server/store.h"

static const char default_scopes[] = "openid email profile";

static int fail(char *err, size_t errlen, const char *opt, const char *value, const char *why)
{
	char q[CTL_OIDC_QUOTE_BUF];
	snprintf(err, errlen, "--%s '%s': %s", opt, ctl_oidc_quote(value, q), why);
	return -EINVAL;
}

/* Printable ASCII without a space, the characters of a client id, a claim's name, a group. */
static bool visible(const char *s, const char *also_refused)
{
	for (; *s; s++)
		if (*s <= 0x20 || *s >= 0x7f || strchr(also_refused, *s))
			return false;
	return true;
}

/* A comma-separated list into n entries of size each; empty entries are refused. */
static int list_parse(const char *opt, const char *text, bool (*ok)(const char *v),
		      const char *ok_what, char *out, size_t size, size_t *n, char *err,
		      size_t errlen)
{
	*n = 0;
	if (!text || !*text)
		return 0;
	for (const char *p = text;;) {
		size_t len = strcspn(p, ",");
		char v[512];
		if (len == 0)
			return fail(err, errlen, opt, text, "has an empty entry");
		if (*n == SRV_SSO_LIST_MAX)
			return fail(err, errlen, opt, text, "has more than 32 entries");
		snprintf(v, sizeof(v), "%.*s", (int)(len < sizeof(v) ? len : sizeof(v) - 1), p);
		if (len >= size || !ok(v)) {
			char why[160];
			snprintf(why, sizeof(why), "'%.60s%s' is not %s", v, len > 60 ? "..." : "",
				 ok_what);
			for (char *c = why; *c; c++)
				if (*c < 0x20 || *c >= 0x7f)
					*c = '?';
			return fail(err, errlen, opt, text, why);
		}
		memcpy(out + *n * size, v, len + 1);
		(*n)++;
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

static bool domain_ok(const char *v)
{
	size_t n = strlen(v);
	if (!n || v[0] == '.' || v[0] == '-' || v[n - 1] == '.' || strstr(v, ".."))
		return false;
	for (; *v; v++)
		if (!islower((unsigned char)*v) && !isdigit((unsigned char)*v) && *v != '.' &&
		    *v != '-')
			return false;
	return true;
}

static bool group_ok(const char *v)
{
	for (; *v; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return false;
	return true;
}

static bool email_ok(const char *v)
{
	const char *at = strchr(v, '@');
	return at && at != v && !strchr(at + 1, '@') && domain_ok(at + 1) && visible(v, "\"'<>");
}

/* Scope tokens (RFC 6749 3.3) separated by single spaces, openid among them. */
static int scopes_check(const char *s, char *err, size_t errlen)
{
	bool openid = false;
	if (strlen(s) >= SRV_SSO_SCOPES_MAX)
		return fail(err, errlen, "oidc-scopes", s, "is longer than 511 characters");
	for (const char *p = s;;) {
		size_t len = strcspn(p, " ");
		if (len == 0)
			return fail(err, errlen, "oidc-scopes", s,
				    "has an empty scope (separate scopes with one space)");
		for (size_t i = 0; i < len; i++)
			if (p[i] < 0x21 || p[i] > 0x7e || p[i] == '"' || p[i] == '\\')
				return fail(err, errlen, "oidc-scopes", s,
					    "has a character a scope cannot have");
		if (len == 6 && strncmp(p, "openid", 6) == 0)
			openid = true;
		if (!p[len])
			break;
		p += len + 1;
	}
	if (!openid)
		return fail(err, errlen, "oidc-scopes", s,
			    "has no 'openid' (OpenID Connect needs it)");
	return 0;
}

/* Without a list every account the provider has (any Google account, say) would get a user
 * and could approve devices: that must be said, not be what an option left out means. */
static int who_check(const struct ctl_server_oidc *o, const struct ctl__sso_config *c, char *err,
		     size_t errlen)
{
	bool lists = c->n_domains || c->n_groups || c->n_users;
	if (!lists && !o->allow_anyone) {
		snprintf(err, errlen,
			 "--oidc-issuer '%s' needs --oidc-allowed-domains, "
			 "--oidc-allowed-groups or --oidc-allowed-users (who may sign in), or "
			 "--oidc-allow-anyone to let in everyone the provider has an account for",
			 c->issuer);
		return -EINVAL;
	}
	if (lists && o->allow_anyone) {
		snprintf(err, errlen,
			 "--oidc-allow-anyone and --oidc-allowed-* contradict each "
			 "other: give the lists, or --oidc-allow-anyone alone");
		return -EINVAL;
	}
	return 0;
}

static int secret_read(const char *path, struct ctl__sso_config *c, char *err, size_t errlen)
{
	char why[512];
	c->secret = file_read_secret_line(path, why, sizeof(why));
	if (!c->secret) {
		snprintf(err, errlen, "--oidc-client-secret-file: %s", why);
		return -EINVAL;
	}
	if (strlen(c->secret) > SRV_SSO_SECRET_MAX) {
		snprintf(err, errlen, "--oidc-client-secret-file %s: longer than %d bytes", path,
			 SRV_SSO_SECRET_MAX);
		return -EINVAL;
	}
	return 0;
}

int ctl__sso_config_load(const struct ctl_server_oidc *o, struct ctl__sso_config *c, char *err,
			 size_t errlen)
{
	char why[CTL_OIDC_ERR_MAX];
	memset(c, 0, sizeof(*c));
	if (!o->client_id || !o->client_secret_file) {
		snprintf(err, errlen,
			 "--oidc-issuer needs --oidc-client-id and "
			 "--oidc-client-secret-file (the client meshcontrol is at the provider)");
		return -EINVAL;
	}
	/* http:// is for a provider on loopback only (labs); ctl_oidc_url_check says so. */
	if (!ctl_oidc_url_check("issuer", o->issuer, true, why, sizeof(why)))
		return fail(err, errlen, "oidc-issuer", o->issuer, why);
	if (strchr(o->issuer, '?'))
		return fail(err, errlen, "oidc-issuer", o->issuer, "has a query");
	snprintf(c->issuer, sizeof(c->issuer), "%s", o->issuer);
	c->loopback_http = strncmp(c->issuer, "http://", 7) == 0;
	const char *h = c->issuer + (c->loopback_http ? 7 : 8);
	snprintf(c->issuer_host, sizeof(c->issuer_host), "%.*s", (int)strcspn(h, "/"), h);
	if (!*o->client_id || strlen(o->client_id) >= sizeof(c->client_id) ||
	    !visible(o->client_id, ""))
		return fail(err, errlen, "oidc-client-id", o->client_id,
			    "is not 1 to 255 printable ASCII characters without spaces");
	snprintf(c->client_id, sizeof(c->client_id), "%s", o->client_id);
	const char *scopes = o->scopes ? o->scopes : default_scopes;
	int rc = scopes_check(scopes, err, errlen);
	if (rc)
		return rc;
	snprintf(c->scopes, sizeof(c->scopes), "%s", scopes);
	const char *claim = o->groups_claim ? o->groups_claim : "groups";
	if (!*claim || strlen(claim) >= SRV_SSO_CLAIM_MAX || !visible(claim, "\"\\"))
		return fail(err, errlen, "oidc-groups-claim", claim,
			    "is not a claim's name (1 to 127 printable ASCII characters)");
	snprintf(c->groups_claim, sizeof(c->groups_claim), "%s", claim);
	rc = list_parse("oidc-allowed-domains", o->allowed_domains, domain_ok,
			"a domain name in lowercase", &c->domains[0][0], sizeof(c->domains[0]),
			&c->n_domains, err, errlen);
	if (!rc)
		rc =
		    list_parse("oidc-allowed-groups", o->allowed_groups, group_ok, "a group's name",
			       &c->groups[0][0], sizeof(c->groups[0]), &c->n_groups, err, errlen);
	if (!rc)
		rc =
		    list_parse("oidc-allowed-users", o->allowed_users, email_ok, "an email address",
			       &c->users[0][0], sizeof(c->users[0]), &c->n_users, err, errlen);
	if (!rc)
		rc = who_check(o, c, err, errlen);
	if (!rc)
		rc = secret_read(o->client_secret_file, c, err, errlen);
	if (rc)
		ctl__sso_config_free(c);
	return rc;
}

void ctl__sso_config_free(struct ctl__sso_config *c)
{
	if (c->secret) {
		sodium_memzero(c->secret, strlen(c->secret));
		free(c->secret);
	}
	c->secret = NULL;
}

bool ctl__sso_allowed(const struct ctl__sso_config *c, const struct ctl_oidc_identity *id,
		      char *why, size_t whylen)
{
	const char *at = strchr(id->email, '@');
	bool ok = !c->n_users;
	for (size_t i = 0; i < c->n_users && id->email[0]; i++)
		ok = ok || strcasecmp(c->users[i], id->email) == 0;
	if (!ok) {
		snprintf(why, whylen, "%s is not in --oidc-allowed-users",
			 id->email[0] ? "your verified email"
				      : "you have no verified email, so you");
		return false;
	}
	ok = !c->n_domains;
	for (size_t i = 0; i < c->n_domains && at; i++)
		ok = ok || strcasecmp(c->domains[i], at + 1) == 0;
	if (!ok) {
		snprintf(why, whylen, "%s not in --oidc-allowed-domains",
			 at ? "the domain of your verified email is"
			    : "you have no verified email");
		return false;
	}
	ok = !c->n_groups;
	for (size_t i = 0; i < c->n_groups; i++)
		for (size_t j = 0; j < id->ngroups; j++)
			ok = ok || strcmp(c->groups[i], id->groups[j]) == 0;
	if (!ok) {
		snprintf(why, whylen, "you are in none of the groups of --oidc-allowed-groups");
		return false;
	}
	return true;
}

/* A sub as a login's name part: as it is when it is all lowercase letters, digits and
 * . _ - (most providers' subs are), else "sub+" and a hash of it (the provider's case kept
 * apart: "Bob" and "bob" are two people).  The plain form has no '+', so the two cannot meet. */
static void sub_name(const char *sub, char out[static 80])
{
	size_t len = strlen(sub);
	if (len && len < 64 && strspn(sub, "abcdefghijklmnopqrstuvwxyz0123456789._-") == len) {
		memcpy(out, sub, len + 1);
		return;
	}
	unsigned char h[16];
	crypto_generichash(h, sizeof(h), (const unsigned char *)sub, len, NULL, 0);
	memcpy(out, "sub+", 4);
	sodium_bin2hex(out + 4, 33, h, sizeof(h));
}

int ctl__sso_login_for(const struct ctl__sso_config *c, const struct ctl_oidc_identity *id,
		       char *out, char *why, size_t whylen)
{
	const char *w = "it is longer than 127 characters";
	char q[CTL_OIDC_QUOTE_BUF], l[CTL_OIDC_EMAIL_MAX + 512], name[80];
	if (id->email[0]) {
		snprintf(l, sizeof(l), "%s", id->email);
		for (char *p = l; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	} else {
		/* .invalid (RFC 2606) is nobody's mail domain: an issuer at the company's own
		 * domain cannot turn a self-chosen username "ceo" into ceo@company */
		const char *h = c->issuer_host;
		size_t n = h[0] == '[' ? strcspn(h, "]") + 1 : strcspn(h, ":"); /* no port */
		sub_name(id->sub, name);
		snprintf(l, sizeof(l), "%s@%.*s.invalid", name, (int)n, h);
		for (char *p = strchr(l, '@'); *p; p++)
			*p = (char)tolower((unsigned char)*p); /* the host: DNS ignores case */
	}
	if (strlen(l) < CTL_LOGIN_MAX && ctl_login_valid(l, &w)) {
		memcpy(out, l, strlen(l) + 1);
		return 0;
	}
	snprintf(why, whylen, "the login \"%s\" made from %s is not one meshcontrol takes (%s)",
		 ctl_oidc_quote(l, q), id->email[0] ? "your verified email" : "the provider's sub",
		 w);
	return -EINVAL;
}
