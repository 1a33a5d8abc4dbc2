/* Inside control/localapi: the JSON helpers localapi.c (requests, status, replies) and
 * sessions.c (meshctl sessions) share.  Not for anything outside this module. */
#ifndef MESH_CONTROL_LOCALAPI_INTERNAL_H
#define MESH_CONTROL_LOCALAPI_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Compact JSON and a newline, malloc'd; takes j (NULL in, NULL out). */
char *ctl__lapi_dump_line(json_t *j);
/* A JSON object from text, or NULL with "malformed JSON at ..." / "expected a JSON object". */
json_t *ctl__lapi_load(const char *text, size_t len, char *err, size_t errlen);
/* Optional members: absent leaves *out NULL / false / unchanged; the wrong type or an
 * integer outside lo..hi is -EINVAL with a message naming the member. */
int ctl__lapi_opt_str(json_t *o, const char *key, char **out, char *err, size_t errlen);
int ctl__lapi_opt_bool(json_t *o, const char *key, bool *out, char *err, size_t errlen);
int ctl__lapi_opt_int(json_t *o, const char *key, long long lo, long long hi, long long *out,
		      char *err, size_t errlen);
/* Terminal controls in text meshctl prints become '?'. */
void ctl__lapi_printable(char *s);

#endif
