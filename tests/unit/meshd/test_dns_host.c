/* meshd and the host's DNS (cmd/daemon/resolv.c, dns_host.c): resolv.conf read as glibc
 * reads it and refused with the exact sentence; the file meshd writes, byte for byte; then,
 * on files in a temporary directory: taken over and given back (meshctl down, exit), a
 * crash's file put back at the next start, a symbolic link kept as one, a file someone
 * else wrote meanwhile left alone, --accept-dns=false and userspace mode leaving the host
 * alone, a host file without nameservers never replaced, and the view's parts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "cmd/daemon/dns_host.h"
#include "cmd/daemon/resolv.h"
#include "common/file.h"

static void parse_table(void)
{
	static const struct {
		const char *in;
		size_t n_ns, n_ignored;
		const char *first;
		bool ours;
	} good[] = {
		/* 1 */ { "nameserver 192.0.2.53\n", 1, 0, "192.0.2.53:53", false },
		/* 2 comments, options, search, tabs, no final newline */
		{ "# hi\n; there\nsearch example.com\noptions edns0\n\tnameserver\t2001:db8::53", 1,
		  0, "[2001:db8::53]:53", false },
		/* 3 glibc's three, the fourth ignored */
		{ "nameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nnameserver "
		  "10.0.0.4\n",
		  3, 1, "10.0.0.1:53", false },
		/* 4 none */ { "search example.com\n", 0, 0, NULL, false },
		/* 5 ours, with the tailnet resolver */
		{ MESHD_RESOLV_MARKER "nameserver 100.100.100.100\n", 1, 0, "100.100.100.100:53",
		  true },
		/* 6 a keyword that only starts like one */
		{ "nameservers 10.0.0.1\n", 0, 0, NULL, false },
		/* 7 CRLF */ { "nameserver 10.0.0.9\r\n", 1, 0, "10.0.0.9:53", false },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct meshd_resolv r;
		char err[MESHD_RESOLV_ERR_MAX] = "", text[ADDR_TEXT_MAX];
		int rc = meshd_resolv_parse(good[i].in, strlen(good[i].in), &r, err, sizeof(err));
		if (rc)
			fprintf(stderr, "good %zu: %s\n", i + 1, err);
		CHECK_INT(rc, 0);
		CHECK_INT(r.n_ns, good[i].n_ns);
		CHECK_INT(r.n_ignored, good[i].n_ignored);
		CHECK_INT(r.ours, good[i].ours);
		if (good[i].first && r.n_ns)
			CHECK_STR(addr_endpoint_format(&r.ns[0], text), good[i].first);
	}
	static const struct {
		const char *in;
		size_t len; /* 0: strlen */
		const char *err;
	} bad[] = {
		/* 1 */ { "nameserver\n", 0, "line 1: nameserver without an address" },
		/* 2 */
		{ "# x\nnameserver 10.0.0.256\n", 0,
		  "line 2: nameserver '10.0.0.256' is not an IP address" },
		/* 3 a zone: one interface of this host */
		{ "nameserver fe80::1%eth0\n", 0,
		  "line 1: nameserver 'fe80::1%eth0' is not an IP address" },
		/* 4 a loop */
		{ "nameserver 100.100.100.100\n", 0,
		  "line 1: nameserver 100.100.100.100 is the tailnet resolver itself (a loop)" },
		/* 5 */ { "nameserver 10.0.0.1\n\0x", 22, "a NUL byte at offset 20" },
	};
	/* 1-4 are bad lines, skipped as glibc skips them (the others stand; the first reason
	 * kept); 5 is no resolv.conf at all */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct meshd_resolv r;
		char err[MESHD_RESOLV_ERR_MAX] = "", in[128];
		size_t len = bad[i].len ? bad[i].len : strlen(bad[i].in);
		if (i == 4) {
			CHECK_INT(meshd_resolv_parse(bad[i].in, len, &r, err, sizeof(err)),
				  -EINVAL);
			CHECK_STR(err, bad[i].err);
			continue;
		}
		snprintf(in, sizeof(in), "%snameserver 192.0.2.53\n", bad[i].in);
		CHECK_INT(meshd_resolv_parse(in, strlen(in), &r, err, sizeof(err)), 0);
		CHECK_INT(r.n_skipped, 1);
		CHECK_STR(r.skipped, bad[i].err);
		CHECK_INT(r.n_ns, 1);
	}
	struct meshd_resolv r;
	char err[MESHD_RESOLV_ERR_MAX];
	CHECK_INT(meshd_resolv_parse("", MESHD_RESOLV_FILE_MAX + 1, &r, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "65537 bytes, at most 65536");
}

#define HEAD                                                                                 \
	MESHD_RESOLV_MARKER                                                                  \
	"# The host's own file is back on 'meshctl down', when meshd stops, and at meshd's " \
	"next start\n# after a crash (meshd keeps it in its state directory meanwhile).\n"   \
	"nameserver 100.100.100.100\n"

