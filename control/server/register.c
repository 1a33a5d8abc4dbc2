/* Registration: with an auth key, or through an interactive login a person approves on the
 * web page (the request waits here meanwhile; such logins live in the store, so any replica
 * answers or decides one another started, and are capped per source and in all);
 * a known machine's key rotation and asking again, and logout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "common/key.h"
#include "common/log.h"
#include "common/now.h"
#include "common/strv.h"
#include "control/server/ident.h"
#include "control/server/internal.h"
#include "control/server/tags.h"

/* ---- registration ---- */

static json_t *registered_json(struct ctl_server *srv, struct ctl__node *n)
{
	json_t *self = json_loads(n->peer_json, 0, NULL);
	char key[KEY_BASE64_SIZE];
	key_to_base64(key, srv->server_pub);
	return json_pack("{s:b, s:o, s:s}", "registered", 1, "node", self ? self : json_null(),
			 "server_key", key);
}

static void unique_hostname(struct ctl_server *srv, struct ctl_node_rec *rec)
{
	/* another machine's node has the name (DNS names: any case) */
	while (ctl__name_taken(srv, rec->machine_key, rec->hostname)) {
		char suffix[8];
		size_t len = strnlen(rec->hostname, CTL_HOSTNAME_MAX - 12);
		snprintf(suffix, sizeof(suffix), "-%u", (unsigned)randombytes_uniform(100000));
		memcpy(rec->hostname + len, suffix, strlen(suffix) + 1);
	}
}

