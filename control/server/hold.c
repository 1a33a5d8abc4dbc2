/* Check-mode holds: an SSH login the policy says to check waits for a person's approval on
 * the check page while its destination node asks (or waits) here.  Every answer is the
 * policy's decision now first (ctl__ssh_verdict), then the approval; holds are capped per node
 * asking, per source device and in all.  They live in the store, so that a hold made through
 * one replica is approved on another's page and answered through either; srv->holds are
 * this replica's copies (ctl__hold_find), decisions are written through (ctl__hold_save)
 * and another replica's come back through the change feed (ctl__holds_reload). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/log.h"
#include "common/now.h"
#include "control/policy/policy.h"
#include "control/server/internal.h"

/* ---- check-mode holds ---- */

static struct ctl__hold *hold_copy(struct ctl_server *srv, const struct ctl__hold *h)
{
	struct ctl__hold *arr = realloc(srv->holds, (srv->n_holds + 1) * sizeof(*arr));
	if (!arr)
		return NULL;
	srv->holds = arr;
	arr[srv->n_holds] = *h;
	return &arr[srv->n_holds++];
}

struct ctl__hold *ctl__hold_find(struct ctl_server *srv, const char *id)
{
	struct ctl__hold h;
	for (size_t i = 0; i < srv->n_holds; i++)
		if (strcmp(srv->holds[i].id, id) == 0)
			return &srv->holds[i];
	if (srv->store->ops->hold_get(srv->store, id, &h) != 0)
		return NULL;
	return hold_copy(srv, &h);
}

/* The store's hold into the copy h (its last_asked the later of the two); -ENOENT when the
 * store has it no more. */
static int hold_read(struct ctl_server *srv, struct ctl__hold *h)
{
	struct ctl__hold cur;
	int rc = srv->store->ops->hold_get(srv->store, h->id, &cur);
	if (rc)
		return rc;
	if (cur.last_asked < h->last_asked)
		cur.last_asked = h->last_asked;
	*h = cur;
	return 0;
}

int ctl__hold_save(struct ctl_server *srv, struct ctl__hold *h)
{
	int rc = srv->store->ops->hold_update(srv->store, h);
	if (rc == -ESTALE)
		hold_read(srv, h);
	else if (rc && rc != -ENOENT)
		log_err("meshcontrol", "check %.8s: cannot store its decision: %s", h->id,
			strerror(-rc));
	return rc;
}

void ctl__holds_reload(struct ctl_server *srv)
{
	for (size_t i = 0; i < srv->n_holds;) {
		struct ctl__hold *h = &srv->holds[i];
		if (h->state == CTL__PENDING && hold_read(srv, h) == -ENOENT)
			srv->holds[i] = srv->holds[--srv->n_holds];
		else
			i++;
	}
}

