/* meshd's session recording: sshd's session hooks writing asciicast v2 (rec/) that Debian's
 * asciinema plays, to the recorders the deciding SSH rule names and to local files.
 *
 * Recorders: when the rule names some ("recorder"), each session (shell, exec, scp, sftp)
 * is uploaded to the first that takes it (record_upload.h) as <unix time>-<source node>-<n>.
 * Local copies, optional and independent of that: with meshd --record-dir DIR every session
 * is also written to DIR/<the same name>.cast, mode 0600, at most max_bytes each (meshd
 * --record-max-bytes, default 64 MiB): at the cap the file stops with a final "m" (marker)
 * event that says so, and it is logged.
 * Failures, by the rule's enforceRecorder: enforced, a session waits until a recorder takes
 * its header and is refused (POL_REC_REFUSE_MSG) when none does, and a running one whose
 * recorders all fail (or cannot keep up: 4 MiB waiting) is ended (POL_REC_END_MSG); a rule
 * with enforceRecorder and no recorder (no node carries its tags) is enforced on the local
 * copy instead, and refused without --record-dir.  Not enforced: the session goes on and
 * the failure is logged.  What the client types is recorded (as "i" events) only with
 * --record-input: it holds passwords.
 *
 *   struct meshd_record *rec;
 *   meshd_record_new(loop, node, dir, max_bytes, false, &hooks, &rec); // hooks' session_*
 *   ...
 *   meshd_record_close(rec, done, arg);	// with the SSH server's close
 *   meshd_record_free(rec);			// after both are done
 */
#ifndef MESH_MESHD_RECORD_H
#define MESH_MESHD_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct meshd_node;
struct meshd_record;
struct sshd_hooks;

enum { MESHD_RECORD_MAX_BYTES = 64 << 20 };

/* dir may be NULL (no local copies); max_bytes 0 means MESHD_RECORD_MAX_BYTES; input: record
 * what clients type too.  Creates dir (0700) when missing.  Returns 0 or -errno. */
int meshd_record_new(uv_loop_t *loop, struct meshd_node *node, const char *dir, uint64_t max_bytes,
		     bool input, struct sshd_hooks *hooks, struct meshd_record **out);
/* Where a session is being recorded, for meshctl sessions: "ADDR" (the recorder taking it;
 * "ADDR (waiting)" while an enforced session waits for it), "local" (the --record-dir copy),
 * both joined by ", ", or "" when nothing is kept (any more).  sess is the pointer the
 * session_start hook returned. */
void meshd_record_where(const void *sess, char *out, size_t len);

/* Shutdown, once the SSH server is closing: the uploads stop; done runs when their handles
 * are closed (maybe at once). */
void meshd_record_close(struct meshd_record *rec, void (*done)(void *), void *arg);
/* After the SSH server is closed and meshd_record_close's done. */
void meshd_record_free(struct meshd_record *rec);

#endif
