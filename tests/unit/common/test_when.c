/* common/when.h: durations and RFC 3339 times as typed, a table of good and bad ones, and
 * the format read back. */
#include <errno.h>
#include <stdint.h>

#include "check.h"
#include "common/when.h"

enum { NOW = 1800000000000 }; /* 2027-01-15T08:00:00Z */

static const struct {
	const char *s;
	int64_t want; /* -1: refused with -EINVAL */
} cases[] = {
	{ "90d", NOW - 90LL * 86400 * 1000 },
	{ "12h", NOW - 12LL * 3600 * 1000 },
	{ "30m", NOW - 30LL * 60 * 1000 },
	{ "45s", NOW - 45000 },
	{ "0d", NOW },
	{ "36500d", 0 }, /* before the epoch: the epoch */
	{ "2026-03-01T00:00:00Z", 1772323200000 },
	{ "2026-03-01t00:00:00z", 1772323200000 },
	{ "2026-03-01 00:00:00Z", 1772323200000 },
	{ "2026-03-01T01:00:00+01:00", 1772323200000 },
	{ "2026-02-28T19:30:00-04:30", 1772323200000 },
	{ "2026-03-01T00:00:00.25Z", 1772323200250 },
	{ "2026-03-01T00:00:00.123456789Z", 1772323200123 },
	{ "2024-02-29T00:00:00Z", 1709164800000 }, /* a leap year's */
	{ "", -1 },
	{ "d", -1 },
	{ "90", -1 },	/* a unit is needed */
	{ "90dd", -1 }, /* one unit */
	{ "-5d", -1 },
	{ "1w", -1 },
	{ "36501d", -1 },
	{ "99999999999999999999d", -1 },
	{ "2026-13-01T00:00:00Z", -1 },
	{ "2026-02-29T00:00:00Z", -1 },
	{ "2026-04-31T00:00:00Z", -1 },
	{ "2026-03-01T24:00:00Z", -1 },
	{ "2026-03-01T00:60:00Z", -1 },
	{ "2026-03-01T00:00:00", -1 },	    /* no offset */
	{ "2026-03-01T00:00:00+0100", -1 }, /* the offset's colon */
	{ "2026-03-01T00:00:00.Z", -1 },    /* a fraction's digit */
	{ "2026-03-01T00:00:00Z ", -1 },    /* trailing */
	{ "2026-3-01T00:00:00Z", -1 },
	{ "1969-12-31T23:59:59Z", -1 },
	{ "2026-03-01", -1 },
};

int main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t ms = -2;
		int rc = when_parse(cases[i].s, NOW, &ms);
		if (cases[i].want < 0) {
			CHECK_INT(rc, -EINVAL);
		} else {
			CHECK_INT(rc, 0);
			CHECK_INT(ms, cases[i].want);
		}
		if ((cases[i].want < 0) != (rc != 0))
			fprintf(stderr, "  case %zu: '%s'\n", i + 1, cases[i].s);
	}
	char text[WHEN_TEXT];
	when_format(1772323200250, text);
	CHECK_STR(text, "2026-03-01T00:00:00Z");
	int64_t ms;
	CHECK_INT(when_duration_ms("2h", &ms), 0);
	CHECK_INT(ms, 7200000);
	CHECK_INT(when_duration_ms("2026-03-01T00:00:00Z", &ms), -EINVAL);
	return check_finish();
}
