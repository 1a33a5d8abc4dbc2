/* control/server/tags.h: tag lists as control keeps them ("tag:a,tag:b": sorted, no
 * repeats, at most CTL_TAGS_MAX bytes) and the checks on who may tag what (tags.c).
 * ctl_authkey_check_tags() is declared in ident.h. */
#ifndef MESH_CONTROL_SERVER_TAGS_H
#define MESH_CONTROL_SERVER_TAGS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* A JSON array of "tag:<name>" strings -> the list form in out.  -EINVAL with a sentence
 * naming the bad element in err. */
int ctl_tags_from_json(json_t *arr, char *out, size_t outlen, char *err, size_t errlen);

/* Any comma-separated list -> the list form (sorted, no repeats); -E2BIG when too long. */
int ctl_tags_canonical(const char *csv, char *out, size_t outlen);

/* Every tag of list a is in list b (both comma-separated; "" is a subset of anything). */
bool ctl_tags_subset(const char *a, const char *b);

/* The tags a node registered by `login` ends up with: key_tags (an auth key's; "" for an
 * interactive login) plus asked (the node's request); each asked-for tag the key does not
 * carry must be owned by login in policy_text's tagOwners.  0, or -EPERM / -EINVAL with a
 * sentence in err. */
int ctl_tags_grant(const char *policy_text, const char *login, const char *key_tags,
		   const char *asked, char *out, size_t outlen, char *err, size_t errlen);

#endif
