/* meshrecorder: stores the session recordings nodes upload, and serves them back.
 *
 *	meshrecorder --listen 100.64.0.9:8443 --dir /var/lib/meshrecorder
 *
 * The upload protocol v1 (shared with meshd's uploader), over HTTP/1.1 on the tailnet:
 *	PUT  /v1/recordings/ID?offset=N	the next bytes (at most 1 MiB), taken only when N is the
 *					size held: 200 and Mesh-Acked: N + length once fsync'ed;
 *					409 and Mesh-Acked: SIZE for another N (the node resumes
 *					there); 413 body too large; 400 bad id or offset; 507
 *					over the cap (--max-bytes), leaving less than
 *					--min-free or out of space; 410 and
 *					Mesh-Acked: SIZE when the recording has ended
 *	PUT  /v1/recordings/ID?offset=N&end=1	the last bytes (maybe none): the recording ends
 *					with them (the file becomes 0400, "ended" in the list);
 *					the same end again is a 200 (its answer was lost)
 *	HEAD /v1/recordings/ID		200 and Mesh-Acked: SIZE (durable), or 404
 *	GET  /v1/recordings		[{"source", "id", "size", "mtime"}, ...]
 *	GET  /v1/recordings/SOURCE/ID	the asciicast file (asciinema plays it)
 * A PUT's body may come coded (Content-Encoding: lz4, one LZ4 frame: rec/lz4.h), which every
 * answer offers (Accept-Encoding: lz4, RFC 7694); the file holds it inflated, offsets and
 * Mesh-Acked count those plain bytes, 415 answers another coding, 400 a bad frame and 413
 * one that inflates past RECORDER_BODY_MAX.  A node that sends no Content-Encoding (an older
 * one, or one that has not seen the offer yet) is taken as before.
 * A recording is DIR/SOURCE/ID.cast with SOURCE the address the connection came from, so a
 * node only ever writes its own; reading (the two GETs) is for the addresses in --readers
 * (loopback by default).  cmd/recorder/proto.c parses the request line, cmd/recorder/store.c
 * keeps the files (store.h: the offset rule and what a crash leaves); this file is the HTTP
 * front.
 *
 * Bounds: a body is held in memory whole (so a PUT is stored all or nothing) and never
 * beyond RECORDER_BODY_MAX, which is refused from its Content-Length when it has one; at
 * most --max-connections connections (so at most that many bodies, each with its inflated
 * copy of at most RECORDER_BODY_MAX while it is stored), PER_IP of them from one
 * address, each closed after TIMEOUT_S without traffic.  Logs a line when a recording starts,
 * when a node comes back to one, and when one ends (end=1, or idle for --idle-end:
 * cmd/recorder/active.h); bodies are never logged. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <microhttpd.h>

#include "cmd/recorder/active.h"
#include "cmd/recorder/proto.h"
#include "cmd/recorder/store.h"
#include "common/common.h"
#include "common/strv.h"
#include "mesh_version.h"
#include "rec/lz4.h"

enum {
	TIMEOUT_S = 30,
	PER_IP = 8,
	THREADS = 4,
	READERS_MAX = 32,
	RUNS_MAX = 4096,    /* recordings tracked as being uploaded, for the start/end lines */
	DROP_MAX = 8 << 20, /* what a refused request may send before it is cut off */
};

struct recorder {
	struct recorder_store *store;
	struct recorder_active *active;
	uint64_t idle_s;
	struct addr_prefix readers[READERS_MAX];
	size_t n_readers;
	uint64_t max_bytes;
	uint64_t min_free; /* bytes of the disk kept free (--min-free) */
};

struct req {
	char *target; /* the raw request target, from the URI log callback */
	char source[ADDR_TEXT_MAX];
	struct addr_ip ip;
	struct recorder_req r;
	unsigned status; /* a refusal decided before the body was read, 0 for none */
	char why[RECORDER_WHY_MAX];
	bool started, answered;
	bool lz4; /* Content-Encoding: lz4 */
	char *body;
	size_t len, cap, dropped;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	stop_requested = sig;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *ctype,
			     const char *text, const uint64_t *acked)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
	    strlen(text), (void *)(uintptr_t)text, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", ctype);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "Accept-Encoding", REC_LZ4_CODING);
	if (acked) {
		char v[24];
		snprintf(v, sizeof(v), "%" PRIu64, *acked);
		MHD_add_response_header(resp, "Mesh-Acked", v);
	}
	enum MHD_Result rc = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

