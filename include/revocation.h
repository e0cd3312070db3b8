/*
 * revocation.h — logouts (revoked token ids) that survive losing Redis.
 *
 * The auth check reads "rv:<j>" from Redis (auth.h, auth_revoked_key: j is
 * the keyed hash of the token's jti that token_revocations keeps, so a
 * restore writes exactly the key the check reads). Redis may lose its
 * newest writes in a Sentinel failover or a restart; PostgreSQL holds
 * every logout too (token_revocations, written first by auth_revoke), and
 * Redis is told which server it was last restored on ("rv-origin" = that
 * server's run_id). A worker connecting to a server whose run_id differs
 * (a promoted replica, a restarted process) writes every live logout back
 * before it serves anything (revocation_restore), so a logged-out token
 * stays logged out. It also
 * drops the cached account records ("ac:"): one that outlived a lost
 * deletion marker would otherwise let a deleted account's token in until
 * the record expired; the next request reads PostgreSQL instead.
 */
#ifndef SOTTO_REVOCATION_H
#define SOTTO_REVOCATION_H

struct cache;

#define REVOCATION_RESTORE_BATCH 128   /* revocations per Redis round trip */

/*
 * cache_on_connect() hook, arg the worker's struct db: make sure the
 * newly connected Redis server holds every live revocation and no cached
 * account record from before (see above).
 * 0, or -1 when Redis or PostgreSQL failed (the connection is then not
 * used: sessions fail closed).
 */
int revocation_restore(struct cache *cache, void *db);

#endif
