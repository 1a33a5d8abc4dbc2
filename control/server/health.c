/* Health and drain, for running several replicas behind a balancer.  GET /healthz answers
 * without a token, so it says no more than a balancer needs, and costs at most one cheap
 * store query a second however often it is asked:
 *
 *     200 {"status":"ok","replica":NAME}                 serving, and the store answered
 *     503 {"status":"draining","replica":NAME}           ctl_server_drain was called
 *     503 {"status":"store unreachable: WHY","replica":NAME}
 *
 * WHY is a category (the connection is lost, a query failed), never libpq's words: those
 * name the database's host and user, which are nobody's business without a token.  The
 * replica's name also goes out as the Mesh-Replica header of every admin API answer, so an
 * admin sees which replica served them (meshctl prints it). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/now.h"
#include "control/server/internal.h"

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > CTL_REPLICA_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '-' || *s == '_'))
			return false;
	return true;
}

int ctl__replica_config(struct ctl_server *srv, char *err, size_t errlen)
{
	const char *name = srv->cfg.replica_name;
	char host[256] = "";
	if (!name) {
		if (gethostname(host, sizeof(host) - 1) != 0 || !name_ok(host))
			snprintf(host, sizeof(host), "meshcontrol");
		name = host;
	} else if (!name_ok(name)) {
		snprintf(err, errlen,
			 "--replica-name '%.80s': use 1 to %d letters, digits, '.', '-' or '_'",
			 name, CTL_REPLICA_NAME_MAX);
		return -EINVAL;
	}
	snprintf(srv->replica, sizeof(srv->replica), "%s", name);
	return 0;
}

bool ctl__not_holding(const struct ctl_server *srv)
{
	return srv->stopping || srv->draining;
}

void ctl__reply_headers(const struct ctl__req *r, struct MHD_Response *resp)
{
	if (r->etag[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, r->etag);
	if (r->replica_header)
		MHD_add_response_header(resp, "Mesh-Replica", r->srv->replica);
	if (r->srv->draining)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
}

/* A cheap read the store must answer (the tailnet's prefix: one row by its key).  A failed
 * query is asked once more: a database shut down under us first fails the query on the
 * connection it kills, and only the next try finds the connection gone. */
static int store_probe(struct ctl_server *srv)
{
	char v[64];
	int rc = srv->store->ops->meta_get(srv->store, "ula48", v, sizeof(v));
	if (rc == -EIO)
		rc = srv->store->ops->meta_get(srv->store, "ula48", v, sizeof(v));
	if (rc)
		log_warn("meshcontrol", "health: the store did not answer: %s", strerror(-rc));
	return rc;
}

enum MHD_Result ctl__healthz(struct ctl__req *r)
{
	struct ctl_server *srv = r->srv;
	uint64_t now = now_mono_ms();
	if (srv->draining)
		return ctl__reply_json(
		    r->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		    json_pack("{s:s, s:s}", "status", "draining", "replica", srv->replica));
	if (!srv->health_at_ms || now - srv->health_at_ms >= SRV_HEALTH_CACHE_MS) {
		srv->health_rc = store_probe(srv);
		srv->health_at_ms = now;
	}
	if (!srv->health_rc)
		return ctl__reply_json(
		    r->conn, MHD_HTTP_OK,
		    json_pack("{s:s, s:s}", "status", "ok", "replica", srv->replica));
	char why[128];
	snprintf(why, sizeof(why), "store unreachable: %s",
		 srv->health_rc == -EPIPE ? "the connection to the database is lost"
		 : srv->health_rc == -EIO ? "the database refused a query"
					  : strerror(-srv->health_rc));
	return ctl__reply_json(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
			       json_pack("{s:s, s:s}", "status", why, "replica", srv->replica));
}

void ctl_server_drain(struct ctl_server *srv)
{
	pthread_mutex_lock(&srv->lock);
	if (!srv->draining) {
		srv->draining = true;
		size_t held = 0;
		for (int k = 0; k < SRV_WAIT_KINDS; k++)
			held += srv->n_waiting[k];
		log_info("meshcontrol",
			 "draining: /healthz says 503, %zu held request(s) answered now, none held "
			 "from now on",
			 held);
		ctl__wake(srv, SRV_WAIT_MAP, NULL);
		ctl__wake(srv, SRV_WAIT_HOLD, NULL);
		ctl__wake(srv, SRV_WAIT_REGISTER, NULL);
		ctl__wake(srv, SRV_WAIT_AUDIT, NULL); /* --follow: answered, asks another */
	}
	pthread_mutex_unlock(&srv->lock);
}

int ctl_server_quiesce(struct ctl_server *srv)
{
	if (!srv->mhd)
		return 0;
	if (srv->quiesced_fd != 0)
		return 0;
	if (srv->proxy) { /* our own listening socket (proxy_listen.c) */
		srv->quiesced_fd = -1;
		int rc = ctl__proxy_listen_quiesce(srv);
		log_info("meshcontrol", "draining: no new connections from now on");
		return rc;
	}
	MHD_socket fd = MHD_quiesce_daemon(srv->mhd);
	if (fd == MHD_INVALID_SOCKET)
		return -EIO;
	/* The daemon's threads may still look at the socket until MHD_stop_daemon, so it is
	 * closed only then (ctl_server_free); shutting it down stops listening now: a new
	 * connection is refused instead of waiting in the backlog for an accept that never
	 * comes. */
	shutdown(fd, SHUT_RDWR);
	srv->quiesced_fd = fd;
	log_info("meshcontrol", "draining: no new connections from now on");
	return 0;
}
