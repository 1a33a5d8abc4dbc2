/* sshd/: embedded SSH server on libssh: host keys, authorization hook, sessions, forwarding, agent, login child. The only module that includes libssh. */
#ifndef MESH_SSHD_H
#define MESH_SSHD_H

#endif