static void produce(void)
{
	const char *search[] = { "corp.example", "lab.example" };
	char out[1024];
	int n = meshd_resolv_produce("tail.example", search, 2, out, sizeof(out));
	CHECK_STR(out, HEAD "search tail.example corp.example lab.example\n");
	CHECK_INT(n, (int)strlen(out));
	meshd_resolv_produce(NULL, search, 1, out, sizeof(out));
	CHECK_STR(out, HEAD "search corp.example\n");
	meshd_resolv_produce("", NULL, 0, out, sizeof(out));
	CHECK_STR(out, HEAD);
	CHECK_INT(meshd_resolv_produce("tail.example", search, 2, out, strlen(HEAD) + 10), -ENOSPC);
	/* a domain or search domain that would start a line of its own is refused */
	CHECK_INT(meshd_resolv_produce("tail.example\nnameserver 203.0.113.66", NULL, 0, out,
				       sizeof(out)),
		  -EINVAL);
	const char *bad_search[] = { "corp.example options ndots:15" };
	CHECK_INT(meshd_resolv_produce("tail.example", bad_search, 1, out, sizeof(out)), -EINVAL);
	/* what we write, we read back as ours */
	n = meshd_resolv_produce("tail.example", search, 2, out, sizeof(out));
	struct meshd_resolv r;
	char err[MESHD_RESOLV_ERR_MAX];
	CHECK_INT(meshd_resolv_parse(out, (size_t)n, &r, err, sizeof(err)), 0);
	CHECK(r.ours);
}

static char dir[] = "/tmp/mesh-dns-host.XXXXXX";
static char resolv[256], state[256], backup[300];
static const char host_file[] = "# the host's\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n";

static char *slurp(const char *path)
{
	char *t = NULL;
	size_t len;
	return file_read_all(path, 1 << 20, &t, &len) == 0 ? t : NULL;
}

static void put(const char *path, const char *text)
{
	CHECK_INT(file_write_atomic(path, text, strlen(text), 0644), 0);
}

static bool same(const char *path, const char *want)
{
	char *t = slurp(path);
	bool eq = t && strcmp(t, want) == 0;
	if (!eq)
		fprintf(stderr, "%s holds\n%s\n---\nnot\n%s\n", path, t ? t : "(nothing)", want);
	free(t);
	return eq;
}

static struct ctl_netmap *netmap(bool magic)
{
	static struct ctl_dns d;
	static struct ctl_netmap nm;
	memset(&d, 0, sizeof(d));
	d.magic_dns = magic;
	snprintf(d.search[0], sizeof(d.search[0]), "corp.example");
	d.n_search = 1;
	nm = (struct ctl_netmap){ .domain = "tail.example", .dns = &d };
	return &nm;
}

static struct meshd_dns_host *open_host(bool accept)
{
	struct meshd_dns_host_config c = { .resolv_conf = resolv,
					   .state_dir = state,
					   .accept = accept };
	struct meshd_dns_host *h = NULL;
	CHECK_INT(meshd_dns_host_new(&c, &h), 0);
	return h;
}

