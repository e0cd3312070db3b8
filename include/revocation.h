/*
 * revocation.h — logouts (revoked token ids) that survive losing Redis.
 *
 * The auth check reads "rv:<jti>" from Redis (auth.h). Redis may lose its
 * newest writes in a Sentinel failover or a restart, so PostgreSQL holds
 * every revocation too, and Redis is told which server it was last
 * restored on ("rv-origin" = that server's run_id). A worker connecting
 * to a server whose run_id differs (a promoted replica, a restarted
 * process) writes every live revocation back before it serves anything
 * (revocation_restore), so a logged-out token stays logged out. It also
 * drops the cached account records ("ac:"): one that outlived a lost
 * deletion marker would otherwise let a deleted account's token in until
 * the record expired; the next request reads PostgreSQL instead.
 */
#ifndef SOTTO_REVOCATION_H
#define SOTTO_REVOCATION_H

#include <stdbool.h>
#include <stdint.h>

struct arena;
struct cache;
struct db;

#define REVOCATION_RESTORE_BATCH 128   /* revocations per Redis round trip */

/*
 * Revoke token id jti until exp (seconds since the epoch): PostgreSQL
 * first, then Redis. With wait_replica (Sentinel mode) Redis must also
 * confirm that a replica has the key (WAIT), so that the promoted one
 * has it too. 0 (also when exp has passed or it was revoked already) or
 * -1 when either store failed: nothing is acknowledged then.
 */
int revocation_add(struct db *db, struct cache *cache, struct arena *a, bool wait_replica,
                   const char *jti, int64_t exp) __attribute__((warn_unused_result));

/*
 * cache_on_connect() hook, arg the worker's struct db: make sure the
 * newly connected Redis server holds every live revocation and no cached
 * account record from before (see above).
 * 0, or -1 when Redis or PostgreSQL failed (the connection is then not
 * used: sessions fail closed).
 */
int revocation_restore(struct cache *cache, void *db);

#endif
