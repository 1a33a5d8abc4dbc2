/* ctl-flood: what an attacker sends meshcontrol, for the security lab tests.  A bounded
 * number of node API requests, one after the other, each a properly sealed envelope:
 *
 *   ctl-flood --server URL --count N [--size BYTES] [--bind ADDR] register
 *       N interactive registrations, each from a fresh machine key (anyone can make one),
 *       the JSON padded to BYTES
 *   ctl-flood --server URL --count N --state DIR [--cancel] hold SRC USER
 *       N check-mode holds asked by the registered node whose machine.key is in DIR;
 *       with --cancel each is cancelled right after it was made
 *
 * It prints one line per distinct answer, "answer <status> <count> <error or decision>",
 * so a script can check what the server refused and with which words. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "common/file.h"
#include "common/key.h"
#include "control/netmap/wire.h"

struct buf {
	char *s;
	size_t len;
};

struct answer {
	long status;
	char text[256];
	int count;
};

static struct {
	const char *server, *bind, *state;
	int count;
	size_t size;
	bool cancel;
	uint8_t server_pub[32];
	struct answer answers[32];
	int n_answers;
} g;

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
	struct buf *b = ctx;
	char *s = realloc(b->s, b->len + size * n + 1);
	if (!s)
		return 0;
	memcpy(s + b->len, p, size * n);
	b->s = s;
	b->len += size * n;
	b->s[b->len] = '\0';
	return size * n;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* GET or POST; the status, and the body in *out (malloc'd). */
static long http(const char *path, const void *body, size_t len, struct buf *out)
{
	char url[512];
	long status = 0;
	CURL *e = curl_easy_init();
	if (!e)
		return 0;
	snprintf(url, sizeof(url), "%s%s", g.server, path);
	out->s = NULL;
	out->len = 0;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
	if (g.bind)
		curl_easy_setopt(e, CURLOPT_INTERFACE, g.bind);
	if (body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(e);
	return status;
}

/* The value of "key":"..." in a flat JSON answer, or "" */
static void json_field(const char *json, const char *key, char *out, size_t outlen)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	const char *p = json ? strstr(json, pat) : NULL;
	size_t o = 0;
	out[0] = '\0';
	if (!p)
		return;
	for (p += strlen(pat); *p && *p != '"' && o + 1 < outlen; p++)
		out[o++] = *p == '\\' && p[1] ? *++p : *p;
	out[o] = '\0';
}

static void note(long status, const char *text)
{
	for (int i = 0; i < g.n_answers; i++) {
		if (g.answers[i].status == status && strcmp(g.answers[i].text, text) == 0) {
			g.answers[i].count++;
			return;
		}
	}
	if (g.n_answers == 32)
		return;
	struct answer *a = &g.answers[g.n_answers++];
	a->status = status;
	snprintf(a->text, sizeof(a->text), "%s", text);
	a->count = 1;
}

/* Seal json from the machine key, post it; the opened (or plain) answer in out. */
static long sealed(const uint8_t mpub[32], const uint8_t mpriv[32], const char *path,
		   const char *json, char *out, size_t outlen)
{
	uint8_t *req, nonce[CTL_WIRE_NONCE_LEN];
	size_t rlen;
	struct buf resp;
	out[0] = '\0';
	if (ctl_wire_seal_request(g.server_pub, mpub, mpriv, now_ms(), json, strlen(json), &req,
				  &rlen, nonce) != 0)
		return 0;
	long status = http(path, req, rlen, &resp);
	free(req);
	char *plain = NULL;
	size_t plen;
	const char *why;
	if (resp.s && ctl_wire_open_response(g.server_pub, mpriv, nonce, (uint8_t *)resp.s,
					     resp.len, &plain, &plen, &why))
		snprintf(out, outlen, "%s", plain);
	else if (resp.s)
		snprintf(out, outlen, "%s", resp.s);
	free(plain);
	free(resp.s);
	return status;
}

static void record(long status, const char *answer)
{
	char text[256];
	json_field(answer, "error", text, sizeof(text));
	if (!text[0])
		json_field(answer, "decision", text, sizeof(text));
	if (!text[0] && strstr(answer, "\"auth_url\""))
		snprintf(text, sizeof(text), "login url");
	note(status, text);
}

