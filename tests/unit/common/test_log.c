/* Logging: line format, level filtering, journald style, the rate limiter, and the escaping
 * of everything a message carries (finding 15: a pre-auth SSH user name must not forge a
 * line). */
#include <stdlib.h>
#include <string.h>
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
	CHECK_STR(capture_reset(fds),
		  "<4>wg0: peer 7 (203.0.113.4:51820): handshake timed out, retry 2\n");

	log_debug("wg0", "hidden %d", 1);
	log_info("sshd", "visible");
	CHECK_STR(capture_reset(fds), "<6>sshd: visible\n");

	log_set_style(LOG_STYLE_PLAIN);
	log_err("control", "boom");
	capture_reset(fds);
	/* "2026-11-22T10:00:00.123Z err   control: boom\n" */
	CHECK(strlen(out) == strlen("2026-11-22T10:00:00.123Z err   control: boom\n"));
	CHECK(strstr(out, "Z err   control: boom\n") != NULL);

	/* Whatever a %s brings is escaped: it stays one line and cannot forge another. */
	log_set_style(LOG_STYLE_JOURNAL);
	log_warn("sshd", "user \"%s\" refused", "root\n<3>sshd: user \"alice\" accepted");
	CHECK_STR(capture_reset(fds),
		  "<4>sshd: user \"root\\n<3>sshd: user \"alice\" accepted\" refused\n");
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} esc[] = {
		/* 1 */ { "plain text", 10, "plain text" },
		/* 2 */ { "a\r\tb", 4, "a\\r\\tb" },
		/* 3 */ { "back\\slash", 10, "back\\\\slash" },
		/* 4 */ { "\x1b[2J\x7f", 5, "\\x1b[2J\\x7f" }, /* terminal escape, DEL */
		/* 5 */ { "nul\0byte", 8, "nul\\x00byte" },
		/* 6 */
		{ "Jos\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91", 14,
		  "Jos\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91" },	   /* UTF-8 stays */
		/* 7 */ { "c1 \xc2\x9b", 5, "c1 \\xc2\\x9b" },		   /* C1 CSI */
		/* 8 */ { "bad \xff\xc3", 6, "bad \\xff\\xc3" },	   /* not UTF-8, cut */
		/* 9 */ { "over \xc0\xaf", 7, "over \\xc0\\xaf" },	   /* overlong '/' */
		/* 10 */ { "sur \xed\xa0\x80", 7, "sur \\xed\\xa0\\x80" }, /* surrogate */
	};
	for (size_t i = 0; i < sizeof(esc) / sizeof(esc[0]); i++) {
		char o[128];
		CHECK_INT(log_escape(o, sizeof(o), esc[i].in, esc[i].len), esc[i].len);
		CHECK_STR(o, esc[i].out);
	}
	/* an escape that does not fit is left out whole; the count says how far it got */
	char small[5];
	CHECK_INT(log_escape(small, sizeof(small), "abc\ndef", 7), 3);
	CHECK_STR(small, "abc");
	/* a long line is cut, marked, and still ends in exactly one newline */
	char big[3000];
	memset(big, '\n', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_warn("x", "%s", big);
	capture_reset(fds);
	CHECK(strlen(out) < 2048);
	CHECK(strchr(out, '\n') == out + strlen(out) - 1);
	CHECK(strstr(out, "\\n\\n...\n") != NULL);

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
	CHECK_STR(capture_reset(fds),
		  "<4>wg0: 2 similar messages suppressed\n<4>wg0: bad packet 4\n");

	log_set_fd(-1);
	return check_finish();
}