static bool hostname_valid(const char *h)
{
	size_t len = strlen(h);
	if (len == 0 || len >= CTL_HOSTNAME_MAX - 12)
		return false;
	for (const char *p = h; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	return h[0] != '-';
}

/* Whether a node named have is one that asked for want: the same name (any case), or it with
 * the suffix unique_hostname gave it ("want-123") while another node held want. */
static bool named_as_asked(const char *have, const char *want)
{
	size_t n = strlen(want);
	if (strcasecmp(have, want) == 0)
		return true;
	if (strncasecmp(have, want, n) != 0 || have[n] != '-' || !have[n + 1])
		return false;
	return strspn(have + n + 1, "0123456789") == strlen(have + n + 1);
}

/* A registered machine asking again under another name (meshctl up --hostname, or its
 * system's name changed): renamed, and every map rebuilt, so that its peers' MagicDNS
 * answers the new name, the old one no longer and PTR the new.  0 or -errno (err says). */
static int rename_node(struct ctl_server *srv, struct ctl__node *n, const char *hostname, char *err,
		       size_t errlen)
{
	char was[CTL_HOSTNAME_MAX];
	if (!hostname || named_as_asked(n->rec.hostname, hostname))
		return 0;
	struct ctl_node_rec rec = n->rec; /* memory changes once the store has it */
	snprintf(rec.hostname, sizeof(rec.hostname), "%s", hostname);
	unique_hostname(srv, &rec);
	int rc = srv->store->ops->node_register(srv->store, &rec, 0);
	if (rc) {
		snprintf(err, errlen, "cannot store the node: %s", strerror(-rc));
		return rc;
	}
	snprintf(was, sizeof(was), "%s", n->rec.hostname);
	memcpy(n->rec.hostname, rec.hostname, sizeof(n->rec.hostname));
	log_info("meshcontrol", "node %lld renamed from %s to %s", (long long)n->rec.id, was,
		 n->rec.hostname);
	char detail[2 * CTL_HOSTNAME_MAX + 32];
	snprintf(detail, sizeof(detail), "renamed from %s to %s", was, n->rec.hostname);
	ctl__audit(srv, NULL, "node.rename", n, "", detail); /* who its peers reach by a name */
	rc = ctl__node_render(srv, n);
	return rc ? rc : ctl__map_rebuild(srv, err, errlen);
}

/* Store a node for machine key + what it asked for and bring it into every map. */
static int do_register(struct ctl_server *srv, const uint8_t mkey[32], const uint8_t nkey[32],
		       const uint8_t *disco, const char *hostname, int64_t user_id,
		       const char *const *tags, size_t n_tags, bool ephemeral, int64_t authkey_id,
		       struct ctl__node **out, char *err, size_t errlen)
{
	struct ctl_node_rec rec;
	memset(&rec, 0, sizeof(rec));
	memcpy(rec.machine_key, mkey, 32);
	memcpy(rec.node_key, nkey, 32);
	if (disco && ctl__disco_taken(srv, ctl__node_by_machine(srv, mkey), disco)) {
		snprintf(err, errlen, "disco_key: another node already uses this key");
		return -EEXIST;
	}
	if (disco) {
		memcpy(rec.disco_key, disco, 32);
		rec.has_disco_key = true;
	}
	snprintf(rec.hostname, sizeof(rec.hostname), "%s", hostname);
	rec.user_id = user_id; /* for a tagged node, the key's creator stays accountable */
	rec.ephemeral = ephemeral;
	rec.key_expiry = n_tags ? 0 : ctl__now_s() + srv->cfg.key_lifetime_s;
	unique_hostname(srv, &rec);
	int rc = strv_dup(tags, n_tags, &rec.tags);
	rec.n_tags = rc ? 0 : n_tags;
	if (!rc)
		rc = srv->store->ops->node_register(srv->store, &rec, authkey_id);
	if (rc == -EKEYREVOKED)
		snprintf(err, errlen, "auth key was single-use and has already been used");
	else if (rc)
		snprintf(err, errlen, "cannot store the node: %s", strerror(-rc));
	if (rc) {
		ctl_node_rec_clear(&rec);
		return rc;
	}
	struct ctl__node *n = ctl__node_by_id(srv, rec.id);
	if (n) {
		/* what the node reported stays until it reports anew: its peers go on
		 * reaching it and trusting its host keys */
		struct ctl_node_rec keep = n->rec;
		n->rec.endpoints = n->rec.ssh_host_keys = NULL;
		ctl_node_rec_clear(&n->rec);
		n->rec = rec; /* its tags go to n */
		rec.tags = NULL;
		rec.n_tags = 0;
		n->rec.endpoints = keep.endpoints;
		n->rec.ssh_host_keys = keep.ssh_host_keys;
		n->rec.last_seen = keep.last_seen;
		ctl__node_owner(srv, n);
		ctl__relay_refresh(srv, n, ctl__now_s()); /* a key valid again gets credentials */
		rc = ctl__node_render(srv, n);
	} else {
		rc = ctl__node_insert(srv, &rec);
		n = ctl__node_by_id(srv, rec.id);
	}
	ctl_node_rec_clear(&rec);
	/* Registrations come in bursts: the maps are rebuilt once on the next tick. */
	srv->dirty = true;
	*out = n;
	return rc;
}

int ctl__register_finish(struct ctl_server *srv, struct ctl__login_req *lr, int64_t user_id,
			 const char *login, char *err, size_t errlen)
{
	struct ctl__node *n = NULL;
	char **tags;
	size_t n_tags;
	struct ctl__node *known = ctl__node_by_machine(srv, lr->machine_key);
	int rc = 0;
	err[0] = '\0';
	/* what it asked for, or a known node logging in again keeps its tags */
	const struct ctl_node_rec none = { 0 }, *had = known ? &known->rec : &none;
	char *const *asked = lr->has_tags ? lr->tags : had->tags;
	size_t na = lr->has_tags ? lr->n_tags : had->n_tags;
	rc = ctl_tags_grant(srv->policy_text, login, NULL, 0, (const char *const *)asked, na, &tags,
			    &n_tags, err, errlen);
	if (rc && rc != -ENOMEM) {
		/* the person approving does not own the tags the node asks for (or they are
		 * not valid): the node is told why */
		lr->state = CTL__REJECTED;
		snprintf(lr->reason, sizeof(lr->reason), "%s", err);
		ctl__login_save(srv, lr);
		return rc;
	}
	if (!rc)
		rc = do_register(srv, lr->machine_key, lr->node_key,
				 lr->has_disco_key ? lr->disco_key : NULL, lr->hostname, user_id,
				 (const char *const *)tags, n_tags, false, 0, &n, err, errlen);
	strv_free(tags, n_tags);
	if (rc) {
		log_err("meshcontrol", "interactive registration: %s", err);
		return rc;
	}
	lr->state = CTL__APPROVED;
	lr->user_id = user_id;
	lr->node_id = n ? n->rec.id : 0;
	int64_t added = !known && n ? n->rec.id : 0;
	/* after the node: a replica hearing the decision has heard of the node first */
	rc = ctl__login_save(srv, lr);
	if (rc == -ENOENT || (rc == -ESTALE && lr->state == CTL__APPROVED))
		return 0; /* expired meanwhile, or approved through another replica too */
	if (rc) {
		/* rejected through another replica first (the first decision stands), or the
		 * decision could not be stored: the node this approval added goes again */
		if (added)
			ctl__node_remove(srv, added);
		snprintf(err, errlen, "%s",
			 rc == -ESTALE ? "the login was rejected meanwhile"
				       : "its decision could not be stored");
		log_warn("meshcontrol", "interactive registration of %s: %s", lr->hostname, err);
		return rc;
	}
	return 0;
}

/* ---- interactive logins, in the store ---- */

void ctl__login_id(const char *token, char id[static SRV_LOGIN_ID_HEX + 1])
{
	uint8_t h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const uint8_t *)token, strlen(token));
	sodium_bin2hex(id, SRV_LOGIN_ID_HEX + 1, h, sizeof(h));
}

