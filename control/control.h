/* control/: policy engine (policy/), netmap types and codec, meshcontrol server (server/), control client (client/). The only module that includes jansson. */
#ifndef MESH_CONTROL_H
#define MESH_CONTROL_H

#endif
