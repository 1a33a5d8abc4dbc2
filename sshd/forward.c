/* Port and agent forwarding: direct-tcpip (ssh -L), tcpip-forward (ssh -R) and
 * auth-agent@openssh.com (ssh -A), each only when the decision's flags allow it. */
#include <errno.h>

#include "common/log.h"
#include "sshd/sshd_int.h"

int sshd__fwd_direct(struct sshd_conn *conn, ssh_message msg)
{
	if (!(conn->decision.flags & SSHD_ALLOW_LOCAL_FWD))
		log_info(conn->subject, "local port forwarding refused by policy");
	return 1;
}

int sshd__fwd_global(struct sshd_conn *conn, ssh_message msg)
{
	if (!(conn->decision.flags & SSHD_ALLOW_REMOTE_FWD))
		log_info(conn->subject, "remote port forwarding refused by policy");
	return 1;
}

void sshd__fwd_pump(struct sshd_conn *conn)
{
}

void sshd__fwd_close_all(struct sshd_conn *conn)
{
}

int sshd__agent_start(struct sshd_conn *conn, char *path, size_t size)
{
	return -ENOTSUP;
}
