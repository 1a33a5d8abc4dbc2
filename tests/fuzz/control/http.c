/* Fuzz target: meshcontrol's HTTP front as anyone on the network reaches it: method, URL,
 * headers (cookies, Content-Length, Authorization) and body from the input ("METHOD URL\n"
 * then "Name: value" lines, an empty line, the body), through the router to the node API,
 * the admin API and the web pages of a server with users, nodes, a session, a pending login
 * and a hold.  Checks what no such request may do: reach the admin API without the token,
 * change users, auth keys or the policy, change nodes without the session cookie, or answer
 * other than once with a JSON error on the APIs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/control/srv_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t hlen = 0;
	while (hlen + 1 < size && !(data[hlen] == '\n' && data[hlen + 1] == '\n'))
		if (data[hlen++] == '\0')
			return 0;
	if (hlen + 1 >= size)
		return 0;
	const uint8_t *sep = data + hlen;
	char *head = strndup((const char *)data, hlen);
	if (!head)
		abort();
	bool admin = strstr(head, "Bearer " FZ_ADMIN_TOKEN) != NULL;
	bool session = strstr(head, FZ_SESSION) != NULL;
	struct ctl_server *srv = fz_srv_open();
	struct fz_census before, after;
	fz_census(srv, &before);
	struct fz_reply rep;
	fz_http(srv, head, (const char *)sep + 2, size - hlen - 2, &rep);
	fz_census(srv, &after);
	char url[32] = "";
	const char *sp = strchr(head, ' ');
	if (sp)
		snprintf(url, sizeof(url), "%s", sp + 1);
	bool api = strncmp(url, "/api/v1/", 8) == 0, node_api = strncmp(url, "/machine/", 9) == 0;
	if (api && !admin && rep.queued && rep.status != 401)
		abort(); /* the admin API without the token */
	if (!admin &&
	    (before.users != after.users || before.users_hash != after.users_hash ||
	     before.authkeys != after.authkeys || before.policy_hash != after.policy_hash))
		abort(); /* only the admin changes users, auth keys and the policy */
	if (!admin && !session &&
	    (before.nodes != after.nodes || before.nodes_hash != after.nodes_hash))
		abort(); /* nodes change by the node API only for a sealed request from them */
	if ((api || node_api) && rep.queued && rep.status >= 400 && rep.body &&
	    rep.body[0] == '{') {
		json_t *j = json_loads(rep.body, 0, NULL);
		if (!json_is_string(json_object_get(j, "error")))
			abort(); /* a refusal says why */
		json_decref(j);
	}
	free(rep.body);
	fz_srv_close(srv);
	free(head);
	return 0;
}
