/* meshcontrol: the control server (identity, policy, netmaps, check-mode web login).
 *
 * `meshcontrol serve` runs the server; the other commands work on the state directory
 * directly (users, auth keys, the server key, the admin token) so a tailnet can be set up
 * before the server first starts. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "common/strv.h"
#include "control/netmap/dns.h"
#include "control/server/ident.h"
#include "control/server/server.h"
#include "control/server/store.h"
#include "mesh_version.h"
#include "meshcontrol.h"

static const char *state_dir = "/var/lib/meshcontrol";
static const char *store_url; /* --store; NULL: STATE/state.db */

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: meshcontrol [OPTION]... COMMAND [ARG]...\n"
		"The Mesh control server: users, nodes, auth keys, policy, netmaps and\n"
		"check-mode web login, with its state in SQLite (STATE/state.db) or in\n"
		"PostgreSQL (--store postgres://...).\n"
		"\n"
		"Commands:\n"
		"  serve [--listen ADDR] [--port N] [--public-url URL] [--port-file FILE]\n"
		"        [--keepalive-ms N] [--key-lifetime SECONDS]\n"
		"        [--tls-cert FILE --tls-key FILE] [--insecure-http]\n"
		"        [--replica-name NAME] [--drain-seconds N] [--trusted-proxy CIDR[,CIDR]]\n"
		"        [--relay URI[,URI]... --relay-secret-file FILE] [--relay-ttl SECONDS]\n"
		"                                   run the server (default 127.0.0.1:8080); user\n"
		"                                   nodes' keys expire after --key-lifetime\n"
		"                                   (default 180 days) and must log in again.\n"
		"                                   HTTPS with --tls-cert (PEM chain) and\n"
		"                                   --tls-key (PEM, mode 0600); plain HTTP only\n"
		"                                   on loopback, or anywhere with\n"
		"                                   --insecure-http.\n"
		"                                   --relay: up to 8 TURN relays (coturn with\n"
		"                                   use-auth-secret), RFC 7065 URIs\n"
		"                                   turn:HOST:PORT[?transport=tcp] or\n"
		"                                   turns:HOST:PORT; --relay-secret-file: its\n"
		"                                   static-auth-secret (one line, mode 0600).\n"
		"                                   Each node gets its own credentials, valid\n"
		"                                   --relay-ttl (default 86400) and renewed at\n"
		"                                   half of it.\n"
		"                                   --replica-name: in GET /healthz and the\n"
		"                                   admin API's Mesh-Replica header (default:\n"
		"                                   the host name).  SIGTERM drains: /healthz\n"
		"                                   503 at once, held requests answered, new\n"
		"                                   connections refused after --drain-seconds\n"
		"                                   (default 5; 0: stop at once, as SIGINT).\n"
		"                                   --trusted-proxy: balancers (HAProxy's\n"
		"                                   send-proxy-v2) whose PROXY header names\n"
		"                                   the client; required from them only\n"
		"        [--oidc-issuer URL --oidc-client-id ID --oidc-client-secret-file FILE]\n"
		"        [--oidc-scopes 'openid email profile'] [--oidc-groups-claim groups]\n"
		"        [--oidc-allowed-domains D,D] [--oidc-allowed-groups G,G]\n"
		"        [--oidc-allowed-users EMAIL,EMAIL] [--oidc-allow-anyone]\n"
		"                                   people sign in with an OpenID provider (the\n"
		"                                   redirect URI is PUBLIC-URL/oidc/callback;\n"
		"                                   the secret file: one line, mode 0600); each\n"
		"                                   allowed list given must let a person in;\n"
		"                                   one is needed, or --oidc-allow-anyone\n"
		"                                   (everyone the provider has an account for).\n"
		"                                   Local passwords stay, for administrators\n"
		"  user add LOGIN                   add a user; the password is read from stdin\n"
		"  user list                        list users\n"
		"  user remove LOGIN                remove a user with their nodes and keys\n"
		"  authkey create --user LOGIN [--reusable] [--ephemeral] [--tags T,T]\n"
		"        [--expiry SECONDS]         create an auth key and print it (shown once)\n"
		"  authkey list                     list auth keys (prefixes only)\n"
		"  authkey revoke PREFIX            revoke an auth key\n"
		"  dns set FILE                     the tailnet's DNS settings (JSON: magic_dns,\n"
		"                                   records, routes, search; see meshctl\n"
		"                                   dns-config --help)\n"
		"  dns get                          print them\n"
		"  key                              print the server's public key\n"
		"  admin-token                      make a new admin API token and print it\n"
		"  store migrate --from sqlite:PATH --to postgres://...\n"
		"                                   copy a SQLite store into an empty\n"
		"                                   PostgreSQL database in one transaction,\n"
		"                                   then compare every table (rows, digest)\n"
		"  audit verify [--head HASH]       check the audit log's hash chain: prints the\n"
		"                                   rows checked and the head hash (record it;\n"
		"                                   --head HASH later also catches a cut tail);\n"
		"                                   the first bad row named, exit 1\n"
		"  audit export --to FILE|- [--follow] [--after ID]\n"
		"                                   the log as JSON lines (to a FILE: after its\n"
		"                                   last row); --follow: new rows as they come\n"
		"                                   (| systemd-cat -t mesh-audit for journald)\n"
		"  audit prune --before TIME [--export FILE] [--dry-run]\n"
		"                                   remove the events received before TIME\n"
		"                                   (90d, 12h, or 2026-03-01T00:00:00Z) in one\n"
		"                                   transaction; verify then starts from the\n"
		"                                   last one's hash; --export FILE (new) gets\n"
		"                                   them first, synced\n"
		"\n"
		"The commands other than serve change the database directly: use them to set a\n"
		"tailnet up.  While the server runs, remove users and nodes and set the policy\n"
		"and the DNS settings through the admin API (/api/v1/..., token in\n"
		"STATE/admin-token) so the change reaches the nodes at once; a new admin token\n"
		"is read when the server starts.\n"
		"\n"
		"Options:\n"
		"  -s, --state DIR  state directory (default /var/lib/meshcontrol, or\n"
		"                   $MESHCONTROL_STATE): the server key, the admin token\n"
		"                   and, without --store, the SQLite store state.db\n"
		"      --store URL  the store: sqlite:PATH or postgres://USER@HOST/DB (also\n"
		"                   after serve).  Keep the password out of the URL: libpq\n"
		"                   reads it from ~/.pgpass, ?passfile=FILE or $PGPASSFILE\n"
		"                   (a password in the URL is never logged)\n"
		"  -v, --verbose    log debug messages\n"
		"  -h, --help       show this help and exit\n"
		"  -V, --version    show the version and exit\n");
}

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	stop_requested = sig;
}

