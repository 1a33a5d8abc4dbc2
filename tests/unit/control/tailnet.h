/* A control server's state for the tests that run the real client against it on loopback:
 * one user, alice@example.com, and a reusable auth key of hers, valid for an hour. */
#ifndef MESH_TESTS_UNIT_CONTROL_TAILNET_H
#define MESH_TESTS_UNIT_CONTROL_TAILNET_H

#include "control/server/ident.h"

/* Makes the state directory state; 0, or -1 with why on stderr. */
int test_tailnet_make(const char *state, char key[static CTL_AUTHKEY_TEXT_SIZE]);

#endif
