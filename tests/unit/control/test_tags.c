/* Tag lists and who may tag what (control/server/tags.c): the list form, reading a JSON
 * array or from text (each refusal's exact message, the bounds of store.h), and
 * ctl_tags_grant() for auth keys and logins. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "common/strv.h"
#include "control/server/ident.h"
#include "control/server/store.h"
#include "control/server/tags.h"

static const char policy[] =
    "{\"groups\": {\"group:ops\": [\"alice@example.com\"]},"
    " \"tagOwners\": {\"tag:web\": [\"group:ops\"], \"tag:db\": [\"bob@example.com\"],"
    "                \"tag:ci\": [\"autogroup:member\"]}}";

/* v as "tag:a,tag:b" (then freed) */
static const char *joined(char **v, size_t n)
{
	static char out[CTL_TAGS_TEXT_MAX];
	ctl_tags_join((const char *const *)v, n, out, sizeof(out));
	strv_free(v, n);
	return out;
}

/* A list from text that parses (the tests write lists as "tag:a,tag:b"). */
static size_t list(const char *csv, char ***v)
{
	size_t n;
	char err[256];
	CHECK_INT(ctl_tags_parse(csv, v, &n, err, sizeof(err)), 0);
	return n;
}

static void from_json(const char *text, int want_rc, const char *want)
{
	char **out = NULL, err[256] = "";
	size_t n = 0;
	json_t *j = json_loads(text, 0, NULL);
	CHECK_INT(ctl_tags_from_json(j, &out, &n, err, sizeof(err)), want_rc);
	if (want_rc)
		CHECK(out == NULL && n == 0);
	CHECK_STR(want_rc ? err : joined(out, n), want);
	json_decref(j);
}

static void parse(const char *csv, int want_rc, const char *want)
{
	char **out = NULL, err[256] = "";
	size_t n = 0;
	CHECK_INT(ctl_tags_parse(csv, &out, &n, err, sizeof(err)), want_rc);
	if (want_rc)
		CHECK(out == NULL && n == 0);
	CHECK_STR(want_rc ? err : joined(out, n), want);
}

static bool subset(const char *a, const char *b)
{
	char **va, **vb;
	size_t na = list(a, &va), nb = list(b, &vb);
	bool r = ctl_tags_subset((const char *const *)va, na, (const char *const *)vb, nb);
	strv_free(va, na);
	strv_free(vb, nb);
	return r;
}

static void grant(const char *login, const char *key_tags, const char *asked, int want_rc,
		  const char *want)
{
	char **k, **a, **out = NULL, err[256] = "";
	size_t nk = list(key_tags, &k), na = list(asked, &a), n = 0;
	CHECK_INT(ctl_tags_grant(policy, login, (const char *const *)k, nk, (const char *const *)a,
				 na, &out, &n, err, sizeof(err)),
		  want_rc);
	CHECK_STR(want_rc ? err : joined(out, n), want);
	strv_free(k, nk);
	strv_free(a, na);
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

	/* the bounds (store.h): 32 tags, 64 bytes each */
	char many[512] = "[", tag65[80] = "[\"tag:";
	for (int i = 0; i < 33; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s\"tag:t%d\"",
			 i ? "," : "", i);
	strcat(many, "]");
	from_json(many, -EINVAL, "tags: at most 32 tags");
	memset(tag65 + 6, 'x', 61); /* "tag:" and 61 letters: 65 bytes */
	strcat(tag65, "\"]");
	from_json(tag65, -EINVAL,
		  "tags[0]: expected \"tag:<name>\" (letters, digits, - and _, at most 64 "
		  "characters)");
	strcpy(tag65 + 6 + 60, "\"]"); /* 64 is fine */
	char **v;
	size_t n;
	json_t *j = json_loads(tag65, 0, NULL);
	CHECK_INT(ctl_tags_from_json(j, &v, &n, many, sizeof(many)), 0);
	CHECK_INT(n, 1);
	CHECK_INT(strlen(v[0]), 64);
	strv_free(v, n);
	json_decref(j);

	/* "tag:a,tag:b" text (meshcontrol's --tags) */
	parse("tag:b,tag:a,tag:b", 0, "tag:a,tag:b");
	parse("", 0, "");
	parse(",tag:a,,", 0, "tag:a");
	parse("tag:a,web", -EINVAL,
	      "tags: 'web' is not \"tag:<name>\" (letters, digits, - and _, at most 64 "
	      "characters)");
	parse("tag:a, tag:b", -EINVAL,
	      "tags: ' tag:b' is not \"tag:<name>\" (letters, digits, - and _, at most 64 "
	      "characters)");
	char csv[512] = "";
	for (int i = 0; i < 33; i++)
		snprintf(csv + strlen(csv), sizeof(csv) - strlen(csv), "%stag:t%d", i ? "," : "",
			 i);
	parse(csv, -EINVAL, "tags: at most 32 tags");
	*strrchr(csv, ',') = '\0'; /* 32 is fine */
	n = list(csv, &v);
	CHECK_INT(n, 32);
	strv_free(v, n);

	CHECK(subset("", ""));
	CHECK(subset("", "tag:a"));
	CHECK(subset("tag:b", "tag:a,tag:b"));
	CHECK(subset("tag:b,tag:a", "tag:a,tag:b,tag:c"));
	CHECK(!subset("tag:a", ""));
	CHECK(!subset("tag:a,tag:d", "tag:a,tag:b"));
	CHECK(!subset("tag:ab", "tag:a,tag:b"));

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
	/* the union is bounded too */
	grant("bob@example.com",
	      "tag:d32,tag:d1,tag:d2,tag:d3,tag:d4,tag:d5,tag:d6,tag:d7,tag:d8,"
	      "tag:d9,tag:d10,tag:d11,tag:d12,tag:d13,tag:d14,tag:d15,tag:d16,tag:d17,tag:d18,"
	      "tag:d19,tag:d20,tag:d21,tag:d22,tag:d23,tag:d24,tag:d25,tag:d26,tag:d27,tag:d28,"
	      "tag:d29,tag:d30,tag:d31",
	      "tag:db", -EINVAL, "tags: at most 32 tags (the auth key's and the asked-for)");
	/* without a policy no one owns anything */
	char err[256], **out;
	const char *web[] = { "tag:web" };
	CHECK_INT(
	    ctl_tags_grant(NULL, "alice@example.com", NULL, 0, web, 1, &out, &n, err, sizeof(err)),
	    -EPERM);
	CHECK_STR(err,
		  "tags: no policy is set, so no one owns tag:web (define it in tagOwners first)");
	return check_finish();
}