/* Sleep ms unless another signal comes (then at once). */
static void nap(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	stop_requested = 0;
	while (!stop_requested && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* SIGTERM: the balancer is told at once (/healthz 503) and has seconds to notice, held
 * requests are answered, then new connections are refused; what is open gets half a
 * second to finish.  A second SIGTERM or a SIGINT cuts the wait short.  At most seconds +
 * 0.5 s before the server is freed. */
static void drain(struct ctl_server *srv, long seconds)
{
	log_info("meshcontrol", "SIGTERM: draining for %ld s (--drain-seconds)", seconds);
	ctl_server_drain(srv);
	nap(seconds * 1000);
	if (ctl_server_quiesce(srv) != 0)
		log_warn("meshcontrol", "draining: cannot stop accepting connections early");
	if (!stop_requested)
		nap(500);
	stop_requested = SIGTERM;
}

static int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, 'p' },
		{ "public-url", required_argument, NULL, 'u' },
		{ "port-file", required_argument, NULL, 'f' },
		{ "keepalive-ms", required_argument, NULL, 'k' },
		{ "key-lifetime", required_argument, NULL, 'e' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'K' },
		{ "insecure-http", no_argument, NULL, 'I' },
		{ "relay", required_argument, NULL, 'r' },
		{ "relay-secret-file", required_argument, NULL, 'S' },
		{ "relay-ttl", required_argument, NULL, 't' },
		{ "oidc-issuer", required_argument, NULL, 'O' },
		{ "oidc-client-id", required_argument, NULL, 'C' },
		{ "oidc-client-secret-file", required_argument, NULL, 'X' },
		{ "oidc-scopes", required_argument, NULL, 's' },
		{ "oidc-groups-claim", required_argument, NULL, 'g' },
		{ "oidc-allowed-domains", required_argument, NULL, 'D' },
		{ "oidc-allowed-groups", required_argument, NULL, 'G' },
		{ "oidc-allowed-users", required_argument, NULL, 'U' },
		{ "oidc-allow-anyone", no_argument, NULL, 'A' },
		{ "store", required_argument, NULL, 'B' },
		{ "replica-name", required_argument, NULL, 'N' },
		{ "drain-seconds", required_argument, NULL, 'W' },
		{ "trusted-proxy", required_argument, NULL, 'P' },
		{ 0 },
	};
	struct ctl_server_config cfg = { .state_dir = state_dir, .port = 8080 };
	struct ctl_relay_url relays[CTL_RELAYS_MAX];
	struct ctl_trusted_proxies proxies = { 0 };
	char why[512];
	const char *port_file = NULL;
	long drain_s = 5;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;
		long v;
		switch (c) {
		case 'l':
			cfg.listen = optarg;
			break;
		case 'p':
			v = strtol(optarg, &end, 10);
			if (*end || v < 0 || v > 65535) {
				fprintf(stderr, "meshcontrol: --port: '%s' is not a port\n",
					optarg);
				return 2;
			}
			cfg.port = (uint16_t)v;
			break;
		case 'u':
			cfg.public_url = optarg;
			break;
		case 'f':
			port_file = optarg;
			break;
		case 'k':
			v = strtol(optarg, &end, 10);
			if (*end || v < 100 || v > 600000) {
				fprintf(stderr,
					"meshcontrol: --keepalive-ms: '%s' is not 100..600000\n",
					optarg);
				return 2;
			}
			cfg.keepalive_ms = (uint32_t)v;
			break;
		case 'e':
			v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 10L * 365 * 86400) {
				fprintf(stderr,
					"meshcontrol: --key-lifetime: '%s' is not 1..%ld seconds\n",
					optarg, 10L * 365 * 86400);
				return 2;
			}
			cfg.key_lifetime_s = (uint32_t)v;
			break;
		case 'c':
			cfg.tls_cert = optarg;
			break;
		case 'K':
			cfg.tls_key = optarg;
			break;
		case 'I':
			cfg.insecure_http = true;
			break;
		case 'r':
			if (!ctl_relay_list_parse(optarg, relays, &cfg.n_relays, why,
						  sizeof(why))) {
				fprintf(stderr, "meshcontrol: --relay: %s\n", why);
				return 2;
			}
			cfg.relays = relays;
			break;
		case 'P':
			cfg.trusted_proxies = &proxies;
			if (ctl_trusted_proxies_add(&proxies, optarg, why, sizeof(why)))
				break;
			fprintf(stderr, "meshcontrol: --trusted-proxy: %s\n", why);
			return 2;
		case 'S':
			cfg.relay_secret_file = optarg;
			break;
		case 't':
			v = strtol(optarg, &end, 10);
			if (*end || end == optarg || v < 10 || v > 7L * 86400) {
				fprintf(stderr,
					"meshcontrol: --relay-ttl: '%s' is not 10..%ld seconds\n",
					optarg, 7L * 86400);
				return 2;
			}
			cfg.relay_ttl_s = (uint32_t)v;
			break;
		case 'O':
			cfg.oidc.issuer = optarg;
			break;
		case 'C':
			cfg.oidc.client_id = optarg;
			break;
		case 'X':
			cfg.oidc.client_secret_file = optarg;
			break;
		case 's':
			cfg.oidc.scopes = optarg;
			break;
		case 'g':
			cfg.oidc.groups_claim = optarg;
			break;
		case 'D':
			cfg.oidc.allowed_domains = optarg;
			break;
		case 'G':
			cfg.oidc.allowed_groups = optarg;
			break;
		case 'U':
			cfg.oidc.allowed_users = optarg;
			break;
		case 'A':
			cfg.oidc.allow_anyone = true;
			break;
		case 'B':
			store_url = optarg;
			break;
		case 'N':
			cfg.replica_name = optarg;
			break;
		case 'W':
			drain_s = strtol(optarg, &end, 10);
			if (*end || end == optarg || drain_s < 0 || drain_s > 300) {
				fprintf(stderr,
					"meshcontrol: --drain-seconds: '%s' is not 0..300\n",
					optarg);
				return 2;
			}
			break;
		default:
			return 2;
		}
	}
	if (!cfg.oidc.issuer &&
	    (cfg.oidc.client_id || cfg.oidc.client_secret_file || cfg.oidc.scopes ||
	     cfg.oidc.groups_claim || cfg.oidc.allowed_domains || cfg.oidc.allowed_groups ||
	     cfg.oidc.allowed_users || cfg.oidc.allow_anyone)) {
		fprintf(stderr, "meshcontrol: the --oidc-* options need --oidc-issuer (the "
				"OpenID provider's URL)\n");
		return 2;
	}
	if (!cfg.n_relays != !cfg.relay_secret_file) {
		fprintf(stderr, "meshcontrol: --relay and --relay-secret-file go together (the "
				"relays and the static-auth-secret they share with meshcontrol)\n");
		return 2;
	}
	char err[512] = "", shown[512] = "";
	struct ctl_server *srv;
	cfg.store_url = store_url;
	if (store_url)
		ctl_store_url_redact(store_url, shown, sizeof(shown));
	struct rlimit rl; /* every node holds a map stream open: one descriptor each */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* One malloc arena for all the threads (before any starts; MALLOC_ARENA_MAX in the
	 * environment still wins).  The maps are made under the server's one lock, so the HTTP
	 * threads gain little from arenas of their own, and each arena kept the free memory of
	 * the last burst: at 10 000 nodes 1.10 GB held by malloc for 0.54 GB in use with six
	 * arenas, peak RSS 1 164 MB; with one, 758 MB (tests/bench/results.md, #21).  The
	 * environment's MALLOC_ARENA_MAX or GLIBC_TUNABLES glibc.malloc.arena_max wins. */
	const char *tunables = getenv("GLIBC_TUNABLES");
	if (!getenv("MALLOC_ARENA_MAX") && !(tunables && strstr(tunables, "arena_max")))
		mallopt(M_ARENA_MAX, 1);
	if (ctl_server_new(&cfg, &srv, err, sizeof(err)) != 0) {
		log_err("meshcontrol", "%s", err);
		return 1;
	}
	if (ctl_server_start(srv, err, sizeof(err)) != 0) {
		log_err("meshcontrol", "%s", err);
		ctl_server_free(srv);
		return 1;
	}
	char key[45];
	ctl_server_key(srv, key);
	log_info("meshcontrol", "listening on %s port %u (%s); server key %s; store %s%s",
		 cfg.listen ?: "127.0.0.1", ctl_server_port(srv), cfg.tls_cert ? "HTTPS" : "HTTP",
		 key, store_url ? shown : state_dir, store_url ? "" : "/state.db");
	if (port_file) {
		FILE *f = fopen(port_file, "w");
		if (!f || fprintf(f, "%u\n", ctl_server_port(srv)) < 0 || fclose(f) != 0) {
			log_err("meshcontrol", "%s: %s", port_file, strerror(errno));
			ctl_server_free(srv);
			return 1;
		}
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	while (!stop_requested)
		pause();
	if (stop_requested == SIGTERM && drain_s)
		drain(srv, drain_s);
	log_info("meshcontrol", "stopping (signal %d)", (int)stop_requested);
	ctl_server_free(srv);
	return 0;
}

static int open_store(struct ctl_store **s)
{
	char err[512];
	if (ctl_state_open_store(state_dir, store_url, s, err, sizeof(err)) != 0) {
		fprintf(stderr, "meshcontrol: %s\n", err);
		return 1;
	}
	return 0;
}

static int print_user(void *ctx, const struct ctl_user *u)
{
	char when[32];
	time_t t = (time_t)u->created;
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M", gmtime(&t));
	printf("%-6lld %-40s %s\n", (long long)u->id, u->login, when);
	return 0;
}

static int cmd_user(int argc, char **argv)
{
	struct ctl_store *s;
	int rc = 1;
	if (argc < 2) {
		fprintf(stderr, "meshcontrol: user: expected add, list or remove\n");
		return 2;
	}
	if (strcmp(argv[1], "add") == 0 && argc == 3) {
		char pw[256];
		if (isatty(0))
			fprintf(stderr, "Password for %s: ", argv[2]);
		if (!fgets(pw, sizeof(pw), stdin)) {
			fprintf(stderr, "meshcontrol: user add: no password on stdin\n");
			return 1;
		}
		pw[strcspn(pw, "\r\n")] = '\0';
		if (open_store(&s))
			return 1;
		const char *why = "";
		int64_t id;
		int err = ctl_user_create(s, argv[2], pw, &id, &why);
		memset(pw, 0, sizeof(pw));
		if (err == -EINVAL || err == -EEXIST)
			fprintf(stderr, "meshcontrol: user add: %s\n", why);
		else if (err)
			fprintf(stderr, "meshcontrol: user add: %s\n", strerror(-err));
		else
			printf("added user %s (id %lld)\n", argv[2], (long long)id);
		rc = err ? 1 : 0;
	} else if (strcmp(argv[1], "list") == 0 && argc == 2) {
		if (open_store(&s))
			return 1;
		rc = s->ops->user_list(s, print_user, NULL) ? 1 : 0;
	} else if (strcmp(argv[1], "remove") == 0 && argc == 3) {
		if (open_store(&s))
			return 1;
		int err = s->ops->user_remove(s, argv[2], NULL, NULL);
		if (err == -ENOENT)
			fprintf(stderr, "meshcontrol: user remove: no user '%s'\n", argv[2]);
		else if (err)
			fprintf(stderr, "meshcontrol: user remove: %s\n", strerror(-err));
		else
			printf("removed user %s\n", argv[2]);
		rc = err ? 1 : 0;
	} else {
		fprintf(stderr,
			"meshcontrol: user: expected 'add LOGIN', 'list' or 'remove LOGIN'\n");
		return 2;
	}
	s->ops->close(s);
	return rc;
}

static int print_key(void *ctx, const struct ctl_authkey *k)
{
	char tags[CTL_TAGS_TEXT_MAX];
	ctl_tags_join((const char *const *)k->tags, k->n_tags, tags, sizeof(tags));
	printf("%-13s user %-4lld %-9s %-9s uses %-4lld %s%s\n", k->prefix, (long long)k->user_id,
	       k->reusable ? "reusable" : "single", k->ephemeral ? "ephemeral" : "-",
	       (long long)k->uses, k->revoked ? "revoked " : "", tags);
	return 0;
}

static int cmd_authkey(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "reusable", no_argument, NULL, 'r' },
		{ "ephemeral", no_argument, NULL, 'e' },
		{ "tags", required_argument, NULL, 't' },
		{ "expiry", required_argument, NULL, 'x' },
		{ 0 },
	};
	struct ctl_store *s;
	if (argc < 2) {
		fprintf(stderr, "meshcontrol: authkey: expected create, list or revoke\n");
		return 2;
	}
	if (strcmp(argv[1], "list") == 0 && argc == 2) {
		if (open_store(&s))
			return 1;
		int rc = s->ops->authkey_list(s, print_key, NULL);
		s->ops->close(s);
		return rc ? 1 : 0;
	}
	if (strcmp(argv[1], "revoke") == 0 && argc == 3) {
		if (open_store(&s))
			return 1;
		int rc = s->ops->authkey_revoke(s, argv[2]);
		s->ops->close(s);
		if (rc == -ENOENT)
			fprintf(stderr, "meshcontrol: authkey revoke: no key with prefix '%s'\n",
				argv[2]);
		else if (rc)
			fprintf(stderr, "meshcontrol: authkey revoke: %s\n", strerror(-rc));
		return rc ? 1 : 0;
	}
	if (strcmp(argv[1], "create") != 0) {
		fprintf(stderr, "meshcontrol: authkey: unknown command '%s'\n", argv[1]);
		return 2;
	}
	const char *user = NULL, *tags = "";
	bool reusable = false, ephemeral = false;
	long long expiry = 90 * 86400;
	int c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'u':
			user = optarg;
			break;
		case 'r':
			reusable = true;
			break;
		case 'e':
			ephemeral = true;
			break;
		case 't':
			tags = optarg;
			break;
		case 'x':
			errno = 0;
			expiry = strtoll(optarg, &end, 10);
			if (errno || *end || end == optarg || expiry <= 0 ||
			    expiry > CTL_AUTHKEY_EXPIRY_MAX) {
				fprintf(stderr,
					"meshcontrol: --expiry: '%s' is not a number of "
					"seconds from 1 to %d (10 years)\n",
					optarg, CTL_AUTHKEY_EXPIRY_MAX);
				return 2;
			}
			break;
		default:
			return 2;
		}
	}
	if (!user) {
		fprintf(stderr, "meshcontrol: authkey create: --user LOGIN is required\n");
		return 2;
	}
	if (open_store(&s))
		return 1;
	struct ctl_user u;
	char key[CTL_AUTHKEY_TEXT_SIZE];
	struct ctl_authkey k;
	char *policy = NULL, why[512], **tagv = NULL;
	size_t nt = 0;
	int rc = ctl_tags_parse(tags, &tagv, &nt, why, sizeof(why));
	if (rc) {
		fprintf(stderr, "meshcontrol: authkey create: --%s\n", why);
	} else if ((rc = s->ops->user_get(s, user, &u, NULL, 0)) != 0) {
		fprintf(stderr, "meshcontrol: authkey create: no user '%s'\n", user);
	} else if ((rc = s->ops->policy_get(s, &policy)) < 0 && rc != -ENOENT) {
		fprintf(stderr, "meshcontrol: authkey create: cannot read the policy: %s\n",
			strerror(-rc));
	} else if ((rc = ctl_authkey_check_tags(policy, user, (const char *const *)tagv, nt, why,
						sizeof(why))) != 0) {
		fprintf(stderr, "meshcontrol: authkey create: %s\n", why);
	} else {
		rc = ctl_authkey_create(s, u.id, reusable, ephemeral, (const char *const *)tagv, nt,
					(int64_t)time(NULL) + expiry, key, &k);
		ctl_authkey_clear(&k);
		if (rc)
			fprintf(stderr, "meshcontrol: authkey create: %s\n", strerror(-rc));
		else
			printf("%s\n", key);
	}
	free(policy);
	strv_free(tagv, nt);
	s->ops->close(s);
	return rc ? 1 : 0;
}

