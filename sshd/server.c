/* The server object: its options, its host keys (made on first start, 0600, kept in the state
 * directory), and the session children it reaps.  Children are reaped by pid, never
 * waitpid(-1): libuv has children too.  A connection lives in conn.c, its authentication and
 * authorization in auth.c. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "sshd/internal.h"
#define SUBJ "sshd"

/* ---- host keys ---- */

static int hostkey_load(struct sshd_server *srv, const char *file, enum ssh_keytypes_e type,
			int bits)
{
	char path[512], tmp[520];
	ssh_key key = NULL;
	char *b64 = NULL, *fp = NULL;
	unsigned char *hash = NULL;
	size_t hlen = 0;
	struct sshd__hostkey *hk = &srv->keys[srv->nkeys];
	int rc = -EINVAL;

	snprintf(path, sizeof(path), "%s/%s", srv->state_dir, file);
	if (access(path, F_OK) == 0) {
		if (ssh_pki_import_privkey_file(path, NULL, NULL, NULL, &key) != SSH_OK) {
			log_err(SUBJ, "host key %s: cannot be read (not an OpenSSH private key?)",
				path);
			return -EINVAL;
		}
	} else {
		mode_t old;
		if (ssh_pki_generate(type, bits, &key) != SSH_OK) {
			log_err(SUBJ, "host key %s: generation failed", path);
			return -EIO;
		}
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		unlink(tmp);
		old = umask(077);
		rc = ssh_pki_export_privkey_file(key, NULL, NULL, NULL, tmp);
		umask(old);
		if (rc != SSH_OK || chmod(tmp, 0600) < 0 || rename(tmp, path) < 0) {
			log_err(SUBJ, "host key %s: cannot be written", path);
			unlink(tmp);
			ssh_key_free(key);
			return -EIO;
		}
		log_info(SUBJ, "generated host key %s", path);
	}
	if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK ||
	    ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) != 0 ||
	    !(fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen))) {
		rc = -ENOMEM;
		goto out;
	}
	hk->public_line = malloc(strlen(b64) + 64);
	hk->fingerprint = strdup(fp);
	if (!hk->public_line || !hk->fingerprint) {
		free(hk->public_line);
		free(hk->fingerprint);
		rc = -ENOMEM;
		goto out;
	}
	sprintf(hk->public_line, "%s %s", ssh_key_type_to_char(ssh_key_type(key)), b64);
	if (ssh_bind_options_set(srv->bind, SSH_BIND_OPTIONS_IMPORT_KEY, key) != SSH_OK) {
		log_err(SUBJ, "host key %s: rejected by libssh: %s", path,
			ssh_get_error(srv->bind));
		free(hk->public_line);
		free(hk->fingerprint);
		rc = -EINVAL;
		goto out;
	}
	key = NULL; /* the bind owns it now */
	srv->nkeys++;
	log_info(SUBJ, "host key %s", hk->fingerprint);
	rc = 0;
out:
	ssh_string_free_char(b64);
	ssh_string_free_char(fp);
	ssh_clean_pubkey_hash(&hash);
	ssh_key_free(key);
	return rc;
}

/* ---- algorithms ---- */

/* What the server offers, best first.  Set explicitly: libssh 0.10's defaults add NIST-curve
 * key exchanges, DH group exchange and non-ETM MACs, and end the cipher list in an empty
 * name.  Key exchange is Curve25519 only (the libssh we link has no sntrup761x25519); no DH
 * group exchange, so no client can ask for a group we would have to find (a request for one
 * libssh cannot satisfy was left unanswered until the pre-auth timeout); libssh appends
 * kex-strict-s-v00@openssh.com (Terrapin) itself on the first exchange.  One host key, Ed25519.
 * MACs are encrypt-then-MAC, but for hmac-sha2-256 last: libssh2 1.10 (Debian 12's curl
 * sftp:// and scp://) has neither ETM nor an AEAD cipher, and refusing it would leave curl
 * with no common MAC.  Every client we test takes an AEAD cipher or an ETM MAC before it. */
