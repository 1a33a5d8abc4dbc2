/* stun-probe: drives nat/stun.c against a real STUN/TURN server over UDP.
 *   stun-probe binding HOST PORT              prints "mapped ADDR PORT"
 *   stun-probe allocate HOST PORT USER PASS   Allocate (401, then with credentials);
 *                                             prints "relayed ADDR PORT", "mapped ...",
 *                                             "lifetime N", or "error CODE REASON"
 *   stun-probe relay HOST PORT USER PASS MINE THEIRS MSG
 *                                             nat/turn.c's client: allocates, writes its
 *                                             relayed address to MINE, reads the other's
 *                                             from THEIRS, binds a channel and sends MSG
 *                                             until the other's arrives; prints "got ..."
 *   stun-probe turn HOST PORT USER PASS       nat/turn.c's client: allocates and prints
 *                                             "relayed ...", "mapped ...", "lifetime N",
 *                                             or "failed: WHY"
 * Before turn and relay, --tcp or --tls CAFILE NAME: the client over TCP, or TLS verified
 * for NAME against CAFILE (nat/tls.c), framed by nat/stream.c (RFC 8656 12.5).
 * Every answer is parsed and checked (transaction id, MESSAGE-INTEGRITY, FINGERPRINT)
 * before anything is printed; a malformed one is reported and the probe fails. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "nat/stream.h"
#include "nat/stun.h"
#include "nat/tls.h"
#include "nat/turn.h"
#include <time.h>

static int sock = -1;
static struct sockaddr_in server;
static enum nat_turn_transport mode = NAT_TURN_UDP;
static struct nat_tls *tls;
static struct nat_stream stream;

static void die(const char *what)
{
	fprintf(stderr, "stun-probe: %s\n", what);
	exit(1);
}

/* Sends (buf, n) and waits up to 3 s, retrying twice, for an answer with our txid. */
static size_t exchange(const uint8_t *buf, size_t n, const uint8_t *txid, uint8_t *in,
		       struct nat_stun_msg *m)
{
	char err[160];
	for (int attempt = 0; attempt < 3; attempt++) {
		if (sendto(sock, buf, n, 0, (struct sockaddr *)&server, sizeof(server)) < 0)
			die(strerror(errno));
		struct pollfd p = { .fd = sock, .events = POLLIN };
		while (poll(&p, 1, 1000) == 1) {
			ssize_t r = recv(sock, in, NAT_STUN_MAX_LEN, 0);
			if (r < 0)
				die(strerror(errno));
			if (nat_stun_parse(in, (size_t)r, m, err, sizeof(err)) != 0) {
				fprintf(stderr, "stun-probe: dropped: %s\n", err);
				continue;
			}
			if (memcmp(m->txid, txid, NAT_STUN_TXID) != 0)
				continue; /* not our transaction */
			if (nat_stun_check_fingerprint(m) == -EBADMSG)
				die("answer with a wrong FINGERPRINT");
			return (size_t)r;
		}
	}
	die("no answer");
	return 0;
}

static void print_addr(const char *label, const struct nat_stun_msg *m, uint16_t type)
{
	struct sockaddr_storage ss;
	char err[160], text[INET6_ADDRSTRLEN];
	int rc = nat_stun_get_addr(m, type, &ss, err, sizeof(err));
	if (rc == -ENOENT)
		return;
	if (rc)
		die(err);
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text));
		printf("%s %s %u\n", label, text, ntohs(a->sin_port));
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof(text));
		printf("%s %s %u\n", label, text, ntohs(a->sin6_port));
	}
}

static char *attr_str(const struct nat_stun_msg *m, uint16_t type)
{
	const struct nat_stun_attr *a = nat_stun_find(m, type);
	if (!a)
		return NULL;
	char *s = malloc((size_t)a->len + 1);
	if (!s)
		die("out of memory");
	memcpy(s, a->val, a->len);
	s[a->len] = '\0';
	return s;
}