/* A sentence as the whole body, with its line end. */
static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const uint64_t *acked,
				  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const uint64_t *acked,
				  const char *fmt, ...)
{
	char msg[RECORDER_WHY_MAX + 128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg) - 1, fmt, ap);
	va_end(ap);
	strcat(msg, "\n");
	return reply(c, status, "text/plain; charset=utf-8", msg, acked);
}

static bool may_read(const struct recorder *rec, const struct addr_ip *ip)
{
	for (size_t i = 0; i < rec->n_readers; i++)
		if (addr_prefix_contains(&rec->readers[i], ip))
			return true;
	return false;
}

static void run_ended(void *ctx, const struct recorder_run *run, enum recorder_run_end why)
{
	struct recorder *rec = ctx;
	char because[64];
	if (why == RECORDER_END_IDLE)
		snprintf(because, sizeof(because), "no upload for %" PRIu64 " s", rec->idle_s);
	else if (why == RECORDER_END_FINISHED)
		snprintf(because, sizeof(because), "the node ended it");
	else
		snprintf(because, sizeof(because), "%s",
			 why == RECORDER_END_STOP ? "the recorder stops" : "too many open");
	log_info("meshrecorder",
		 "%s: recording %s ended (%s): %" PRIu64 " bytes held, %" PRIu64 " in %" PRIu64
		 " uploads since %" PRIu64,
		 run->source, run->id, because, run->held, run->held - run->from, run->uploads,
		 run->from);
}

/* An lz4 body inflated in place of the coded one: 0, or the answer's status with why. */
static unsigned inflate_body(struct req *q)
{
	char *plain = malloc(RECORDER_BODY_MAX), why[REC_LZ4_WHY_MAX];
	size_t n;
	int rc =
	    plain ? rec_lz4_unpack(q->body, q->len, plain, RECORDER_BODY_MAX, &n, why) : -ENOMEM;
	if (rc) {
		free(plain);
		snprintf(q->why, sizeof(q->why), "%s", rc == -ENOMEM ? "out of memory" : why);
		return rc == -EFBIG    ? MHD_HTTP_CONTENT_TOO_LARGE
		       : rc == -ENOMEM ? MHD_HTTP_INTERNAL_SERVER_ERROR
				       : MHD_HTTP_BAD_REQUEST;
	}
	free(q->body);
	q->body = plain;
	q->len = q->cap = n;
	return 0;
}

