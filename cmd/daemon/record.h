/* meshd's session recording on the node: sshd's session hooks writing asciicast v2 (rec/)
 * files that Debian's asciinema plays.
 *
 * Which sessions: with a directory (meshd --record-dir DIR) every SSH session (shell, exec,
 * scp, sftp) is recorded into DIR/<unix time>-<source node>-<n>.cast, mode 0600, at most
 * max_bytes each (meshd --record-max-bytes, default 64 MiB): at the cap the recording
 * stops with a final "m" (marker) event that says so, and the failure is logged.  The
 * deciding SSH rule's action says what a failure means: with enforceRecorder a session
 * that cannot be recorded is refused (POL_REC_REFUSE_MSG) and one whose recording fails is
 * ended (POL_REC_END_MSG); without it the session goes on unrecorded.  A rule that names
 * recorders while no copy can be kept (no directory; the uploader to recorders is not
 * written yet) is logged, and refused when enforced.  Input is never recorded.
 *
 *   struct meshd_record *rec;
 *   meshd_record_new(node, dir, max_bytes, &hooks, &rec);  // fills hooks' session_*
 *   ...
 *   meshd_record_free(rec);  // after the SSH server is closed
 */
#ifndef MESH_MESHD_RECORD_H
#define MESH_MESHD_RECORD_H

#include <stdint.h>

struct meshd_node;
struct meshd_record;
struct sshd_hooks;

enum { MESHD_RECORD_MAX_BYTES = 64 << 20 };

/* dir may be NULL (no local copies); max_bytes 0 means MESHD_RECORD_MAX_BYTES.  Creates dir
 * (0700) when missing.  Returns 0 or -errno. */
int meshd_record_new(const struct meshd_node *node, const char *dir, uint64_t max_bytes,
		     struct sshd_hooks *hooks, struct meshd_record **out);
void meshd_record_free(struct meshd_record *rec);

#endif
