/* Logging sink.  One write(2) per line so lines from several processes (meshd and its
 * session children) never interleave mid-line.
 *
 * Much of what is logged came from outside (an SSH user name before authentication, a
 * host name, a path), so the whole formatted message is escaped here, where no call site
 * can forget it: control characters, DEL, C1 controls and bytes that are not UTF-8 become
 * \n, \r, \t or \xNN, and a backslash becomes \\.  A message is always exactly one line
 * and cannot forge another, nor move a terminal's cursor. */
#include "common/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/now.h"
#include "common/utf8.h"

static _Atomic int current_level = LOG_LEVEL_INFO;
static _Atomic int current_style = -1;
static _Atomic int current_fd = -1;

static const char *const level_names[] = { "err", "warn", "info", "debug" };
/* syslog priorities: LOG_ERR 3, LOG_WARNING 4, LOG_INFO 6, LOG_DEBUG 7 */
static const int level_priority[] = { 3, 4, 6, 7 };

void log_set_level(enum log_level level)
{
	atomic_store(&current_level, level);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load(&current_level);
}

bool log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return true;
		}
	}
	return false;
}

void log_set_style(enum log_style style)
{
	atomic_store(&current_style, style);
}

void log_set_fd(int fd)
{
	atomic_store(&current_fd, fd);
}

static enum log_style style_now(void)
{
	int s = atomic_load(&current_style);
	if (s < 0) {
		s = getenv("JOURNAL_STREAM") ? LOG_STYLE_JOURNAL : LOG_STYLE_PLAIN;
		atomic_store(&current_style, s);
	}
	return (enum log_style)s;
}

/* The length of the UTF-8 sequence at s (at most n bytes) if it is a valid one of a
 * printable character, else 0. */
static size_t utf8_printable(const unsigned char *s, size_t n)
{
	size_t k;
	return utf8_seq(s, n, &k) == UTF8_OK && !utf8_control(s, k) ? k : 0;
}

size_t log_escape(char *out, size_t size, const char *in, size_t len)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0, i = 0;
	if (size == 0)
		return 0;
	while (i < len) {
		char esc[5];
		const char *piece = (const char *)s + i;
		size_t plen = 1, take = 1;
		if (s[i] == '\\' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t') {
			esc[0] = '\\';
			esc[1] = s[i] == '\n'	? 'n'
				 : s[i] == '\r' ? 'r'
				 : s[i] == '\t' ? 't'
						: '\\';
			piece = esc;
			plen = 2;
		} else if (s[i] >= 0x80 && (take = utf8_printable(s + i, len - i)) > 0) {
			plen = take;
		} else if (s[i] < 0x20 || s[i] >= 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", s[i]);
			piece = esc;
			plen = 4;
			take = 1;
		}
		if (o + plen > size - 1)
			break;
		memcpy(out + o, piece, plen);
		o += plen;
		i += take;
	}
	out[o] = '\0';
	return i;
}

void log_vmsg(enum log_level level, const char *subject, const char *fmt, va_list ap)
{
	if (!log_enabled(level))
		return;
	if ((unsigned)level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;

	char line[2048];
	size_t n = 0;
	int saved_errno = errno;

	if (style_now() == LOG_STYLE_JOURNAL) {
		n = (size_t)snprintf(line, sizeof(line), "<%d>", level_priority[level]);
	} else {
		uint64_t ns = now_wall_ns();
		time_t secs = (time_t)(ns / 1000000000u);
		struct tm tm;
		gmtime_r(&secs, &tm);
		n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03uZ %-5s ",
				      (unsigned)(ns / 1000000u % 1000u), level_names[level]);
	}
	char msg[sizeof(line)];
	size_t m = 0;
	if (subject && *subject)
		m = (size_t)snprintf(msg, sizeof(msg), "%s: ", subject);
	if (m < sizeof(msg)) {
		int k = vsnprintf(msg + m, sizeof(msg) - m, fmt, ap);
		if (k > 0)
			m += (size_t)k;
	}
	bool truncated = m >= sizeof(msg);
	if (truncated)
		m = sizeof(msg) - 1;
	/* Room is kept for "..." and the newline, so a cut never splits an escape. */
	size_t used = log_escape(line + n, sizeof(line) - 4 - n, msg, m);
	n += strlen(line + n);
	if (truncated || used < m) {
		memcpy(line + n, "...", 3); /* cut short: mark it so a reader knows */
		n += 3;
	}
	line[n++] = '\n';

	int fd = atomic_load(&current_fd);
	if (fd < 0)
		fd = STDERR_FILENO;
	ssize_t w;
	do
		w = write(fd, line, n);
	while (w < 0 && errno == EINTR);
	errno = saved_errno;
}

void log_msg(enum log_level level, const char *subject, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, subject, fmt, ap);
	va_end(ap);
}

bool log_ratelimit_allow(struct log_ratelimit *rl, uint64_t now_ms)
{
	if (rl->window_start_ms == 0 || now_ms - rl->window_start_ms >= rl->interval_ms) {
		rl->window_start_ms = now_ms ? now_ms : 1;
		rl->printed = 0;
	}
	if (rl->printed < rl->burst) {
		rl->printed++;
		return true;
	}
	rl->suppressed++;
	return false;
}

void log_msg_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *subject,
			 const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	uint32_t before = rl->suppressed;
	if (!log_ratelimit_allow(rl, now_mono_ms()))
		return;
	if (before > 0 && rl->printed == 1) {
		log_msg(level, subject, "%u similar messages suppressed", before);
		rl->suppressed = 0;
	}
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, subject, fmt, ap);
	va_end(ap);
}