/* dns set FILE / dns get: the tailnet's DNS settings, as PUT/GET /api/v1/dns keep them
 * (control/server/dns.c: the canonical text under the meta key "dns"). */
static int cmd_dns(int argc, char **argv)
{
	struct ctl_store *s;
	struct ctl_dns *d = NULL;
	char err[512], *text = NULL;
	size_t len;
	bool set = argc == 3 && strcmp(argv[1], "set") == 0;
	if (!set && !(argc == 2 && strcmp(argv[1], "get") == 0)) {
		fprintf(stderr, "meshcontrol: dns: expected 'set FILE' or 'get'\n");
		return 2;
	}
	if (set) {
		int rc = file_read_all(argv[2], CTL_DNS_TEXT_MAX, &text, &len);
		if (rc) {
			fprintf(stderr, "meshcontrol: dns set: %s: %s\n", argv[2],
				rc == -EFBIG ? "too large" : strerror(-rc));
			return 1;
		}
		rc = ctl_dns_parse(text, len, CTL_DOMAIN_DEFAULT, &d, err, sizeof(err));
		free(text);
		if (rc) {
			fprintf(stderr, "meshcontrol: dns set: %s: %s\n", argv[2],
				rc == -ENOMEM ? "out of memory" : err);
			return 1;
		}
		text = ctl_dns_format(d, false);
		ctl_dns_free(d);
		if (!text || open_store(&s)) {
			free(text);
			return 1;
		}
		rc = s->ops->meta_set(s, "dns", text);
		free(text);
		s->ops->close(s);
		if (rc) {
			fprintf(stderr, "meshcontrol: dns set: %s\n", strerror(-rc));
			return 1;
		}
		printf("DNS settings set from %s (a running server reads them when it starts)\n",
		       argv[2]);
		return 0;
	}
	if (!(text = malloc(CTL_DNS_TEXT_MAX + 2)) || open_store(&s)) {
		free(text);
		return 1;
	}
	int rc = s->ops->meta_get(s, "dns", text, CTL_DNS_TEXT_MAX + 2);
	s->ops->close(s);
	if (rc == -ENOENT || (!rc && !text[0])) {
		fprintf(stderr, "meshcontrol: dns get: no DNS settings are set: MagicDNS is off\n");
		free(text);
		return 1;
	}
	if (!rc && (rc = ctl_dns_parse(text, strlen(text), NULL, &d, err, sizeof(err))) == 0) {
		free(text);
		text = ctl_dns_format(d, true);
		ctl_dns_free(d);
		printf("%s\n", text ? text : "");
	} else {
		fprintf(stderr, "meshcontrol: dns get: %s\n", rc == -EINVAL ? err : strerror(-rc));
	}
	free(text);
	return rc ? 1 : 0;
}

