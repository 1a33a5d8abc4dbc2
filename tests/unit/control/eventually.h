/* tests/unit/control/eventually.h: waiting for what another server's listener thread does. */
#ifndef MESH_TESTS_CONTROL_EVENTUALLY_H
#define MESH_TESTS_CONTROL_EVENTUALLY_H

#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

/* Waits up to 3 s for cond (evaluated under srv->lock); true when it held. */
#define EVENTUALLY(srv, cond)                                \
	({                                                   \
		bool held_ = false;                          \
		for (int t_ = 0; t_ < 300 && !held_; t_++) { \
			pthread_mutex_lock(&(srv)->lock);    \
			held_ = (cond);                      \
			pthread_mutex_unlock(&(srv)->lock);  \
			if (!held_)                          \
				usleep(10000);               \
		}                                            \
		held_;                                       \
	})

#endif
