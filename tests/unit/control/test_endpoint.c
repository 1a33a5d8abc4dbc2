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
	enum ctl_endpoint_type type; /* valid ones; untyped text is local */
} table[] = {
	/* 1 */ { "203.0.113.7:41641", NULL, 4, 41641, CTL_ENDPOINT_LOCAL },
	/* 2 */ { "[2001:db8::1]:51820", NULL, 6, 51820, CTL_ENDPOINT_LOCAL },
	/* 3 */ { "1.2.3.4:65535", NULL, 4, 65535, CTL_ENDPOINT_LOCAL },
	/* 4 */ { "1.2.3.4:80x", "endpoint '1.2.3.4:80x': port must be 1 to 65535", 0, 0, 0 },
	/* 5 */ { "10.0.0.0/8:1", "endpoint '10.0.0.0/8:1': not an IPv4 address", 0, 0, 0 },
	/* 6 */
	{ "::1:80", "endpoint '::1:80': an IPv6 address goes in brackets: [addr]:port", 0, 0, 0 },
	/* 7 */
	{ "[1.2.3.4]:80", "endpoint '[1.2.3.4]:80': not an IPv6 address in brackets", 0, 0, 0 },
	/* 8 */ { "1.2.3.4:0", "endpoint '1.2.3.4:0': port must be 1 to 65535", 0, 0, 0 },
	/* 9 */ { "1.2.3.4:65536", "endpoint '1.2.3.4:65536': port must be 1 to 65535", 0, 0, 0 },
	/* 10 */ { "1.2.3.4:+80", "endpoint '1.2.3.4:+80': port must be 1 to 65535", 0, 0, 0 },
	/* 11 */ { "1.2.3.4", "endpoint '1.2.3.4': expected addr:port", 0, 0, 0 },
	/* 12 */ { "[::1:80", "endpoint '[::1:80': expected [IPv6]:port", 0, 0, 0 },
	/* 13 */
	{ "1.2.3.4:000080", "endpoint '1.2.3.4:000080': port must be 1 to 65535", 0, 0, 0 },
	/* 14 */
	{ "[fe80::1%eth0]:80",
	  "endpoint '[fe80::1%eth0]:80': no scope id in a netmap "
	  "endpoint (it names an interface of one host)",
	  0, 0, 0 },
	/* 15 */ { "", "endpoint '': expected addr:port", 0, 0, 0 },
	/* 16 */ { "local 10.1.0.2:41641", NULL, 4, 41641, CTL_ENDPOINT_LOCAL },
	/* 17 */ { "reflexive 198.18.0.30:41641", NULL, 4, 41641, CTL_ENDPOINT_REFLEXIVE },
	/* 18 */ { "relay [2001:db8::7]:49152", NULL, 6, 49152, CTL_ENDPOINT_RELAY },
	/* 19 */
	{ "stun 1.2.3.4:80",
	  "endpoint 'stun 1.2.3.4:80': unknown type 'stun' (local, "
	  "reflexive or relay)",
	  0, 0, 0 },
	/* 20 */
	{ "relay  1.2.3.4:80", "endpoint 'relay  1.2.3.4:80': not an IPv4 address", 0, 0, 0 },
	/* 21 */
	{ " 1.2.3.4:80",
	  "endpoint ' 1.2.3.4:80': unknown type '' (local, reflexive or "
	  "relay)",
	  0, 0, 0 },
	/* 22 */ { "relay", "endpoint 'relay': expected addr:port", 0, 0, 0 },
	/* 23 */
	{ "Relay 1.2.3.4:80",
	  "endpoint 'Relay 1.2.3.4:80': unknown type 'Relay' (local, "
	  "reflexive or relay)",
	  0, 0, 0 },
	/* 24 */
	{ "relay 1.2.3.4:80 ", "endpoint 'relay 1.2.3.4:80 ': port must be 1 to 65535", 0, 0, 0 },
	/* 25: common/addr.h takes a numeric scope id (wg set does); the netmap does not */
	{ "reflexive [fe80::1%2]:80",
	  "endpoint 'reflexive [fe80::1%2]:80': no scope id in a "
	  "netmap endpoint (it names an interface of one host)",
	  0, 0, 0 },
	/* 26 */ { "[::1]:80", NULL, 6, 80, CTL_ENDPOINT_LOCAL },
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
			CHECK_INT(e.type, table[i].type);
			char again[CTL_ENDPOINT_MAX];
			struct ctl_endpoint e2;
			ctl_endpoint_format(&e, again);
			CHECK(ctl_endpoint_parse(again, &e2, NULL, 0));
			CHECK(memcmp(&e, &e2, sizeof(e)) == 0);
		} else {
			CHECK(!ok);
			if (strcmp(err, table[i].err) != 0)
				fprintf(stderr, "entry %zu: got \"%s\"\n", i + 1, err);
			CHECK(strcmp(err, table[i].err) == 0);
		}
	}
	return check_finish();
}
