/* rec/: session recordings in asciicast v2, the format Debian's asciinema plays
 * (https://docs.asciinema.org/manual/asciicast/v2/): one JSON header line, then one JSON
 * array per event, `[elapsed seconds, "o" | "i" | "r" | "m", data]`.  Pure: the writer fills a
 * caller's buffer and does no I/O, so the same bytes go to a local file or a recorder.
 *
 *   struct rec_cast c;
 *   rec_cast_init(&c, start_usec);
 *   n = rec_cast_header(&hdr, buf, sizeof(buf));               // '{"version":2,...}\n'
 *   n = rec_cast_output(&c, now_usec, data, len, buf, cap);    // '[0.250000,"o","..."]\n'
 *   n = rec_cast_resize(&c, now_usec, 100, 30, buf, cap);      // '[1.000000,"r","100x30"]\n'
 *   n = rec_cast_marker(&c, now_usec, "exit 0", buf, cap);     // '[2.000000,"m","exit 0"]\n'
 *   n = rec_cast_input(&c, now_usec, "ls", 2, buf, cap);        // '[1.500000,"i","ls"]\n'
 *
 * Strings are JSON-escaped byte for byte: '"' and '\' escaped, backspace, tab, newline, form
 * feed and carriage return as \b \t \n \f \r, other control characters (below 0x20, and
 * 0x7f) as \u00XX, valid UTF-8 kept, and each ill-formed sequence (a stray
 * continuation byte, an overlong form, a surrogate, past U+10FFFF, a sequence cut short) as
 * one U+FFFD, so every line is valid JSON whatever the session printed.  Output is UTF-8
 * that a chunk boundary may cut: rec_cast_output holds back up to 3 bytes of a sequence
 * that may still complete and writes them with the next chunk (rec_cast_flush writes them
 * as U+FFFD at the end).
 *
 * Each writer returns the bytes written (the line ends with '\n') or -ENOSPC when cap is
 * too small, with nothing consumed; REC_CAST_EVENT_MAX(len) is always enough for an event
 * carrying len bytes of data. */
#ifndef MESH_REC_ASCIICAST_H
#define MESH_REC_ASCIICAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* 6 bytes per input byte (\u00XX) plus the held-back bytes, the time and the brackets. */
#define REC_CAST_EVENT_MAX(len) (6 * ((size_t)(len) + 3) + 64)

/* Who and what a recording is of.  NULL strings are left out (command NULL: a shell). */
struct rec_header {
	unsigned width, height; /* 0 (no terminal): written as 80x24, asciinema needs a size */
	int64_t timestamp;	/* start, Unix seconds */
	const char *command;	/* the exec'd command, or NULL for a login shell */
	const char *term;	/* the client's TERM */
	/* the "mesh" object */
	const char *src_node;  /* the source node's name */
	const char *src_addr;  /* its tailnet address */
	const char *src_owner; /* its owner's login, NULL for a tagged node */
	const char *const *src_tags;
	size_t n_src_tags;
	const char *ssh_user;	/* the name the client asked for */
	const char *local_user; /* the account the session runs as */
	const char *conn_id;	/* the connection's id on this node */
};

struct rec_cast {
	int64_t start_usec; /* elapsed times count from here */
	uint8_t held[3];    /* the start of a UTF-8 sequence the last chunk cut */
	uint8_t n_held;
};

void rec_cast_init(struct rec_cast *c, int64_t start_usec);

ssize_t rec_cast_header(const struct rec_header *h, char *buf, size_t cap);
/* An "o" event of len bytes of output (len 0 with nothing held: writes nothing, returns 0). */
ssize_t rec_cast_output(struct rec_cast *c, int64_t now_usec, const void *data, size_t len,
			char *buf, size_t cap);
ssize_t rec_cast_resize(struct rec_cast *c, int64_t now_usec, unsigned width, unsigned height,
			char *buf, size_t cap);
/* An "m" (marker) event with a label: the end of a capped recording, an exit status. */
ssize_t rec_cast_marker(struct rec_cast *c, int64_t now_usec, const char *label, char *buf,
			size_t cap);
/* An "i" event: len bytes the client typed (only when input recording is on: it holds
 * passwords).  Written whole: a UTF-8 sequence cut between two reads shows as U+FFFD.  len 0
 * writes nothing and returns 0. */
ssize_t rec_cast_input(struct rec_cast *c, int64_t now_usec, const void *data, size_t len,
		       char *buf, size_t cap);
/* The held-back bytes as an "o" event of U+FFFD (0 when none are held). */
ssize_t rec_cast_flush(struct rec_cast *c, int64_t now_usec, char *buf, size_t cap);

/* JSON string body of len bytes (no quotes) into out, escaped as above; returns the bytes
 * written or -ENOSPC.  *used (may be NULL) gets the input bytes consumed: all of them,
 * unless `partial` lets a cut sequence at the end stay unconsumed. */
ssize_t rec_json_escape(const uint8_t *s, size_t len, bool partial, size_t *used, char *out,
			size_t cap);

#endif
