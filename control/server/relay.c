/* TURN relays (coturn with use-auth-secret): the --relay options, the shared secret, and
 * the credentials each node finds in its own netmap.
 *
 * A node's credentials are a TURN REST username "<expiry>:<node id>" and its password
 * (nat/rest.h), one pair for every relay (they share the secret).  They go only into the
 * node's own map ("relays", beside its filter), never into what its peers see of it, and
 * only while its key is valid.  With less than half of their lifetime left they are minted
 * again, and the map stream carries the new ones as a delta to that node alone. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "common/file.h"
#include "control/netmap/netmap_json.h"
#include "control/server/internal.h"
#include "nat/rest.h"

static const char no_relays[] = "[]";

/* The secret file: one line (a final newline is not part of it), 1 to 256 bytes, readable
 * by its owner only. */
static int read_secret(struct ctl_server *srv, const char *path, char *err, size_t errlen)
{
	char why[512], *buf = NULL;
	size_t len = 0;
	int rc = file_read_secret(path, SRV_RELAY_SECRET_MAX + 2, &buf, &len, why, sizeof(why));
	struct stat st;
	if (rc == -EACCES && stat(path, &st) == 0) {
		snprintf(err, errlen,
			 "--relay-secret-file %s is open to other users (mode %04o): "
			 "the relay secret must be readable by its owner only (chmod 600 %s)",
			 path, (unsigned)(st.st_mode & 07777), path);
		return rc;
	}
	if (rc == -EFBIG) {
		snprintf(err, errlen, "--relay-secret-file %s: longer than %d bytes", path,
			 SRV_RELAY_SECRET_MAX);
		return -EINVAL;
	}
	if (rc) {
		snprintf(err, errlen, "--relay-secret-file: %s", why);
		return rc;
	}
	size_t n = len;
	if (n && buf[n - 1] == '\n')
		n--;
	if (n && buf[n - 1] == '\r')
		n--;
	if (n == 0) {
		snprintf(err, errlen,
			 "--relay-secret-file %s: empty (it holds coturn's "
			 "static-auth-secret)",
			 path);
		rc = -EINVAL;
	} else if (n > SRV_RELAY_SECRET_MAX) {
		snprintf(err, errlen, "--relay-secret-file %s: longer than %d bytes", path,
			 SRV_RELAY_SECRET_MAX);
		rc = -EINVAL;
	} else if (memchr(buf, '\n', n) || memchr(buf, '\r', n) || memchr(buf, '\0', n)) {
		snprintf(err, errlen,
			 "--relay-secret-file %s: more than one line (it holds "
			 "coturn's static-auth-secret, on one line)",
			 path);
		rc = -EINVAL;
	} else {
		memcpy(srv->relay_secret, buf, n);
		srv->relay_secret_len = n;
	}
	sodium_memzero(buf, len);
	free(buf);
	return rc;
}

int ctl__relay_config(struct ctl_server *srv, char *err, size_t errlen)
{
	const struct ctl_server_config *cfg = &srv->cfg;
	if (!cfg->n_relays != !cfg->relay_secret_file) {
		snprintf(err, errlen,
			 "--relay and --relay-secret-file go together (the relays and "
			 "the static-auth-secret they share with meshcontrol)");
		return -EINVAL;
	}
	if (!cfg->n_relays)
		return 0;
	if (cfg->n_relays > CTL_RELAYS_MAX) {
		snprintf(err, errlen, "--relay: at most %d relays", CTL_RELAYS_MAX);
		return -EINVAL;
	}
	memcpy(srv->relays, cfg->relays, cfg->n_relays * sizeof(*cfg->relays));
	srv->n_relays = cfg->n_relays;
	if (!srv->cfg.relay_ttl_s)
		srv->cfg.relay_ttl_s = SRV_RELAY_TTL_S;
	return read_secret(srv, cfg->relay_secret_file, err, errlen);
}

static void relays_set(struct ctl__node *n, char *json)
{
	if (n->relays_json) {
		sodium_memzero(n->relays_json, strlen(n->relays_json));
		free(n->relays_json);
	}
	n->relays_json = json;
}

/* Fresh credentials for n, valid until now + ttl; NULL when memory is short. */
static char *relays_mint(struct ctl_server *srv, const struct ctl__node *n, int64_t expires)
{
	struct ctl_relay r[CTL_RELAYS_MAX];
	char pass[NAT_TURN_REST_PASSWORD_SIZE];
	memset(r, 0, sizeof(r));
	snprintf(r[0].username, sizeof(r[0].username), "%lld:%lld", (long long)expires,
		 (long long)n->rec.id);
	nat_turn_rest_password(srv->relay_secret, srv->relay_secret_len, r[0].username, pass);
	for (size_t i = 0; i < srv->n_relays; i++) {
		r[i].url = srv->relays[i];
		memcpy(r[i].username, r[0].username, sizeof(r[i].username));
		snprintf(r[i].password, sizeof(r[i].password), "%s", pass);
		r[i].expires = expires;
	}
	json_t *j = ctl__relays_json(r, srv->n_relays);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	ctl__relays_wipe(r, CTL_RELAYS_MAX);
	sodium_memzero(pass, sizeof(pass));
	return s;
}

bool ctl__relay_refresh(struct ctl_server *srv, struct ctl__node *n, int64_t now)
{
	bool expired = n->rec.key_expiry && n->rec.key_expiry <= now;
	if (!srv->n_relays || expired) {
		if (n->relays_json && strcmp(n->relays_json, no_relays) == 0)
			return false;
		char *none = strdup(no_relays);
		if (!none)
			return false; /* tried again on the next tick */
		relays_set(n, none);
		n->relays_minted = n->relays_expire = 0;
		return true;
	}
	int64_t ttl = srv->cfg.relay_ttl_s;
	if (n->relays_minted && n->relays_expire - now >= ttl - ttl / 2)
		return false;
	char *s = relays_mint(srv, n, now + ttl);
	if (!s)
		return false;
	relays_set(n, s);
	n->relays_minted = now;
	n->relays_expire = now + ttl;
	return true;
}