static int allocate(const char *user, const char *pass)
{
	uint8_t out[NAT_STUN_MAX_LEN], in[NAT_STUN_MAX_LEN], txid[NAT_STUN_TXID];
	struct nat_stun_builder b;
	struct nat_stun_msg m;
	int code;
	char reason[128];
	const uint32_t udp = 17u << 24; /* REQUESTED-TRANSPORT: UDP */

	getrandom(txid, sizeof(txid), 0);
	nat_stun_build_begin(&b, out, sizeof(out), NAT_TURN_ALLOCATE, NAT_STUN_REQUEST, txid);
	nat_stun_add_u32(&b, NAT_TURN_REQUESTED_TRANSPORT, udp);
	int n = nat_stun_build_end(&b, NULL, 0, true);
	exchange(out, (size_t)n, txid, in, &m);
	if (m.cls != NAT_STUN_ERROR || nat_stun_get_error(&m, &code, reason, sizeof(reason)) ||
	    code != 401)
		die("the first Allocate was not answered with 401");
	char *realm = attr_str(&m, NAT_STUN_REALM), *nonce = attr_str(&m, NAT_STUN_NONCE);
	if (!realm || !nonce)
		die("401 without REALM or NONCE");

	uint8_t key[NAT_STUN_LT_KEY];
	nat_stun_long_term_key(user, realm, pass, key);
	getrandom(txid, sizeof(txid), 0);
	nat_stun_build_begin(&b, out, sizeof(out), NAT_TURN_ALLOCATE, NAT_STUN_REQUEST, txid);
	nat_stun_add_u32(&b, NAT_TURN_REQUESTED_TRANSPORT, udp);
	nat_stun_add(&b, NAT_STUN_USERNAME, user, strlen(user));
	nat_stun_add(&b, NAT_STUN_REALM, realm, strlen(realm));
	nat_stun_add(&b, NAT_STUN_NONCE, nonce, strlen(nonce));
	n = nat_stun_build_end(&b, key, sizeof(key), true);
	if (n < 0)
		die("request does not fit");
	exchange(out, (size_t)n, txid, in, &m);
	free(realm);
	free(nonce);
	if (m.cls == NAT_STUN_ERROR) {
		if (nat_stun_get_error(&m, &code, reason, sizeof(reason)))
			die("error answer without a valid ERROR-CODE");
		printf("error %d %s\n", code, reason);
		return 2;
	}
	if (nat_stun_check_integrity(&m, key, sizeof(key)) != 0)
		die("success answer without a valid MESSAGE-INTEGRITY");
	print_addr("relayed", &m, NAT_TURN_XOR_RELAYED_ADDRESS);
	print_addr("mapped", &m, NAT_STUN_XOR_MAPPED_ADDRESS);
	const struct nat_stun_attr *lt = nat_stun_find(&m, NAT_TURN_LIFETIME);
	if (lt && lt->len == 4)
		printf("lifetime %u\n", (unsigned)(lt->val[0] << 24 | lt->val[1] << 16 |
						   lt->val[2] << 8 | lt->val[3]));
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void send_all(void *ctx, const uint8_t *buf, size_t len)
{
	(void)ctx;
	while (len > 0) {
		ssize_t n = send(sock, buf, len, MSG_NOSIGNAL);
		if (n <= 0)
			die(n < 0 ? strerror(errno) : "send: nothing sent");
		buf += n;
		len -= (size_t)n;
	}
}

static void turn_send(void *ctx, const uint8_t *buf, size_t len)
{
	(void)ctx;
	if (mode == NAT_TURN_UDP)
		sendto(sock, buf, len, 0, (struct sockaddr *)&server, sizeof(server));
	else if (mode == NAT_TURN_TCP)
		send_all(NULL, buf, len);
	else if (nat_tls_write(tls, buf, len) != 0)
		die(nat_tls_why(tls));
}

/* What the relay loop keeps between messages. */
static struct nat_turn turn;
static int got;
static uint64_t done_at;

/* One whole message from the relay (a datagram, or one off the stream). */
static void on_msg(const uint8_t *in, size_t len)
{
	struct sockaddr_storage from;
	const uint8_t *d;
	size_t dlen;
	if (nat_turn_input(&turn, in, len, now_ms(), &from, &d, &dlen) == 2 && !got) {
		printf("got %.*s\n", (int)dlen, (const char *)d);
		fflush(stdout);
		got = 1;
		done_at = now_ms() + 1500; /* keep sending so the other side hears us */
	}
}

/* Plaintext off the stream (TCP, or from TLS): whole messages to on_msg. */
static int on_stream(void *ctx, const uint8_t *buf, size_t len)
{
	const uint8_t *m;
	size_t n;
	int rc;
	(void)ctx;
	while ((rc = nat_stream_next(&stream, &buf, &len, &m, &n)) == 1)
		on_msg(m, n);
	return rc;
}

/* A stream's bytes from the socket; false (with "failed: ..." printed) when it broke. */
static bool stream_input(const uint8_t *in, size_t n)
{
	int rc = mode == NAT_TURN_TLS ? nat_tls_input(tls, in, n) : on_stream(NULL, in, n);
	if (rc >= 0)
		return true;
	printf("failed: %s\n", stream.why[0] ? stream.why : nat_tls_why(tls));
	return false;
}

/* TLS: the handshake, before TURN can say anything.  False (printed) when it failed. */
static bool tls_connect(const char *ca, const char *name)
{
	static const struct nat_tls_callbacks cb = { send_all, on_stream };
	char err[256];
	if (nat_tls_new(ca, name, &cb, NULL, &tls, err, sizeof(err)))
		die(err);
	int rc = nat_tls_start(tls);
	uint64_t start = now_ms();
	while (rc == 0 && now_ms() - start < 10000) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		if (poll(&p, 1, 100) != 1)
			continue;
		uint8_t in[4096];
		ssize_t r = recv(sock, in, sizeof(in), 0);
		if (r <= 0) {
			printf("failed: the relay closed the connection in the handshake\n");
			return false;
		}
		rc = nat_tls_input(tls, in, (size_t)r);
	}
	if (rc == 1)
		return true;
	printf("failed: %s\n", rc ? nat_tls_why(tls) : "no TLS handshake within 10 s");
	return false;
}

