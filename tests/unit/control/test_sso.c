/* meshcontrol's single sign-on, the parts anyone on the network reaches: the table of
 * pending logins (bounded in all, per source and per browser; expiry; a state taken once
 * and only by its browser) and the callback's query parser, each refusal with its exact
 * sentence. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "control/server/internal.h"
#include "control/server/server.h"
#include "control/server/sso.h"
#include "control/server/store.h"

/* A table over a fresh SQLite store of its own (the rows are the store's), and how many rows
 * it holds. */
static char store_dir[64];

static int table_init(struct ctl__sso_table *t)
{
	char url[128];
	struct ctl_store *s;
	char err[256];
	snprintf(store_dir, sizeof(store_dir), "/tmp/ctl-sso-XXXXXX");
	if (!mkdtemp(store_dir))
		return -errno;
	snprintf(url, sizeof(url), "sqlite:%s/state.db", store_dir);
	int rc = ctl_store_open(url, &s, err, sizeof(err));
	return rc ? rc : ctl__sso_table_init(t, s);
}

static void table_uninit(struct ctl__sso_table *t)
{
	char cmd[128];
	t->store->ops->close(t->store);
	ctl__sso_table_uninit(t);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", store_dir);
	CHECK_INT(system(cmd), 0);
}

static int64_t rows(struct ctl__sso_table *t)
{
	sqlite3_stmt *st = NULL;
	int64_t n = -1;
	if (sqlite3_prepare_v2(ctl__sq(t->store)->db, "SELECT count(*) FROM sso_pending", -1, &st,
			       NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static const char S43[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

static struct ctl__sso_pending mk(unsigned i, const char *pre, const char *source)
{
	struct ctl__sso_pending p;
	memset(&p, 0, sizeof(p));
	snprintf(p.state, sizeof(p.state), "state%038u", i);
	snprintf(p.verifier, sizeof(p.verifier), "verifier-%u", i);
	snprintf(p.pre, sizeof(p.pre), "%s", pre);
	snprintf(p.source, sizeof(p.source), "%s", source);
	return p;
}

/* Takes the login mk(i, "%032x" of i, ...) made. */
static int take_nth(struct ctl__sso_table *t, unsigned i, int64_t now)
{
	struct ctl__sso_pending p, out;
	char pre[40];
	snprintf(pre, sizeof(pre), "%032x", i);
	p = mk(i, pre, "");
	return ctl__sso_table_take(t, p.state, p.pre, now, &out);
}

static void table_tests(void)
{
	struct ctl__sso_table t;
	struct ctl__sso_pending p, out;
	/* one address's starts as often as they may go on: its limit in each window */
	const int64_t E = SRV_SSO_START_WINDOW_S / SRV_SSO_START_BURST;
	int64_t retry = 0, now = 1000;
	char pre[40];
	CHECK_INT(table_init(&t), 0);

	/* 1. taken once, by its browser only */
	p = mk(1, "0123456789abcdef0123456789abcdef", "192.0.2.1");
	CHECK_INT(ctl__sso_table_add(&t, &p, now, &retry), 0);
	CHECK_INT(ctl__sso_table_take(&t, p.state, "ffffffffffffffffffffffffffffffff", now, &out),
		  -EPERM);
	CHECK_INT(ctl__sso_table_take(&t, p.state, NULL, now, &out), -EPERM);
	CHECK_INT(ctl__sso_table_take(&t, p.state, p.pre, now, &out), 0);
	CHECK_STR(out.verifier, "verifier-1");
	CHECK_INT(out.created, now);
	CHECK_INT(ctl__sso_table_take(&t, p.state, p.pre, now, &out), -ENOENT);
	CHECK_INT(ctl__sso_table_take(&t, "short", p.pre, now, &out), -ENOENT);

	/* 2. expiry: the last second of its life, then gone */
	CHECK_INT(ctl__sso_table_add(&t, &p, now, &retry), 0);
	CHECK_INT(ctl__sso_table_take(&t, p.state, p.pre, now + SRV_SSO_PENDING_TTL_S, &out),
		  -ENOENT);
	CHECK_INT(rows(&t), 0);
	CHECK_INT(ctl__sso_table_add(&t, &p, now, &retry), 0);
	CHECK_INT(ctl__sso_table_take(&t, p.state, p.pre, now + SRV_SSO_PENDING_TTL_S - 1, &out),
		  0);

	/* 3. a browser's tabs: the ninth login pushes out its own oldest, not another's */
	struct ctl__sso_pending other = mk(100, "11111111111111111111111111111111", "192.0.2.1");
	CHECK_INT(ctl__sso_table_add(&t, &other, now, &retry), 0);
	for (unsigned i = 0; i < SRV_SSO_PENDING_PER_BROWSER + 1; i++) {
		p = mk(10 + i, "22222222222222222222222222222222", "192.0.2.2");
		CHECK_INT(ctl__sso_table_add(&t, &p, now + E * i, &retry), 0);
	}
	CHECK_INT(rows(&t), SRV_SSO_PENDING_PER_BROWSER + 1);
	p = mk(10, "22222222222222222222222222222222", "");
	CHECK_INT(ctl__sso_table_take(&t, p.state, p.pre, now + 100, &out), -ENOENT);
	p = mk(11, "22222222222222222222222222222222", "");
	CHECK_INT(ctl__sso_table_take(&t, p.state, p.pre, now + 100, &out), 0);
	CHECK_INT(ctl__sso_table_take(&t, other.state, other.pre, now + 100, &out), 0);
	table_uninit(&t);

	/* 4. per source: the 33rd from one address (many browsers) pushes out that address's
	 * oldest, not another's: a page that makes its visitors' browsers start logins cannot
	 * lock them out */
	CHECK_INT(table_init(&t), 0);
	other = mk(500, "11111111111111111111111111111111", "198.51.100.8");
	CHECK_INT(ctl__sso_table_add(&t, &other, now, &retry), 0);
	for (unsigned i = 0; i < SRV_SSO_PENDING_PER_SOURCE + 1; i++) {
		snprintf(pre, sizeof(pre), "%032x", i);
		p = mk(i, pre, "198.51.100.7");
		CHECK_INT(ctl__sso_table_add(&t, &p, now + E * (1 + i), &retry), 0);
	}
	CHECK_INT(rows(&t), SRV_SSO_PENDING_PER_SOURCE + 1);
	CHECK_INT(take_nth(&t, 0, now + 300), -ENOENT);
	CHECK_INT(take_nth(&t, 1, now + 300), 0);
	CHECK_INT(ctl__sso_table_take(&t, other.state, other.pre, now + 300, &out), 0);
	table_uninit(&t);

	/* 5. in all: a full table pushes out the oldest of the address with the most open, so
	 * neither a busy address nor many addresses with a few each keep a newcomer out */
	CHECK_INT(table_init(&t), 0);
	for (unsigned i = 0; i < SRV_SSO_PENDING_MAX; i++) {
		char src[64];
		snprintf(pre, sizeof(pre), "%032x", i);
		if (i < 1000)
			snprintf(src, sizeof(src), "10.0.%u.%u", i / 250, i % 250); /* 1 each */
		else
			snprintf(src, sizeof(src), "10.9.9.9"); /* the busiest: 24 */
		p = mk(i, pre, src);
		CHECK_INT(
		    ctl__sso_table_add(&t, &p, now + (i < 1000 ? 0 : E * (1 + i - 1000)), &retry),
		    0);
	}
	CHECK_INT(rows(&t), SRV_SSO_PENDING_MAX);
	struct ctl__sso_pending late = mk(5000, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "203.0.113.9");
	CHECK_INT(ctl__sso_table_add(&t, &late, now + 200, &retry), 0);
	CHECK_INT(rows(&t), SRV_SSO_PENDING_MAX);
	CHECK_INT(take_nth(&t, 1000, now + 200), -ENOENT);
	/* older, but its address has fewer open */
	CHECK_INT(take_nth(&t, 0, now + 200), 0);
	CHECK_INT(ctl__sso_table_take(&t, late.state, late.pre, now + 200, &out), 0);
	/* filled again: the busiest still loses, its next oldest */
	for (unsigned i = 0; i < 3; i++) {
		snprintf(pre, sizeof(pre), "d%031x", i);
		p = mk(6000 + i, pre, "203.0.113.10");
		CHECK_INT(ctl__sso_table_add(&t, &p, now + 201, &retry), 0);
	}
	CHECK_INT(rows(&t), SRV_SSO_PENDING_MAX);
	CHECK_INT(take_nth(&t, 1001, now + 201), -ENOENT);
	CHECK_INT(take_nth(&t, 1, now + 201), 0);
	table_uninit(&t);
}

/* 8. the store holds the state's hash and the verifier sealed under the state: neither as
 * it is, and a row changed there (its sealed verifier, or moved to another state) is
 * refused, not taken as it reads. */
static void store_tests(void)
{
	struct ctl__sso_table t;
	struct ctl__sso_pending p = mk(1, "0123456789abcdef0123456789abcdef", "192.0.2.1"), out;
	struct ctl__sso_pending q = mk(2, "0123456789abcdef0123456789abcdef", "192.0.2.1");
	int64_t retry = 0, now = 7000;
	CHECK_INT(table_init(&t), 0);
	snprintf(p.verifier, sizeof(p.verifier), "%s", S43);
	CHECK_INT(ctl__sso_table_add(&t, &p, now, &retry), 0);
	CHECK_INT(ctl__sso_table_add(&t, &q, now, &retry), 0);
	sqlite3 *db = ctl__sq(t.store)->db;
	sqlite3_stmt *st = NULL;
	CHECK_INT(sqlite3_prepare_v2(db,
				     "SELECT count(*) FROM sso_pending WHERE state_id = ?1 OR "
				     "instr(verifier, ?2) OR instr(verifier, hex(?2))",
				     -1, &st, NULL),
		  SQLITE_OK);
	sqlite3_bind_text(st, 1, p.state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, S43, -1, SQLITE_STATIC);
	CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0);
	sqlite3_finalize(st);
	/* q's sealed verifier put in p's row: it does not open under p's state */
	CHECK_INT(
	    sqlite3_exec(db,
			 "UPDATE sso_pending SET verifier = (SELECT verifier FROM sso_pending "
			 "ORDER BY rowid DESC LIMIT 1) WHERE rowid = (SELECT min(rowid) FROM "
			 "sso_pending)",
			 NULL, NULL, NULL),
	    SQLITE_OK);
	CHECK_INT(ctl__sso_table_take(&t, p.state, p.pre, now, &out), -EBADMSG);
	CHECK_STR(out.verifier, "");
	CHECK_INT(ctl__sso_table_take(&t, q.state, q.pre, now, &out), 0);
	CHECK_STR(out.verifier, "verifier-2");
	table_uninit(&t);
}

/* 7. how often one address may start: 10 in a window of a minute from its first, counted in
 * the store; others unaffected; at most SRV_SSO_RATE_SOURCES addresses with a live window (a
 * new one beyond them goes through uncounted: 4096 addresses must not stop everyone's
 * sign-ins).  A callback takes its login out, so without this the
 * count open never bites. */
static void rate_tests(void)
{
	struct ctl__sso_table t;
	struct ctl__sso_pending p, out;
	const int64_t W = SRV_SSO_START_WINDOW_S;
	int64_t retry = 0, now = 5000;
	char pre[40];
	CHECK_INT(table_init(&t), 0);
	for (unsigned i = 0; i < SRV_SSO_START_BURST; i++) {
		snprintf(pre, sizeof(pre), "%032x", i);
		p = mk(i, pre, "2001:db8:7::/48");
		CHECK_INT(ctl__sso_table_add(&t, &p, now + i, &retry), 0);
		CHECK_INT(ctl__sso_table_take(&t, p.state, p.pre, now + i, &out), 0);
	}
	CHECK_INT(rows(&t), 0);
	p = mk(100, "ffffffffffffffffffffffffffffffff", "2001:db8:7::/48");
	retry = 0;
	CHECK_INT(ctl__sso_table_add(&t, &p, now + 10, &retry), -EAGAIN);
	CHECK_INT(retry, now + W);
	CHECK_INT(rows(&t), 0); /* refused before anything is stored */
	CHECK_INT(ctl__sso_table_add(&t, &p, now + W - 1, &retry), -EAGAIN);
	CHECK_INT(ctl__sso_table_add(&t, &p, now + W, &retry), 0); /* a new window */
	p = mk(101, "ffffffffffffffffffffffffffffffff", "2001:db8:8::/48");
	CHECK_INT(ctl__sso_table_add(&t, &p, now, &retry), 0);
	table_uninit(&t);
	/* more addresses than it counts: a new one goes through uncounted (as many times as
	 * it likes: the pending table's caps bound it), one already counted goes on */
	CHECK_INT(table_init(&t), 0);
	for (unsigned i = 0; i < SRV_SSO_RATE_SOURCES; i++) {
		char src[64];
		snprintf(src, sizeof(src), "10.1.%u.%u", i / 250, i % 250);
		p = mk(300 + i, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", src);
		CHECK_INT(ctl__sso_table_add(&t, &p, now + (i == 0 ? 0 : 1), &retry), 0);
	}
	for (unsigned i = 0; i < SRV_SSO_START_BURST + 2; i++) {
		p = mk(9000 + i, "dddddddddddddddddddddddddddddddd", "2001:db8:9::/48");
		CHECK_INT(ctl__sso_table_add(&t, &p, now + 2, &retry), 0);
	}
	p = mk(9100, "dddddddddddddddddddddddddddddddd", "10.1.0.1");
	CHECK_INT(ctl__sso_table_add(&t, &p, now + 2, &retry), 0);
	p = mk(9101, "dddddddddddddddddddddddddddddddd", "2001:db8:9::/48");
	CHECK_INT(ctl__sso_table_add(&t, &p, now + W, &retry), 0);
	table_uninit(&t);
}

/* 8. token exchanges: 2 per address in the list, 64 in all */
static void job_tests(void)
{
	struct ctl__sso *s = calloc(1, sizeof(*s));
	struct ctl__sso_job j[SRV_SSO_JOBS_MAX + 2];
	CHECK(s != NULL);
	pthread_cond_init(&s->cond, NULL);
	memset(j, 0, sizeof(j));
	for (size_t i = 0; i < SRV_SSO_JOBS_MAX + 2; i++)
		snprintf(j[i].source, sizeof(j[i].source), "198.51.100.%zu", i < 3 ? 1 : i);
	CHECK_INT(ctl__sso_job_queue(s, &j[0]), 0);
	CHECK_INT(ctl__sso_job_queue(s, &j[1]), 0);
	j[1].step = SRV_SSO_DONE; /* done but not yet read still counts */
	CHECK_INT(ctl__sso_job_queue(s, &j[2]), -EAGAIN);
	for (size_t i = 3; i < SRV_SSO_JOBS_MAX + 1; i++)
		CHECK_INT(ctl__sso_job_queue(s, &j[i]), 0);
	CHECK_INT(s->n_jobs, SRV_SSO_JOBS_MAX);
	CHECK_INT(ctl__sso_job_queue(s, &j[SRV_SSO_JOBS_MAX + 1]), -EBUSY);
	pthread_cond_destroy(&s->cond);
	free(s);
}

/* 9. who may sign in must be said: a list, or --oidc-allow-anyone, not both */
static void config_tests(void)
{
	char path[] = "/tmp/test-control-sso-XXXXXX", err[512];
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK(write(fd, "s3cret\n", 7) == 7);
	close(fd);
	struct ctl__sso_config c;
	struct ctl_server_oidc o = { .issuer = "https://idp.example.com",
				     .client_id = "mesh",
				     .client_secret_file = path };
	err[0] = '\0';
	CHECK_INT(ctl__sso_config_load(&o, &c, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "--oidc-issuer 'https://idp.example.com' needs --oidc-allowed-domains, "
		       "--oidc-allowed-groups or --oidc-allowed-users (who may sign in), or "
		       "--oidc-allow-anyone to let in everyone the provider has an account for");
	CHECK(c.secret == NULL);
	o.allowed_domains = ""; /* given empty is none */
	CHECK_INT(ctl__sso_config_load(&o, &c, err, sizeof(err)), -EINVAL);
	o.allow_anyone = true;
	CHECK_INT(ctl__sso_config_load(&o, &c, err, sizeof(err)), 0);
	CHECK_STR(c.secret, "s3cret");
	ctl__sso_config_free(&c);
	o.allowed_groups = "eng";
	CHECK_INT(ctl__sso_config_load(&o, &c, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "--oidc-allow-anyone and --oidc-allowed-* contradict each other: give "
		       "the lists, or --oidc-allow-anyone alone");
	o.allow_anyone = false;
	CHECK_INT(ctl__sso_config_load(&o, &c, err, sizeof(err)), 0);
	CHECK_INT(c.n_groups, 1);
	ctl__sso_config_free(&c);
	unlink(path);
}

/* 10. the login a first sign-in makes: a verified email, or a sub at ISSUER-HOST.invalid
 * (never someone's email), the sub's case kept apart */
static void login_tests(void)
{
	static const struct {
		const char *host, *sub, *email, *login, *why;
	} k[] = {
		{ "example.com", "x1", "Alice@Example.COM", "alice@example.com", NULL },
		{ "example.com", "ceo", "", "ceo@example.com.invalid", NULL },
		{ "127.0.0.1:9000", "ceo", "", "ceo@127.0.0.1.invalid", NULL },
		{ "IdP.Example.com", "bob", "", "bob@idp.example.com.invalid", NULL },
		{ "example.com", "Bob", "",
		  "sub+7665a907c674f215bf0a67ce946a11d3@example.com.invalid", NULL },
		{ "example.com", "bob+x", "",
		  "sub+899035cd78637d33e2ebad1cb8b1e55f@example.com.invalid", NULL },
		{ "example.com",
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "",
		  "sub+61d6ddb7c8281b18655debddfc5b5b76@example.com.invalid", NULL },
		{ "example.com", "x1", "a'b@example.com", NULL,
		  "the login \"a'b@example.com\" made from your verified email is not one "
		  "meshcontrol takes (login may only contain lowercase letters, digits and . _ + - "
		  "@)" },
		{ "[::1]:9000", "ceo", "", NULL,
		  "the login \"ceo@[::1].invalid\" made from the provider's sub is not one "
		  "meshcontrol "
		  "takes (login may only contain lowercase letters, digits and . _ + - @)" },
	};
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		struct ctl__sso_config c;
		struct ctl_oidc_identity id;
		char login[CTL_LOGIN_MAX] = "", why[512] = "";
		memset(&c, 0, sizeof(c));
		memset(&id, 0, sizeof(id));
		snprintf(c.issuer_host, sizeof(c.issuer_host), "%s", k[i].host);
		snprintf(id.sub, sizeof(id.sub), "%s", k[i].sub);
		snprintf(id.email, sizeof(id.email), "%s", k[i].email);
		int rc = ctl__sso_login_for(&c, &id, login, why, sizeof(why));
		if (rc != (k[i].login ? 0 : -EINVAL))
			fprintf(stderr, "login case %zu: rc %d '%s' '%s'\n", i + 1, rc, login, why);
		CHECK_INT(rc, k[i].login ? 0 : -EINVAL);
		CHECK_STR(k[i].login ? login : why, k[i].login ? k[i].login : k[i].why);
	}
}

/* 11. the pre-session cookie: signed, checked, named and scoped by the scheme */
static void cookie_tests(void)
{
	uint8_t key[32], other[32];
	char cookie[SRV_SSO_COOKIE_HEX + 1], pre[SRV_SSO_PRE_HEX + 1], hdr[256];
	memset(key, 0x5a, sizeof(key));
	memset(other, 0x5b, sizeof(other));
	ctl__sso_pre_sign(key, "0123456789abcdef0123456789abcdef", cookie);
	CHECK_INT(strlen(cookie), SRV_SSO_COOKIE_HEX);
	CHECK(ctl__sso_pre_check(key, cookie, pre));
	CHECK_STR(pre, "0123456789abcdef0123456789abcdef");
	CHECK(!ctl__sso_pre_check(other, cookie, pre));
	CHECK(!ctl__sso_pre_check(key, "0123456789abcdef0123456789abcdef", pre));
	cookie[SRV_SSO_COOKIE_HEX - 1] ^= 1;
	CHECK(!ctl__sso_pre_check(key, cookie, pre));
	cookie[SRV_SSO_COOKIE_HEX - 1] ^= 1;
	cookie[0] = 'A'; /* hex2bin would take it; only our lowercase is ours */
	CHECK(!ctl__sso_pre_check(key, cookie, pre));
	ctl__sso_cookie_header(true, "v", hdr, sizeof(hdr));
	CHECK_STR(hdr, "__Host-mesh_sso=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=600; Secure");
	ctl__sso_cookie_header(false, "v", hdr, sizeof(hdr));
	CHECK_STR(hdr, "mesh_sso=v; Path=/oidc; HttpOnly; SameSite=Lax; Max-Age=600");
}

/* 6. the table's address: an IPv6 /64 widened to its /48; others as they are */
static void source_key_tests(void)
{
	static const struct {
		const char *in, *out;
	} k[] = {
		{ "2001:db8:1:2::/64", "2001:db8:1::/48" },
		{ "2001:db8:1:ff00::/64", "2001:db8:1::/48" },
		{ "2001:db8:2:2::/64", "2001:db8:2::/48" },
		{ "203.0.113.7", "203.0.113.7" },
		{ "?", "?" },
		{ "not-an-address/64", "not-an-address/64" },
	};
	char out[SRV_SSO_SOURCE_MAX];
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		ctl__sso_source_key(k[i].in, out);
		CHECK_STR(out, k[i].out);
	}
}

struct arg {
	const char *key, *value;
};

/* Feeds args in order; 0, or the first error (its sentence in err). */
static int parse(const struct arg *a, size_t n, struct ctl__sso_callback *cb, char *err)
{
	memset(cb, 0, sizeof(*cb));
	err[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int rc = ctl__sso_callback_arg(cb, a[i].key, a[i].value, err, 512);
		if (rc)
			return rc;
	}
	return ctl__sso_callback_finish(cb, err, 512);
}

static void callback_tests(void)
{
	struct ctl__sso_callback cb;
	char err[512], long_code[SRV_SSO_CODE_MAX + 1];
	memset(long_code, 'c', SRV_SSO_CODE_MAX);
	long_code[SRV_SSO_CODE_MAX] = '\0';
	static const struct {
		struct arg a[4];
		size_t n;
		int rc;
		const char *err;
	} t[] = {
		/* 1 */ { { { "code", "abc" },
			    { "state", S43 },
			    { "iss", "https://i.example" },
			    { "session_state", "x" } },
			  4,
			  0,
			  "" },
		/* 2 */
		{ { { "state", S43 },
		    { "error", "access_denied" },
		    { "error_description", "the user said no" } },
		  3,
		  0,
		  "" },
		/* 3 */ { { { "code", "abc" } }, 1, -EINVAL, "the callback has no state" },
		/* 4 */
		{ { { "state", S43 } },
		  1,
		  -EINVAL,
		  "the callback has neither a code nor an error" },
		/* 5 */
		{ { { "state", S43 }, { "code", "a" }, { "error", "x" } },
		  3,
		  -EINVAL,
		  "the callback has both a code and an error" },
		/* 6 */
		{ { { "state", S43 }, { "state", S43 } },
		  2,
		  -EINVAL,
		  "the callback has state twice" },
		/* 7 */
		{ { { "state", "short" } },
		  1,
		  -EINVAL,
		  "the callback's state \"short\" is not a state meshcontrol makes" },
		/* 8 */
		{ { { "state", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" } },
		  1,
		  -EINVAL,
		  "the callback's state \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\" is "
		  "not a state meshcontrol makes" },
		/* 9 */
		{ { { "code", "a\x1b[2Jb" } },
		  1,
		  -EINVAL,
		  "the callback's code \"a?[2Jb\" is not 1 to 2047 printable ASCII "
		  "characters" },
		/* 10 */
		{ { { "code", "" } },
		  1,
		  -EINVAL,
		  "the callback's code \"\" is not 1 to 2047 printable ASCII characters" },
		/* 11 */
		{ { { "iss", "https://a b" } },
		  1,
		  -EINVAL,
		  "the callback's iss \"https://a b\" is not a URL" },
		/* 12 */
		{ { { "error", "a b" } },
		  1,
		  -EINVAL,
		  "the callback's error \"a b\" is not at most 255 printable ASCII "
		  "characters" },
		/* 13 */
		{ { { "error_description", "line\nbreak" } },
		  1,
		  -EINVAL,
		  "the callback's error_description \"line?break\" is not at most 255 "
		  "printable ASCII characters" },
		/* 14 */
		{ { { "state", S43 }, { "code", "x" }, { "code", "y" } },
		  3,
		  -EINVAL,
		  "the callback has code twice" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = parse(t[i].a, t[i].n, &cb, err);
		if (rc != t[i].rc || strcmp(err, t[i].err) != 0)
			fprintf(stderr, "case %zu: rc %d err '%s'\n", i + 1, rc, err);
		CHECK_INT(rc, t[i].rc);
		CHECK_STR(err, t[i].err);
	}
	CHECK_INT(parse((struct arg[]){ { "state", S43 }, { "code", "abc" } }, 2, &cb, err), 0);
	CHECK_STR(cb.code, "abc");
	CHECK_STR(cb.state, S43);
	CHECK(!cb.has_iss);
	/* a code of 2048 characters: quoted cut, refused */
	CHECK_INT(ctl__sso_callback_arg(&cb, "code", long_code, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "...\" is not 1 to 2047 printable ASCII characters") != NULL);
	long_code[SRV_SSO_CODE_MAX - 1] = '\0';
	memset(&cb, 0, sizeof(cb));
	CHECK_INT(ctl__sso_callback_arg(&cb, "code", long_code, err, sizeof(err)), 0);
}

int main(void)
{
	table_tests();
	source_key_tests();
	rate_tests();
	store_tests();
	job_tests();
	config_tests();
	login_tests();
	cookie_tests();
	callback_tests();
	return check_finish();
}
