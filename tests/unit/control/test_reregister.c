/* meshcontrol: a node that registers again (a new node key after a logout, a login that
 * expired) keeps the endpoints and SSH host keys it reported until it reports new ones —
 * its peers go on reaching it and trusting its host key in between.  Through the fuzz
 * harness's server: the laptop (node 1, alice's) reports both, then its interactive
 * registration is approved again with a new node key (and the maps rebuilt, the next tick's
 * work).  And a name is unique in any case. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tests/fuzz/control/srv_harness.h"

static const char report[] =
    "{\"since\":0,\"endpoints\":[\"192.0.2.7:41641\"],"
    "\"ssh_host_keys\":[\"ssh-ed25519 "
    "AAAAC3NzaC1lZDI1NTE5AAAAIBERERERERERERERERERERERERERERERERERERERERER\"]}";

int main(void)
{
	struct ctl_server *srv = fz_srv_open();
	struct fz_reply rep;
	fz_node(srv, 0, "map", report, strlen(report), &rep);
	CHECK_INT(rep.status, 200);
	free(rep.body);
	struct ctl__node *n = ctl__node_by_id(srv, 1);
	CHECK(n->rec.endpoints && strstr(n->rec.endpoints, "192.0.2.7:41641"));
	CHECK(n->rec.ssh_host_keys && strstr(n->rec.ssh_host_keys, "ssh-ed25519 AAAAC3"));

	struct ctl__login_req lr = { .state = CTL__PENDING };
	memcpy(lr.machine_key, fz_machine_pub[0], 32);
	memset(lr.node_key, 0x42, 32);
	snprintf(lr.hostname, sizeof(lr.hostname), "%s", n->rec.hostname);
	char err[256];
	CHECK_INT(
	    ctl__register_finish(srv, &lr, n->rec.user_id, "alice@example.com", err, sizeof(err)),
	    0);
	CHECK_INT(lr.state, CTL__APPROVED);
	n = ctl__node_by_id(srv, 1);
	CHECK(n && n->rec.node_key[0] == 0x42);
	CHECK(n && n->rec.endpoints && strstr(n->rec.endpoints, "192.0.2.7:41641"));
	CHECK(n && n->rec.ssh_host_keys && strstr(n->rec.ssh_host_keys, "ssh-ed25519 AAAAC3"));
	/* and its peer's map still carries them, once the registration's rebuild ran (no map
	 * is made while one is pending: the poll would be held for it) */
	pthread_mutex_lock(&srv->lock);
	srv->rebuild_after_ms = 0;
	ctl__timer_tick(srv);
	CHECK(!srv->dirty);
	pthread_mutex_unlock(&srv->lock);
	fz_node(srv, 1, "map", "{\"since\":0}", 11, &rep);
	CHECK_INT(rep.status, 200);
	CHECK(rep.body && strstr(rep.body, "192.0.2.7:41641"));
	free(rep.body);

	/* Another machine asking for the same name in other letters gets a name of its own:
	 * names are DNS names (MagicDNS answers them in any case), so "LAPTOP" is "laptop". */
	char upper[CTL_HOSTNAME_MAX];
	snprintf(upper, sizeof(upper), "%s", n->rec.hostname);
	for (char *c = upper; *c; c++)
		*c = (char)toupper((unsigned char)*c);
	struct ctl__login_req other = { .state = CTL__PENDING };
	memset(other.machine_key, 0x77, 32);
	memset(other.node_key, 0x78, 32);
	snprintf(other.hostname, sizeof(other.hostname), "%s", upper);
	CHECK_INT(ctl__register_finish(srv, &other, n->rec.user_id, "alice@example.com", err,
				       sizeof(err)),
		  0);
	struct ctl__node *o = ctl__node_by_id(srv, other.node_id);
	CHECK(o && strncmp(o->rec.hostname, upper, strlen(upper)) == 0 &&
	      o->rec.hostname[strlen(upper)] == '-');
	fz_srv_close(srv);
	return check_finish();
}
