/* Replicas sharing a PostgreSQL store (control/server/replica.c, store_pg_notify.c).
 * Without arguments: the change payloads the database sends (a numbered table, the exact
 * error of each bad one), what each change reloads, how a stored node differs from memory,
 * and meta_add (insert-if-absent) on SQLite.  With `postgres` (a cluster of its own,
 * pg_cluster.h; 77 without PostgreSQL): the triggers' payloads for each kind of write (a
 * session kill queued and taken too: kill:NODE), two servers on one database agreeing on the
 * server key and the admin token (written by one), a policy, a node, its new endpoints and
 * its removal written through one store reaching the other server's memory, and a long poll
 * of the audit log on one server woken by a row appended through the other (audit:ID). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "check.h"
#include "common/now.h"
#include "control/server/audit.h"
#include "control/server/internal.h"
#include "control/server/store_notify.h"
#include "eventually.h"
#include "pg_cluster.h"
#include "pg_pair.h"

static const struct {
	const char *payload;
	bool ok;
	enum ctl_change_kind kind;
	int64_t id;
	const char *name_or_error;
} parse_cases[] = {
	/* 0 */ { "node:7", true, CTL_CHANGE_NODE, 7, "" },
	/* 1 */ { "policy:123456789012345678", true, CTL_CHANGE_POLICY, 123456789012345678, "" },
	/* 2 */ { "user:1", true, CTL_CHANGE_USER, 1, "" },
	/* 3 */ { "approval:42", true, CTL_CHANGE_APPROVAL, 42, "" },
	/* 4 */ { "sso:9", true, CTL_CHANGE_SSO, 9, "" },
	/* 5 */ { "meta:dns", true, CTL_CHANGE_META, 0, "dns" },
	/* 6 */ { "meta:admin_token_hash", true, CTL_CHANGE_META, 0, "admin_token_hash" },
	/* 7 */
	{ "node", false, 0, 0,
	  "change 'node': expected KIND:ID with KIND one of node, policy, user, approval, sso, "
	  "meta, hold, audit, login, kill" },
	/* 8 */
	{ "nodes:1", false, 0, 0,
	  "change 'nodes:1': expected KIND:ID with KIND one of node, policy, user, approval, sso, "
	  "meta, hold, audit, login, kill" },
	/* 9 */
	{ "", false, 0, 0,
	  "change '': expected KIND:ID with KIND one of node, policy, user, approval, sso, meta, "
	  "hold, audit, login, kill" },
	/* 10 */
	{ "node:", false, 0, 0, "change 'node:': the id must be a positive decimal integer" },
	/* 11 */
	{ "node:0", false, 0, 0, "change 'node:0': the id must be a positive decimal integer" },
	/* 12 */
	{ "node:-3", false, 0, 0, "change 'node:-3': the id must be a positive decimal integer" },
	/* 13 */
	{ "node:+3", false, 0, 0, "change 'node:+3': the id must be a positive decimal integer" },
	/* 14 */
	{ "node:07", false, 0, 0, "change 'node:07': the id must be a positive decimal integer" },
	/* 15 */
	{ "node:3 ", false, 0, 0, "change 'node:3 ': the id must be a positive decimal integer" },
	/* 16: 19 digits could overflow */
	{ "node:9999999999999999999", false, 0, 0,
	  "change 'node:9999999999999999999': the id must be a positive decimal integer" },
	/* 17 */
	{ "node:1:2", false, 0, 0, "change 'node:1:2': the id must be a positive decimal integer" },
	/* 18 */
	{ "meta:", false, 0, 0, "change 'meta:': a meta key is 1 to 31 of a-z, 0-9 and _" },
	/* 19 */
	{ "meta:DNS", false, 0, 0, "change 'meta:DNS': a meta key is 1 to 31 of a-z, 0-9 and _" },
	/* 20 */
	{ "meta:a/b", false, 0, 0, "change 'meta:a/b': a meta key is 1 to 31 of a-z, 0-9 and _" },
	/* 21: 32 bytes */
	{ "meta:abcdefghijklmnopqrstuvwxyz012345", false, 0, 0,
	  "change 'meta:abcdefghijklmnopqrstuvwxyz012345': a meta key is 1 to 31 of a-z, 0-9 and "
	  "_" },
	/* 22 */
	{ ":1", false, 0, 0,
	  "change ':1': expected KIND:ID with KIND one of node, policy, user, approval, sso, "
	  "meta, hold, audit, login, kill" },
	/* 23: a hold's id, 32 hex digits */
	{ "hold:0123456789abcdef0123456789abcdef", true, CTL_CHANGE_HOLD, 0,
	  "0123456789abcdef0123456789abcdef" },
	/* 24: 31 digits */
	{ "hold:0123456789abcdef0123456789abcde", false, 0, 0,
	  "change 'hold:0123456789abcdef0123456789abcde': a hold's id is 32 of 0-9 and a-f" },
	/* 25: upper case, and 33 digits */
	{ "hold:0123456789ABCDEF0123456789abcdef", false, 0, 0,
	  "change 'hold:0123456789ABCDEF0123456789abcdef': a hold's id is 32 of 0-9 and a-f" },
	{ "hold:0123456789abcdef0123456789abcdef0", false, 0, 0,
	  "change 'hold:0123456789abcdef0123456789abcdef0': a hold's id is 32 of 0-9 and a-f" },
	/* 27: an audit row */
	{ "audit:12", true, CTL_CHANGE_AUDIT, 12, "" },
	{ "audit:0", false, 0, 0, "change 'audit:0': the id must be a positive decimal integer" },
	/* 28: a login's id, the SHA-256 of its token: 64 hex digits */
	{ "login:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true,
	  CTL_CHANGE_LOGIN, 0, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" },
	/* 29: a hold's length is not a login's */
	{ "login:0123456789abcdef0123456789abcdef", false, 0, 0,
	  "change 'login:0123456789abcdef0123456789abcdef': a login's id is 64 of 0-9 and a-f" },
	/* 30: upper case (the payload quoted cut to 64 bytes) */
	{ "login:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", false, 0, 0,
	  "change 'login:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789': a "
	  "login's id is 64 of 0-9 and a-f" },
	/* 31: a node's session kills queued or taken, by its id */
	{ "kill:5", true, CTL_CHANGE_KILL, 5, "" },
	{ "kill:s3", false, 0, 0, "change 'kill:s3': the id must be a positive decimal integer" },
};