void ctl__login_clear(struct ctl__login_req *lr)
{
	strv_free(lr->tags, lr->n_tags);
	lr->tags = NULL;
	lr->n_tags = 0;
}

int ctl__login_find(struct ctl_server *srv, const char *token, struct ctl__login_req *lr)
{
	char id[SRV_LOGIN_ID_HEX + 1];
	if (strlen(token) != 32 || strspn(token, "0123456789abcdef") != 32)
		return -ENOENT; /* not one we make: the store is not asked */
	ctl__login_id(token, id);
	int rc = srv->store->ops->login_get(srv->store, id, lr);
	if (!rc && lr->created + SRV_LOGIN_TTL_S < ctl__now_s()) {
		ctl__login_clear(lr); /* expired, not yet forgotten by a tick */
		rc = -ENOENT;
	}
	return rc;
}

int ctl__login_save(struct ctl_server *srv, struct ctl__login_req *lr)
{
	struct ctl__login_req cur;
	int rc = srv->store->ops->login_decide(srv->store, lr);
	if (rc == -ESTALE && srv->store->ops->login_get(srv->store, lr->id, &cur) == 0) {
		ctl__login_clear(lr);
		*lr = cur; /* the first decision stands */
	} else if (rc && rc != -ENOENT && rc != -ESTALE) {
		log_err("meshcontrol", "login %.8s: cannot store its decision: %s", lr->id,
			strerror(-rc));
	}
	ctl__wake(srv, SRV_WAIT_REGISTER, lr->id);
	return rc;
}

/* A new interactive registration stored (a machine has one at a time: asking again replaces
 * its pending one), its token in token; else the refusal in *res (a sealed 429 when the
 * caps say no: they count the store's logins, so N replicas allow no more than one). */
static bool login_new(struct ctl__req *r, const uint8_t nkey[32], const char *hostname,
		      const char *const *tags, size_t n_tags, bool has_tags, char token[static 33],
		      enum MHD_Result *res)
{
	struct ctl_server *srv = r->srv;
	struct ctl__login_req lr = { .has_tags = has_tags };
	struct ctl_login_count c;
	ctl__source(r->conn, lr.source);
	int rc = srv->store->ops->login_count(srv->store, lr.source, r->machine_key, &c);
	if (rc) {
		*res = ctl__sealed_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
					 "cannot count the logins waiting for approval: %s",
					 strerror(-rc));
		return false;
	}
	if (c.from_src >= SRV_LOGINS_PER_SOURCE) {
		*res = ctl__sealed_error(r, MHD_HTTP_TOO_MANY_REQUESTS,
					 "too many logins waiting for approval from %s (at most "
					 "%d); approve or let them expire (1 hour) first",
					 lr.source, SRV_LOGINS_PER_SOURCE);
		return false;
	}
	if (c.all >= SRV_LOGINS_MAX) {
		*res = ctl__sealed_error(r, MHD_HTTP_TOO_MANY_REQUESTS,
					 "too many logins waiting for approval on this server (at "
					 "most %d); try again later",
					 SRV_LOGINS_MAX);
		return false;
	}
	ctl__random_hex(token, 16);
	ctl__login_id(token, lr.id);
	memcpy(lr.machine_key, r->machine_key, 32);
	memcpy(lr.node_key, nkey, 32);
	snprintf(lr.hostname, sizeof(lr.hostname), "%s", hostname);
	lr.tags = (char **)tags; /* read by login_put only */
	lr.n_tags = n_tags;
	char why[192];
	lr.has_disco_key = ctl__disco_from_msg(r->msg, lr.disco_key, why, sizeof(why)) > 0;
	lr.created = ctl__now_s();
	rc = srv->store->ops->login_put(srv->store, &lr);
	if (rc) {
		*res = ctl__sealed_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
					 "cannot store the login request: %s", strerror(-rc));
		return false;
	}
	return true;
}

