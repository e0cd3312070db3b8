/*
 * worker.h — one FastCGI worker's accept loop.
 */
#ifndef SOTTO_WORKER_H
#define SOTTO_WORKER_H

#include <stdbool.h>
#include <signal.h>

#include "config.h"

struct shm_region;

/* Set by the worker's SIGTERM/SIGQUIT handler: finish the current request, then exit. */
extern volatile sig_atomic_t worker_stop;

/*
 * Run the accept loop on listen_fd until told to stop. Opens its own
 * database and Redis connections after fork. Returns the exit status.
 */
int worker_main(const struct config *cfg, struct shm_region *shm, int slot,
                int listen_fd);

#endif