static void parse_table(void)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		struct ctl_change c;
		char why[256] = "";
		bool ok = ctl_change_parse(parse_cases[i].payload, &c, why, sizeof(why));
		if (ok != parse_cases[i].ok)
			fprintf(stderr, "case %zu: '%s'\n", i, parse_cases[i].payload);
		CHECK_INT(ok, parse_cases[i].ok);
		if (ok) {
			CHECK_INT(c.kind, parse_cases[i].kind);
			CHECK_INT(c.id, parse_cases[i].id);
			CHECK_STR(c.name, parse_cases[i].name_or_error);
		} else {
			CHECK_STR(why, parse_cases[i].name_or_error);
		}
	}
	/* a long payload is quoted cut, never overflowing why */
	char big[4096], why[128];
	struct ctl_change c;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(!ctl_change_parse(big, &c, why, sizeof(why)));
	CHECK_INT(strlen(why), sizeof(why) - 1);
}

static void reload_bits(void)
{
	struct ctl_change c = { .kind = CTL_CHANGE_NODE, .id = 1 };
	unsigned node = ctl__replica_reload_bits(&c);
	CHECK(node != 0);
	c.kind = CTL_CHANGE_USER; /* a user's nodes go with them: the nodes are reloaded */
	CHECK_INT(ctl__replica_reload_bits(&c), node);
	c.kind = CTL_CHANGE_POLICY;
	unsigned policy = ctl__replica_reload_bits(&c);
	CHECK(policy != 0 && policy != node);
	c.kind = CTL_CHANGE_APPROVAL;
	CHECK(ctl__replica_reload_bits(&c) != 0);
	c.kind = CTL_CHANGE_SSO;
	CHECK(ctl__replica_reload_bits(&c) != 0);
	c.kind = CTL_CHANGE_META;
	strcpy(c.name, "dns");
	unsigned dns = ctl__replica_reload_bits(&c);
	strcpy(c.name, "admin_token_hash");
	unsigned admin = ctl__replica_reload_bits(&c);
	CHECK(dns != 0 && admin != 0 && dns != admin);
	strcpy(c.name, "ula48"); /* never changes: nothing to reload */
	CHECK_INT(ctl__replica_reload_bits(&c), 0);
	c = (struct ctl_change){ .kind = CTL_CHANGE_AUDIT, .id = 3 }; /* the long polls wake */
	unsigned audit = ctl__replica_reload_bits(&c);
	CHECK(audit != 0 && audit != node && audit != policy && audit != dns && audit != admin);
	c = (struct ctl_change){ .kind = CTL_CHANGE_KILL, .id = 3 }; /* the kills read again */
	unsigned kill = ctl__replica_reload_bits(&c);
	CHECK(kill != 0 && kill != node && kill != policy && kill != audit && kill != dns &&
	      kill != admin);
}

