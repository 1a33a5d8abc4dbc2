/* Times typed on a command line (durations, RFC 3339) and shown (when.h). */
#include "common/when.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { DAY_S = 86400, MAX_DAYS = 36500 };

int when_duration_ms(const char *s, int64_t *ms)
{
	int64_t n = 0;
	size_t i = 0;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		n = n * 10 + (s[i] - '0');
		if (n > (int64_t)MAX_DAYS * DAY_S)
			return -EINVAL;
	}
	if (i == 0 || s[i] == '\0' || s[i + 1] != '\0')
		return -EINVAL;
	int64_t unit = s[i] == 's'   ? 1
		       : s[i] == 'm' ? 60
		       : s[i] == 'h' ? 3600
		       : s[i] == 'd' ? DAY_S
				     : 0;
	if (!unit || n * unit > (int64_t)MAX_DAYS * DAY_S)
		return -EINVAL;
	*ms = n * unit * 1000;
	return 0;
}

/* n digits at s as a number in [min, max]: true. */
static bool digits(const char *s, int n, int min, int max, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return v >= min && v <= max;
}

static int month_days(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return days[month - 1] + (month == 2 && leap);
}

static int rfc3339(const char *s, int64_t *ms)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0;
	if (strlen(s) < 20 || !digits(s, 4, 1970, 9999, &y) || s[4] != '-' ||
	    !digits(s + 5, 2, 1, 12, &mo) || s[7] != '-' || !digits(s + 8, 2, 1, 31, &d) ||
	    !strchr("Tt ", s[10]) || !digits(s + 11, 2, 0, 23, &h) || s[13] != ':' ||
	    !digits(s + 14, 2, 0, 59, &mi) || s[16] != ':' || !digits(s + 17, 2, 0, 60, &sec) ||
	    d > month_days(y, mo))
		return -EINVAL;
	const char *p = s + 19;
	int64_t frac = 0, scale = 1000;
	if (*p == '.') {
		if (!(p[1] >= '0' && p[1] <= '9'))
			return -EINVAL;
		for (p++; *p >= '0' && *p <= '9'; p++) {
			scale /= 10; /* digits past the millisecond are dropped */
			frac += (*p - '0') * scale;
		}
	}
	int sign = 0;
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		sign = 0;
	else if ((*p == '+' || *p == '-') && strlen(p) == 6 && digits(p + 1, 2, 0, 23, &oh) &&
		 p[3] == ':' && digits(p + 4, 2, 0, 59, &om))
		sign = *p == '+' ? 1 : -1;
	else
		return -EINVAL;
	struct tm tm = { .tm_year = y - 1900,
			 .tm_mon = mo - 1,
			 .tm_mday = d,
			 .tm_hour = h,
			 .tm_min = mi,
			 .tm_sec = sec };
	int64_t t = (int64_t)timegm(&tm) - sign * (oh * 3600 + om * 60);
	*ms = t * 1000 + frac;
	return t >= 0 ? 0 : -EINVAL;
}

int when_parse(const char *s, int64_t now_ms, int64_t *ms)
{
	int64_t ago;
	if (when_duration_ms(s, &ago) == 0) {
		*ms = now_ms > ago ? now_ms - ago : 0;
		return 0;
	}
	return rfc3339(s, ms);
}

void when_format(int64_t ms, char out[static WHEN_TEXT])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(out, WHEN_TEXT, "%Y-%m-%dT%H:%M:%SZ", &tm))
		strcpy(out, "?");
}
