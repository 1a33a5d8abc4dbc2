/* A throwaway PostgreSQL cluster for the store's tests (pg_cluster.h). */
#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pg_cluster.h"

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

/* Run cmd through the shell as the cluster's owner (nobody when we are root). */
static int as_owner(const char *cmd)
{
	char full[4096];
	if (geteuid() == 0)
		snprintf(full, sizeof(full), "runuser -u nobody -- sh -c '%s'", cmd);
	else
		snprintf(full, sizeof(full), "%s", cmd);
	return system(full);
}

int pg_cluster_stop_server(struct pg_cluster *c)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s/pg_ctl -D %s/data -m immediate -w stop >/dev/null 2>&1",
		 c->bin, c->dir);
	return as_owner(cmd) == 0 ? 0 : -1;
}

static void stop(struct pg_cluster *c)
{
	char cmd[1024];
	pg_cluster_stop_server(c);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", c->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "pg_cluster: cannot remove %s\n", c->dir);
}

static int start(struct pg_cluster *c)
{
	char cmd[2048];
	if (geteuid() == 0) {
		snprintf(cmd, sizeof(cmd), "chown nobody %s", c->dir);
		if (system(cmd) != 0)
			return -1;
	}
	snprintf(cmd, sizeof(cmd),
		 "%s/initdb -D %s/data -U mesh -A trust --no-sync -E UTF8 --locale=C.UTF-8 "
		 ">%s/initdb.log 2>&1",
		 c->bin, c->dir, c->dir);
	if (as_owner(cmd) != 0) {
		snprintf(cmd, sizeof(cmd), "cat %s/initdb.log >&2", c->dir);
		(void)system(cmd);
		return -1;
	}
	snprintf(cmd, sizeof(cmd),
		 "%s/pg_ctl -D %s/data -l %s/postgres.log -w -t 60 -o \"-k %s -p %d "
		 "-c listen_addresses= -c fsync=off -c max_connections=30\" start >/dev/null",
		 c->bin, c->dir, c->dir, c->dir, c->port);
	if (as_owner(cmd) != 0) {
		snprintf(cmd, sizeof(cmd), "cat %s/postgres.log >&2", c->dir);
		(void)system(cmd);
		return -1;
	}
	return 0;
}

int pg_cluster_createdb(struct pg_cluster *c, const char *name, char *url, size_t urllen)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s/createdb -h %s -p %d -U mesh %s", c->bin, c->dir, c->port,
		 name);
	if (system(cmd) != 0)
		return -1;
	snprintf(url, urllen, "postgres:///%s?host=%s&port=%d&user=mesh", name, c->dir, c->port);
	return 0;
}

int pg_cluster_run(struct pg_cluster *c, int (*body)(struct pg_cluster *c, void *ctx), void *ctx,
		   char *why, size_t whylen)
{
	glob_t g;
	memset(c, 0, sizeof(*c));
	if (glob("/usr/lib/postgresql/*/bin/pg_ctl", 0, NULL, &g) != 0 || g.gl_pathc == 0) {
		snprintf(why, whylen,
			 "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/pg_ctl; "
			 "Debian's package postgresql)");
		return 77;
	}
	snprintf(c->bin, sizeof(c->bin), "%.*s", (int)(strlen(g.gl_pathv[g.gl_pathc - 1]) - 7),
		 g.gl_pathv[g.gl_pathc - 1]);
	globfree(&g);
	if (geteuid() == 0 && system("command -v runuser >/dev/null") != 0) {
		snprintf(why, whylen, "running as root without runuser to drop to nobody");
		return 77;
	}
	snprintf(c->dir, sizeof(c->dir), "/tmp/mesh-pg-XXXXXX");
	if (!mkdtemp(c->dir)) {
		snprintf(why, whylen, "mkdtemp: %s", strerror(errno));
		return 1;
	}
	c->port = 20000 + getpid() % 30000;
	struct sigaction sa = { .sa_handler = on_signal }, old_term, old_int;
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGINT, &sa, &old_int);
	if (start(c) != 0) {
		snprintf(why, whylen, "the test cluster did not start");
		stop(c);
		return 1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		sigaction(SIGTERM, &old_term, NULL);
		sigaction(SIGINT, &old_int, NULL);
		int rc = body(c, ctx);
		fflush(NULL); /* _exit flushes nothing */
		_exit(rc);
	}
	int status = 0, rc = 1;
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		if (stop_signal)
			kill(pid, SIGKILL);
	if (pid > 0 && WIFEXITED(status))
		rc = WEXITSTATUS(status);
	else if (pid > 0)
		fprintf(stderr, "pg_cluster: the test died of signal %d\n", WTERMSIG(status));
	stop(c);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGINT, &old_int, NULL);
	return stop_signal ? 1 : rc;
}

int pg_cluster_main(int (*body)(struct pg_cluster *c, void *ctx), void *ctx)
{
	char why[256] = "";
	struct pg_cluster c;
	int rc = pg_cluster_run(&c, body, ctx, why, sizeof(why));
	if (why[0])
		printf("%s\n", why);
	return rc;
}

struct both {
	void (*cases)(const char *url), (*pg_more)(const char *url);
	int (*finish)(void);
};

static int both_pg(struct pg_cluster *c, void *ctx)
{
	const struct both *b = ctx;
	char url[512];
	if (pg_cluster_createdb(c, "cases", url, sizeof(url)) != 0)
		return 1;
	b->cases(url);
	if (b->pg_more) {
		if (pg_cluster_createdb(c, "more", url, sizeof(url)) != 0)
			return 1;
		b->pg_more(url);
	}
	fprintf(stderr, "PostgreSQL: ");
	return b->finish();
}

int pg_cluster_store_main(int argc, char **argv, void (*cases)(const char *url),
			  void (*pg_more)(const char *url), int (*finish)(void))
{
	struct both b = { cases, pg_more, finish };
	if (argc == 2 && strcmp(argv[1], "postgres") == 0)
		return pg_cluster_main(both_pg, &b);
	char dir[] = "/tmp/ctl-store-test-XXXXXX", url[300], cmd[300];
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(url, sizeof(url), "sqlite:%s/state.db", dir);
	cases(url);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return finish();
}

struct ctl_node_rec pg_cluster_node(uint8_t seed, int64_t user)
{
	struct ctl_node_rec n;
	memset(&n, 0, sizeof(n));
	memset(n.machine_key, seed, 32);
	memset(n.node_key, seed + 100, 32);
	snprintf(n.hostname, sizeof(n.hostname), "host%u", seed);
	n.user_id = user;
	return n;
}
