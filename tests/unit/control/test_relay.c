/* TURN relay URIs (control/netmap/relay.c, RFC 7065): a numbered table of URIs accepted
 * (with what they mean and their canonical text) and refused (with the exact sentence),
 * the --relay list (empty entries, more than 8, the same relay twice), and that the
 * canonical text parses back to the same relay. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "control/netmap/relay.h"

int main(void)
{
	static const struct {
		const char *in;
		enum ctl_relay_transport t;
		const char *host;
		unsigned port;
		const char *canonical;
	} good[] = {
		/* 1 */ { "turn:198.18.0.10:3478", CTL_RELAY_UDP, "198.18.0.10", 3478,
			  "turn:198.18.0.10:3478?transport=udp" },
		/* 2 default port (RFC 7065 3.2) */
		{ "turn:relay.example.com", CTL_RELAY_UDP, "relay.example.com", 3478,
		  "turn:relay.example.com:3478?transport=udp" },
		/* 3 */
		{ "turn:relay.example.com:3478?transport=tcp", CTL_RELAY_TCP, "relay.example.com",
		  3478, "turn:relay.example.com:3478?transport=tcp" },
		/* 4 */
		{ "turn:r1:80?transport=udp", CTL_RELAY_UDP, "r1", 80, "turn:r1:80?transport=udp" },
		/* 5 TLS, default port 5349 */
		{ "turns:relay.example.com", CTL_RELAY_TLS, "relay.example.com", 5349,
		  "turns:relay.example.com:5349?transport=tcp" },
		/* 6 */
		{ "turns:198.18.0.10:443", CTL_RELAY_TLS, "198.18.0.10", 443,
		  "turns:198.18.0.10:443?transport=tcp" },
		/* 7 */
		{ "turns:198.18.0.10:443?transport=tcp", CTL_RELAY_TLS, "198.18.0.10", 443,
		  "turns:198.18.0.10:443?transport=tcp" },
		/* 8 IPv6 */
		{ "turn:[2001:db8::1]:3478", CTL_RELAY_UDP, "2001:db8::1", 3478,
		  "turn:[2001:db8::1]:3478?transport=udp" },
		/* 9 */
		{ "turns:[::1]", CTL_RELAY_TLS, "::1", 5349, "turns:[::1]:5349?transport=tcp" },
		/* 10 */
		{ "turn:a-b.c9:65535", CTL_RELAY_UDP, "a-b.c9", 65535,
		  "turn:a-b.c9:65535?transport=udp" },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct ctl_relay_url u, back;
		char err[512] = "", text[CTL_RELAY_URL_MAX];
		if (!ctl_relay_url_parse(good[i].in, &u, err, sizeof(err))) {
			fprintf(stderr, "good %zu: refused: %s\n", i + 1, err);
			CHECK(false);
			continue;
		}
		CHECK_INT(u.transport, good[i].t);
		CHECK_STR(u.host, good[i].host);
		CHECK_INT(u.port, good[i].port);
		ctl_relay_url_format(&u, text);
		CHECK_STR(text, good[i].canonical);
		CHECK(ctl_relay_url_parse(text, &back, err, sizeof(err)));
		CHECK(memcmp(&back, &u, sizeof(u)) == 0);
	}

	char longhost[400];
	memset(longhost, 0, sizeof(longhost));
	memcpy(longhost, "turn:", 5);
	memset(longhost + 5, 'a', 300);
	const struct {
		const char *in, *err;
	} bad[] = {
		/* 1 */ { "stun:198.18.0.10:3478",
			  "'stun:198.18.0.10:3478': expected a TURN URI, turn:HOST:PORT or "
			  "turns:HOST:PORT (RFC 7065)" },
		/* 2 schemes are lower case here */
		{ "TURN:h:1", "'TURN:h:1': expected a TURN URI, turn:HOST:PORT or turns:HOST:PORT "
			      "(RFC 7065)" },
		/* 3 */
		{ "turn://h:3478",
		  "'turn://h:3478': a TURN URI has no '//' after the scheme (RFC 7065: "
		  "turn:HOST:PORT)" },
		/* 4 */ { "turn:", "'turn:': no host" },
		/* 5 */ { "turn::3478", "'turn::3478': no host" },
		/* 6 */ { "turn:h:0", "'turn:h:0': port '0' is not 1-65535" },
		/* 7 */ { "turn:h:65536", "'turn:h:65536': port '65536' is not 1-65535" },
		/* 8 */ { "turn:h:", "'turn:h:': port '' is not 1-65535" },
		/* 9 */ { "turn:h:+80", "'turn:h:+80': port '+80' is not 1-65535" },
		/* 10 */ { "turn:h:080", "'turn:h:080': port '080' is not 1-65535" },
		/* 11 */
		{ "turn:h:3478?transport=sctp",
		  "'turn:h:3478?transport=sctp': transport 'sctp' is not udp or tcp" },
		/* 12 */
		{ "turn:h:3478?transport=TCP",
		  "'turn:h:3478?transport=TCP': transport 'TCP' is not udp or tcp" },
		/* 13 */
		{ "turns:h:443?transport=udp",
		  "'turns:h:443?transport=udp': turns over udp is DTLS, which Mesh does "
		  "not speak (turns:HOST:PORT is TLS over TCP)" },
		/* 14 */
		{ "turn:h:3478?foo=bar",
		  "'turn:h:3478?foo=bar': unknown query 'foo=bar' (only ?transport=udp or "
		  "?transport=tcp)" },
		/* 15 */
		{ "turn:h:3478?transport=udp&x=1",
		  "'turn:h:3478?transport=udp&x=1': transport 'udp&x=1' is not udp or "
		  "tcp" },
		/* 16 */
		{ "turn:user@h:3478",
		  "'turn:user@h:3478': 'user@h' is not a host name or IP address" },
		/* 17 */
		{ "turn:exa_mple.com:3478",
		  "'turn:exa_mple.com:3478': 'exa_mple.com' is not a host name or IP "
		  "address" },
		/* 18 */
		{ "turn:300.1.1.1:3478",
		  "'turn:300.1.1.1:3478': '300.1.1.1' is not a host name or IP address" },
		/* 19 */ { "turn:-h:1", "'turn:-h:1': '-h' is not a host name or IP address" },
		/* 20 */
		{ "turn:a..b:1", "'turn:a..b:1': 'a..b' is not a host name or IP address" },
		/* 21 */ { "turn:h.:1", "'turn:h.:1': 'h.' is not a host name or IP address" },
		/* 22 */
		{ "turn:2001:db8::1:3478",
		  "'turn:2001:db8::1:3478': an IPv6 address goes in brackets: "
		  "turn:[ADDRESS]:PORT" },
		/* 23 */ { "turn:[2001:db8::1:3478", "'turn:[2001:db8::1:3478': '[' without ']'" },
		/* 24 */
		{ "turn:[1.2.3.4]:3478",
		  "'turn:[1.2.3.4]:3478': '1.2.3.4' is not an IPv6 address" },
		/* 25 */
		{ "turn:[::1]3478", "'turn:[::1]3478': expected ':PORT' after ']', not "
				    "'3478'" },
		/* 26 */ { "turn:h :1", "'turn:h :1': 'h ' is not a host name or IP address" },
		/* 27 */
		{ longhost, "'turn:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...': longer than 299 "
			    "characters" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ctl_relay_url u;
		char err[512] = "";
		if (ctl_relay_url_parse(bad[i].in, &u, err, sizeof(err))) {
			fprintf(stderr, "bad %zu: accepted '%s'\n", i + 1, bad[i].in);
			CHECK(false);
			continue;
		}
		if (strcmp(err, bad[i].err) != 0)
			fprintf(stderr, "bad %zu:\n", i + 1);
		CHECK_STR(err, bad[i].err);
	}

	/* the --relay list */
	struct ctl_relay_url list[CTL_RELAYS_MAX];
	size_t n = 99;
	char err[512] = "";
	CHECK(ctl_relay_list_parse("turn:198.18.0.10:3478,turn:198.18.0.10:3478?transport=tcp,"
				   "turns:198.18.0.10:443",
				   list, &n, err, sizeof(err)));
	CHECK_INT(n, 3);
	CHECK_INT(list[1].transport, CTL_RELAY_TCP);
	CHECK_INT(list[2].port, 443);
	static const struct {
		const char *in, *err;
	} badlist[] = {
		/* 1 */ { "", "relay 1 of '' is empty" },
		/* 2 */ { "turn:a:1,,turn:b:1", "relay 2 of 'turn:a:1,,turn:b:1' is empty" },
		/* 3 */ { "turn:a:1,", "relay 2 of 'turn:a:1,' is empty" },
		/* 4 */ { "turn:a:1,turn:b:x", "'turn:b:x': port 'x' is not 1-65535" },
		/* 5 the same relay, spelled otherwise */
		{ "turn:a:3478,turn:a?transport=udp",
		  "'turn:a?transport=udp' names relay 1 again" },
		/* 6 */
		{ "turn:a:1,turn:a:2,turn:a:3,turn:a:4,turn:a:5,turn:a:6,turn:a:7,turn:a:8,"
		  "turn:a:9",
		  "at most 8 relays" },
	};
	for (size_t i = 0; i < sizeof(badlist) / sizeof(badlist[0]); i++) {
		err[0] = '\0';
		CHECK(!ctl_relay_list_parse(badlist[i].in, list, &n, err, sizeof(err)));
		CHECK_STR(err, badlist[i].err);
	}
	/* 8 is the most, and a different transport or port is another relay */
	CHECK(ctl_relay_list_parse("turn:a:1,turn:a:2,turn:a:3,turn:a:4,turn:a:5,turn:a:6,"
				   "turn:a:7,turn:a:7?transport=tcp",
				   list, &n, err, sizeof(err)));
	CHECK_INT(n, 8);
	return check_finish();
}