static void print_sa(const char *label, const struct sockaddr_storage *ss)
{
	char text[INET_ADDRSTRLEN];
	const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
	inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text));
	printf("%s %s %u\n", label, text, ntohs(a->sin_port));
}

/* relay (a: USER PASS MINE THEIRS MSG) or, with only USER PASS, turn. */
static int relay(char **a, bool only_allocate)
{
	struct nat_turn *t = &turn;
	if (nat_turn_init(t, a[0], a[1], turn_send, NULL))
		die("username or password too long");
	nat_turn_set_transport(t, mode);
	nat_stream_init(&stream);
	const char *mine = only_allocate ? NULL : a[2], *theirs = only_allocate ? NULL : a[3];
	const char *msg = only_allocate ? NULL : a[4];
	uint64_t start = now_ms(), next_send = 0;
	nat_turn_start(t, start);
	bool wrote = false, have_peer = false;
	struct sockaddr_in peer = { .sin_family = AF_INET };
	while (now_ms() - start < 20000) {
		uint64_t now = now_ms();
		uint64_t due = nat_turn_timer(t, now);
		if (t->state == NAT_TURN_FAILED) {
			printf("failed: %s\n", t->why);
			return 1;
		}
		if (t->state == NAT_TURN_ALLOCATED && only_allocate) {
			print_sa("relayed", &t->relayed);
			print_sa("mapped", &t->mapped);
			printf("lifetime %u\n", t->lifetime_s);
			return 0;
		}
		if (t->state == NAT_TURN_ALLOCATED && !wrote) {
			char text[INET_ADDRSTRLEN];
			struct sockaddr_in *r = (struct sockaddr_in *)&t->relayed;
			inet_ntop(AF_INET, &r->sin_addr, text, sizeof(text));
			FILE *f = fopen(mine, "w");
			if (!f)
				die("cannot write MINE");
			fprintf(f, "%s %u\n", text, ntohs(r->sin_port));
			fclose(f);
			printf("relayed %s %u\n", text, ntohs(r->sin_port));
			wrote = true;
		}
		if (wrote && !have_peer) {
			FILE *f = fopen(theirs, "r");
			char text[64];
			unsigned port;
			if (f && fscanf(f, "%63s %u", text, &port) == 2 &&
			    inet_pton(AF_INET, text, &peer.sin_addr) == 1) {
				peer.sin_port = htons((uint16_t)port);
				have_peer =
				    nat_turn_add_peer(t, (struct sockaddr *)&peer, now) == 0;
			}
			if (f)
				fclose(f);
		}
		if (have_peer && now >= next_send) {
			uint8_t out[600];
			int n = nat_turn_wrap(t, (struct sockaddr *)&peer, (const uint8_t *)msg,
					      strlen(msg), out, sizeof(out));
			if (n > 0)
				turn_send(NULL, out, (size_t)n);
			next_send = now + 200;
		}
		if (got && now >= done_at)
			return 0;
		int wait = 100;
		if (due != UINT64_MAX && due > now && due - now < (uint64_t)wait)
			wait = (int)(due - now);
		struct pollfd p = { .fd = sock, .events = POLLIN };
		if (poll(&p, 1, wait) != 1)
			continue;
		uint8_t in[NAT_STUN_MAX_LEN];
		ssize_t r = recv(sock, in, sizeof(in), 0);
		if (r == 0 && mode != NAT_TURN_UDP) {
			printf("failed: the relay closed the connection\n");
			return 1;
		}
		if (r <= 0)
			continue;
		if (mode == NAT_TURN_UDP)
			on_msg(in, (size_t)r);
		else if (!stream_input(in, (size_t)r))
			return 1;
	}
	printf("failed: nothing from the %s within 20 s (state %d)\n",
	       only_allocate ? "relay" : "peer", t->state);
	return 1;
}