static int flood_register(void)
{
	char *json = malloc(g.size + 512), answer[4096];
	if (!json)
		return 1;
	for (int i = 0; i < g.count; i++) {
		uint8_t mpub[32], mpriv[32], npub[32], npriv[32];
		char nk[KEY_BASE64_SIZE];
		crypto_box_keypair(mpub, mpriv);
		crypto_box_keypair(npub, npriv);
		key_to_base64(nk, npub);
		int n = snprintf(json, 512,
				 "{\"node_key\":\"%s\",\"hostname\":\"flood%d\",\"pad\":\"", nk, i);
		size_t pad = g.size > (size_t)n + 2 ? g.size - (size_t)n - 2 : 0;
		memset(json + n, 'x', pad);
		memcpy(json + n + pad, "\"}", 3);
		record(sealed(mpub, mpriv, "/machine/register", json, answer, sizeof(answer)),
		       answer);
	}
	free(json);
	return 0;
}

static int flood_hold(const char *src, const char *user)
{
	uint8_t mpub[32], mpriv[32];
	char path[4096], err[256], json[512], answer[4096], id[64];
	bool created;
	snprintf(path, sizeof(path), "%s/machine.key", g.state);
	if (file_key_load_or_create(path, mpriv, &created, err, sizeof(err)) != 0 || created) {
		fprintf(stderr, "ctl-flood: %s: no machine key (%s)\n", path, err);
		return 1;
	}
	crypto_scalarmult_base(mpub, mpriv);
	for (int i = 0; i < g.count; i++) {
		snprintf(json, sizeof(json),
			 "{\"src\":\"%s\",\"user\":\"%s\",\"check_period\":0,\"wait\":false}", src,
			 user);
		record(sealed(mpub, mpriv, "/machine/hold", json, answer, sizeof(answer)), answer);
		json_field(answer, "hold_id", id, sizeof(id));
		if (g.cancel && id[0]) {
			snprintf(json, sizeof(json), "{\"hold_id\":\"%s\",\"cancel\":true}", id);
			long st =
			    sealed(mpub, mpriv, "/machine/hold", json, answer, sizeof(answer));
			if (st != 200)
				record(st, answer);
		}
	}
	sodium_memzero(mpriv, sizeof(mpriv));
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 'z' },
		{ "bind", required_argument, NULL, 'b' },
		{ "state", required_argument, NULL, 'd' },
		{ "cancel", no_argument, NULL, 'c' },
		{ 0 },
	};
	int c;
	g.size = 200;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			g.server = optarg;
			break;
		case 'n':
			g.count = atoi(optarg);
			break;
		case 'z':
			g.size = (size_t)strtoul(optarg, NULL, 10);
			break;
		case 'b':
			g.bind = optarg;
			break;
		case 'd':
			g.state = optarg;
			break;
		case 'c':
			g.cancel = true;
			break;
		default:
			return 2;
		}
	}
	const char *mode = optind < argc ? argv[optind] : "";
	bool hold = strcmp(mode, "hold") == 0 && optind + 3 == argc && g.state;
	if (!g.server || g.count <= 0 || g.count > 100000 ||
	    !(hold || (strcmp(mode, "register") == 0 && optind + 1 == argc))) {
		fprintf(stderr,
			"usage: ctl-flood --server URL --count N [--size BYTES] [--bind ADDR] "
			"register\n"
			"       ctl-flood --server URL --count N --state DIR [--cancel] hold SRC "
			"USER\n");
		return 2;
	}
	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 1;
	struct buf kb;
	char key[64];
	struct key_error kerr;
	if (http("/key", NULL, 0, &kb) != 200) {
		fprintf(stderr, "ctl-flood: no server key from %s\n", g.server);
		return 1;
	}
	json_field(kb.s, "server_key", key, sizeof(key));
	free(kb.s);
	if (!key_from_base64(g.server_pub, key, &kerr)) {
		fprintf(stderr, "ctl-flood: server key: %s\n", kerr.message);
		return 1;
	}
	int rc = hold ? flood_hold(argv[optind + 1], argv[optind + 2]) : flood_register();
	for (int i = 0; i < g.n_answers; i++)
		printf("answer %ld %d %s\n", g.answers[i].status, g.answers[i].count,
		       g.answers[i].text);
	curl_global_cleanup();
	return rc;
}
