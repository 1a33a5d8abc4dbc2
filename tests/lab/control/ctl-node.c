/* ctl-node: a simulated node for the control lab tests and the scale benchmark.  It runs
 * the real control client library (libcurl multi on a libuv loop), one or --count many
 * instances in one process, and prints one line per thing that happens:
 *
 *   event <idx> <needs-login|registered|connected|unreachable|refused|key-mismatch|
 *         logged-out|key-expired|change-refused|untrusted> <message>
 *   error <idx> <message>                       (the client refused its configuration)
 *   netmap <idx> <version> peers=<n> cache=<0|1> t=<unix ms>
 *   hold <accept|reject|pending|error> <message>
 *   hold cancelled                              (--hold-cancel: cancelled once pending)
 *   recv <idx> <version> <type> t=<unix ms>     (with --stamps: a map message arrived)
 *
 * so a shell script can wait for exactly what a user would see. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>
#include <uv.h>

#include "common/key.h"
#include "control/client/client.h"

struct inst {
	int idx;
	struct ctl_client *c;
	int netmaps;
};

static struct {
	uv_loop_t *loop;
	const char *hold_src, *hold_user;
	unsigned hold_period;
	bool exit_after_netmap, exit_on_refuse, do_logout, hold_started, quiet, stamps, rotate;
	bool hold_cancel; /* cancel the hold once it is pending (the SSH client went away) */
	uv_timer_t linger;
	int rc;
	struct inst *insts;
	int count;
	uv_timer_t timeout;
	uv_signal_t sigterm;
} g;

static const char *const event_names[] = {
	[CTL_CLIENT_NEEDS_LOGIN] = "needs-login",
	[CTL_CLIENT_REGISTERED] = "registered",
	[CTL_CLIENT_CONNECTED] = "connected",
	[CTL_CLIENT_UNREACHABLE] = "unreachable",
	[CTL_CLIENT_REFUSED] = "refused",
	[CTL_CLIENT_KEY_MISMATCH] = "key-mismatch",
	[CTL_CLIENT_LOGGED_OUT] = "logged-out",
	[CTL_CLIENT_KEY_EXPIRED] = "key-expired",
	[CTL_CLIENT_CHANGE_REFUSED] = "change-refused",
	[CTL_CLIENT_UNTRUSTED] = "untrusted",
};

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void finish(int rc)
{
	g.rc = rc;
	uv_stop(g.loop);
}

static void on_linger(uv_timer_t *t)
{
	finish(0);
}

static void on_hold(void *ctx, enum ctl_hold_state st, enum verdict v, const char *msg)
{
	const char *what = st == CTL_HOLD_PENDING  ? "pending"
			   : st == CTL_HOLD_FAILED ? "error"
						   : verdict_name(v);
	printf("hold %s %s\n", what, msg);
	if (st == CTL_HOLD_PENDING && g.hold_cancel) {
		ctl_client_hold_cancel(g.insts[0].c, NULL);
		printf("hold cancelled\n");
		/* long enough for the cancel to reach control, and for a stray answer */
		uv_timer_init(g.loop, &g.linger);
		uv_timer_start(&g.linger, on_linger, 1500, 0);
	} else if (st != CTL_HOLD_PENDING) {
		finish(st == CTL_HOLD_DECIDED && v == VERDICT_ACCEPT ? 0 : 1);
	}
}

static void on_logout(void *ctx, int status)
{
	printf("logout %s\n", status ? "failed" : "ok");
	finish(status ? 1 : 0);
}

static void on_netmap(void *ctx, const struct ctl_netmap *nm, bool from_cache)
{
	struct inst *in = ctx;
	printf("netmap %d %llu peers=%zu cache=%d t=%llu\n", in->idx,
	       (unsigned long long)nm->version, nm->n_peers, from_cache,
	       (unsigned long long)wall_ms());
	if (from_cache)
		return;
	in->netmaps++;
	if (g.hold_src && !g.hold_started) {
		g.hold_started = true;
		if (ctl_client_hold(in->c, g.hold_src, g.hold_user, g.hold_period, on_hold, NULL))
			finish(2);
	} else if (g.do_logout && in->netmaps == 1) {
		if (ctl_client_logout(in->c, on_logout, NULL))
			finish(2);
	} else if (g.rotate && in->netmaps == 1) {
		char old[KEY_BASE64_SIZE];
		key_to_base64(old, nm->self.node_key);
		int rc = ctl_client_rotate_key(in->c);
		printf("rotate %d %s from %s\n", in->idx, rc ? strerror(-rc) : "started", old);
	} else if (g.exit_after_netmap && !g.hold_src && !g.do_logout) {
		finish(0);
	}
}

/* The new public key (never the private one) and the netmap's view of it follow. */
static void on_node_key(void *ctx, const uint8_t priv[32])
{
	struct inst *in = ctx;
	uint8_t pub[32];
	char b64[KEY_BASE64_SIZE];
	crypto_scalarmult_base(pub, priv);
	key_to_base64(b64, pub);
	printf("node-key %d %s\n", in->idx, b64);
}

static void on_event(void *ctx, enum ctl_client_event ev, const char *msg)
{
	struct inst *in = ctx;
	if (!g.quiet || ev != CTL_CLIENT_CONNECTED)
		printf("event %d %s %s\n", in->idx, event_names[ev], msg);
	if (g.exit_on_refuse && (ev == CTL_CLIENT_REFUSED || ev == CTL_CLIENT_KEY_MISMATCH))
		finish(3);
}