static struct ctl_node_rec mknode(uint8_t seed)
{
	struct ctl_node_rec n;
	memset(&n, 0, sizeof(n));
	n.id = seed;
	memset(n.machine_key, seed, 32);
	memset(n.node_key, seed + 100, 32);
	snprintf(n.hostname, sizeof(n.hostname), "host%u", seed);
	n.user_id = 1;
	n.ipv4 = 0x64400000u + seed;
	n.last_seen = 1000;
	return n;
}

/* Numbered: one field changed in the stored record, and the diff it must give. */
static void rec_diff(void)
{
	static char *tags_a[] = { "tag:a" }, *tags_b[] = { "tag:b" };
	const struct ctl_node_rec base = mknode(5);
	for (int i = 0; i <= 14; i++) {
		struct ctl_node_rec st = base;
		enum ctl__rec_diff want = CTL__REC_TOPOLOGY;
		switch (i) {
		case 0:
			want = CTL__REC_SAME;
			break;
		case 1:
			st.last_seen = 2000;
			want = CTL__REC_LAST_SEEN;
			break;
		case 2:
			st.last_seen = 10;
			want = CTL__REC_SAME;
			break; /* ours is newer */
		case 3:
			st.endpoints = "[\"192.0.2.1:41641\"]";
			want = CTL__REC_SEEN_BY_PEERS;
			break;
		case 4:
			st.ssh_host_keys = "[]";
			want = CTL__REC_SEEN_BY_PEERS;
			break;
		case 5:
			strcpy(st.hostname, "renamed");
			want = CTL__REC_SEEN_BY_PEERS;
			break;
		case 6:
			st.has_disco_key = true;
			want = CTL__REC_SEEN_BY_PEERS;
			break;
		case 7:
			st.node_key[3] ^= 1;
			break;
		case 8:
			st.key_expiry = 99;
			break;
		case 9:
			st.user_id = 0;
			break;
		case 10:
			st.tags = tags_a;
			st.n_tags = 1;
			break;
		case 11:
			st.ipv4++;
			break;
		case 12:
			st.ipv6[15] = 1;
			break;
		case 13:
			st.endpoints = "[]";
			st.key_expiry = 5;
			break; /* the bigger one wins */
		case 14:
			st.ephemeral = true;
			break;
		}
		CHECK_INT(ctl__node_rec_diff(&base, &st), want);
		if (ctl__node_rec_diff(&base, &st) != want)
			fprintf(stderr, "rec_diff case %d\n", i);
	}
	struct ctl_node_rec a = base, b = base;
	a.tags = tags_a, a.n_tags = 1;
	b.tags = tags_b, b.n_tags = 1;
	CHECK_INT(ctl__node_rec_diff(&a, &b), CTL__REC_TOPOLOGY); /* same count, other tag */
	b.tags = tags_a;
	CHECK_INT(ctl__node_rec_diff(&a, &b), CTL__REC_SAME);
	a.endpoints = "[\"x\"]", b.endpoints = "[\"x\"]"; /* equal text, other pointers */
	CHECK_INT(ctl__node_rec_diff(&a, &b), CTL__REC_SAME);
}