static enum MHD_Result login_url(struct ctl__req *r, const char *token)
{
	char url[512];
	snprintf(url, sizeof(url), "%s/register/%s", r->srv->public_url, token);
	return ctl__reply_sealed_json(
	    r, MHD_HTTP_OK,
	    json_pack("{s:b, s:s, s:s}", "registered", 0, "auth_url", url, "followup", token));
}

/* A node asking about its login lr (token: its followup): decided, or held until it is. */
static enum MHD_Result login_followup(struct ctl__req *r, const struct ctl__login_req *lr,
				      const char *token)
{
	struct ctl_server *srv = r->srv;
	if (lr->state == CTL__REJECTED)
		return ctl__sealed_error(r, MHD_HTTP_FORBIDDEN,
					 "the device was rejected on the login page%s%s",
					 lr->reason[0] ? ": " : "", lr->reason);
	if (lr->state == CTL__APPROVED) {
		struct ctl__node *n = ctl__node_by_id(srv, lr->node_id);
		if (!n)
			return ctl__sealed_error(r, MHD_HTTP_GONE, "the node was removed");
		return ctl__reply_sealed_json(r, MHD_HTTP_OK, registered_json(srv, n));
	}
	if (r->wait == SRV_WAIT_NONE && !ctl__not_holding(srv) &&
	    json_is_true(json_object_get(r->msg, "wait"))) {
		snprintf(r->token, sizeof(r->token), "%s", lr->id);
		ctl__suspend(r, SRV_WAIT_REGISTER, now_mono_ms() + SRV_HOLD_WAIT_MS);
		return MHD_YES;
	}
	return login_url(r, token);
}

static enum MHD_Result register_interactive(struct ctl__req *r, const uint8_t nkey[32],
					    const char *hostname, const char *const *tags,
					    size_t n_tags, bool has_tags)
{
	const char *followup = json_string_value(json_object_get(r->msg, "followup"));
	struct ctl__login_req lr;
	enum MHD_Result res;
	char token[33];
	if (!followup)
		return login_new(r, nkey, hostname, tags, n_tags, has_tags, token, &res)
			   ? login_url(r, token)
			   : res;
	int rc = ctl__login_find(r->srv, followup, &lr);
	if (rc && rc != -ENOENT)
		return ctl__sealed_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
					 "cannot read the login request: %s", strerror(-rc));
	if (!rc && sodium_memcmp(lr.machine_key, r->machine_key, 32) == 0)
		res = login_followup(r, &lr, followup);
	else
		res = ctl__sealed_error(r, MHD_HTTP_BAD_REQUEST,
					"followup: unknown or expired login request");
	if (!rc)
		ctl__login_clear(&lr);
	return res;
}