static void on_contact(void *ctx, const char *type, uint64_t version)
{
	struct inst *in = ctx;
	if (g.stamps && strcmp(type, "keepalive") != 0)
		printf("recv %d %llu %s t=%llu\n", in->idx, (unsigned long long)version, type,
		       (unsigned long long)wall_ms());
}

static void on_timeout(uv_timer_t *t)
{
	printf("timeout\n");
	finish(124);
}

static void on_sigterm(uv_signal_t *s, int sig)
{
	finish(0);
}

static void usage(void)
{
	fprintf(
	    stderr,
	    "Usage: ctl-node --server URL --state DIR [--authkey K] [--hostname H]\n"
	    "       [--server-key K] [--endpoint ADDR:PORT]... [--count N] [--timeout S]\n"
	    "       [--exit-after-netmap] [--exit-on-refuse] [--logout] [--quiet] [--stamps]\n"
	    "       [--hold SRC USER PERIOD_S [--hold-cancel]] [--tags tag:a,tag:b] [--rotate]\n"
	    "       [--ca-file FILE] [--insecure-http]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "state", required_argument, NULL, 'd' },
		{ "authkey", required_argument, NULL, 'a' },
		{ "hostname", required_argument, NULL, 'n' },
		{ "server-key", required_argument, NULL, 'k' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "count", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "exit-after-netmap", no_argument, NULL, 'x' },
		{ "exit-on-refuse", no_argument, NULL, 'r' },
		{ "logout", no_argument, NULL, 'l' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "stamps", no_argument, NULL, 'm' },
		{ "hold", no_argument, NULL, 'h' },
		{ "hold-cancel", no_argument, NULL, 'C' },
		{ "tags", required_argument, NULL, 'g' },
		{ "rotate", no_argument, NULL, 'o' },
		{ "ca-file", required_argument, NULL, 'A' },
		{ "insecure-http", no_argument, NULL, 'I' },
		{ 0 },
	};
	const char *server = NULL, *state = NULL, *authkey = NULL, *hostname = "node",
		   *server_key = NULL, *tags = NULL, *ca_file = NULL;
	bool insecure_http = false;
	const char *eps[16];
	size_t n_eps = 0;
	int count = 1, timeout_s = 60, c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			server = optarg;
			break;
		case 'd':
			state = optarg;
			break;
		case 'a':
			authkey = optarg;
			break;
		case 'n':
			hostname = optarg;
			break;
		case 'k':
			server_key = optarg;
			break;
		case 'e':
			if (n_eps < 16)
				eps[n_eps++] = optarg;
			break;
		case 'c':
			count = atoi(optarg);
			break;
		case 't':
			timeout_s = atoi(optarg);
			break;
		case 'x':
			g.exit_after_netmap = true;
			break;
		case 'r':
			g.exit_on_refuse = true;
			break;
		case 'l':
			g.do_logout = true;
			break;
		case 'q':
			g.quiet = true;
			break;
		case 'm':
			g.stamps = true;
			break;
		case 'g':
			tags = optarg;
			break;
		case 'o':
			g.rotate = true;
			break;
		case 'C':
			g.hold_cancel = true;
			break;
		case 'A':
			ca_file = optarg;
			break;
		case 'I':
			insecure_http = true;
			break;
		case 'h':
			if (optind + 3 > argc) {
				usage();
				return 2;
			}
			g.hold_src = argv[optind];
			g.hold_user = argv[optind + 1];
			g.hold_period = (unsigned)atoi(argv[optind + 2]);
			optind += 3;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (!server || !state || count < 1) {
		usage();
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	g.loop = uv_default_loop();
	g.count = count;
	g.insts = calloc((size_t)count, sizeof(*g.insts));
	if (count > 1)
		mkdir(state, 0700);
	for (int i = 0; i < count; i++) {
		char dir[4096], name[128], err[512];
		if (count > 1) {
			snprintf(dir, sizeof(dir), "%s/%d", state, i);
			snprintf(name, sizeof(name), "%s-%d", hostname, i);
		} else {
			snprintf(dir, sizeof(dir), "%s", state);
			snprintf(name, sizeof(name), "%s", hostname);
		}
		struct ctl_client_config cfg = {
			.loop = g.loop,
			.server_url = server,
			.state_dir = dir,
			.ca_file = ca_file,
			.insecure_http = insecure_http,
			.server_key = server_key,
			.auth_key = authkey,
			.hostname = name,
			.advertise_tags = tags,
			.endpoints = eps,
			.n_endpoints = n_eps,
			.on_netmap = on_netmap,
			.on_event = on_event,
			.on_contact = on_contact,
			.on_node_key = on_node_key,
			.ctx = &g.insts[i],
		};
		g.insts[i].idx = i;
		if (ctl_client_new(&cfg, &g.insts[i].c, err, sizeof(err)) != 0) {
			printf("error %d %s\n", i, err);
			return 3;
		}
		ctl_client_start(g.insts[i].c);
	}
	uv_timer_init(g.loop, &g.timeout);
	uv_timer_start(&g.timeout, on_timeout, (uint64_t)timeout_s * 1000, 0);
	uv_signal_init(g.loop, &g.sigterm);
	uv_signal_start(&g.sigterm, on_sigterm, SIGTERM);
	uv_run(g.loop, UV_RUN_DEFAULT);
	for (int i = 0; i < count; i++)
		ctl_client_free(g.insts[i].c);
	uv_close((uv_handle_t *)&g.timeout, NULL);
	uv_close((uv_handle_t *)&g.sigterm, NULL);
	uv_run(g.loop, UV_RUN_DEFAULT);
	int closed = uv_loop_close(g.loop);
	free(g.insts);
	if (closed != 0) {
		printf("error handles left open on the loop\n");
		return 4;
	}
	return g.rc;
}
