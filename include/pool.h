/*
 * pool.h — `sotto serve`: the supervising master of the worker pool.
 *
 * Opens (or inherits via LISTEN_FDS) the FastCGI unix socket, maps the
 * shared-memory region, forks cfg->workers workers, respawns the dead
 * (with a crash-loop limit), reloads on SIGHUP by starting new workers
 * before retiring old ones, drains on SIGTERM, and talks to systemd.
 */
#ifndef SOTTO_POOL_H
#define SOTTO_POOL_H

/* Run the pool until SIGTERM/SIGINT. Returns the process exit status. */
int pool_run(void);

#endif