static enum MHD_Result do_upload(struct recorder *rec, struct MHD_Connection *c, struct req *q)
{
	uint64_t held;
	unsigned st = q->lz4 ? inflate_body(q) : 0;
	if (st) {
		log_info("meshrecorder", "%s: recording %s: upload at %" PRIu64 " refused: %s",
			 q->source, q->r.id, q->r.offset, q->why);
		return reply_text(c, st, NULL, "%s", q->why);
	}
	int rc = recorder_store_append(rec->store, q->source, q->r.id, q->r.offset, q->body, q->len,
				       q->r.end, &held);
	switch (rc) {
	case 0:
		if (recorder_active_seen(rec->active, q->source, q->r.id, q->r.offset, held,
					 now_mono_ms(), run_ended, rec)) {
			if (q->r.offset == 0)
				log_info("meshrecorder", "%s: recording %s started", q->source,
					 q->r.id);
			else
				log_info("meshrecorder", "%s: recording %s resumed at %" PRIu64,
					 q->source, q->r.id, q->r.offset);
		}
		if (q->r.end)
			recorder_active_finish(rec->active, q->source, q->r.id, run_ended, rec);
		return reply_text(c, MHD_HTTP_OK, &held, "stored up to %" PRIu64, held);
	case -ESPIPE:
		log_info("meshrecorder",
			 "%s: recording %s: offset %" PRIu64 " is not %" PRIu64
			 ", the node resumes there",
			 q->source, q->r.id, q->r.offset, held);
		return reply_text(c, MHD_HTTP_CONFLICT, &held,
				  "offset %" PRIu64 " is not the %" PRIu64 " bytes held",
				  q->r.offset, held);
	case -EROFS:
		log_info("meshrecorder",
			 "%s: recording %s has ended: upload at %" PRIu64 " refused", q->source,
			 q->r.id, q->r.offset);
		return reply_text(c, MHD_HTTP_GONE, &held,
				  "the recording has ended at %" PRIu64 " bytes", held);
	case -EFBIG:
		log_warn("meshrecorder", "%s: recording %s reached the cap of %" PRIu64 " bytes",
			 q->source, q->r.id, rec->max_bytes);
		return reply_text(c, MHD_HTTP_INSUFFICIENT_STORAGE, &held,
				  "the recording would be over the recorder's cap of %" PRIu64
				  " bytes",
				  rec->max_bytes);
	case -EDQUOT:
		log_err(
		    "meshrecorder",
		    "%s: recording %s: upload refused: the disk would have less than the %" PRIu64
		    " bytes kept free (--min-free)",
		    q->source, q->r.id, rec->min_free);
		return reply_text(c, MHD_HTTP_INSUFFICIENT_STORAGE, &held,
				  "the recorder is full: it keeps %" PRIu64 " bytes free",
				  rec->min_free);
	case -ENOSPC:
		log_err("meshrecorder", "%s: recording %s: %s", q->source, q->r.id, strerror(-rc));
		return reply_text(c, MHD_HTTP_INSUFFICIENT_STORAGE, NULL, "%s", strerror(-rc));
	default:
		log_err("meshrecorder", "%s: recording %s: cannot store: %s", q->source, q->r.id,
			strerror(-rc));
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "cannot store: %s",
				  strerror(-rc));
	}
}

static enum MHD_Result do_list(struct recorder *rec, struct MHD_Connection *c)
{
	struct recorder_entry *v;
	size_t n;
	int rc = recorder_store_list(rec->store, &v, &n);
	if (rc)
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "cannot list: %s",
				  strerror(-rc));
	/* every string is a source or an id: nothing in them needs a JSON escape */
	size_t cap = 3 + n * (sizeof(v->source) + sizeof(v->id) + 128);
	char *s = malloc(cap), *p = s;
	if (!s) {
		free(v);
		return MHD_NO;
	}
	p += sprintf(p, "[");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p,
			     "%s{\"source\":\"%s\",\"id\":\"%s\",\"size\":%" PRIu64
			     ",\"mtime\":%lld,\"ended\":%s}",
			     i ? "," : "", v[i].source, v[i].id, v[i].size, (long long)v[i].mtime,
			     v[i].ended ? "true" : "false");
	sprintf(p, "]\n");
	free(v);
	enum MHD_Result r = reply(c, MHD_HTTP_OK, "application/json", s, NULL);
	free(s);
	return r;
}

static enum MHD_Result do_fetch(struct recorder *rec, struct MHD_Connection *c, struct req *q)
{
	int fd;
	uint64_t size;
	int rc = recorder_store_read(rec->store, q->r.source, q->r.id, &fd, &size);
	if (rc == -ENOENT || rc == -ENOTDIR || rc == -ELOOP || rc == -EINVAL)
		return reply_text(c, MHD_HTTP_NOT_FOUND, NULL, "no recording %s from %s", q->r.id,
				  q->r.source);
	if (rc)
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "cannot read: %s",
				  strerror(-rc));
	struct MHD_Response *resp = MHD_create_response_from_fd((size_t)size, fd);
	if (!resp) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/x-asciicast");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	enum MHD_Result r = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result answer(struct recorder *rec, struct MHD_Connection *c, struct req *q)
{
	if (q->status)
		return reply_text(c, q->status, NULL, "%s", q->why);
	switch (q->r.route) {
	case RECORDER_UPLOAD:
		return do_upload(rec, c, q);
	case RECORDER_STAT: {
		uint64_t size;
		int rc = recorder_store_size(rec->store, q->source, q->r.id, &size);
		if (rc == -ENOENT)
			return reply_text(c, MHD_HTTP_NOT_FOUND, NULL, "no recording %s", q->r.id);
		if (rc)
			return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL,
					  "cannot read: %s", strerror(-rc));
		return reply_text(c, MHD_HTTP_OK, &size, "%" PRIu64 " bytes held", size);
	}
	case RECORDER_LIST:
		return do_list(rec, c);
	case RECORDER_FETCH:
		return do_fetch(rec, c, q);
	}
	return MHD_NO;
}

