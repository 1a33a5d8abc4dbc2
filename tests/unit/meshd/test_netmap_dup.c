/* ctl_netmap_dup: a copy that survives the original being freed, field for field
 * (ASan catches shared pointers and leaks). */
#include <stdlib.h>

#include "check.h"
#include "control/netmap/netmap.h"

static const char json[] =
    "{\"version\":7,\"domain\":\"mesh.internal\","
    "\"self\":{\"id\":1,\"name\":\"laptop\",\"owner\":\"alice@example.com\",\"tags\":[],"
    "\"node_key\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\",\"key_expiry\":0,"
    "\"addresses\":[\"100.64.0.1/32\",\"fd7a:115c:a1e0::1/128\"],\"allowed_ips\":[],"
    "\"endpoints\":[],\"ssh_host_keys\":[],\"online\":true,\"last_seen\":0},"
    "\"peers\":[{\"id\":2,\"name\":\"server\",\"tags\":[\"tag:server\"],"
    "\"node_key\":\"//////////////////////////////////////////8=\",\"key_expiry\":0,"
    "\"addresses\":[\"100.64.0.2/32\"],\"allowed_ips\":[\"100.64.0.2/32\"],"
    "\"endpoints\":[\"10.0.0.2:41641\"],\"ssh_host_keys\":[\"ssh-ed25519 AAAA\"],"
    "\"online\":true,\"last_seen\":5}],"
    "\"filter\":[{\"srcs\":[\"100.64.0.0/10\"],\"dsts\":[\"100.64.0.1/32\"],"
    "\"ports\":[[22,22]],\"protos\":[6],\"section\":\"acls\",\"index\":3}],"
    "\"ssh\":[{\"principals\":[\"100.64.0.2/32\"],\"users\":[[\"*\",\"=\"],[\"root\",\"\"]],"
    "\"action\":\"check\",\"check_period\":3600,\"agent\":true,\"local_fwd\":false,"
    "\"remote_fwd\":true,\"accept_env\":[\"LANG\"],\"index\":2}]}";

int main(void)
{
	struct ctl_netmap *nm = NULL, *cp = NULL;
	char err[256] = "";
	int rc = ctl_netmap_parse(json, sizeof(json) - 1, &nm, err, sizeof(err));
	if (rc)
		fprintf(stderr, "parse: %s\n", err);
	CHECK_INT(rc, 0);
	if (rc)
		return check_finish();
	CHECK_INT(ctl_netmap_dup(nm, &cp), 0);
	ctl_netmap_free(nm);

	CHECK_INT(cp->version, 7);
	CHECK_STR(cp->domain, "mesh.internal");
	CHECK_STR(cp->self.name, "laptop");
	CHECK_STR(cp->self.owner, "alice@example.com");
	CHECK_INT(cp->self.n_addrs, 2);
	CHECK_INT(cp->n_peers, 1);
	CHECK_STR(cp->peers[0].name, "server");
	CHECK(cp->peers[0].owner == NULL);
	CHECK_INT(cp->peers[0].n_tags, 1);
	CHECK_STR(cp->peers[0].tags[0], "tag:server");
	CHECK_STR(cp->peers[0].endpoints[0], "10.0.0.2:41641");
	CHECK_STR(cp->peers[0].ssh_host_keys[0], "ssh-ed25519 AAAA");
	CHECK_INT(cp->peers[0].n_allowed_ips, 1);
	CHECK_INT(cp->peers[0].node_key[0], 0xff);
	CHECK_INT(cp->n_filter, 1);
	CHECK_INT(cp->filter[0]->ports[0].first, 22);
	CHECK_INT(cp->filter[0]->n_srcs, 1);
	CHECK_INT(cp->filter[0]->protos[0], 6);
	CHECK_STR(cp->filter[0]->section, "acls");
	CHECK_INT(cp->filter[0]->index, 3);
	CHECK_INT(cp->n_ssh, 1);
	CHECK_INT(cp->ssh[0]->action, VERDICT_CHECK);
	CHECK_INT(cp->ssh[0]->check_period_s, 3600);
	CHECK(cp->ssh[0]->allow_agent_forwarding && !cp->ssh[0]->allow_local_port_forwarding &&
	      cp->ssh[0]->allow_remote_port_forwarding);
	CHECK_INT(cp->ssh[0]->n_users, 2);
	CHECK_STR(cp->ssh[0]->users[1].from, "root");
	CHECK_STR(cp->ssh[0]->users[1].to, "");
	CHECK_STR(cp->ssh[0]->accept_env[0], "LANG");
	CHECK_INT(cp->ssh[0]->index, 2);
	ctl_netmap_free(cp);
	return check_finish();
}