static struct ctl__node *node_by_addr(struct ctl_server *srv, const char *addr)
{
	struct addr_prefix p;
	if (!addr_prefix_parse(addr, &p, NULL))
		return NULL;
	const uint8_t *b = p.ip.bytes;
	if (p.ip.family == AF_INET6)
		return ctl__node_by_ipv6(srv, b);
	if (p.ip.family != AF_INET)
		return NULL;
	return ctl__node_by_ipv4(srv, (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
					  (uint32_t)b[2] << 8 | b[3]);
}

static bool node_index(struct ctl_server *srv, const struct ctl__node *n, size_t *index)
{
	char a[16];
	snprintf(a, sizeof(a), "%u.%u.%u.%u", n->rec.ipv4 >> 24, (n->rec.ipv4 >> 16) & 255,
		 (n->rec.ipv4 >> 8) & 255, n->rec.ipv4 & 255);
	return pol_compiled_find_node(srv->compiled, a, index) == 0;
}

int ctl__ssh_verdict(struct ctl_server *srv, int64_t src, int64_t dst, const char *user, char *why,
		     size_t whylen)
{
	struct ctl__node *s = ctl__node_by_id(srv, src), *d = ctl__node_by_id(srv, dst);
	int64_t now = ctl__now_s();
	struct pol_decision dec;
	size_t si, di;
	if (!s || !d) {
		snprintf(why, whylen, "the %s node is no longer in the tailnet",
			 s ? "destination" : "source");
		return VERDICT_REJECT;
	}
	if (ctl__node_expired(s, now) || ctl__node_expired(d, now)) {
		snprintf(why, whylen, "the %s node's key has expired",
			 ctl__node_expired(s, now) ? "source" : "destination");
		return VERDICT_REJECT;
	}
	if (!srv->compiled) {
		snprintf(why, whylen, "there is no policy, so no SSH");
		return VERDICT_REJECT;
	}
	if (!node_index(srv, s, &si) || !node_index(srv, d, &di) ||
	    pol_ssh_decide(srv->compiled, si, di, user, &dec) != 0) {
		snprintf(why, whylen, "the policy does not know the %s node yet",
			 node_index(srv, s, &si) ? "destination" : "source");
		return VERDICT_REJECT;
	}
	snprintf(why, whylen, "%s", dec.why);
	return dec.verdict;
}

static enum MHD_Result hold_reject(struct ctl__req *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static enum MHD_Result hold_reject(struct ctl__req *r, const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	return ctl__reply_sealed_json(
	    r, MHD_HTTP_OK, json_pack("{s:s, s:s}", "decision", "reject", "reason", reason));
}

/* The answer to a hold, decided now: the policy first (a rule removed while the login
 * waited rejects it, whatever was approved), then the person's approval. */
static enum MHD_Result hold_answer(struct ctl__req *r, struct ctl__hold *h)
{
	struct ctl_server *srv = r->srv;
	char url[512], why[POL_WHY_MAX];
	int v = ctl__ssh_verdict(srv, h->src, h->dst, h->local_user, why, sizeof(why));
	if (v == VERDICT_REJECT && h->state != CTL__REJECTED) {
		for (int i = 0; i < 2;
		     i++) { /* stored, then kept whatever another replica decided */
			h->state = CTL__REJECTED;
			snprintf(h->reason, sizeof(h->reason),
				 "the policy no longer allows this login: %s", why);
			if (i == 0)
				ctl__hold_save(srv, h);
		}
	}
	if (h->state == CTL__REJECTED)
		return hold_reject(
		    r, "%s", h->reason[0] ? h->reason : "the login was rejected on the check page");
	if (h->state == CTL__APPROVED || v == VERDICT_ACCEPT)
		return ctl__reply_sealed_json(r, MHD_HTTP_OK,
					      json_pack("{s:s}", "decision", "accept"));
	bool wait = json_is_true(json_object_get(r->msg, "wait"));
	uint64_t now = now_mono_ms();
	if (wait && !ctl__not_holding(srv) && (r->wait == SRV_WAIT_NONE || now < r->deadline_ms)) {
		snprintf(r->token, sizeof(r->token), "%s", h->id);
		ctl__suspend(r, SRV_WAIT_HOLD,
			     r->wait == SRV_WAIT_NONE ? now + SRV_HOLD_WAIT_MS : r->deadline_ms);
		return MHD_YES;
	}
	snprintf(url, sizeof(url), "%s/check/%s", srv->public_url, h->id);
	return ctl__reply_sealed_json(
	    r, MHD_HTTP_OK,
	    json_pack("{s:s, s:s, s:s}", "decision", "pending", "url", url, "hold_id", h->id));
}

/* Room for one more hold from src to dst, or a sealed 429 in *res saying which cap. */
static bool hold_room(struct ctl__req *r, const struct ctl__node *src, const struct ctl__node *dst,
		      enum MHD_Result *res)
{
	struct ctl_server *srv = r->srv;
	struct ctl_hold_count c; /* in the store: N replicas allow no more than one */
	int rc = srv->store->ops->hold_count(srv->store, src->rec.id, dst->rec.id, &c);
	if (rc)
		*res = ctl__sealed_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
					 "cannot count the check-mode logins waiting: %s",
					 strerror(-rc));
	else if (c.from_src >= SRV_HOLDS_PER_SOURCE)
		*res = ctl__sealed_error(r, MHD_HTTP_TOO_MANY_REQUESTS,
					 "too many check-mode logins from %s waiting for approval "
					 "(at most %d); approve or reject them first",
					 src->rec.hostname, SRV_HOLDS_PER_SOURCE);
	else if (c.to_dst >= SRV_HOLDS_PER_NODE)
		*res =
		    ctl__sealed_error(r, MHD_HTTP_TOO_MANY_REQUESTS,
				      "too many check-mode logins to %s waiting for approval (at "
				      "most %d); approve or reject them first",
				      dst->rec.hostname, SRV_HOLDS_PER_NODE);
	else if (c.all >= SRV_HOLDS_MAX)
		*res = ctl__sealed_error(r, MHD_HTTP_TOO_MANY_REQUESTS,
					 "too many check-mode logins on this server (at most %d); "
					 "try again later",
					 SRV_HOLDS_MAX);
	else
		return true;
	return false;
}

enum MHD_Result ctl__api_hold(struct ctl__req *r, struct ctl__node *dst)
{
	struct ctl_server *srv = r->srv;
	const char *hid = json_string_value(json_object_get(r->msg, "hold_id"));
	struct ctl__hold *h;
	if (hid) {
		h = ctl__hold_find(srv, hid);
		if (!h || h->dst != dst->rec.id)
			return ctl__sealed_error(r, MHD_HTTP_BAD_REQUEST,
						 "hold_id: unknown or expired hold");
		if (json_is_true(json_object_get(r->msg, "cancel"))) {
			/* the SSH client went away: nobody waits for this hold any more */
			char id[sizeof(h->id)];
			snprintf(id, sizeof(id), "%s", h->id);
			int rc = srv->store->ops->hold_delete(srv->store, id);
			if (rc)
				log_err("meshcontrol", "check %.8s: cannot remove it: %s", id,
					strerror(-rc));
			srv->holds[h - srv->holds] = srv->holds[--srv->n_holds];
			ctl__wake(srv, SRV_WAIT_HOLD, id);
			return ctl__reply_sealed_json(r, MHD_HTTP_OK,
						      json_pack("{s:s}", "decision", "cancelled"));
		}
		h->last_asked = ctl__now_s();
		/* the store's copy too, or another replica's tick would forget it as idle */
		srv->store->ops->hold_touch(srv->store, h->id, h->last_asked);
		return hold_answer(r, h);
	}
	const char *src_addr = json_string_value(json_object_get(r->msg, "src"));
	const char *user = json_string_value(json_object_get(r->msg, "user"));
	json_t *period = json_object_get(r->msg, "check_period");
	if (!src_addr || !user || !*user || strlen(user) >= sizeof(h->local_user))
		return ctl__sealed_error(r, MHD_HTTP_BAD_REQUEST,
					 "hold needs src (an address) and user (1-63 chars)");
	if (period && (!json_is_integer(period) || json_integer_value(period) < 0 ||
		       json_integer_value(period) > 168 * 3600))
		return ctl__sealed_error(r, MHD_HTTP_BAD_REQUEST,
					 "check_period: expected 0 to 604800 seconds");
	struct ctl__node *src = node_by_addr(srv, src_addr);
	if (!src)
		return hold_reject(r, "unknown source address");
	if (src->rec.n_tags || !src->owner[0])
		return hold_reject(r, "tagged sources cannot use check mode");
	char why[POL_WHY_MAX];
	int v = ctl__ssh_verdict(srv, src->rec.id, dst->rec.id, user, why, sizeof(why));
	if (v == VERDICT_REJECT)
		return hold_reject(r, "the policy does not allow this login: %s", why);
	if (v == VERDICT_ACCEPT)
		return ctl__reply_sealed_json(r, MHD_HTTP_OK,
					      json_pack("{s:s}", "decision", "accept"));
	int64_t p = period ? json_integer_value(period) : 12 * 3600;
	struct ctl_approval a;
	if (p > 0 && srv->store->ops->approval_get(srv->store, src->rec.id, dst->rec.id, &a) == 0 &&
	    a.approved_at + p > ctl__now_s())
		return ctl__reply_sealed_json(r, MHD_HTTP_OK,
					      json_pack("{s:s}", "decision", "accept"));
	enum MHD_Result res;
	if (!hold_room(r, src, dst, &res))
		return res;
	struct ctl__hold nh = { .src = src->rec.id, .dst = dst->rec.id, .check_period_s = p };
	ctl__random_hex(nh.id, 16);
	snprintf(nh.local_user, sizeof(nh.local_user), "%s", user);
	nh.created = nh.last_asked = ctl__now_s();
	int rc = srv->store->ops->hold_put(srv->store, &nh);
	if (rc)
		return ctl__sealed_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
					 "cannot store the check-mode login: %s", strerror(-rc));
	if (!(h = hold_copy(srv, &nh)))
		return MHD_NO;
	return hold_answer(r, h);
}
