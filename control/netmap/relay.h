/* control/netmap/relay.h: TURN relays as control hands them to a node.
 *
 * A relay is named by a TURN URI (RFC 7065): turn:HOST[:PORT][?transport=udp|tcp] or
 * turns:HOST[:PORT][?transport=tcp] (TLS over TCP; DTLS is not spoken).  One parser for
 * meshcontrol's --relay and for the node reading its netmap, so control never hands out a
 * relay the node would refuse.  Each node's own netmap carries, per relay, TURN REST
 * credentials minted for it alone (nat/rest.h): a username "<expiry>:<node id>" and its
 * password.  They are secrets: never logged, and wiped when the netmap is freed. */
#ifndef MESH_CONTROL_NETMAP_RELAY_H
#define MESH_CONTROL_NETMAP_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	CTL_RELAYS_MAX = 8,
	CTL_RELAY_HOST_MAX = 254, /* a DNS name of 253 characters, or an address (no brackets) */
	CTL_RELAY_URL_MAX = 300,  /* "turns:[" host "]:65535?transport=tcp" and a NUL fit */
	CTL_RELAY_USER_MAX = 128, /* with the NUL: what nat/turn.c keeps */
	CTL_RELAY_PASS_MAX = 128,
	CTL_RELAY_PORT = 3478,	   /* turn: without a port (RFC 7065 3.2) */
	CTL_RELAY_TLS_PORT = 5349, /* turns: without a port */
};

enum ctl_relay_transport {
	CTL_RELAY_UDP, /* turn:, or ?transport=udp */
	CTL_RELAY_TCP, /* turn:...?transport=tcp */
	CTL_RELAY_TLS, /* turns: */
};

struct ctl_relay_url {
	enum ctl_relay_transport transport;
	char host[CTL_RELAY_HOST_MAX]; /* IPv4, IPv6 (without brackets) or a DNS name */
	uint16_t port;
};

/* One relay in a node's netmap: where, and this node's credentials there. */
struct ctl_relay {
	struct ctl_relay_url url;
	char username[CTL_RELAY_USER_MAX];
	char password[CTL_RELAY_PASS_MAX];
	int64_t expires; /* unix seconds: the relay refuses the username after it */
};

/* Parse one TURN URI; false with a sentence quoting s (and its bad part) in err (may be
 * NULL).  Refused: another scheme, "//", user info, a host that is not an IPv4 address,
 * a bracketed IPv6 address or a DNS name, a port outside 1-65535, a query other than
 * transport=udp|tcp, turns over udp, more than CTL_RELAY_URL_MAX - 1 characters. */
bool ctl_relay_url_parse(const char *s, struct ctl_relay_url *out, char *err, size_t errlen);

/* The canonical text: scheme, host (IPv6 in brackets), port and transport all spelled
 * out, "turn:198.18.0.10:3478?transport=udp".  It parses back to the same relay. */
void ctl_relay_url_format(const struct ctl_relay_url *u, char out[static CTL_RELAY_URL_MAX]);

/* A comma-separated list of 1 to CTL_RELAYS_MAX TURN URIs, none twice (the --relay
 * option); false with a sentence in err. */
bool ctl_relay_list_parse(const char *s, struct ctl_relay_url out[static CTL_RELAYS_MAX], size_t *n,
			  char *err, size_t errlen);

#endif