int main(int argc, char **argv)
{
	const char *ca = NULL, *name = NULL;
	if (argc > 1 && strcmp(argv[1], "--tcp") == 0) {
		mode = NAT_TURN_TCP;
		argv++;
		argc--;
	} else if (argc > 3 && strcmp(argv[1], "--tls") == 0) {
		mode = NAT_TURN_TLS;
		ca = argv[2];
		name = argv[3];
		argv += 3;
		argc -= 3;
	}
	if (argc < 4 || (strcmp(argv[1], "allocate") == 0 && argc != 6) ||
	    (strcmp(argv[1], "turn") == 0 && argc != 6) ||
	    (strcmp(argv[1], "relay") == 0 && argc != 9) ||
	    (mode != NAT_TURN_UDP && strcmp(argv[1], "turn") && strcmp(argv[1], "relay"))) {
		fprintf(stderr,
			"usage: stun-probe binding HOST PORT | allocate HOST PORT USER PASS"
			" | [--tcp | --tls CAFILE NAME] turn HOST PORT USER PASS"
			" | [--tcp | --tls CAFILE NAME] relay HOST PORT USER PASS MINE THEIRS"
			" MSG\n");
		return 2;
	}
	server.sin_family = AF_INET;
	server.sin_port = htons((uint16_t)atoi(argv[3]));
	if (inet_pton(AF_INET, argv[2], &server.sin_addr) != 1)
		die("HOST must be an IPv4 address");
	sock = socket(AF_INET, (mode == NAT_TURN_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	if (sock < 0)
		die(strerror(errno));
	if (mode != NAT_TURN_UDP) {
		struct timeval tv = { .tv_sec = 5 };
		setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(sock, (struct sockaddr *)&server, sizeof(server)) != 0) {
			printf("failed: connect: %s\n",
			       errno == EINPROGRESS ? "no answer within 5 s" : strerror(errno));
			return 1;
		}
		if (mode == NAT_TURN_TLS && !tls_connect(ca, name))
			return 1;
	}
	if (strcmp(argv[1], "allocate") == 0)
		return allocate(argv[4], argv[5]);
	if (strcmp(argv[1], "turn") == 0)
		return relay(argv + 4, true);
	if (strcmp(argv[1], "relay") == 0)
		return relay(argv + 4, false);
	if (strcmp(argv[1], "binding") != 0)
		die("unknown command");
	uint8_t out[NAT_STUN_MAX_LEN], in[NAT_STUN_MAX_LEN], txid[NAT_STUN_TXID];
	struct nat_stun_builder b;
	struct nat_stun_msg m;
	getrandom(txid, sizeof(txid), 0);
	nat_stun_build_begin(&b, out, sizeof(out), NAT_STUN_BINDING, NAT_STUN_REQUEST, txid);
	int n = nat_stun_build_end(&b, NULL, 0, true);
	exchange(out, (size_t)n, txid, in, &m);
	if (m.cls != NAT_STUN_SUCCESS)
		die("Binding not answered with success");
	print_addr("mapped", &m, NAT_STUN_XOR_MAPPED_ADDRESS);
	return 0;
}
