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
#define CACHE_MAX_SENTINELS 8
#define CACHE_MASTER_NAME_MAX 64
#define CACHE_PASSWORD_MAX 512     /* REDIS_MASTER_PASSWORD */

struct cache;

/*
 * url: redis://[[user]:pass@]host[:port][/db] or
 * unix://[[user]:pass@]/path[?db=N]; user and pass %XX-escaped where
 * needed. With a password every connection starts with AUTH. NULL on a
 * bad url or OOM.
 */
struct cache *cache_new(const char *url, int timeout_ms);
void cache_free(struct cache *c);

/*
 * Sentinel mode: sentinels is "host:port[,host:port...]" (at most
 * CACHE_MAX_SENTINELS; IPv6 hosts in brackets), master the name they
 * monitor (1..CACHE_MASTER_NAME_MAX bytes). Every connect asks them
 * where the master is; see cache.c. user and pass (NULL or empty: none)
 * are what the master takes with AUTH, as in a URL; a user needs a
 * password. The Sentinels themselves are asked without AUTH. NULL on a
 * bad list, a user without a password, or OOM.
 */
struct cache *cache_new_sentinel(const char *sentinels, const char *master, const char *user,
                                 const char *pass, int timeout_ms);

/*
 * Parse a Sentinel list as above into hosts (malloc'd, caller frees) and
 * ports, at most max of them; *n gets the count. 0, or -1 when
 * malformed (nothing left allocated).
 */
int cache_parse_sentinels(const char *list, char **hosts, int *ports, size_t max, size_t *n)
    __attribute__((warn_unused_result));

/*
 * fn(c, arg) runs after every new connection, before any caller's
 * command; it may use cache_command(). When it returns -1 the connection
 * is dropped and the attempt counts as failed.
 */
void cache_on_connect(struct cache *c, int (*fn)(struct cache *, void *), void *arg);

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
 * READONLY, NOREPLICAS, LOADING and MASTERDOWN error replies count as a
 * lost connection (the server is no longer a usable master).
 */
redisReply *cache_command(struct cache *c, struct arena *a, int argc,
                          const char **argv, const size_t *lens);

/*
 * A Lua script run with EVALSHA: sent once per process with SCRIPT LOAD,
 * then by its SHA1; a server that no longer has it (restart, SCRIPT FLUSH,
 * another Redis after failover) answers NOSCRIPT and it is loaded again.
 * Declare one per script: static struct cache_script s = CACHE_SCRIPT(text);
 */
struct cache_script {
	const char *text;
	char sha[41];               /* as SCRIPT LOAD reported it; "" = load before use */
};
#define CACHE_SCRIPT(text) { (text), "" }

/*
 * Run script s with argv[2..argc) (numkeys, keys, args): argv[0] and
 * argv[1] are the caller's empty slots, filled in here (and lens[0..1]
 * when lens is given). The reply as cache_command() gives it, or NULL.
 */
redisReply *cache_eval(struct cache *c, struct arena *a, struct cache_script *s, int argc,
                       const char **argv, size_t *lens);

/* True when r is a reply (not NULL) of the given REDIS_REPLY_* type. */
bool cache_reply_is(const redisReply *r, int type);

/* The timeout of one command, in milliseconds. */
int cache_timeout_ms(const struct cache *c);

/*
 * WAIT until one replica has every write made so far on this connection,
 * for at most half the command timeout (so that WAIT answers before the
 * socket gives up). 0, or -1 when no replica confirmed it in time.
 */
int cache_wait_replica(struct cache *c, struct arena *a) __attribute__((warn_unused_result));

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
