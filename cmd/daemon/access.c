/* One rule for "may this local user act as the node": the local API's state changes and
 * dials and the SOCKS5 socket all ask meshd_access_may_act(), so they cannot drift apart. */
#include "cmd/daemon/access.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "netstack/netstack.h"

bool meshd_access_may_act(const char *operator_group, uid_t uid, gid_t gid)
{
	if (uid == 0 || uid == geteuid()) /* root, or whoever runs this meshd */
		return true;
	if (!operator_group)
		return false;
	struct group *g = getgrnam(operator_group);
	if (!g)
		return false;
	gid_t want = g->gr_gid;
	if (gid == want)
		return true;
	struct passwd *pw = getpwuid(uid);
	if (!pw)
		return false;
	gid_t groups[256];
	int n = 256;
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
		return false;
	for (int i = 0; i < n; i++)
		if (groups[i] == want)
			return true;
	return false;
}

void meshd_access_denied(char *buf, size_t len, const char *verb, const char *operator_group)
{
	struct passwd *me = geteuid() ? getpwuid(geteuid()) : NULL;
	snprintf(buf, len,
		 "permission denied: '%s' needs root%s%s%s or membership in the operator group%s%s",
		 verb, me ? ", the user meshd runs as (" : "", me ? me->pw_name : "",
		 me ? ")," : "", operator_group ? " " : "", operator_group ? operator_group : "");
}

static bool socks_allow(void *ctx, uid_t uid, gid_t gid)
{
	return meshd_access_may_act(ctx, uid, gid);
}

int meshd_access_socks5_start(struct ns *ns, const char *path, const char *operator_group)
{
	gid_t group = (gid_t)-1;
	if (operator_group) {
		struct group *g = getgrnam(operator_group);
		if (!g) {
			log_err("meshd", "SOCKS5 %s: operator group '%s' does not exist", path,
				operator_group);
			return -ENOENT;
		}
		group = g->gr_gid;
	}
	/* The string lives as long as meshd's argv (or config copy), longer than the netstack. */
	return ns_socks5_start(ns, path, group, socks_allow, (void *)operator_group);
}