static const struct {
	enum ssh_bind_options_e option;
	const char *name, *list;
} sshd_algorithms[] = {
	{ SSH_BIND_OPTIONS_KEY_EXCHANGE, "key exchange",
	  "curve25519-sha256,curve25519-sha256@libssh.org" },
	{ SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS, "host key", "ssh-ed25519" },
	{ SSH_BIND_OPTIONS_CIPHERS_C_S, "cipher",
	  "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,"
	  "aes256-ctr,aes128-ctr" },
	{ SSH_BIND_OPTIONS_CIPHERS_S_C, "cipher",
	  "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,"
	  "aes256-ctr,aes128-ctr" },
	{ SSH_BIND_OPTIONS_HMAC_C_S, "MAC",
	  "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256" },
	{ SSH_BIND_OPTIONS_HMAC_S_C, "MAC",
	  "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256" },
};

static int algorithms_set(struct sshd_server *srv)
{
	for (size_t i = 0; i < sizeof(sshd_algorithms) / sizeof(sshd_algorithms[0]); i++) {
		if (ssh_bind_options_set(srv->bind, sshd_algorithms[i].option,
					 sshd_algorithms[i].list) != SSH_OK) {
			log_err(SUBJ, "%s algorithms '%s' refused by libssh: %s",
				sshd_algorithms[i].name, sshd_algorithms[i].list,
				ssh_get_error(srv->bind));
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- children ---- */

struct child {
	struct sshd__node node;
	pid_t pid;
	struct sshd__chan *chan;
	struct sshd__cg *cg; /* the session's cgroup: removable once this child is gone */
};

int sshd__child_track(struct sshd_server *srv, pid_t pid, struct sshd__chan *chan,
		      struct sshd__cg *cg)
{
	struct child *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->pid = pid;
	c->chan = chan;
	c->cg = cg;
	sshd__list_add(&srv->children, &c->node);
	srv->nchildren++;
	return 0;
}

void sshd__child_forget_chan(struct sshd_server *srv, struct sshd__chan *chan)
{
	struct sshd__node *n;

	for (n = srv->children.next; n != &srv->children; n = n->next) {
		struct child *c = container_of(n, struct child, node);
		if (c->chan == chan)
			c->chan = NULL;
	}
}

static void on_sigchld(uv_signal_t *h, int sig)
{
	struct sshd_server *srv = container_of(h, struct sshd_server, sigchld);
	struct sshd__node *n, *next;

	for (n = srv->children.next; n != &srv->children; n = next) {
		struct child *c = container_of(n, struct child, node);
		int status;
		pid_t r;

		next = n->next;
		r = waitpid(c->pid, &status, WNOHANG);
		if (r == 0 || (r < 0 && errno == EINTR))
			continue;
		sshd__list_del(&c->node);
		srv->nchildren--;
		if (c->cg)
			c->cg->live = false;
		if (r > 0 && c->chan) {
			struct sshd_conn *conn = c->chan->conn;
			sshd__chan_exited(c->chan, status);
			if (conn)
				sshd__conn_process(conn);
		}
		free(c);
	}
	sshd__cg_sweep(srv, false);
}

int sshd_server_new(struct uv_loop_s *loop, const struct sshd_config *cfg,
		    const struct sshd_hooks *hooks, struct sshd_server **out)
{
	struct sshd_server *srv;
	bool no = false;
	int rc;

	if (!cfg || !cfg->state_dir || !hooks || !hooks->authorize)
		return -EINVAL;
	if (mkdir(cfg->state_dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		log_err(SUBJ, "state directory %s: %s", cfg->state_dir, strerror(errno));
		return rc;
	}
	ssh_init();
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->loop = loop;
	srv->hooks = *hooks;
	srv->state_dir = strdup(cfg->state_dir);
	srv->pam_service = strdup(cfg->pam_service ? cfg->pam_service : "meshd");
	srv->sftp_server =
	    strdup(cfg->sftp_server ? cfg->sftp_server : "/usr/lib/openssh/sftp-server");
	srv->max_connections = cfg->max_connections ? cfg->max_connections : 1024;
	srv->preauth_timeout_ms = cfg->preauth_timeout_ms ? cfg->preauth_timeout_ms : 30000;
	srv->keepalive_ms = cfg->keepalive_ms;
	srv->stall_timeout_ms = cfg->stall_timeout_ms ? cfg->stall_timeout_ms : 30000;
	srv->rekey_data = cfg->rekey_data;
	srv->max_channels = cfg->max_channels ? cfg->max_channels : 32;
	srv->max_conn_buffer = cfg->max_conn_buffer ? cfg->max_conn_buffer : 16u << 20;
	sshd__list_init(&srv->conns);
	sshd__list_init(&srv->children);
	sshd__list_init(&srv->cgroups);
	srv->bind = ssh_bind_new();
	if (!srv->state_dir || !srv->pam_service || !srv->sftp_server || !srv->bind) {
		rc = -ENOMEM;
		goto fail;
	}
	ssh_bind_options_set(srv->bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no);
	ssh_bind_options_set(srv->bind, SSH_BIND_OPTIONS_BANNER, "meshd");
	rc = algorithms_set(srv);
	if (rc == 0)
		rc = hostkey_load(srv, "ssh_host_ed25519_key", SSH_KEYTYPE_ED25519, 0);
	if (rc < 0)
		goto fail;
	uv_signal_init(loop, &srv->sigchld);
	uv_signal_start(&srv->sigchld, on_sigchld, SIGCHLD);
	sshd__cg_init(srv);
	*out = srv;
	return 0;
fail:
	for (size_t i = 0; i < srv->nkeys; i++) {
		free(srv->keys[i].public_line);
		free(srv->keys[i].fingerprint);
	}
	if (srv->bind)
		ssh_bind_free(srv->bind);
	free(srv->state_dir);
	free(srv->pam_service);
	free(srv->sftp_server);
	free(srv);
	return rc;
}

static void server_closed(uv_handle_t *h)
{
	struct sshd_server *srv = container_of(h, struct sshd_server, sigchld);
	struct sshd__node *n, *next;

	for (n = srv->children.next; n != &srv->children; n = next) {
		next = n->next;
		free(container_of(n, struct child, node));
	}
	sshd__cg_sweep(srv, true);
	for (size_t i = 0; i < srv->nkeys; i++) {
		free(srv->keys[i].public_line);
		free(srv->keys[i].fingerprint);
	}
	ssh_bind_free(srv->bind);
	free(srv->state_dir);
	free(srv->pam_service);
	free(srv->sftp_server);
	if (srv->close_done)
		srv->close_done(srv->close_arg);
	free(srv);
}

void sshd_server_close(struct sshd_server *srv, void (*done)(void *arg), void *arg)
{
	struct sshd__node *n, *next;

	srv->closing = true;
	srv->close_done = done;
	srv->close_arg = arg;
	for (n = srv->conns.next; n != &srv->conns; n = next) {
		next = n->next;
		sshd__conn_close(container_of(n, struct sshd_conn, node), "server shutting down");
		sshd__conn_destroy(container_of(n, struct sshd_conn, node));
	}
	uv_close((uv_handle_t *)&srv->sigchld, server_closed);
}

size_t sshd_host_key_count(const struct sshd_server *srv)
{
	return srv->nkeys;
}

int sshd_host_key(const struct sshd_server *srv, size_t i, const char **public_line,
		  const char **fingerprint)
{
	if (i >= srv->nkeys)
		return -ENOENT;
	if (public_line)
		*public_line = srv->keys[i].public_line;
	if (fingerprint)
		*fingerprint = srv->keys[i].fingerprint;
	return 0;
}

unsigned sshd_connection_count(const struct sshd_server *srv)
{
	return srv->nconns;
}

unsigned sshd_child_count(const struct sshd_server *srv)
{
	return srv->nchildren;
}
