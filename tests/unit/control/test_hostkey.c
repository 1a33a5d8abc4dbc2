/* The host key check shared by control and meshctl (finding 14: a node must not be able to
 * add lines for other hosts to known_hosts): a numbered table of good and bad keys with
 * the exact error each bad one gets. */
#include <string.h>

#include "check.h"
#include "control/netmap/hostkey.h"

#define ED "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJF5G75IIGvZos1PGkXVvChGHNT9nqJiIpJ5ysYC5pIq"
#define P256                                                                    \
	"ecdsa-sha2-nistp256 "                                                  \
	"AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJjGgM3RwG09VELvy" \
	"ZzilbD8+OB/wJ/yZEx6XKJHE8ZxxS1khSFlc6wLddT8WN5VVOvYSnLALG675yCJqXfolF4="

static const struct {
	const char *key;
	const char *err; /* NULL: valid */
} table[] = {
	/* 1 */ { ED, NULL },
	/* 2 */ { P256, NULL },
	/* 3 */
	{ "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBJQQOq4B"
	  "0hpBRJwPcfyAQZC2jo9d6wd3foMV5to86LdcQZZ3fx6uzDMExmHWLafld+0QMAtdRq7+MBNy7fsfuayb"
	  "iSK1KKEpijVKIe+K+u2ZhlRf7Jyd2PrpelR2GIERpg==",
	  NULL },
	/* 4 */
	{ "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBADSXp8R"
	  "DPYmP57oneobREhUIFBzX+yimjHsUubxCcSw+sSgsYUrZK+3LeJbMTUQdmLwzsp+xpAEHjQyIbyULiGj"
	  "EgCJ6yWnsWPfWMF9hHC/AimOCh/YhwDmGmesExjtgWVnxLbYAQmN6VZDSdNFdWCSR58Kz5+BYvVXUj/7"
	  "SY7jxz5xQQ==",
	  NULL },
	/* 5 */
	{ "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCeNsA5w6riSgvoHJcmYIacSRDNvdJzSbctZbK4ralV"
	  "OZViakWzvWoDIXBV+F100pJR2PEZjiRVoDCvbYpgsX/oJUmu1qkGe62Fem4DtvQzOc3wLjUdndE5S1UI"
	  "+B+3Nvyj+6AFF7WLWC7F1Uwj+/L6TOltot97qrLCuC4VzRmHl0gGbqz0yNUBLHF4P890AW0jaRmR5Twj"
	  "OTBdK9XuTmiNiFtFPcF27vy+SEFVMQyiX1bGJhp+ba9e9Rvjf6ppcURgmoxcnehsaarni7ppzMHjBmcq"
	  "BBSvlvJyr9dvZTpePPXNrHjdAzJvtlWmogFR+X27/iuRaNKiFyF5x/kP2nWP",
	  NULL },
	/* 6: a second line for every host */
	{ ED "\n@cert-authority * " ED, "host key 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJF5...': "
					"not one line of printable text" },
	/* 7 */
	{ ED "\r", "host key 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJF5...': not one line of "
		   "printable text" },
	/* 8: a marker in front */
	{ "@revoked " ED,
	  "host key '@revoked ssh-ed25519 AAAAC3NzaC1lZDI1NTE...': not 'TYPE BASE64'" },
	/* 9: a comment, or a second key on the same line */
	{ ED " root@host",
	  "host key 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJF5...': not 'TYPE BASE64'" },
	/* 10 */ { "ssh-ed25519", "host key 'ssh-ed25519': not 'TYPE BASE64'" },
	/* 11 */ { "ssh-ed25519 ", "host key 'ssh-ed25519 ': not 'TYPE BASE64'" },
	/* 12 */ { " AAAA", "host key ' AAAA': not 'TYPE BASE64'" },
	/* 13 */ { "ssh-ed25519  AAAA", "host key 'ssh-ed25519  AAAA': not 'TYPE BASE64'" },
	/* 14 */
	{ "ssh-dss AAAAB3NzaC1kc3MAAACBAA==", "host key 'ssh-dss AAAAB3NzaC1kc3MAAACBAA==': "
					      "unknown key type 'ssh-dss'" },
	/* 15 */
	{ "ssh-ed25519 AAAA$$$$", "host key 'ssh-ed25519 AAAA$$$$': the key is not valid "
				  "base64" },
	/* 16: missing padding */
	{ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA",
	  "host key 'ssh-ed25519 "
	  "AAAAC3NzaC1lZDI1NTE5AAAAIA': the key is not valid base64" },
	/* 17: an RSA blob under the ed25519 type */
	{ "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQCeNsA5w6riSgvoHJcmYIacSRDNvdJzSbctZbK4ralV",
	  "host key 'ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAAB...': the key does not start with its "
	  "type 'ssh-ed25519'" },
	/* 18: the type and nothing after it */
	{ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",
	  "host key 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5': the key "
	  "does not start with its type 'ssh-ed25519'" },
	/* 19 */ { "", "empty host key" },
	/* 20: an escape sequence for a terminal is quoted as '?' */
	{ "\x1b[2J ssh-ed25519", "host key '?[2J ssh-ed25519': not one line of printable text" },
	/* 21: non-ASCII */
	{ "ssh-ed25519 AAAA\xc3\xa9", "host key 'ssh-ed25519 AAAA?"
				      "?': not one line of printable text" },
};

int main(void)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		char err[256] = "";
		bool ok = ctl_ssh_host_key_valid(table[i].key, err, sizeof(err));
		if (!table[i].err) {
			if (!ok)
				fprintf(stderr, "entry %zu: %s\n", i + 1, err);
			CHECK(ok);
		} else {
			CHECK(!ok);
			CHECK_STR(err, table[i].err);
		}
		CHECK_INT(ctl_ssh_host_key_valid(table[i].key, NULL, 0), ok); /* no err buffer */
	}
	char longkey[CTL_SSH_HOST_KEY_MAX + 2];
	memset(longkey, 'A', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	char err[256];
	CHECK(!ctl_ssh_host_key_valid(longkey, err, sizeof(err)));
	CHECK_STR(err, "host key longer than 1024 characters");
	return check_finish();
}