/* A registration with a valid auth key k. */
static enum MHD_Result register_by_key(struct ctl__req *r, const uint8_t nk[32], const uint8_t *dk,
				       const char *hostname, const struct ctl_authkey *k,
				       const char *const *asked, size_t na)
{
	struct ctl_server *srv = r->srv;
	struct ctl__node *n = NULL;
	char err[256], **tags;
	size_t n_tags;
	struct ctl_user u;
	if (na && srv->store->ops->user_by_id(srv->store, k->user_id, &u) != 0)
		return ctl__sealed_error(r, MHD_HTTP_FORBIDDEN,
					 "tags: the auth key's user is gone");
	int rc = ctl_tags_grant(srv->policy_text, na ? u.login : "", (const char *const *)k->tags,
				k->n_tags, asked, na, &tags, &n_tags, err, sizeof(err));
	if (rc)
		return ctl__sealed_error(
		    r, rc == -EPERM ? MHD_HTTP_FORBIDDEN : MHD_HTTP_BAD_REQUEST, "%s", err);
	rc = do_register(srv, r->machine_key, nk, dk, hostname, k->user_id,
			 (const char *const *)tags, n_tags, k->ephemeral, k->id, &n, err,
			 sizeof(err));
	strv_free(tags, n_tags);
	if (rc == -EKEYREVOKED)
		return ctl__sealed_error(r, MHD_HTTP_FORBIDDEN, "%s", err);
	if (rc == -EEXIST)
		return ctl__sealed_error(r, MHD_HTTP_CONFLICT, "%s", err);
	if (rc)
		return ctl__sealed_error(
		    r, rc == -EINVAL ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_INTERNAL_SERVER_ERROR, "%s",
		    err);
	log_info("meshcontrol", "node %lld (%s) registered by auth key %s", (long long)n->rec.id,
		 n->rec.hostname, k->prefix);
	char detail[64];
	snprintf(detail, sizeof(detail), "auth key %s", k->prefix);
	ctl__audit(srv, r->conn, "node.register", n, "", detail);
	return ctl__reply_sealed_json(r, MHD_HTTP_OK, registered_json(srv, n));
}

/* The rest of a registration, once the request's tags (asked, maybe none; given says
 * whether it named them) are read. */
static enum MHD_Result register_asked(struct ctl__req *r, const uint8_t nk[32],
				      const char *hostname, const char *authkey, bool given,
				      const char *const *asked, size_t na)
{
	struct ctl_server *srv = r->srv;
	json_t *m = r->msg;
	char err[256];
	uint8_t dk[32];
	int dk_given = ctl__disco_from_msg(m, dk, err, sizeof(err));
	if (dk_given < 0)
		return ctl__sealed_error(r, MHD_HTTP_BAD_REQUEST, "%s", err);
	struct ctl__node *known = ctl__node_by_machine(srv, r->machine_key);
	enum MHD_Result dres;
	/* the machine is this node's: its discovery key is taken whatever else it asks */
	if (known && !ctl__disco_report(r, known, &dres))
		return dres;
	if (!known && dk_given > 0 && ctl__disco_taken(srv, NULL, dk))
		return ctl__sealed_error(r, MHD_HTTP_CONFLICT,
					 "disco_key: another node already uses this key");
	/* Peers tell nodes apart by node key: one in use by another machine is refused. */
	if (ctl__node_key_taken(srv, known, nk))
		return ctl__sealed_error(r, MHD_HTTP_CONFLICT,
					 "node_key: another node already uses this key");
	/* Asking for tags the node does not have takes a login or an auth key again (tags it
	 * has from its auth key need not be asked for; dropping tags takes a new login). */
	bool same_tags =
	    !given || (known && ctl_tags_subset(asked, na, (const char *const *)known->rec.tags,
						known->rec.n_tags));
	/* Key rotation: a known machine presenting its current node key may replace it.  The
	 * expiry stays: only a login or an auth key extends it, so once the key has expired
	 * the request goes on below to a login (or the auth key it carries). */
	const char *old = json_string_value(json_object_get(m, "old_node_key"));
	struct key_error kerr;
	uint8_t ok[32];
	if (old && !key_from_base64(ok, old, &kerr))
		return ctl__sealed_error(r, MHD_HTTP_BAD_REQUEST, "old_node_key: %s", kerr.message);
	/* "reauth": the node wants a new login although its key is valid (meshctl up
	 * --force-reauth): none of the shortcuts below, straight to the auth key or a login. */
	bool live = known && !ctl__node_expired(known, ctl__now_s()) &&
		    !json_is_true(json_object_get(m, "reauth"));
	/* A node that believes its key expired while it has not (clocks differ): nothing to do. */
	if (live && same_tags && json_is_true(json_object_get(m, "expired")))
		return ctl__reply_sealed_json(r, MHD_HTTP_OK, registered_json(srv, known));
	if (live && !authkey && old && same_tags) {
		if (sodium_memcmp(ok, known->rec.node_key, 32) != 0)
			return ctl__sealed_error(r, MHD_HTTP_FORBIDDEN,
						 "old_node_key is not this node's current key");
		struct ctl_node_rec rec = known->rec; /* memory changes once the store has it */
		memcpy(rec.node_key, nk, 32);
		int rc = srv->store->ops->node_register(srv->store, &rec, 0);
		if (!rc) {
			memcpy(known->rec.node_key, nk, 32);
			rc = ctl__node_render(srv, known);
		}
		if (!rc)
			rc = ctl__map_rebuild(srv, err, sizeof(err));
		if (rc)
			return ctl__sealed_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s",
						 strerror(-rc));
		return ctl__reply_sealed_json(r, MHD_HTTP_OK, registered_json(srv, known));
	}
	/* A registered machine asking again with the same node key and tags: already done
	 * (an auth key it also sent is not needed, so not checked), under the name it asks. */
	if (live && same_tags && sodium_memcmp(nk, known->rec.node_key, 32) == 0) {
		if (rename_node(srv, known, hostname, err, sizeof(err)))
			return ctl__sealed_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", err);
		return ctl__reply_sealed_json(r, MHD_HTTP_OK, registered_json(srv, known));
	}
	if (!authkey)
		return register_interactive(r, nk, hostname, asked, na, given);
	struct ctl_authkey k;
	const char *why = NULL;
	int rc = ctl_authkey_check(srv->store, authkey, ctl__now_s(), &k, &why);
	if (rc)
		return ctl__sealed_error(r, MHD_HTTP_FORBIDDEN, "%s", why);
	enum MHD_Result res =
	    register_by_key(r, nk, dk_given > 0 ? dk : NULL, hostname, &k, asked, na);
	ctl_authkey_clear(&k);
	return res;
}

