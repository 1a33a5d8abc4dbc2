/* Logging: line format, level filtering, journald style and the rate limiter. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "common/log.h"

static char out[8192];

static const char *capture_reset(int fds[2])
{
	ssize_t n = read(fds[0], out, sizeof(out) - 1);
	out[n > 0 ? n : 0] = '\0';
	return out;
}

int main(void)
{
	int fds[2];
	CHECK(pipe(fds) == 0);
	log_set_fd(fds[1]);

	log_set_style(LOG_STYLE_JOURNAL);
	log_set_level(LOG_LEVEL_INFO);
	log_warn("wg0", "peer %d (%s): handshake timed out, retry %d", 7, "203.0.113.4:51820", 2);
	CHECK_STR(capture_reset(fds), "<4>wg0: peer 7 (203.0.113.4:51820): handshake timed out, retry 2\n");

	log_debug("wg0", "hidden %d", 1);
	log_info("sshd", "visible");
	CHECK_STR(capture_reset(fds), "<6>sshd: visible\n");

	log_set_style(LOG_STYLE_PLAIN);
	log_err("control", "boom");
	capture_reset(fds);
	/* "2026-11-22T10:00:00.123Z err   control: boom\n" */
	CHECK(strlen(out) == strlen("2026-11-22T10:00:00.123Z err   control: boom\n"));
	CHECK(strstr(out, "Z err   control: boom\n") != NULL);

	enum log_level lv;
	CHECK(log_level_parse("debug", &lv) && lv == LOG_LEVEL_DEBUG);
	CHECK(!log_level_parse("verbose", &lv));

	/* Rate limiter: 3 per 1000 ms. */
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(1000, 3);
	int allowed = 0;
	for (int i = 0; i < 10; i++)
		allowed += log_ratelimit_allow(&rl, 5000);
	CHECK_INT(allowed, 3);
	CHECK_INT(rl.suppressed, 7);
	CHECK(!log_ratelimit_allow(&rl, 5999));
	CHECK(log_ratelimit_allow(&rl, 6000));

	/* Suppressed lines are announced once the window reopens. */
	log_set_style(LOG_STYLE_JOURNAL);
	struct log_ratelimit rl2 = LOG_RATELIMIT_INIT(60000, 1);
	log_warn_rl(&rl2, "wg0", "bad packet %d", 1);
	log_warn_rl(&rl2, "wg0", "bad packet %d", 2);
	log_warn_rl(&rl2, "wg0", "bad packet %d", 3);
	CHECK_STR(capture_reset(fds), "<4>wg0: bad packet 1\n");
	CHECK_INT(rl2.suppressed, 2);
	rl2.window_start_ms -= 60000;
	log_warn_rl(&rl2, "wg0", "bad packet %d", 4);
	CHECK_STR(capture_reset(fds), "<4>wg0: 2 similar messages suppressed\n<4>wg0: bad packet 4\n");

	log_set_fd(-1);
	return check_finish();
}
