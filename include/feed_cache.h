/*
 * feed_cache.h — a worker's cache of rendered feed pages, and how a
 * change to posts or votes invalidates it in every worker.
 *
 * A page is kept as each post's JSON up to its closing brace, without the
 * viewer's "mine" and "my_vote" (the feed adds those per request), with
 * the post's pk and author pk, and the next cursor. Entries live for the
 * feed's SOTTO_FEED_SNAPSHOT_SHARE seconds; the whole cache is dropped
 * whenever posts may have vanished or appeared (feed_cache_sync), so a
 * deletion, a removal or a hold is never served from it.
 */
#ifndef SOTTO_FEED_CACHE_H
#define SOTTO_FEED_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "page.h"

#define FEED_CACHE_KEY_MAX 160

/*
 * The most a worker's stored pages take together, in bytes (each page's
 * allocation, its texts included). A page that does not fit once expired
 * pages are dropped is not stored: the next request renders it again.
 */
#define FEED_CACHE_MAX_BYTES (512 * 1024)

/*
 * The PostgreSQL channel every worker LISTENs on: sql/010 and sql/011
 * notify it whenever posts are deleted or change status, whoever does it
 * (`sotto moderate`, another host), and a worker drops its cached feed
 * pages when a notification arrives.
 */
#define FEED_CHANNEL "sotto_content"

struct context;
struct request;

/* One page. In the cache it owns its texts; while being built they are arena text. */
struct feed_page {
	size_t n;
	int64_t pk[PAGE_LIMIT_MAX];
	int64_t author[PAGE_LIMIT_MAX];
	const char *post[PAGE_LIMIT_MAX];   /* "{...": a Post without its closing brace */
	size_t post_len[PAGE_LIMIT_MAX];
	const char *next_cursor;            /* sealed cursor text, or NULL on the last page */
};

struct feed_cache;

/* NULL when out of memory. The worker owns it. */
struct feed_cache *feed_cache_new(void);
void feed_cache_free(struct feed_cache *c);

/*
 * Drop every page when the content generation differs from the one the
 * cache was filled under (gen: shared memory, bumped by every worker that
 * deletes or hides a post; epoch: this worker's count of PostgreSQL
 * notifications and reconnects, for changes made outside the pool).
 */
void feed_cache_sync(struct feed_cache *c, uint64_t gen, uint64_t epoch);

/*
 * When (util_now_us) the cache was created or last dropped for a change:
 * a page read from a standby may be stored only if the standby had
 * replayed what the primary held after then (standby_covers), or a page
 * from before a deletion could come back until it expires.
 */
uint64_t feed_cache_cleared_us(const struct feed_cache *c);

/*
 * feed_cache_sync() for this worker's cache (ctx->feed_cache): the
 * content generation from shared memory, the epoch counted from the
 * database connection's notifications and reconnects.
 */
void feed_cache_refresh(struct context *ctx);

/*
 * After committing a change that hides, removes or restores a post (a
 * status change or a deletion), call this so that every worker stops
 * serving cached feed pages that still show it. Never fails.
 */
void feed_content_changed(struct request *req);

/*
 * After committing a change to the requesting account's votes, blocks or
 * mutes, call this so that no worker serves that viewer's my_vote values
 * (and hidden posts) from before it.
 * Never fails.
 */
void feed_votes_changed(struct request *req);

/* The page stored under key and still fresh at now_us, or NULL. Valid until the next put/sync. */
const struct feed_page *feed_cache_get(struct feed_cache *c, const char *key, uint64_t now_us);

/*
 * Store a copy of page under key until expires_us, in place of what its
 * slot held; pages expired at now_us make room when the copy would take the
 * cache over FEED_CACHE_MAX_BYTES. Not stored (a miss later) when it still
 * does not fit, or on a key too long or out of memory.
 */
void feed_cache_put(struct feed_cache *c, const char *key, const struct feed_page *page,
                    uint64_t now_us, uint64_t expires_us);

/* Bytes the stored pages take now (at most FEED_CACHE_MAX_BYTES). */
size_t feed_cache_bytes(const struct feed_cache *c);

/* Not a vote: in a viewer's my_vote values, a post the viewer's block or mute leaves out. */
#define FEED_HIDDEN 2

/*
 * A viewer's my_vote values (-1, 0, 1, or FEED_HIDDEN) for the posts of page, as read
 * under the viewer's vote generation gen (shared memory, bumped by
 * feed_votes_changed), so that a repeated page costs no database round
 * trip until the viewer votes, blocks or mutes.
 * Entries are keyed by viewer, generation and the page's post pks, and
 * survive feed_cache_sync (a vote does not depend on which posts exist).
 */
bool feed_cache_votes_get(struct feed_cache *c, int64_t viewer, uint64_t gen,
                          const struct feed_page *page, uint64_t now_us, int *my_vote);
void feed_cache_votes_put(struct feed_cache *c, int64_t viewer, uint64_t gen,
                          const struct feed_page *page, const int *my_vote,
                          uint64_t expires_us);

#endif