enum MHD_Result ctl__api_register(struct ctl__req *r)
{
	json_t *m = r->msg;
	const char *hostname = json_string_value(json_object_get(m, "hostname"));
	const char *nkey = json_string_value(json_object_get(m, "node_key"));
	const char *authkey = json_string_value(json_object_get(m, "auth_key"));
	uint8_t nk[32];
	struct key_error kerr;
	if (!nkey)
		return ctl__sealed_error(r, MHD_HTTP_BAD_REQUEST, "node_key: missing");
	if (!key_from_base64(nk, nkey, &kerr))
		return ctl__sealed_error(r, MHD_HTTP_BAD_REQUEST, "node_key: %s", kerr.message);
	if (!hostname || !hostname_valid(hostname))
		return ctl__sealed_error(r, MHD_HTTP_BAD_REQUEST,
					 "hostname: expected 1 to 51 letters, digits and dashes");
	if (json_object_get(m, "auth_key") && !authkey)
		return ctl__sealed_error(r, MHD_HTTP_BAD_REQUEST, "auth_key: expected a string");
	char err[256], **asked = NULL;
	size_t na = 0;
	json_t *tj = json_object_get(m, "tags");
	if (tj && ctl_tags_from_json(tj, &asked, &na, err, sizeof(err)) != 0)
		return ctl__sealed_error(r, MHD_HTTP_BAD_REQUEST, "%s", err);
	enum MHD_Result res =
	    register_asked(r, nk, hostname, authkey, tj != NULL, (const char *const *)asked, na);
	strv_free(asked, na);
	return res;
}

enum MHD_Result ctl__api_logout(struct ctl__req *r, struct ctl__node *n)
{
	struct ctl_server *srv = r->srv;
	int64_t id = n->rec.id;
	int rc;
	char err[256];
	bool removed = n->rec.ephemeral;
	if (removed) {
		rc = ctl__node_remove(srv, id);
	} else {
		rc = ctl__node_expire(srv, n, err, sizeof(err));
	}
	if (rc)
		return ctl__sealed_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "logout: %s",
					 strerror(-rc));
	log_info("meshcontrol", "node %lld logged out (%s)", (long long)id,
		 removed ? "ephemeral, removed" : "key expired");
	return ctl__reply_sealed_json(r, MHD_HTTP_OK,
				      json_pack("{s:b, s:b}", "logged_out", 1, "removed", removed));
}