/* meta_add: the first value stays, each caller gets it back. */
static void meta_add_cases(const char *url)
{
	struct ctl_store *s;
	char err[512], out[80];
	CHECK_INT(ctl_store_open(url, &s, err, sizeof(err)), 0);
	CHECK_INT(s->ops->meta_add(s, "k1", "first", out, sizeof(out)), 0);
	CHECK_STR(out, "first");
	CHECK_INT(s->ops->meta_add(s, "k1", "second", out, sizeof(out)), 0);
	CHECK_STR(out, "first");
	CHECK_INT(s->ops->meta_get(s, "k1", out, sizeof(out)), 0);
	CHECK_STR(out, "first");
	s->ops->close(s);
}

/* ---- PostgreSQL ---- */

struct heard {
	char payloads[32][80];
	size_t n;
};

static void on_heard(void *ctx, const struct ctl_change *c)
{
	struct heard *h = ctx;
	static const char *const names[] = { "node", "policy", "user",	"approval", "sso",
					     "meta", "hold",   "audit", "login",    "kill" };
	if (h->n < 32) {
		if (c->kind == CTL_CHANGE_META || c->kind == CTL_CHANGE_HOLD ||
		    c->kind == CTL_CHANGE_LOGIN)
			snprintf(h->payloads[h->n++], sizeof(h->payloads[0]), "%s:%s",
				 names[c->kind], c->name);
		else
			snprintf(h->payloads[h->n++], sizeof(h->payloads[0]), "%s:%lld",
				 names[c->kind], (long long)c->id);
	}
}

/* What the listener hears within 2 s, as "a b c". */
static const char *listen_for(struct ctl_store_listener *l)
{
	static char out[1024];
	struct heard h = { .n = 0 };
	uint64_t end = now_mono_ms() + 2000;
	do {
		CHECK_INT(ctl_store_listener_read(l, on_heard, &h), 0);
		if (!h.n)
			usleep(10000);
	} while (!h.n && now_mono_ms() < end);
	usleep(50000); /* the rest of the same transaction's */
	CHECK_INT(ctl_store_listener_read(l, on_heard, &h), 0);
	out[0] = '\0';
	for (size_t i = 0; i < h.n; i++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", i ? " " : "",
			 h.payloads[i]);
	return out;
}

