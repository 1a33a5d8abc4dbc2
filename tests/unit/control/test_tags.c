/* Tag lists and who may tag what (control/server/tags.c): the list form, reading a JSON
 * array (each refusal's exact message), and ctl_tags_grant() for auth keys and logins. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "control/server/ident.h"
#include "control/server/store.h"
#include "control/server/tags.h"

static const char policy[] =
    "{\"groups\": {\"group:ops\": [\"alice@example.com\"]},"
    " \"tagOwners\": {\"tag:web\": [\"group:ops\"], \"tag:db\": [\"bob@example.com\"],"
    "                \"tag:ci\": [\"autogroup:member\"]}}";

static void from_json(const char *text, int want_rc, const char *want)
{
	char out[CTL_TAGS_MAX], err[256] = "";
	json_t *j = json_loads(text, 0, NULL);
	CHECK_INT(ctl_tags_from_json(j, out, sizeof(out), err, sizeof(err)), want_rc);
	CHECK_STR(want_rc ? err : out, want);
	json_decref(j);
}

static void grant(const char *login, const char *key_tags, const char *asked, int want_rc,
		  const char *want)
{
	char out[CTL_TAGS_MAX] = "", err[256] = "";
	CHECK_INT(
	    ctl_tags_grant(policy, login, key_tags, asked, out, sizeof(out), err, sizeof(err)),
	    want_rc);
	CHECK_STR(want_rc ? err : out, want);
}

int main(void)
{
	from_json("[\"tag:web\", \"tag:db\", \"tag:web\"]", 0, "tag:db,tag:web");
	from_json("[]", 0, "");
	from_json("\"tag:web\"", -EINVAL, "tags: expected an array like [\"tag:server\"]");
	from_json(
	    "[\"tag:web\", \"web\"]", -EINVAL,
	    "tags[1]: expected \"tag:<name>\" (letters, digits, - and _, at most 64 characters)");
	from_json(
	    "[\"tag:\"]", -EINVAL,
	    "tags[0]: expected \"tag:<name>\" (letters, digits, - and _, at most 64 characters)");
	from_json(
	    "[\"tag:a,tag:b\"]", -EINVAL,
	    "tags[0]: expected \"tag:<name>\" (letters, digits, - and _, at most 64 characters)");
	from_json(
	    "[5]", -EINVAL,
	    "tags[0]: expected \"tag:<name>\" (letters, digits, - and _, at most 64 characters)");

	char out[CTL_TAGS_MAX];
	CHECK_INT(ctl_tags_canonical("tag:b,tag:a,tag:b", out, sizeof(out)), 0);
	CHECK_STR(out, "tag:a,tag:b");
	CHECK_INT(ctl_tags_canonical("", out, sizeof(out)), 0);
	CHECK_STR(out, "");

	CHECK(ctl_tags_subset("", ""));
	CHECK(ctl_tags_subset("", "tag:a"));
	CHECK(ctl_tags_subset("tag:b", "tag:a,tag:b"));
	CHECK(ctl_tags_subset("tag:b,tag:a", "tag:a,tag:b,tag:c"));
	CHECK(!ctl_tags_subset("tag:a", ""));
	CHECK(!ctl_tags_subset("tag:a,tag:d", "tag:a,tag:b"));
	CHECK(!ctl_tags_subset("tag:ab", "tag:a,tag:b"));

	/* a login asking for tags it owns (through a group, by name, as a member) */
	grant("alice@example.com", "", "tag:web", 0, "tag:web");
	grant("alice@example.com", "", "tag:ci,tag:web", 0, "tag:ci,tag:web");
	grant("bob@example.com", "", "tag:db", 0, "tag:db");
	grant("alice@example.com", "", "", 0, "");
	/* and not */
	grant("bob@example.com", "", "tag:web", -EPERM,
	      "tags: bob@example.com does not own tag:web in the policy's tagOwners");
	grant("alice@example.com", "", "tag:db,tag:web", -EPERM,
	      "tags: alice@example.com does not own tag:db in the policy's tagOwners");
	grant("alice@example.com", "", "tag:nope", -EPERM,
	      "tags: alice@example.com does not own tag:nope in the policy's tagOwners");
	/* an auth key's own tags need no further check; the union is kept */
	grant("bob@example.com", "tag:web", "tag:web", 0, "tag:web");
	grant("bob@example.com", "tag:web", "", 0, "tag:web");
	grant("bob@example.com", "tag:web", "tag:db", 0, "tag:db,tag:web");
	grant("carol@example.com", "tag:web", "tag:db", -EPERM,
	      "tags: carol@example.com does not own tag:db in the policy's tagOwners");
	/* without a policy no one owns anything */
	char err[256];
	CHECK_INT(ctl_tags_grant(NULL, "alice@example.com", "", "tag:web", out, sizeof(out), err,
				 sizeof(err)),
		  -EPERM);
	CHECK_STR(err,
		  "tags: no policy is set, so no one owns tag:web (define it in tagOwners first)");
	return check_finish();
}
