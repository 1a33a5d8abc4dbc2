/* The dns/ tests' fixture (fixture.c). */
#ifndef MESH_TESTS_DNS_FIXTURE_H
#define MESH_TESTS_DNS_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include <ldns/ldns.h>

#include "dns/dns.h"

/* The resolver's random ids are next_id + 1, + 2, ... (0x101 first); while repeat_id is
 * above 0 a draw returns the last id again. */
extern uint16_t next_id;
extern int repeat_id;
void fake_random(void *ctx, uint8_t *buf, size_t len);

/* An address or endpoint from text (a bad one aborts the test). */
struct addr_ip ip(const char *s);
struct addr_endpoint ep(const char *s);

/* The tailnet's view: hosts, records, routes, search domains, prefixes, TTL 300. */
struct dns_view_config base_config(void);
/* A resolver over base_config(): at most max forwarded queries, per_client each. */
struct dns_resolver *resolver(unsigned max, unsigned per_client);
/* A query's wire bytes (malloc'd): name, type, class, id; EDNS with udp size edns (0: no
 * OPT) and version. */
uint8_t *query(const char *name, ldns_rr_type type, ldns_rr_class cls, uint16_t id, unsigned edns,
	       uint8_t version, size_t *len);

#endif
