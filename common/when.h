/* common/when.h: times people type on a command line, and times shown to them.
 *
 *     int64_t ms;
 *     if (when_parse("90d", now_ms, &ms) != 0)          // 90 days before now_ms
 *             refuse: "expected a duration (30s, 10m, 2h, 90d) or an RFC 3339 time"
 *     when_parse("2026-03-01T00:00:00Z", now_ms, &ms);  // or "...T01:00:00.5+01:00"
 *     char text[WHEN_TEXT];
 *     when_format(ms, text);                            // "2026-03-01T00:00:00Z"
 *
 * All in unix milliseconds, UTC; no I/O, no locale. */
#ifndef MESH_COMMON_WHEN_H
#define MESH_COMMON_WHEN_H

#include <stdint.h>

enum { WHEN_TEXT = 32 };

/* "N" and a unit s, m, h or d (N whole, 0 to 36500 days' worth) as milliseconds: 0, or
 * -EINVAL for anything else. */
int when_duration_ms(const char *s, int64_t *ms);

/* A duration before now_ms, or an RFC 3339 date-time ("YYYY-MM-DDTHH:MM:SS", optional
 * fraction, then "Z" or "+HH:MM"/"-HH:MM"; 't', 'z' and ' ' for 'T' as the RFC allows),
 * as unix ms: 0, or -EINVAL (a field out of range: month 13, February 30, hour 24). */
int when_parse(const char *s, int64_t now_ms, int64_t *ms);

/* ms as "YYYY-MM-DDTHH:MM:SSZ" (seconds; UTC). */
void when_format(int64_t ms, char out[static WHEN_TEXT]);

#endif