/* The headers are in: the request line is parsed, the source taken from the connection,
 * and a body too large or a reader not allowed is refused before any of the body is read. */
static enum MHD_Result headers_in(struct recorder *rec, struct MHD_Connection *c, struct req *q,
				  const char *method)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct addr_endpoint ep;
	if (!ci || !ci->client_addr || !addr_endpoint_from_sockaddr(ci->client_addr, &ep))
		return MHD_NO;
	q->ip = ep.ip;
	addr_ip_unmap(&q->ip);
	addr_ip_format(&q->ip, q->source);
	q->status = recorder_proto_parse(method, q->target ? q->target : "", &q->r, q->why);
	const char *cl =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *expect =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
	const char *coding =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);
	unsigned long long len = 0;
	if (cl) {
		char *end;
		errno = 0;
		len = strtoull(cl, &end, 10);
		if (errno || *end || end == cl)
			len = ULLONG_MAX;
	}
	if (!q->status && (q->r.route == RECORDER_LIST || q->r.route == RECORDER_FETCH) &&
	    !may_read(rec, &q->ip)) {
		q->status = MHD_HTTP_FORBIDDEN;
		snprintf(q->why, sizeof(q->why),
			 "%s may not read recordings (meshrecorder --readers)", q->source);
	}
	if (!q->status && q->r.route == RECORDER_UPLOAD && coding &&
	    strcasecmp(coding, "identity") != 0) {
		q->lz4 = strcasecmp(coding, REC_LZ4_CODING) == 0;
		if (!q->lz4) {
			q->status = MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
			snprintf(q->why, sizeof(q->why),
				 "a body is plain or coded lz4 (Content-Encoding), no other");
		}
	}
	if (!q->status && len > RECORDER_BODY_MAX) {
		q->status = MHD_HTTP_CONTENT_TOO_LARGE;
		snprintf(q->why, sizeof(q->why), "a body is at most %d bytes", RECORDER_BODY_MAX);
	}
	if (q->status && ((expect && strcasecmp(expect, "100-continue") == 0) || len > DROP_MAX)) {
		q->answered = true;
		return answer(rec, c, q);
	}
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct recorder *rec = cls;
	struct req *q = *con_cls;
	if (!q)
		return MHD_NO; /* the URI log callback always makes one */
	if (!q->started) {
		q->started = true;
		return headers_in(rec, c, q, method);
	}
	if (q->answered) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		if (!q->status && q->len + *upload_size > RECORDER_BODY_MAX) {
			q->status = MHD_HTTP_CONTENT_TOO_LARGE;
			snprintf(q->why, sizeof(q->why), "a body is at most %d bytes",
				 RECORDER_BODY_MAX);
			free(q->body);
			q->body = NULL;
		}
		if (!q->status && q->len + *upload_size > q->cap) {
			size_t cap = q->cap ? q->cap * 2 : 64 << 10;
			while (cap < q->len + *upload_size)
				cap *= 2;
			cap = cap > RECORDER_BODY_MAX ? RECORDER_BODY_MAX : cap;
			char *b = realloc(q->body, cap);
			if (!b)
				return MHD_NO;
			q->body = b;
			q->cap = cap;
		}
		if (q->status) {
			q->dropped += *upload_size;
			if (q->dropped > DROP_MAX)
				return MHD_NO; /* an endless body: close the connection */
		} else {
			memcpy(q->body + q->len, upload, *upload_size);
			q->len += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	return answer(rec, c, q);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct req *q = calloc(1, sizeof(*q));
	if (q)
		q->target = strdup(uri);
	return q;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct req *q = *con_cls;
	if (!q)
		return;
	free(q->target);
	free(q->body);
	free(q);
	*con_cls = NULL;
}

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: meshrecorder --listen ADDR:PORT --dir DIR [OPTION]...\n"
	    "Stores the SSH session recordings Mesh nodes upload (asciicast v2, one file per\n"
	    "session: DIR/SOURCE/ID.cast) and serves them to meshctl recordings.\n"
	    "\n"
	    "  -l, --listen ADDR:PORT     where to listen (the recorder's tailnet address; port\n"
	    "                             0 picks a free one, logged and in --port-file)\n"
	    "  -d, --dir DIR              the recordings (made 0700 if missing)\n"
	    "      --max-bytes N          the largest recording (default 1073741824)\n"
	    "      --min-free N           bytes of the disk kept free: uploads that would leave\n"
	    "                             less are refused (507; default 268435456, 0: none)\n"
	    "      --max-connections N    connections at once (default 64), each holding at\n"
	    "                             most one 1 MiB body\n"
	    "      --readers PREFIX[,PREFIX]...\n"
	    "                             who may list and fetch recordings (default\n"
	    "                             127.0.0.0/8,::1/128: the recorder's own host)\n"
	    "      --port-file FILE       write the port listened on to FILE\n"
	    "      --idle-end SECONDS     a recording without uploads this long is logged as\n"
	    "                             ended (default 120) when its node did not end it\n"
	    "  -v, --verbose              log debug messages\n"
	    "  -h, --help                 show this help and exit\n"
	    "  -V, --version              show the version and exit\n");
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || end == s || s[0] == '-' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_readers(struct recorder *rec, const char *list)
{
	char **v = NULL;
	size_t n = 0;
	if (strv_split(list, ',', READERS_MAX, &v, &n) != 0 || n == 0) {
		fprintf(stderr, "meshrecorder: --readers: '%s' is not 1-%d prefixes\n", list,
			READERS_MAX);
		strv_free(v, n);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		const char *why;
		if (!addr_net_parse(v[i], &rec->readers[i], &why)) {
			fprintf(stderr, "meshrecorder: --readers: '%s': %s\n", v[i], why);
			strv_free(v, n);
			return false;
		}
	}
	rec->n_readers = n;
	strv_free(v, n);
	return true;
}

