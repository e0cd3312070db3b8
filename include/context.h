/*
 * context.h — what a module needs of the process it runs in.
 *
 * A worker opens one context after fork (worker.c) and hands it to every
 * request (req->ctx): the configuration, shared memory, its connections, its
 * request arena, its caches and its subkeys. Commands that compute what
 * a worker would without running one (`sotto bench-data`) fill only the
 * parts they need.
 */
#ifndef SOTTO_CONTEXT_H
#define SOTTO_CONTEXT_H

#include "config.h"

struct shm_region;
struct db;
struct standby;
struct cache;
struct arena;
struct feed_cache;
struct ipban_cache;
struct auth_token_cache;

/* Purpose-specific subkeys derived from the configured master secrets. */
struct context_keys {
	unsigned char ratelimit[32]; /* from IP_HMAC_KEY, context "ratelimt" */
	unsigned char lookup[32];    /* from IP_HMAC_KEY, context "acctlkup": account lookup hashes */
	unsigned char jwt[32];       /* from JWT_SECRET, context "jwtsessn": HS256 session tokens */
	unsigned char refresh[32];   /* from JWT_SECRET, context "rfrshtkn": refresh-token MACs */
	unsigned char guard[32];     /* from IP_HMAC_KEY, context "guardrep": repetition window keys */
	unsigned char cursor[32];    /* from IP_HMAC_KEY, context "cursorky": pagination cursors */
	unsigned char events[32];    /* from IP_HMAC_KEY, context "evchanid": nchan channel ids */
	unsigned char invites[32];   /* from IP_HMAC_KEY, context "grpinvit": group invite hashes */
	unsigned char redis[32];     /* from IP_HMAC_KEY, context "redismac": values read back from Redis */
};

struct context {
	const struct config *cfg;
	struct shm_region *shm;
	int slot;                   /* index in shm->workers */
	struct db *db;              /* the primary: every write, every exact read */
	struct db *db_read;         /* DATABASE_READ_URL's, or NULL when unset */
	struct standby *standby;    /* what this worker knows of it (standby.h), or NULL */
	struct cache *cache;
	struct arena *arena;
	struct feed_cache *feed_cache; /* rendered feed pages (feed_cache.h) */
	struct ipban_cache *ipban;  /* the active IP-prefix bans (ipban.h) */
	struct auth_token_cache *tokens; /* verdicts on session tokens seen (auth.h) */
	struct context_keys keys;   /* mlock'ed, wiped at exit */
};

/*
 * Derive every subkey from cfg's master secrets into *keys (the caller
 * wipes them with sodium_memzero). 0, or -1 (keys wiped).
 */
int context_keys_derive(const struct config *cfg, struct context_keys *keys)
    __attribute__((warn_unused_result));

#endif
