/*
 * worker.h — one FastCGI worker: its connections and its accept loop.
 */
#ifndef SOTTO_WORKER_H
#define SOTTO_WORKER_H

#include <stdbool.h>
#include <signal.h>

#include "config.h"

struct shm_region;
struct db;
struct cache;
struct arena;

/* Purpose-specific subkeys derived from the configured master secrets. */
struct worker_keys {
	unsigned char ratelimit[32]; /* from IP_HMAC_KEY, context "ratelimt" */
	unsigned char lookup[32];    /* from IP_HMAC_KEY, context "acctlkup": account lookup hashes */
	unsigned char jwt[32];       /* from JWT_SECRET, context "jwtsessn": HS256 session tokens */
	unsigned char guard[32];     /* from IP_HMAC_KEY, context "guardrep": repetition window keys */
	unsigned char cursor[32];    /* from IP_HMAC_KEY, context "cursorky": pagination cursors */
	unsigned char events[32];    /* from IP_HMAC_KEY, context "evchanid": nchan channel ids */
	unsigned char redis[32];     /* from IP_HMAC_KEY, context "redismac": values read back from Redis */
};

struct worker {
	const struct config *cfg;
	struct shm_region *shm;
	int slot;                   /* index in shm->workers */
	struct db *db;
	struct cache *cache;
	struct arena *arena;
	struct feed_cache *feed_cache; /* rendered feed pages (feed_cache.h) */
	struct worker_keys keys;    /* mlock'ed, wiped at exit */
};

/*
 * Derive every worker subkey from cfg's master secrets into *keys (the
 * caller wipes them with sodium_memzero). Also for commands that compute
 * what a worker would (auth_id_hash() in `sotto bench-data`) without
 * running one. 0, or -1 (keys wiped).
 */
int worker_keys_derive(const struct config *cfg, struct worker_keys *keys)
    __attribute__((warn_unused_result));

/* Set by the worker's SIGTERM/SIGQUIT handler: finish the current request, then exit. */
extern volatile sig_atomic_t worker_stop;

/*
 * Run the accept loop on listen_fd until told to stop. Opens its own
 * database and Redis connections after fork. Returns the exit status.
 */
int worker_main(const struct config *cfg, struct shm_region *shm, int slot,
                int listen_fd);

#endif
