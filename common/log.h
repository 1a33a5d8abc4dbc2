/* Logging: levels, a subject on every line, printf-checked formats, a rate limiter for
 * hot paths, and two output styles (plain stderr for people, a syslog priority prefix
 * "<N>" that journald understands when running under systemd).
 *
 * Never pass a key to these functions; log a short fingerprint (key_fingerprint()). */
#ifndef MESH_COMMON_LOG_H
#define MESH_COMMON_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level {
	LOG_LEVEL_ERR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

enum log_style {
	LOG_STYLE_PLAIN,   /* "2026-11-22T10:00:00.123Z warn wg0: message" */
	LOG_STYLE_JOURNAL, /* "<4>wg0: message" (journald adds the time) */
};

/* Lines above this level are discarded.  Default: LOG_LEVEL_INFO. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "err", "warn", "info" or "debug"; false for anything else. */
bool log_level_parse(const char *name, enum log_level *out);

/* Default: LOG_STYLE_JOURNAL when $JOURNAL_STREAM is set (systemd), else plain. */
void log_set_style(enum log_style style);

/* Send lines to fd instead of stderr (tests).  -1 restores stderr. */
void log_set_fd(int fd);

static inline bool log_enabled(enum log_level level)
{
	return level <= log_get_level();
}

/* Copies in[0..len) to out (size bytes, always NUL-terminated) with control characters,
 * DEL, C1 controls and bytes that are not UTF-8 escaped (\n \r \t \xNN; '\' as "\\");
 * returns how many bytes of in fit.  Every log line goes through it. */
size_t log_escape(char *out, size_t size, const char *in, size_t len);

/* Writes one line "<subject>: <message>" atomically (a single write(2)), escaped with
 * log_escape(). */
void log_msg(enum log_level level, const char *subject, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmsg(enum log_level level, const char *subject, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#define log_err(subject, ...) log_msg(LOG_LEVEL_ERR, subject, __VA_ARGS__)
#define log_warn(subject, ...) log_msg(LOG_LEVEL_WARN, subject, __VA_ARGS__)
#define log_info(subject, ...) log_msg(LOG_LEVEL_INFO, subject, __VA_ARGS__)
#define log_debug(subject, ...)                                         \
	do {                                                            \
		if (log_enabled(LOG_LEVEL_DEBUG))                       \
			log_msg(LOG_LEVEL_DEBUG, subject, __VA_ARGS__); \
	} while (0)

/* Token bucket for hot paths: at most `burst` lines per `interval_ms`; the first line
 * after a suppressed stretch says how many were dropped.  Zero-initialise, then set
 * the two limits (or use LOG_RATELIMIT_INIT). */
struct log_ratelimit {
	uint32_t interval_ms;
	uint32_t burst;
	uint64_t window_start_ms;
	uint32_t printed;
	uint32_t suppressed;
};
#define LOG_RATELIMIT_INIT(interval, n)                 \
	{                                               \
		.interval_ms = (interval), .burst = (n) \
	}

/* True when a line may be printed now; counts the line as printed or suppressed. */
bool log_ratelimit_allow(struct log_ratelimit *rl, uint64_t now_ms);

void log_msg_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *subject,
			 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_debug_rl(rl, subject, ...)                                                  \
	do {                                                                            \
		if (log_enabled(LOG_LEVEL_DEBUG))                                       \
			log_msg_ratelimited(rl, LOG_LEVEL_DEBUG, subject, __VA_ARGS__); \
	} while (0)
#define log_warn_rl(rl, subject, ...) log_msg_ratelimited(rl, LOG_LEVEL_WARN, subject, __VA_ARGS__)

#endif