static void trigger_cases(const char *url)
{
	struct ctl_store *s;
	struct ctl_store_listener *l;
	char err[512], buf[80];
	int64_t uid;
	CHECK_INT(ctl_store_open(url, &s, err, sizeof(err)), 0);
	CHECK_INT(ctl_store_listen(url, &l, err, sizeof(err)), 0);
	CHECK_INT(s->ops->user_add(s, "alice@example.com", "x", &uid), 0);
	CHECK_STR(listen_for(l), ""); /* a new user changes no map */
	struct ctl_node_rec n = mknode(1);
	n.id = 0;
	n.user_id = uid;
	CHECK_INT(s->ops->node_register(s, &n, 0), 0);
	char want[64];
	snprintf(want, sizeof(want), "node:%lld", (long long)n.id);
	CHECK_STR(listen_for(l), want); /* one per transaction, however many rows */
	n.endpoints = "[\"192.0.2.1:41641\"]";
	CHECK_INT(s->ops->node_update(s, &n), 0);
	CHECK_STR(listen_for(l), want);
	n.endpoints = NULL;
	CHECK_INT(s->ops->policy_set(s, "{}"), 0);
	CHECK(strncmp(listen_for(l), "policy:", 7) == 0);
	CHECK_INT(s->ops->meta_set(s, "dns", ""), 0);
	CHECK_STR(listen_for(l), "meta:dns");
	CHECK_INT(s->ops->meta_add(s, "dns", "x", buf, sizeof(buf)), 0); /* no row written */
	CHECK_STR(listen_for(l), "");
	struct ctl_approval a = {
		.src_node = n.id, .dst_node = n.id, .user_id = uid, .approved_at = 1
	};
	CHECK_INT(s->ops->approval_put(s, &a), 0);
	snprintf(want, sizeof(want), "approval:%lld", (long long)n.id);
	CHECK_STR(listen_for(l), want);
	/* a hold: made or asked about again, nothing; decided or removed, "hold:ID" */
	struct ctl__hold h = { .id = "0123456789abcdef0123456789abcdef", .src = 1, .dst = 2 };
	CHECK_INT(s->ops->hold_put(s, &h), 0);
	CHECK_INT(s->ops->hold_touch(s, h.id, 5), 0);
	CHECK_STR(listen_for(l), "");
	h.state = CTL__APPROVED;
	CHECK_INT(s->ops->hold_update(s, &h), 0);
	CHECK_STR(listen_for(l), "hold:0123456789abcdef0123456789abcdef");
	CHECK_INT(s->ops->hold_delete(s, h.id), 0);
	CHECK_STR(listen_for(l), "hold:0123456789abcdef0123456789abcdef");
	/* live sessions: a list stored, nothing (the admin's list reads the store); a kill
	 * queued, changed or taken, "kill:NODE" */
	CHECK_INT(
	    s->ops->ssh_sessions_put(s, n.id, "{\"sessions\":[{\"id\":\"s1\",\"since\":1}]}", 1),
	    0);
	CHECK_STR(listen_for(l), "");
	struct ctl_session_kill k = { .id = "s1", .since = 1 };
	CHECK_INT(s->ops->ssh_kill_put(s, n.id, &k, 1, 64), 0);
	snprintf(want, sizeof(want), "kill:%lld", (long long)n.id);
	CHECK_STR(listen_for(l), want);
	CHECK_INT(s->ops->ssh_kills_delete(s, n.id, &k, 1), 0);
	CHECK_STR(listen_for(l), want);
	/* the user's removal cascades to the node, which notifies too */
	CHECK_INT(s->ops->user_remove(s, "alice@example.com", NULL, NULL), 0);
	char both[128];
	snprintf(both, sizeof(both), "node:%lld user:%lld", (long long)n.id, (long long)uid);
	const char *got = listen_for(l);
	char both2[128];
	snprintf(both2, sizeof(both2), "user:%lld node:%lld", (long long)uid, (long long)n.id);
	CHECK(strcmp(got, both) == 0 || strcmp(got, both2) == 0);
	if (strcmp(got, both) && strcmp(got, both2))
		fprintf(stderr, "heard '%s'\n", got);
	ctl_store_listener_free(l);
	s->ops->close(s);
	/* not PostgreSQL: refused with the reason */
	CHECK_INT(ctl_store_listen("sqlite:/tmp/x.db", &l, err, sizeof(err)), -EINVAL);
}

/* Server a's store ops with node_list and node_get counted: which reads a change costs. */
static const struct ctl_store_ops *real_ops;
static int n_list, n_get;
static int64_t got_id;

static int counted_list(struct ctl_store *s, ctl_node_cb cb, void *ctx)
{
	n_list++;
	return real_ops->node_list(s, cb, ctx);
}

static bool fail_get; /* the next node_get fails, as a store going away would */

static int counted_get(struct ctl_store *s, int64_t id, struct ctl_node_rec *n)
{
	n_get++;
	got_id = id;
	if (fail_get) {
		fail_get = false;
		return -EIO;
	}
	return real_ops->node_get(s, id, n);
}

static struct ctl_store_ops counting;

static void count_reads(struct ctl_server *a)
{
	pthread_mutex_lock(&a->lock);
	if (!real_ops) {
		real_ops = a->store->ops;
		counting = *real_ops;
		counting.node_list = counted_list;
		counting.node_get = counted_get;
		a->store->ops = &counting;
	}
	n_list = n_get = 0;
	got_id = 0;
	pthread_mutex_unlock(&a->lock);
}

static void uncount_reads(struct ctl_server *a)
{
	pthread_mutex_lock(&a->lock);
	a->store->ops = real_ops;
	real_ops = NULL;
	pthread_mutex_unlock(&a->lock);
}

