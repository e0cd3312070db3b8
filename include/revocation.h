/*
 * revocation.h — ended sessions and deleted accounts stay refused when
 * Redis loses its newest writes.
 *
 * The auth check reads "rs:<sid>" (an ended session) and "gone:<h>" (a
 * deleted account) from Redis, next to the cached account record
 * "ac:<h>:<j>" (auth.h). A Sentinel failover or a restart may lose the
 * newest writes, markers included. Nothing needs writing back: ending a
 * session deletes its row and deleting an account its rows, in PostgreSQL
 * first, and every record miss reads both from there. What must not
 * survive is a cached record from before, which would answer for its
 * token without PostgreSQL until it expired. So Redis is told which
 * server it was last cleared on ("rv-origin" = that server's run_id), and
 * a worker connecting to a server whose run_id differs (a promoted
 * replica, a restarted process, a flushed one) drops every cached account
 * record before it serves anything (revocation_restore).
 */
#ifndef SOTTO_REVOCATION_H
#define SOTTO_REVOCATION_H

struct cache;

/*
 * cache_on_connect() hook (its arg unused): make sure the newly connected
 * Redis server holds no cached account record from before (see above).
 * 0, or -1 when Redis failed (the connection is then not used: sessions
 * fail closed).
 */
int revocation_restore(struct cache *cache, void *unused);

#endif
