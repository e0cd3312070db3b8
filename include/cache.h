/*
 * cache.h — one Redis connection per worker (hiredis), ~100 ms timeouts.
 *
 * Redis holds rate-limit state, single-use challenges and token
 * revocations. A lost connection is retried at most once per
 * CACHE_RETRY_MS; meanwhile calls fail fast and callers decide
 * whether to fail open (anonymous reads) or closed (writes, auth).
 */
#ifndef SOTTO_CACHE_H
#define SOTTO_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

struct arena;

#define CACHE_RETRY_MS 250

struct cache;

/*
 * url: redis://[[user]:pass@]host[:port][/db] or
 * unix://[[user]:pass@]/path[?db=N]; user and pass %XX-escaped where
 * needed. With a password every connection starts with AUTH. NULL on a
 * bad url or OOM.
 */
struct cache *cache_new(const char *url, int timeout_ms);
void cache_free(struct cache *c);

/* Connect if needed (rate-limited retries). True when usable. */
bool cache_ready(struct cache *c);

/*
 * Run a command given as argv (binary-safe with lens). The reply is
 * registered on arena a (freed at arena_reset). A Redis error reply is
 * returned like any other reply, with type REDIS_REPLY_ERROR and the
 * message in str (e.g. "NOSCRIPT ..."): callers check reply->type, and
 * cache_down() stays false. NULL on connection failure or timeout (the
 * connection is then dropped, cache_down() becomes true, and it is
 * retried later) and when the arena is out of memory (cache_down() false).
 */
redisReply *cache_command(struct cache *c, struct arena *a, int argc,
                          const char **argv, const size_t *lens);

/*
 * Store value under key for ttl_s seconds unless key already exists
 * (SET NX EX): how a freshly minted secret (a challenge, a ticket) reaches
 * the worker that redeems it. True when stored; false when Redis is
 * unreachable, the arena is out of memory or the key was taken.
 */
bool cache_put_new(struct cache *c, struct arena *a, const char *key, const char *value,
                   int ttl_s)
    __attribute__((warn_unused_result));

/* True when the last call failed because Redis is unreachable. */
bool cache_down(const struct cache *c);

#endif