static void two_servers(const char *url)
{
	struct pg_pair p;
	char path[128];
	CHECK_INT(pg_pair_open(&p, url, NULL), 0);
	struct ctl_server *a = p.a, *b = p.b;
	if (!a || !b)
		goto out;
	CHECK_MEM(a->server_pub, b->server_pub, 32);
	CHECK_MEM(a->server_priv, b->server_priv, 32);
	CHECK_MEM(a->admin_hash, b->admin_hash, 32);
	snprintf(path, sizeof(path), "%s/admin-token", p.a_dir);
	CHECK_INT(access(path, F_OK), 0); /* the first wrote the token */
	snprintf(path, sizeof(path), "%s/admin-token", p.b_dir);
	CHECK(access(path, F_OK) != 0); /* the second has none: it never knew the token */
	snprintf(path, sizeof(path), "%s/server.key", p.b_dir);
	CHECK(access(path, F_OK) != 0); /* the key lives in the store */
	char ka[45], kb[45], err[256];
	ctl_server_key(a, ka);
	CHECK_INT(ctl_store_server_key(b->store, url, p.b_dir, kb, err, sizeof(err)), 0);
	CHECK_STR(kb, ka);

	/* a policy written through b's store reaches a */
	const char *policy =
	    "{\"acls\":[{\"action\":\"accept\",\"src\":[\"*\"],\"dst\":[\"*:22\"]}]}";
	pthread_mutex_lock(&b->lock);
	CHECK_INT(b->store->ops->policy_set(b->store, policy), 0);
	pthread_mutex_unlock(&b->lock);
	CHECK(EVENTUALLY(a, a->policy_text && strcmp(a->policy_text, policy) == 0 && !a->dirty));

	/* a node registered through b appears on a; its endpoints follow; then it goes */
	int64_t uid;
	struct ctl_node_rec n = mknode(9);
	n.id = 0;
	pthread_mutex_lock(&b->lock);
	CHECK_INT(b->store->ops->user_add(b->store, "bob@example.com", "x", &uid), 0);
	n.user_id = uid;
	CHECK_INT(b->store->ops->node_register(b->store, &n, 0), 0);
	pthread_mutex_unlock(&b->lock);
	CHECK(EVENTUALLY(a, ctl__node_by_id(a, n.id) != NULL && !a->dirty));
	CHECK(EVENTUALLY(a, ctl__node_by_id(a, n.id) &&
				strcmp(ctl__node_by_id(a, n.id)->owner, "bob@example.com") == 0));
	uint64_t version = a->map_version;
	n.endpoints = "[\"192.0.2.9:41641\"]";
	count_reads(a);
	pthread_mutex_lock(&b->lock);
	CHECK_INT(b->store->ops->node_update(b->store, &n), 0);
	pthread_mutex_unlock(&b->lock);
	CHECK(EVENTUALLY(a, ctl__node_by_id(a, n.id) && ctl__node_by_id(a, n.id)->rec.endpoints &&
				strstr(ctl__node_by_id(a, n.id)->peer_json, "192.0.2.9")));
	CHECK(a->map_version > version);
	/* that node's row read, and only it: not the list */
	pthread_mutex_lock(&a->lock);
	CHECK_INT(n_get, 1);
	CHECK_INT(got_id, n.id);
	CHECK_INT(n_list, 0);
	pthread_mutex_unlock(&a->lock);
	/* last_seen alone: taken (online state), the maps not rebuilt nor bumped.  First
	 * online (a map change: peers see it), then a second later (none). */
	n.last_seen = ctl__now_s();
	pthread_mutex_lock(&b->lock);
	CHECK_INT(b->store->ops->node_update(b->store, &n), 0);
	pthread_mutex_unlock(&b->lock);
	CHECK(EVENTUALLY(a, ctl__node_by_id(a, n.id) && ctl__node_by_id(a, n.id)->online));
	count_reads(a);
	pthread_mutex_lock(&a->lock);
	version = a->map_version;
	pthread_mutex_unlock(&a->lock);
	n.last_seen++;
	pthread_mutex_lock(&b->lock);
	CHECK_INT(b->store->ops->node_update(b->store, &n), 0);
	pthread_mutex_unlock(&b->lock);
	CHECK(EVENTUALLY(a, ctl__node_by_id(a, n.id) &&
				ctl__node_by_id(a, n.id)->rec.last_seen == n.last_seen));
	pthread_mutex_lock(&a->lock);
	CHECK_INT(a->map_version, version);
	CHECK(!a->dirty);
	CHECK(n_get >= 1); /* the online step's own notification may land after the reset */
	CHECK_INT(got_id, n.id);
	CHECK_INT(n_list, 0);
	pthread_mutex_unlock(&a->lock);
	/* a second node comes and goes through b: each read alone, a adds it and drops it */
	count_reads(a);
	struct ctl_node_rec n2 = mknode(10);
	n2.id = 0;
	n2.user_id = uid;
	pthread_mutex_lock(&b->lock);
	CHECK_INT(b->store->ops->node_register(b->store, &n2, 0), 0);
	pthread_mutex_unlock(&b->lock);
	CHECK(EVENTUALLY(a, ctl__node_by_id(a, n2.id) != NULL && !a->dirty));
	CHECK(EVENTUALLY(a, a->n_nodes == 2));
	pthread_mutex_lock(&b->lock);
	CHECK_INT(b->store->ops->node_remove(b->store, n2.id), 0);
	pthread_mutex_unlock(&b->lock);
	CHECK(EVENTUALLY(a, ctl__node_by_id(a, n2.id) == NULL && a->n_nodes == 1));
	pthread_mutex_lock(&a->lock);
	/* its two rows at least (a notification of the step before may land late, under load),
	 * never the list */
	CHECK(n_get >= 2);
	CHECK_INT(n_list, 0);
	pthread_mutex_unlock(&a->lock);
	ctl_node_rec_clear(&n2);
	/* a node's row that could not be read (the store failing) is read with the next batch,
	 * whatever that one is about: here a policy */
	count_reads(a);
	pthread_mutex_lock(&a->lock);
	fail_get = true;
	pthread_mutex_unlock(&a->lock);
	n.endpoints = "[\"192.0.2.10:41641\"]";
	pthread_mutex_lock(&b->lock);
	CHECK_INT(b->store->ops->node_update(b->store, &n), 0);
	pthread_mutex_unlock(&b->lock);
	CHECK(EVENTUALLY(a, n_get >= 1 && !fail_get));
	const char *policy2 =
	    "{\"acls\":[{\"action\":\"accept\",\"src\":[\"*\"],\"dst\":[\"*:22,443\"]}]}";
	pthread_mutex_lock(&b->lock);
	CHECK_INT(b->store->ops->policy_set(b->store, policy2), 0);
	pthread_mutex_unlock(&b->lock);
	CHECK(EVENTUALLY(a, ctl__node_by_id(a, n.id) && ctl__node_by_id(a, n.id)->rec.endpoints &&
				strstr(ctl__node_by_id(a, n.id)->rec.endpoints, "192.0.2.10")));
	pthread_mutex_lock(&a->lock);
	CHECK(n_list >= 1);
	pthread_mutex_unlock(&a->lock);
	/* the user's removal: the whole list, once per batch (its nodes go with it) */
	count_reads(a);
	n.endpoints = NULL;
	pthread_mutex_lock(&b->lock);
	CHECK_INT(b->store->ops->user_remove(b->store, "bob@example.com", NULL, NULL), 0);
	pthread_mutex_unlock(&b->lock);
	CHECK(EVENTUALLY(a, ctl__node_by_id(a, n.id) == NULL));
	CHECK(EVENTUALLY(a, a->n_nodes == 0));
	pthread_mutex_lock(&a->lock);
	CHECK(n_list >= 1);
	pthread_mutex_unlock(&a->lock);
	uncount_reads(a);
out:
	pg_pair_close(&p);
}

