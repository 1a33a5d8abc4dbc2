/* common/text.h: text from outside (a login typed on a web page, an SSH user name, a client's
 * command line) made safe to store, send as JSON and show on a terminal: valid UTF-8 without
 * control characters (C0, DEL and C1 U+0080-U+009F).  One rule for every module, so what one
 * side cleans the other side accepts.
 *
 *	char login[128];
 *	text_clean(login, sizeof(login), typed);	// "mal\x1b[2Jory" -> "mal?[2Jory"
 */
#ifndef MESH_COMMON_TEXT_H
#define MESH_COMMON_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* dst (size bytes, '\0' included) gets src with each control character and each ill-formed
 * UTF-8 part (its maximal subpart: a sequence cut short is one) as '?', cut on a character
 * boundary when it does not fit.  src NULL is "".  Returns strlen(dst). */
size_t text_clean(char *dst, size_t size, const char *src);

/* len bytes of s are valid UTF-8 without control characters. */
bool text_clean_valid(const char *s, size_t len);

#endif