static int cmd_key(void)
{
	char key[45], err[512];
	struct ctl_store *s;
	if (open_store(&s))
		return 1;
	int rc = ctl_store_server_key(s, store_url, state_dir, key, err, sizeof(err));
	s->ops->close(s);
	if (rc != 0) {
		fprintf(stderr, "meshcontrol: %s\n", err);
		return 1;
	}
	printf("%s\n", key);
	return 0;
}

static int cmd_admin_token(void)
{
	char tok[65], err[512];
	struct ctl_store *s;
	if (open_store(&s))
		return 1;
	int rc = ctl_state_admin_token(state_dir, s, tok, err, sizeof(err));
	s->ops->close(s);
	if (rc) {
		fprintf(stderr, "meshcontrol: %s\n", err);
		return 1;
	}
	printf("%s\n", tok);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },	   { "version", no_argument, NULL, 'V' },
		{ "state", required_argument, NULL, 's' }, { "verbose", no_argument, NULL, 'v' },
		{ "store", required_argument, NULL, 'B' }, { 0 },
	};
	if (getenv("MESHCONTROL_STATE"))
		state_dir = getenv("MESHCONTROL_STATE");
	int c;
	while ((c = getopt_long(argc, argv, "+hVs:v", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("meshcontrol %s\n", MESH_VERSION);
			return 0;
		case 's':
			state_dir = optarg;
			break;
		case 'v':
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		case 'B':
			store_url = optarg;
			break;
		default:
			fprintf(stderr, "Try 'meshcontrol --help' for more information.\n");
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[optind];
	int sub_argc = argc - optind;
	char **sub_argv = argv + optind;
	if (strcmp(cmd, "serve") == 0)
		return cmd_serve(sub_argc, sub_argv);
	if (strcmp(cmd, "user") == 0)
		return cmd_user(sub_argc, sub_argv);
	if (strcmp(cmd, "authkey") == 0)
		return cmd_authkey(sub_argc, sub_argv);
	if (strcmp(cmd, "dns") == 0)
		return cmd_dns(sub_argc, sub_argv);
	if (strcmp(cmd, "key") == 0 && sub_argc == 1)
		return cmd_key();
	if (strcmp(cmd, "admin-token") == 0 && sub_argc == 1)
		return cmd_admin_token();
	if (strcmp(cmd, "store") == 0)
		return meshcontrol_store(sub_argc, sub_argv);
	if (strcmp(cmd, "audit") == 0)
		return meshcontrol_audit(sub_argc, sub_argv, state_dir, store_url);
	fprintf(stderr,
		"meshcontrol: unknown command '%s'\nTry 'meshcontrol --help' for more "
		"information.\n",
		cmd);
	return 2;
}
