/* pol_tag_owned_by: owners by login, through a group, autogroup:member; undefined tags
 * and non-owners refused. */
#include "check.h"
#include "control/policy/policy.h"

static const char text[] =
    "{\"groups\": {\"group:ops\": [\"bob@example.com\", \"carol@example.com\"]},\n"
    " \"tagOwners\": {\"tag:server\": [\"alice@example.com\", \"group:ops\"],\n"
    "                \"tag:ci\": [\"autogroup:member\"],\n"
    "                \"tag:prod\": [\"tag:server\"],\n"
    "                \"tag:none\": []}}";

int main(void)
{
	struct pol_policy *pol = NULL;
	struct pol_error err;
	CHECK_INT(pol_parse(text, sizeof(text) - 1, NULL, &pol, &err), 0);
	if (!pol)
		return check_finish();
	static const struct {
		int n;
		const char *tag, *login;
		bool want;
	} cases[] = {
		{ 1, "tag:server", "alice@example.com", true },
		{ 2, "tag:server", "bob@example.com", true }, /* via group:ops */
		{ 3, "tag:server", "dave@example.com", false },
		{ 4, "tag:ci", "dave@example.com", true },     /* autogroup:member */
		{ 5, "tag:prod", "alice@example.com", false }, /* owned by a tag, not a user */
		{ 6, "tag:none", "alice@example.com", false },
		{ 7, "tag:undefined", "alice@example.com", false },
		{ 8, "group:ops", "bob@example.com", false }, /* not a tag */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool got = pol_tag_owned_by(pol, cases[i].tag, cases[i].login);
		if (got != cases[i].want)
			fprintf(stderr, "case %d: %s by %s: got %d\n", cases[i].n, cases[i].tag,
				cases[i].login, got);
		CHECK(got == cases[i].want);
	}
	pol_policy_free(pol);
	return check_finish();
}
