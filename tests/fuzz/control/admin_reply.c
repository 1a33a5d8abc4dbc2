/* Fuzz target: meshctl's reading of meshcontrol's admin answers (control/admin), which come
 * over plain HTTP today: the tables of users, auth keys and nodes, a node looked up by name,
 * the error sentence; and a meshrecorder's list of recordings.  What is printed holds no control
 * character but the rows' newlines (an answer must not drive the admin's terminal), and every row
 * ends in one. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/admin/admin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void printable(const char *s, bool rows)
{
	for (const char *p = s; *p; p++)
		if (((unsigned char)*p < 0x20 && !(rows && *p == '\n')) || *p == 0x7f)
			abort();
	if (rows && *s && s[strlen(s) - 1] != '\n')
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const kinds[] = { "users", "authkeys", "nodes" };
	char *json = malloc(size + 1), err[512];
	if (!json)
		abort();
	memcpy(json, data, size);
	json[size] = '\0';
	for (size_t i = 0; i < 3; i++) {
		char *t = ctl_admin_table(kinds[i], json);
		if (t)
			printable(t, true);
		free(t);
	}
	char *t = ctl_admin_recordings_table(json);
	if (t)
		printable(t, true);
	free(t);
	ctl_admin_node_id(json, "server");
	ctl_admin_node_id(json, "2");
	ctl_admin_error_text(json, 400, err, sizeof(err));
	if (!memchr(err, '\0', sizeof(err)))
		abort();
	printable(err, false);
	free(json);
	return 0;
}
