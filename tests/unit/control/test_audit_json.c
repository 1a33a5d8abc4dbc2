/* control/client/audit.c: the request body of the node API's "audit", exact text — members
 * in the wire's order, empty strings left out, text escaped as JSON, the queue's id first
 * (left out for a queue without one); a batch out of order,
 * empty or past AUDIT_BATCH_MAX is refused. */
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "check.h"
#include "control/client/client.h"

static struct audit_event ev[AUDIT_BATCH_MAX + 1];

int main(void)
{
	ev[0] =
	    (struct audit_event){ .seq = 7, .time_ms = 1700000000123, .type = AUDIT_SSH_REFUSE };
	audit_text_set(ev[0].conn, "12");
	audit_text_set(ev[0].src, "100.64.0.5");
	audit_text_set(ev[0].src_node, "laptop");
	audit_text_set(ev[0].who, "tag:ci,tag:prod");
	audit_text_set(ev[0].ssh_user, "root");
	audit_text_set(ev[0].detail, "policy does not permit you to SSH as user \"root\"\\é");
	ev[1] = (struct audit_event){ .seq = 9, .time_ms = 1700000000200, .type = AUDIT_LOST };
	audit_text_set(ev[1].detail, "lost 1 events (seq 8..8)");
	char *s = ctl_client_audit_json("", ev, 2);
	CHECK_STR(s, "{\"events\":[{\"seq\":7,\"time\":1700000000123,\"type\":\"ssh.refuse\","
		     "\"conn\":\"12\",\"src\":\"100.64.0.5\",\"src_node\":\"laptop\","
		     "\"who\":\"tag:ci,tag:prod\",\"ssh_user\":\"root\",\"detail\":\"policy does "
		     "not permit you to SSH as user \\\"root\\\"\\\\\xc3\xa9\"},"
		     "{\"seq\":9,\"time\":1700000000200,\"type\":\"audit.lost\","
		     "\"detail\":\"lost 1 events (seq 8..8)\"}]}");
	free(s);

	/* every member, once */
	struct audit_event *e = &ev[0];
	*e = (struct audit_event){ .seq = 1, .time_ms = 5, .type = AUDIT_SSH_SESSION_END };
	for (size_t i = 0; i < AUDIT_FIELD_COUNT; i++)
		audit_text_set(audit_field(e, i), audit_field_names[i]);
	s = ctl_client_audit_json("0123456789abcdef0123456789abcdef", ev, 1);
	CHECK_STR(s, "{\"queue\":\"0123456789abcdef0123456789abcdef\",\"events\":[{\"seq\":1,"
		     "\"time\":5,\"type\":\"ssh.session.end\","
		     "\"conn\":\"conn\",\"session\":\"session\",\"src\":\"src\","
		     "\"src_node\":\"src_node\",\"who\":\"who\",\"ssh_user\":\"ssh_user\","
		     "\"local_user\":\"local_user\",\"rule\":\"rule\",\"detail\":\"detail\"}]}");
	free(s);

	/* refused: not ascending, empty, too many */
	ev[1].seq = 1;
	CHECK(ctl_client_audit_json(NULL, ev, 2) == NULL);
	CHECK(ctl_client_audit_json(NULL, ev, 0) == NULL);
	for (size_t i = 0; i <= AUDIT_BATCH_MAX; i++)
		ev[i] = (struct audit_event){ .seq = i + 1, .type = AUDIT_SSH_ACCEPT };
	CHECK(ctl_client_audit_json(NULL, ev, AUDIT_BATCH_MAX + 1) == NULL);
	s = ctl_client_audit_json(NULL, ev, AUDIT_BATCH_MAX);
	CHECK(s != NULL);
	free(s);
	return check_finish();
}