/* "ADDR:PORT" as addr_endpoint_parse reads it, and port 0 besides. */
static bool parse_listen(const char *s, struct addr_endpoint *ep)
{
	const char *why;
	size_t n = strlen(s);
	if (n > 2 && n < ADDR_TEXT_MAX && strcmp(s + n - 2, ":0") == 0 && s[n - 3] != ':') {
		char t[ADDR_TEXT_MAX + 1];
		snprintf(t, sizeof(t), "%.*s:1", (int)(n - 2), s);
		if (addr_endpoint_parse(t, ep, &why)) {
			ep->port = 0;
			return true;
		}
	} else if (addr_endpoint_parse(s, ep, &why)) {
		return true;
	}
	fprintf(stderr, "meshrecorder: --listen: '%s': %s\n", s, why);
	return false;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "dir", required_argument, NULL, 'd' },
		{ "max-bytes", required_argument, NULL, 'm' },
		{ "min-free", required_argument, NULL, 'F' },
		{ "max-connections", required_argument, NULL, 'c' },
		{ "readers", required_argument, NULL, 'r' },
		{ "port-file", required_argument, NULL, 'f' },
		{ "idle-end", required_argument, NULL, 'i' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct recorder rec = { .max_bytes = 1ULL << 30, .min_free = 256ULL << 20, .idle_s = 120 };
	struct addr_endpoint ep;
	const char *listen = NULL, *dir = NULL, *port_file = NULL;
	uint64_t max_conn = 64;
	int c;
	if (!parse_readers(&rec, "127.0.0.0/8,::1/128"))
		return 1;
	while ((c = getopt_long(argc, argv, "l:d:vhV", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen = optarg;
			if (!parse_listen(optarg, &ep))
				return 2;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'm':
			if (!parse_u64(optarg, 1, RECORDER_OFFSET_MAX, &rec.max_bytes)) {
				fprintf(stderr, "meshrecorder: --max-bytes: '%s' is not 1..%lld\n",
					optarg, (long long)RECORDER_OFFSET_MAX);
				return 2;
			}
			break;
		case 'F':
			if (!parse_u64(optarg, 0, UINT64_MAX, &rec.min_free)) {
				fprintf(stderr,
					"meshrecorder: --min-free: '%s' is not a byte count\n",
					optarg);
				return 2;
			}
			break;
		case 'c':
			if (!parse_u64(optarg, 1, 65536, &max_conn)) {
				fprintf(stderr,
					"meshrecorder: --max-connections: '%s' is not 1..65536\n",
					optarg);
				return 2;
			}
			break;
		case 'r':
			if (!parse_readers(&rec, optarg))
				return 2;
			break;
		case 'f':
			port_file = optarg;
			break;
		case 'i':
			if (!parse_u64(optarg, 1, 86400, &rec.idle_s)) {
				fprintf(stderr, "meshrecorder: --idle-end: '%s' is not 1..86400\n",
					optarg);
				return 2;
			}
			break;
		case 'v':
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("meshrecorder %s\n", MESH_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !listen || !dir) {
		fprintf(stderr, "meshrecorder: %s\n",
			optind != argc ? "unexpected arguments" : "--listen and --dir are needed");
		usage(stderr);
		return 2;
	}
	char err[512];
	if (recorder_store_open(dir, rec.max_bytes, &rec.store, err, sizeof(err)) != 0) {
		log_err("meshrecorder", "%s", err);
		return 1;
	}
	recorder_store_set_min_free(rec.store, rec.min_free);
	if (recorder_active_new(RUNS_MAX, rec.idle_s * 1000, &rec.active) != 0) {
		log_err("meshrecorder", "out of memory");
		recorder_store_free(rec.store);
		return 1;
	}
	struct sockaddr_storage ss;
	addr_endpoint_to_sockaddr(&ep, &ss);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	if (ep.ip.family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* a pool larger than the connection limit is an error, and one of 1 draws a warning:
	 * then there is none (the option is left out) */
	struct MHD_OptionItem pool[] = {
		{ MHD_OPTION_THREAD_POOL_SIZE, max_conn < THREADS ? (intptr_t)max_conn : THREADS,
		  NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	if (max_conn < 2)
		pool[0].option = MHD_OPTION_END;
	signal(SIGPIPE, SIG_IGN);
	errno = 0;
	struct MHD_Daemon *d = MHD_start_daemon(
	    flags, ep.port, NULL, NULL, on_request, &rec, MHD_OPTION_SOCK_ADDR, &ss,
	    MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
	    NULL, MHD_OPTION_CONNECTION_LIMIT, (unsigned)max_conn,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)PER_IP, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
	    MHD_OPTION_ARRAY, pool, MHD_OPTION_END);
	if (!d) {
		log_err("meshrecorder", "cannot listen on %s: %s", listen,
			strerror(errno ? errno : EADDRINUSE));
		recorder_active_free(rec.active);
		recorder_store_free(rec.store);
		return 1;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	unsigned port = info ? info->port : ep.port;
	char host[ADDR_TEXT_MAX];
	log_info("meshrecorder", "listening on %s port %u, recordings in %s",
		 addr_ip_format(&ep.ip, host), port, dir);
	int rc = 0;
	if (port_file) {
		FILE *f = fopen(port_file, "w");
		if (!f || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0) {
			log_err("meshrecorder", "%s: %s", port_file, strerror(errno));
			rc = 1;
			stop_requested = 1;
		}
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!stop_requested) {
		sleep(1); /* a signal cuts it short */
		recorder_active_sweep(rec.active, now_mono_ms(), run_ended, &rec);
	}
	if (!rc)
		log_info("meshrecorder", "stopping (signal %d)", (int)stop_requested);
	MHD_stop_daemon(d);
	recorder_active_sweep(rec.active, UINT64_MAX, run_ended, &rec);
	recorder_active_free(rec.active);
	recorder_store_free(rec.store);
	return rc;
}
