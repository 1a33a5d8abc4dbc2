/* control-internal: the netmap's JSON forms, shared by the server (which encodes) and the
 * client (which decodes).  jansson types appear here and never outside control/. */
#ifndef MESH_CONTROL_NETMAP_JSON_H
#define MESH_CONTROL_NETMAP_JSON_H

#include <jansson.h>

#include "control/netmap/netmap.h"

/* json_loadb(text, len, flags, error) made faster, for the netmap's texts (json_load.c): the
 * same value, or NULL where jansson refuses too, with error->text (a sentence ending "at byte
 * N"; line and column -1).  flags: 0 or JSON_REJECT_DUPLICATES. */
json_t *ctl__json_loadb(const char *text, size_t len, size_t flags, json_error_t *error);

/* Writes the message into err (when given) and returns -EINVAL: the decoders' one way out. */
int ctl__fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Encoders return a new reference (NULL on out-of-memory). */
json_t *ctl__prefix_json(const struct addr_prefix *p);
json_t *ctl__node_json(const struct ctl_node *n);
/* The one encoder of a node's filter and SSH rules (rules.c). */
json_t *ctl__filter_json(const struct pol_filter_rule *const *rules, size_t n);
json_t *ctl__ssh_json(const struct pol_ssh_rule *const *rules, size_t n);

/* Free the members of one node / rule arrays (not the struct itself). */
void ctl__node_clear(struct ctl_node *n);
void ctl__filter_free(struct pol_filter_rule **rules, size_t n);
void ctl__ssh_free(struct pol_ssh_rule **rules, size_t n);
/* One rule as a single allocation (freed with free()); NULL when memory is short. */
struct pol_filter_rule *ctl__filter_rule_pack(const struct pol_filter_rule *r);
struct pol_ssh_rule *ctl__ssh_rule_pack(const struct pol_ssh_rule *r);
/* Copies src's filter and SSH rules into dst (whose lists are empty); on -ENOMEM dst holds
 * what was copied, for ctl_netmap_free. */
int ctl__rules_dup(const struct ctl_netmap *src, struct ctl_netmap *dst);

/* Decoders: 0 or -EINVAL with a message naming the field in err. */
int ctl__node_from_json(json_t *j, struct ctl_node *n, char *err, size_t errlen);
int ctl__prefix_from_json(json_t *j, struct addr_prefix *p, const char *field, char *err,
			  size_t errlen);

/* Rule lists (absent or null = none). */
int ctl__filter_from_json(json_t *a, struct pol_filter_rule ***out, size_t *n, char *err,
			  size_t errlen);
int ctl__ssh_from_json(json_t *a, struct pol_ssh_rule ***out, size_t *n, char *err, size_t errlen);
/* A delta's filter as it came, its rules' "srcs": i taken from base[i] (checked already by
 * ctl__filter_refs_resolve: the same rules as decoding the resolved list, without parsing
 * the base's addresses again). */
int ctl__filter_from_json_base(json_t *a, const struct pol_filter_rule *const *base, size_t n_base,
			       struct pol_filter_rule ***out, size_t *n, char *err, size_t errlen);

/* A delta's filter whose rules' "srcs" may be the index of a rule of the filter it is based
 * on (filter_refs.c).  Control writes filter with each rule's sources that base (the
 * filter text the node was sent) has already as that rule's index; text of another shape is
 * written as it is.  The node puts the base's lists back into *out (a new reference; the
 * filter itself when it has no reference) before decoding; -ESTALE for a reference to a rule
 * base does not have (not the base control meant: the node asks for a full map). */
struct sbuf;
void ctl__filter_refs_write(struct sbuf *b, const char *base, const char *filter);
int ctl__filter_refs_resolve(json_t *filter, json_t *base, json_t **out, char *err, size_t errlen);

/* Decode a full netmap object. */
int ctl__netmap_from_json(json_t *j, struct ctl_netmap **out, char *err, size_t errlen);

/* Fold one map message into *nm (a full netmap object, NULL before the first; replaced
 * or changed in place).  A refused message leaves *nm as it was; -ESTALE when a delta is
 * not based on *nm's version.  *keepalive tells a keep-alive apart. */
int ctl__netmap_fold(json_t **nm, json_t *msg, bool *keepalive, char *err, size_t errlen);

/* The same fold kept in both forms: *json (the full netmap object) and *nm (its decoded
 * struct), both NULL before the first message.  Only the parts the message carries are
 * decoded.  A refused message changes neither. (delta.c) */
int ctl__netmap_fold_both(json_t **json, struct ctl_netmap **nm, json_t *msg, bool *keepalive,
			  char *err, size_t errlen);

/* The "relays" list (relay.c): absent or null = none; at most CTL_RELAYS_MAX.  A refused
 * list leaves out wiped. */
json_t *ctl__relays_json(const struct ctl_relay *r, size_t n);
int ctl__relays_from_json(json_t *a, struct ctl_relay out[static CTL_RELAYS_MAX], size_t *n,
			  char *err, size_t errlen);
void ctl__relays_wipe(struct ctl_relay *r, size_t n);

/* The "dns" member (dns.c): absent or null = none.  domain: the tailnet's (routes under it
 * are refused), NULL to skip that check. */
int ctl__dns_from_json(json_t *j, const char *domain, struct ctl_dns **out, char *err,
		       size_t errlen);
json_t *ctl__dns_json(const struct ctl_dns *d);

/* A node's session list (sessions.c): one entry's object (NULL on out-of-memory or text
 * that is not UTF-8), and the request's object parsed as ctl_sessions_parse does. */
struct ctl_session;
json_t *ctl__session_json(const struct ctl_session *s);
int ctl__sessions_from_json(json_t *j, struct ctl_session **out, size_t *n, char *err,
			    size_t errlen);

/* Read a string array member into a malloc'd char ** (NULL/0 when absent). */
int ctl__strv_from_json(json_t *obj, const char *key, char ***v, size_t *n, char *err,
			size_t errlen);
json_t *ctl__strv_json(char *const *v, size_t n);

#endif
