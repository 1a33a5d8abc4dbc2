/* The one vocabulary of decisions.  The policy engine decides with it (SSH rules and the
 * packet filter), the netmap carries it, meshd's SSH hook hands it to sshd, and a
 * check-mode hold ends in it: the same word means the same thing on every layer. */
#ifndef MESH_COMMON_VERDICT_H
#define MESH_COMMON_VERDICT_H

enum verdict {
	VERDICT_REJECT = 0, /* filter: drop; ssh: refuse, with a reason */
	VERDICT_ACCEPT = 1,
	VERDICT_CHECK = 2, /* ssh only: hold until the source's owner re-authenticates */
};

/* "reject", "accept", "check" (and "?" for a value outside the enum). */
static inline const char *verdict_name(enum verdict v)
{
	return v == VERDICT_ACCEPT   ? "accept"
	       : v == VERDICT_CHECK  ? "check"
	       : v == VERDICT_REJECT ? "reject"
				     : "?";
}

#endif