enum { WAIT_S = 20, APPEND_AFTER_MS = 700, WOKEN_WITHIN_MS = 1500 };

static void on_audit(void *ctx, const struct ctl_change *c)
{
	if (c->kind == CTL_CHANGE_AUDIT)
		*(int64_t *)ctx = c->id;
}

/* ---- meshctl audit --follow across replicas: a row appended to the audit log notifies
 * "audit:ID"; a long poll on server a (GET /api/v1/audit?wait=20, over HTTP with curl) is
 * answered within about a second of a row appended through server b, not at its wait's end */

/* The trigger: an appended row is heard as audit:ID. */
static void audit_trigger(const char *url, struct ctl_server *b)
{
	struct ctl_store_listener *l;
	char err[512];
	CHECK_INT(ctl_store_listen(url, &l, err, sizeof(err)), 0);
	pthread_mutex_lock(&b->lock);
	ctl__audit(b, NULL, "admin.policy.set", NULL, "admin token", "trigger");
	int64_t id = 0, head = 0;
	uint8_t hash[CTL_AUDIT_HASH_LEN];
	/* under b's lock: its store connection is its change listener's reloads' too */
	CHECK_INT(b->store->ops->audit_head(b->store, &head, hash), 0);
	pthread_mutex_unlock(&b->lock);
	uint64_t end = now_mono_ms() + 2000;
	while (id != head && now_mono_ms() < end) {
		CHECK_INT(ctl_store_listener_read(l, on_audit, &id), 0);
		usleep(10000);
	}
	CHECK_INT(id, head);
	ctl_store_listener_free(l);
}

