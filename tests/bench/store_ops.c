/* The control store's op latency on SQLite and on PostgreSQL (#21), the same ops in the same
 * run: N registrations (each one transaction: a new node and its address counter), N node
 * updates (endpoints, last seen), 200 policy sets (a 4 KiB policy) and 20 lists of the N
 * nodes.  PostgreSQL runs in a cluster of the bench's own (tests/unit/control/pg_cluster.h:
 * a unix socket, fsync off; SQLite's WAL with synchronous=NORMAL does not sync a commit
 * either).  Prints microseconds per op; tests/bench/store-ops wraps it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control/server/ident.h"
#include "control/server/store.h"
#include "../unit/control/pg_cluster.h"

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int count(void *ctx, const struct ctl_node_rec *n)
{
	(*(int *)ctx)++;
	return 0;
}

static int n_nodes = 1000;

/* One row of the table: the ops on the store at url. */
static int run(const char *name, const char *url)
{
	char err[512], policy[4096];
	struct ctl_store *s;
	int64_t uid;
	if (ctl_store_open(url, &s, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", name, err);
		return 1;
	}
	if (s->ops->user_add(s, "bench@example.com", "!", &uid) != 0)
		return 1;
	double t0 = now_us();
	for (int i = 0; i < n_nodes; i++) {
		struct ctl_node_rec n = { .user_id = uid };
		memcpy(n.machine_key, &i, sizeof(i));
		snprintf(n.hostname, sizeof(n.hostname), "node%d", i);
		if (s->ops->node_register(s, &n, 0) != 0)
			return 1;
	}
	double t1 = now_us();
	for (int i = 0; i < n_nodes; i++) {
		struct ctl_node_rec n = { .id = i + 1,
					  .last_seen = i,
					  .endpoints = "[\"192.0.2.1:41641\"]" };
		snprintf(n.hostname, sizeof(n.hostname), "node%d", i);
		if (s->ops->node_update(s, &n) != 0)
			return 1;
	}
	double t2 = now_us();
	memset(policy, ' ', sizeof(policy) - 1);
	policy[sizeof(policy) - 1] = '\0';
	memcpy(policy, "{\"acls\": []}", 12);
	for (int i = 0; i < 200; i++)
		if (s->ops->policy_set(s, policy) != 0)
			return 1;
	double t3 = now_us();
	int seen = 0;
	for (int i = 0; i < 20; i++)
		if (s->ops->node_list(s, count, &seen) != 0)
			return 1;
	double t4 = now_us();
	printf("%-10s %12.0f %12.0f %12.0f %14.1f\n", name, (t1 - t0) / n_nodes,
	       (t2 - t1) / n_nodes, (t3 - t2) / 200, (t4 - t3) / 20 / 1000);
	s->ops->close(s);
	return seen == 20 * n_nodes ? 0 : 1;
}

static int pg_half(struct pg_cluster *c, void *ctx)
{
	char url[512];
	if (pg_cluster_createdb(c, "bench", url, sizeof(url)) != 0)
		return 1;
	return run("postgres", url);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/store-ops-XXXXXX", url[300], why[256] = "", cmd[300];
	if (argc > 1)
		n_nodes = atoi(argv[1]);
	if (!mkdtemp(dir))
		return 1;
	snprintf(url, sizeof(url), "sqlite:%s/state.db", dir);
	printf("%d nodes; microseconds per op (node_list: ms per list of all)\n", n_nodes);
	printf("%-10s %12s %12s %12s %14s\n", "store", "register", "node_update", "policy_set",
	       "node_list ms");
	fflush(stdout);
	int rc = run("sqlite", url);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		rc = 1;
	struct pg_cluster c;
	int pg = pg_cluster_run(&c, pg_half, NULL, why, sizeof(why));
	if (why[0])
		printf("postgres: %s\n", why);
	return rc || pg ? 1 : 0;
}
