/* Fuzz target: meshd's control client reading what comes back from control (or from
 * whoever answers in its place).  Each input builds a real client (ctl_client_new over a
 * scratch state directory, never connected: its requests are queued in libcurl and
 * dropped unsent) and hands the bytes to the client's own handlers as a finished request
 * (ctl__request_done) of the kind the first byte picks - key, register, map, hold, logout -
 * either as they came (the unauthenticated refusal path) or sealed by the pinned server
 * key (the JSON handlers behind the seal), with the HTTP status the second byte picks; or
 * as the cached netmap file read at start (ctl_client_start), or the deltas appended to one.  No
 * event the client tells meshd about carries a control character. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/file.h"
#include "control/client/internal.h"
#include "tests/fuzz/tmpdir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_event(void *ctx, enum ctl_client_event ev, const char *msg)
{
	(void)ctx;
	(void)ev;
	for (const char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			abort(); /* an answer's bytes would reach meshctl's terminal */
	if (getenv("FUZZ_TRACE"))
		fprintf(stderr, "event %d: %s\n", (int)ev, msg);
}

static void on_netmap(void *ctx, const struct ctl_netmap *nm, bool from_cache)
{
	(void)ctx;
	(void)nm;
	(void)from_cache;
	if (getenv("FUZZ_TRACE"))
		fprintf(stderr, "netmap v%llu%s\n", (unsigned long long)nm->version,
			from_cache ? " (cache)" : "");
}

static void on_hold(void *ctx, enum ctl_hold_state st, enum verdict v, const char *msg)
{
	(void)ctx;
	(void)msg;
	if (st != CTL_HOLD_DECIDED && v != VERDICT_REJECT)
		abort(); /* only control's decision may carry an accept */
}

static const long statuses[] = { 200, 401, 403, 404, 409, 410, 500, 0 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uv_loop_t loop;
	static char dir[256];
	static uint8_t spub[32], spriv[32];
	static bool ready;
	if (!ready) {
		uint8_t seed[32] = { 7 };
		fz_tmpdir("mesh-fuzz-client", dir, sizeof(dir));
		if (sodium_init() < 0 || uv_loop_init(&loop) != 0)
			abort();
		crypto_box_seed_keypair(spub, spriv, seed);
		ready = true;
	}
	if (size < 3)
		return 0;
	unsigned kind = data[0] % 6, flags = data[2];
	long status = statuses[data[1] % 8];
	const uint8_t *body = data + 3;
	size_t len = size - 3;

	struct ctl_client_config cfg = {
		.loop = &loop,
		.server_url = "http://127.0.0.1:9",
		.state_dir = dir,
		.hostname = "fuzz",
		.on_netmap = on_netmap,
		.on_event = on_event,
		.advertise_tags = flags & 1 ? "tag:a" : NULL,
		.force_reauth = flags & 2,
	};
	struct ctl_client *c;
	char err[256];
	if (ctl_client_new(&cfg, &c, err, sizeof(err)) != 0)
		abort();
	memcpy(c->server_pub, spub, 32);
	c->pinned = true;
	c->registered = flags & 4;
	c->rotating = flags & 8;
	c->relogin = flags & 16;
	c->reauth = flags & 32;
	if (kind == 5) {
		/* the cached netmap: whatever is in the file at start, or (flags & 64) a netmap of
		 * version 1 and whatever is in the deltas appended to it */
		static const char base[] = "{\"version\":1,\"self\":{\"id\":1,\"node_key\":"
					   "\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\"},"
					   "\"peers\":[]}";
		char path[4096], deltas[4096];
		ctl__path_of(c, "netmap.json", path, sizeof(path));
		ctl__path_of(c, "netmap.deltas", deltas, sizeof(deltas));
		if (flags & 64) {
			file_write_atomic(path, base, sizeof(base) - 1, 0600);
			file_write_atomic(deltas, (const char *)body, len, 0600);
		} else {
			file_write_atomic(path, (const char *)body, len, 0600);
		}
		c->registered = true;
		ctl_client_start(c);
		ctl_cache_remove(dir);
	} else {
		struct creq *r = calloc(1, sizeof(*r));
		if (!r)
			abort();
		r->c = c;
		r->kind = (enum req_kind)kind;
		memset(r->nonce, 0x5a, sizeof(r->nonce));
		if (r->kind == REQ_HOLD && (flags & 64)) {
			r->hold_cb = on_hold;
			snprintf(r->hold_src, sizeof(r->hold_src), "100.64.0.2");
			snprintf(r->hold_user, sizeof(r->hold_user), "root");
		}
		uint8_t *sealed = NULL;
		size_t slen = 0;
		if (flags & 128) {
			if (ctl_wire_seal_response(c->machine_pub, spriv, r->nonce,
						   (const char *)body, len, &sealed, &slen) != 0)
				abort();
			body = sealed;
			len = slen;
		}
		r->resp = malloc(len + 1);
		if (!r->resp)
			abort();
		memcpy(r->resp, body, len);
		r->resp[len] = '\0';
		r->resp_len = len;
		free(sealed);
		ctl__request_done(c, r, status);
		if (!c->stopped)
			ctl__req_free(r);
	}
	ctl_client_free(c);
	uv_run(&loop, UV_RUN_DEFAULT); /* the client's handles close, its cache write ends */
	return 0;
}