struct appender {
	struct ctl_server *b;
	uint64_t at_ms; /* when the row was appended */
};

static void *append_later(void *arg)
{
	struct appender *ap = arg;
	usleep(APPEND_AFTER_MS * 1000);
	pthread_mutex_lock(&ap->b->lock);
	ctl__audit(ap->b, NULL, "admin.policy.set", NULL, "admin token", "through b");
	pthread_mutex_unlock(&ap->b->lock);
	ap->at_ms = now_mono_ms();
	return NULL;
}

static void audit_follow(const char *a_dir, struct ctl_server *a, struct ctl_server *b)
{
	char path[256], token[256] = "", cmd[1024], body[8192] = "";
	snprintf(path, sizeof(path), "%s/admin-token", a_dir);
	FILE *f = fopen(path, "re");
	CHECK(f && fgets(token, sizeof(token), f));
	if (f)
		fclose(f);
	token[strcspn(token, "\n")] = '\0';
	int64_t head = 0;
	uint8_t hash[CTL_AUDIT_HASH_LEN];
	pthread_mutex_lock(&a->lock);
	CHECK_INT(a->store->ops->audit_head(a->store, &head, hash), 0);
	pthread_mutex_unlock(&a->lock);
	snprintf(cmd, sizeof(cmd),
		 "curl -s --max-time 30 -H 'Authorization: Bearer %s' "
		 "'http://127.0.0.1:%u/api/v1/audit?after=%lld&wait=%d'",
		 token, ctl_server_port(a), (long long)head, WAIT_S);
	struct appender ap = { .b = b };
	pthread_t t;
	CHECK_INT(pthread_create(&t, NULL, append_later, &ap), 0);
	FILE *p = popen(cmd, "r");
	CHECK(p != NULL);
	size_t n = p ? fread(body, 1, sizeof(body) - 1, p) : 0;
	uint64_t answered = now_mono_ms();
	body[n] = '\0';
	if (p)
		CHECK_INT(pclose(p), 0);
	pthread_join(t, NULL);
	CHECK(strstr(body, "\"detail\":\"through b\"") != NULL);
	uint64_t late = answered - ap.at_ms;
	fprintf(stderr, "the waiter on a answered %llu ms after the row appended through b\n",
		(unsigned long long)late);
	CHECK(answered >= ap.at_ms && late < WOKEN_WITHIN_MS);
}

static void follow_servers(const char *url)
{
	struct pg_pair p;
	CHECK_INT(pg_pair_open(&p, url, NULL), 0); /* listening: curl is the client */
	if (p.a && p.b) {
		audit_trigger(url, p.b);
		audit_follow(p.a_dir, p.a, p.b);
	}
	pg_pair_close(&p);
}

static int pg_cases(struct pg_cluster *c, void *ctx)
{
	char url[512];
	(void)ctx;
	CHECK_INT(pg_cluster_createdb(c, "meta", url, sizeof(url)), 0);
	meta_add_cases(url);
	CHECK_INT(pg_cluster_createdb(c, "triggers", url, sizeof(url)), 0);
	trigger_cases(url);
	CHECK_INT(pg_cluster_createdb(c, "replicas", url, sizeof(url)), 0);
	two_servers(url);
	CHECK_INT(pg_cluster_createdb(c, "follow", url, sizeof(url)), 0);
	follow_servers(url);
	fprintf(stderr, "PostgreSQL: ");
	return check_finish();
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "postgres") == 0)
		return pg_cluster_main(pg_cases, NULL);
	parse_table();
	reload_bits();
	rec_diff();
	char dir[] = "/tmp/ctl-replica-XXXXXX", url[300], cmd[300];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(url, sizeof(url), "sqlite:%s/state.db", dir);
	meta_add_cases(url);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	return check_finish();
}
