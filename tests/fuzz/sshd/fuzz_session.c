/* Fuzz target: a libssh server session fed arbitrary bytes through the fd path
 * (sshd_accept_fd on one end of a socketpair), as netstack/ hands connections over.
 * An input whose first byte is odd gets a valid client identification line in front, so
 * random bytes also reach the binary packet and key-exchange parsers.  The process must
 * never crash, and every connection must be closed and freed once the input ends. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "common/log.h"
#include "sshd/sshd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uv_loop_t loop;
static struct sshd_server *srv;

static void authorize(void *ctx, const struct sockaddr *peer, const char *user,
		      struct sshd_check *check, struct sshd_decision *out)
{
	out->action = VERDICT_REJECT;
	snprintf(out->message, sizeof(out->message), "fuzz");
}

static void setup(void)
{
	struct sshd_hooks hooks = { .authorize = authorize };
	struct sshd_config cfg = { .state_dir = "/tmp/mesh-fuzz-sshd-state" };

	log_set_level(LOG_LEVEL_ERR);
	uv_loop_init(&loop);
	if (sshd_server_new(&loop, &cfg, &hooks, &srv) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char ident[] = "SSH-2.0-OpenSSH_9.2p1 fuzz\r\n";
	struct sockaddr_in peer = { .sin_family = AF_INET };
	int sv[2], i;

	if (!srv)
		setup();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (sshd_accept_fd(srv, sv[0], (struct sockaddr *)&peer, sizeof(peer)) < 0) {
		close(sv[1]);
		return 0;
	}
	if (size > 0 && (data[0] & 1)) {
		if (write(sv[1], ident, sizeof(ident) - 1) < 0)
			abort();
		data++;
		size--;
	}
	if (size > 0 && write(sv[1], data, size) < 0)
		abort();
	shutdown(sv[1], SHUT_WR);
	for (i = 0; i < 1000 && sshd_connection_count(srv) > 0; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	if (sshd_connection_count(srv) > 0)
		abort(); /* a connection that outlives its peer's EOF is a leak */
	close(sv[1]);
	uv_run(&loop, UV_RUN_NOWAIT); /* close callbacks free the connection */
	return 0;
}
