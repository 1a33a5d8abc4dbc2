/* libcurl's multi interface on the caller's libuv loop: a uv_poll per socket curl asks
 * us to watch, one uv_timer for curl's timeouts, and the request bookkeeping.  Finished
 * requests go to ctl__request_done() (client.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "common/file.h"
#include "common/key.h"
#include "common/log.h"
#include "control/client/internal.h"
#include "control/netmap/netmap_json.h"
#include "control/netmap/wire.h"
#include "control/url/url.h"

void ctl__handle_closed(uv_handle_t *h)
{
	struct ctl_client *c = h->data;
	if (h->type == UV_POLL)
		free(container_of((uv_poll_t *)h, struct sockctx, poll));
	if (--c->open_handles == 0 && c->stopped) {
		free(c);
	}
}

static void check_done(struct ctl_client *c);

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct sockctx *s = container_of(p, struct sockctx, poll);
	struct ctl_client *c = s->c;
	int flags = 0, running;
	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(c->multi, s->fd, flags, &running);
	check_done(c);
}

void ctl__sock_close(struct ctl_client *c, struct sockctx *s)
{
	for (struct sockctx **pp = &c->socks; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, ctl__handle_closed);
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct ctl_client *c = userp;
	struct sockctx *s = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			ctl__sock_close(c, s);
			curl_multi_assign(c->multi, fd, NULL);
		}
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		s->fd = fd;
		s->c = c;
		if (uv_poll_init_socket(c->cfg.loop, &s->poll, fd) != 0) {
			free(s);
			return -1;
		}
		s->poll.data = c;
		s->next = c->socks;
		c->socks = s;
		c->open_handles++;
		curl_multi_assign(c->multi, fd, s);
	}
	int ev = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
	uv_poll_start(&s->poll, ev, on_poll);
	return 0;
}

static void on_curl_timer(uv_timer_t *t)
{
	struct ctl_client *c = t->data;
	int running;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(c);
}

static int on_timer_change(CURLM *m, long timeout_ms, void *userp)
{
	struct ctl_client *c = userp;
	if (timeout_ms < 0)
		uv_timer_stop(&c->curl_timer);
	else
		uv_timer_start(&c->curl_timer, on_curl_timer, (uint64_t)timeout_ms, 0);
	return 0;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct creq *r = userdata;
	size_t n = size * nmemb;
	if (r->resp_len + n > CTL_WIRE_MAX_BODY) {
		r->too_big = true;
		return 0;
	}
	char *p = realloc(r->resp, r->resp_len + n + 1);
	if (!p)
		return 0;
	memcpy(p + r->resp_len, ptr, n);
	r->resp = p;
	r->resp_len += n;
	p[r->resp_len] = '\0';
	return n;
}

const char *ctl__req_error(const struct creq *r)
{
	return r->curl_err[0] ? r->curl_err : curl_easy_strerror(r->curl_result);
}

void ctl__req_free(struct creq *r)
{
	struct ctl_client *c = r->c;
	for (struct creq **pp = &c->reqs; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	if (c->map_req == r)
		c->map_req = NULL;
	if (c->reg_req == r)
		c->reg_req = NULL;
	if (r->easy) {
		curl_multi_remove_handle(c->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	curl_slist_free_all(r->headers);
	free(r->body);
	free(r->resp);
	free(r);
}

/* Start a request: GET /key when json is NULL, otherwise a sealed POST. */
int ctl__req_start(struct ctl_client *c, struct creq *r, const char *path, const char *json,
		   long timeout_ms)
{
	char url[1024];
	snprintf(url, sizeof(url), "%s%s", c->url, path);
	r->c = c;
	r->easy = curl_easy_init();
	if (!r->easy)
		return -ENOMEM;
	if (json) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
		int rc =
		    ctl_wire_seal_request(c->server_pub, c->machine_pub, c->machine_priv, now_ms,
					  json, strlen(json), &r->body, &r->body_len, r->nonce);
		if (rc)
			return rc;
		r->headers = curl_slist_append(NULL, "Content-Type: application/octet-stream");
		curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, (long)r->body_len);
		curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	}
	ctl_url_curl_setup(r->easy, c->ca_file, r->curl_err);
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	if (c->fresh_connect) {
		curl_easy_setopt(r->easy, CURLOPT_FRESH_CONNECT, 1L);
		c->fresh_connect = false;
	}
	r->next = c->reqs;
	c->reqs = r;
	if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK)
		return -EIO;
	return 0;
}
static void check_done(struct ctl_client *c)
{
	CURLMsg *msg;
	int pending;
	while ((msg = curl_multi_info_read(c->multi, &pending))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct creq *r;
		long status = 0;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		r->curl_result = msg->data.result;
		if (msg->data.result == CURLE_OK)
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		if (c->map_req == r)
			c->map_req = NULL;
		if (c->reg_req == r)
			c->reg_req = NULL;
		char why[600];
		if (!c->stopped &&
		    ctl_url_tls_failure(r->curl_result, c->url, r->curl_err, why, sizeof(why)))
			ctl__event(c, CTL_CLIENT_UNTRUSTED, "%s", why); /* then retried as usual */
		if (!c->stopped)
			ctl__request_done(c, r, status);
		if (c->stopped)
			return; /* a callback freed the client, and with it r and the multi handle
				 */
		ctl__req_free(r);
	}
}

int ctl__transport_init(struct ctl_client *c)
{
	c->multi = curl_multi_init();
	if (!c->multi)
		return -ENOMEM;
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	uv_timer_init(c->cfg.loop, &c->curl_timer);
	c->curl_timer.data = c;
	return 0;
}

void ctl__transport_stop(struct ctl_client *c)
{
	while (c->reqs)
		ctl__req_free(c->reqs);
	curl_multi_cleanup(c->multi);
	c->multi = NULL;
	while (c->socks)
		ctl__sock_close(c, c->socks);
}
