/* control/server/tags.h: tag lists as control keeps them (a string vector, common/strv.h:
 * sorted, no repeats, at most CTL_TAGS_COUNT_MAX tags of at most CTL_TAG_LEN_MAX bytes,
 * store.h) and the checks on who may tag what (tags.c).  What meshcontrol's command line
 * uses too (ctl_authkey_check_tags, ctl_tags_parse, ctl_tags_join) is declared in
 * ident.h.  Lists given to these functions may be empty (v NULL, n 0). */
#ifndef MESH_CONTROL_SERVER_TAGS_H
#define MESH_CONTROL_SERVER_TAGS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "control/server/ident.h"

/* A JSON array of "tag:<name>" strings -> the list form in *out, *n.  -EINVAL with a
 * sentence naming the bad element in err. */
int ctl_tags_from_json(json_t *arr, char ***out, size_t *n, char *err, size_t errlen);

/* v (any n tags, each "tag:<name>") made the list form in place: sorted, repeats freed. */
void ctl_tags_canonical(char **v, size_t *n);

/* Every tag of a is in b. */
bool ctl_tags_subset(const char *const *a, size_t na, const char *const *b, size_t nb);

/* The tags a node registered by `login` ends up with: key_tags (an auth key's; none for an
 * interactive login) plus asked (the node's request); each asked-for tag the key does not
 * carry must be owned by login in policy_text's tagOwners.  0 with the list form in *out,
 * *n, or -EPERM / -EINVAL / -ENOMEM with a sentence in err. */
int ctl_tags_grant(const char *policy_text, const char *login, const char *const *key_tags,
		   size_t nk, const char *const *asked, size_t na, char ***out, size_t *n,
		   char *err, size_t errlen);

#endif
