/* The endpoint parser shared by control (a node's report) and meshd (WireGuard's endpoint):
 * a numbered table of good and bad texts with the exact error each bad one gets.  Control
 * used to read an endpoint with atoi and the prefix parser, so "10.0.0.0/8:1", "1.2.3.4:80x"
 * and "::1:80" passed control and reached every peer; meshd read them differently. */
#include <string.h>

#include "check.h"
#include "control/netmap/endpoint.h"

static const struct {
	const char *text;
	const char *err; /* NULL: valid */
	unsigned family, port;
} table[] = {
	/* 1 */ { "203.0.113.7:41641", NULL, 4, 41641 },
	/* 2 */ { "[2001:db8::1]:51820", NULL, 6, 51820 },
	/* 3 */ { "1.2.3.4:65535", NULL, 4, 65535 },
	/* 4 */ { "1.2.3.4:80x", "endpoint '1.2.3.4:80x': port must be 1 to 65535", 0, 0 },
	/* 5 */ { "10.0.0.0/8:1", "endpoint '10.0.0.0/8:1': not an IPv4 address", 0, 0 },
	/* 6 */ { "::1:80", "endpoint '::1:80': an IPv6 address goes in brackets: [addr]:port", 0, 0 },
	/* 7 */ { "[1.2.3.4]:80", "endpoint '[1.2.3.4]:80': not an IPv6 address in brackets", 0, 0 },
	/* 8 */ { "1.2.3.4:0", "endpoint '1.2.3.4:0': port must be 1 to 65535", 0, 0 },
	/* 9 */ { "1.2.3.4:65536", "endpoint '1.2.3.4:65536': port must be 1 to 65535", 0, 0 },
	/* 10 */ { "1.2.3.4:+80", "endpoint '1.2.3.4:+80': port must be 1 to 65535", 0, 0 },
	/* 11 */ { "1.2.3.4", "endpoint '1.2.3.4': expected addr:port", 0, 0 },
	/* 12 */ { "[::1:80", "endpoint '[::1:80': expected [IPv6]:port", 0, 0 },
	/* 13 */ { "1.2.3.4:000080", "endpoint '1.2.3.4:000080': port must be 1 to 65535", 0, 0 },
	/* 14 */ { "[fe80::1%eth0]:80", "endpoint '[fe80::1%eth0]:80': not an IPv6 address in "
				      "brackets", 0, 0 },
	/* 15 */ { "", "endpoint '': expected addr:port", 0, 0 },
};

int main(void)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		struct ctl_endpoint e;
		char err[200] = "";
		bool ok = ctl_endpoint_parse(table[i].text, &e, err, sizeof(err));
		if (!table[i].err) {
			CHECK(ok);
			CHECK_INT(e.family, table[i].family);
			CHECK_INT(e.port, table[i].port);
		} else {
			CHECK(!ok);
			if (strcmp(err, table[i].err) != 0)
				fprintf(stderr, "entry %zu: got \"%s\"\n", i + 1, err);
			CHECK(strcmp(err, table[i].err) == 0);
		}
	}
	return check_finish();
}