static void files(void)
{
	const char *ours = HEAD "search tail.example corp.example\n";
	struct addr_endpoint ns[4];
	char text[ADDR_TEXT_MAX];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(resolv, sizeof(resolv), "%s/resolv.conf", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(backup, sizeof(backup), "%s/resolv.conf.meshd-backup", state);
	CHECK_INT(mkdir(state, 0700), 0);
	put(resolv, host_file);

	/* 1 taken over, the host's resolvers kept as upstreams; given back on restore */
	struct meshd_dns_host *h = open_host(true);
	CHECK_INT(meshd_dns_host_resolvers(h, ns, 4), 2);
	CHECK_INT(meshd_dns_host_apply(h, netmap(true), true), 0);
	CHECK(same(resolv, ours));
	CHECK(same(backup, host_file));
	CHECK(meshd_dns_host_active(h));
	CHECK_INT(meshd_dns_host_resolvers(h, ns, 4), 2);
	CHECK_STR(addr_endpoint_format(&ns[1], text), "192.0.2.54:53");
	CHECK_INT(meshd_dns_host_restore(h), 0);
	CHECK(same(resolv, host_file));
	CHECK(access(backup, F_OK) != 0);
	/* 2 MagicDNS off, userspace, no settings: the host's file stays */
	CHECK_INT(meshd_dns_host_apply(h, netmap(false), true), 0);
	CHECK_INT(meshd_dns_host_apply(h, netmap(true), false), 0);
	CHECK_INT(meshd_dns_host_apply(h, NULL, true), 0);
	CHECK(same(resolv, host_file));
	/* 3 on, then off again: back */
	CHECK_INT(meshd_dns_host_apply(h, netmap(true), true), 0);
	CHECK_INT(meshd_dns_host_apply(h, netmap(false), true), 0);
	CHECK(same(resolv, host_file));
	/* 4 exit gives it back */
	CHECK_INT(meshd_dns_host_apply(h, netmap(true), true), 0);
	meshd_dns_host_free(h);
	CHECK(same(resolv, host_file));

	/* 5 a crash: ours and the backup left; the next start (even with accept=false) puts
	 * the host's back */
	pid_t pid = fork();
	if (pid == 0) { /* a meshd that dies with its file in place */
		h = open_host(true);
		_exit(meshd_dns_host_apply(h, netmap(true), true) == 0 ? 0 : 1);
	}
	int status = -1;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && status == 0);
	CHECK(same(resolv, ours));
	struct meshd_dns_host *again = open_host(false);
	CHECK(same(resolv, host_file));
	CHECK(access(backup, F_OK) != 0);
	CHECK_INT(meshd_dns_host_apply(again, netmap(true), true), 0); /* accept=false */
	CHECK(same(resolv, host_file));
	meshd_dns_host_free(again);

	/* 5b the kept copy lost while ours is in place: the host's resolvers as we read them */
	h = open_host(true);
	CHECK_INT(meshd_dns_host_apply(h, netmap(true), true), 0);
	CHECK_INT(unlink(backup), 0);
	CHECK_INT(meshd_dns_host_restore(h), 0);
	CHECK(same(resolv, "# the host's resolvers, as meshd read them\nnameserver 192.0.2.53\n"
			   "nameserver 192.0.2.54\n"));
	meshd_dns_host_free(h);
	put(resolv, host_file);

	/* 6 someone else rewrote it while ours was in place: theirs stays */
	h = open_host(true);
	CHECK_INT(meshd_dns_host_apply(h, netmap(true), true), 0);
	put(resolv, "nameserver 198.51.100.53\n");
	CHECK_INT(meshd_dns_host_restore(h), 0);
	CHECK(same(resolv, "nameserver 198.51.100.53\n"));
	CHECK(access(backup, F_OK) != 0);

	/* 7 a host file naming no resolver is never replaced */
	put(resolv, "search example.com\n");
	CHECK(meshd_dns_host_apply(h, netmap(true), true) == -ENOENT);
	CHECK(same(resolv, "search example.com\n"));
	CHECK(!meshd_dns_host_active(h));
	meshd_dns_host_free(h);

	/* 8 a symbolic link comes back as the same link */
	char target[300], got[300];
	snprintf(target, sizeof(target), "%s/stub-resolv.conf", dir);
	put(target, host_file);
	CHECK_INT(unlink(resolv), 0);
	CHECK_INT(symlink(target, resolv), 0);
	h = open_host(true);
	CHECK_INT(meshd_dns_host_apply(h, netmap(true), true), 0);
	CHECK(same(resolv, ours));
	CHECK(same(target, host_file)); /* the link was replaced, not written through */
	meshd_dns_host_free(h);
	ssize_t n = readlink(resolv, got, sizeof(got) - 1);
	CHECK(n > 0);
	got[n > 0 ? n : 0] = '\0';
	CHECK_STR(got, target);

	unlink(resolv);
	unlink(target);
	rmdir(state);
	CHECK_INT(rmdir(dir), 0);
}

static void view_parts(void)
{
	struct ctl_dns d = { .magic_dns = true, .n_records = 1, .n_routes = 1, .n_search = 1 };
	struct ctl_dns_record rec = { .name = "db.corp.example", .n_addrs = 1 };
	struct ctl_dns_route route = { .domain = "corp.example", .n_resolvers = 1 };
	addr_ip_parse("10.0.0.5", &rec.addrs[0], NULL);
	addr_endpoint_parse("10.0.0.53:53", &route.resolvers[0], NULL);
	snprintf(d.search[0], sizeof(d.search[0]), "corp.example");
	d.records = &rec;
	d.routes = &route;
	struct ctl_netmap nm = { .domain = "tail.example", .dns = &d };
	struct dns_view_config vc = { .ttl = 60 };
	struct meshd_dns_parts parts;
	CHECK_INT(meshd_dns_view_fill(&nm, &vc, &parts), 0);
	CHECK_INT(vc.n_records, 1);
	CHECK_STR(vc.records[0].name, "db.corp.example");
	CHECK(vc.records[0].addrs == rec.addrs);
	CHECK_INT(vc.n_routes, 1);
	CHECK_STR(vc.routes[0].suffix, "corp.example");
	CHECK_INT(vc.n_search, 2);
	CHECK_STR(vc.search[0], "tail.example");
	CHECK_STR(vc.search[1], "corp.example");
	CHECK_INT(vc.ttl, 60);
	meshd_dns_parts_clear(&parts);
	nm.dns = NULL;
	CHECK_INT(meshd_dns_view_fill(&nm, &vc, &parts), 0);
	CHECK_INT(vc.n_records + vc.n_routes, 0);
	CHECK_INT(vc.n_search, 1);
	meshd_dns_parts_clear(&parts);
}

int main(void)
{
	parse_table();
	produce();
	files();
	view_parts();
	return check_finish();
}
