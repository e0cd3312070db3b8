/*
 * feed_cache.c — see feed_cache.h. A small direct-mapped table: a key
 * hashes to one slot, and a new page replaces whatever was there. The
 * feed has few distinct hot pages (first pages per community and sort,
 * and the pages right after them), so this is enough. Viewers' votes on
 * pages live in a second such table, of fixed-size entries. Also the
 * invalidation every worker sees: generations in shared memory.
 *
 * Memory: the structure itself (FEED_VOTES_SLOTS fixed entries, written
 * through once when it is made) and the stored pages, at most
 * FEED_CACHE_MAX_BYTES together; nothing else, however long the worker runs.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "db.h"
#include "feed_cache.h"
#include "http.h"
#include "shm.h"
#include "util.h"

#define FEED_CACHE_SLOTS 64
/*
 * A slot pays off when one viewer asks for one page twice within the share
 * window on the same worker: a few dozen readers at once is plenty, and
 * each entry holds PAGE_LIMIT_MAX pks (about 1 KiB).
 */
#define FEED_VOTES_SLOTS 64

/* One viewer's votes on one page's posts. */
struct feed_votes {
	int64_t viewer;             /* 0: unused */
	uint64_t gen;
	uint64_t expires_us;
	size_t n;
	int64_t pk[PAGE_LIMIT_MAX];
	signed char vote[PAGE_LIMIT_MAX];
};

struct feed_entry {
	char key[FEED_CACHE_KEY_MAX];
	uint64_t expires_us;
	size_t size;                /* of this allocation, texts included */
	struct feed_page page;      /* texts point into this allocation */
};

struct feed_cache {
	uint64_t gen, epoch;
	uint64_t cleared_us;        /* when it was last emptied for a change (util_now_us) */
	uint64_t notified;          /* notifications and reconnects seen (feed_cache_refresh) */
	uint32_t db_gen;            /* the connection generation they were counted under */
	size_t bytes;               /* the stored pages' sizes, at most FEED_CACHE_MAX_BYTES */
	struct feed_entry *slot[FEED_CACHE_SLOTS];
	struct feed_votes votes[FEED_VOTES_SLOTS];
};

struct feed_cache *feed_cache_new(void)
{
	struct feed_cache *c = malloc(sizeof(struct feed_cache));

	if (c == NULL)
		return NULL;
	/*
	 * Written through, not calloc'ed: calloc's zero pages stay untouched
	 * until a viewer's votes land in them, so the votes table would cost
	 * the worker a page at a time over hours, a growth that looks like a
	 * leak. explicit_bzero, because the compiler turns malloc and memset
	 * into calloc.
	 */
	explicit_bzero(c, sizeof(*c));
	c->cleared_us = util_now_us();
	return c;
}

static void slot_drop(struct feed_cache *c, size_t i)
{
	if (c->slot[i] == NULL)
		return;
	c->bytes -= c->slot[i]->size;
	free(c->slot[i]);
	c->slot[i] = NULL;
}

static void feed_cache_clear(struct feed_cache *c)
{
	for (size_t i = 0; i < FEED_CACHE_SLOTS; i++)
		slot_drop(c, i);
}

/* Drop the pages no longer fresh at now_us. */
static void drop_expired(struct feed_cache *c, uint64_t now_us)
{
	for (size_t i = 0; i < FEED_CACHE_SLOTS; i++)
		if (c->slot[i] != NULL && c->slot[i]->expires_us <= now_us)
			slot_drop(c, i);
}

void feed_cache_free(struct feed_cache *c)
{
	if (c == NULL)
		return;
	feed_cache_clear(c);
	free(c);
}

void feed_cache_sync(struct feed_cache *c, uint64_t gen, uint64_t epoch)
{
	if (c->gen == gen && c->epoch == epoch)
		return;
	feed_cache_clear(c);
	c->gen = gen;
	c->epoch = epoch;
	c->cleared_us = util_now_us();
}

uint64_t feed_cache_cleared_us(const struct feed_cache *c)
{
	return c->cleared_us;
}

size_t feed_cache_bytes(const struct feed_cache *c)
{
	return c->bytes;
}

void feed_cache_refresh(struct context *ctx)
{
	struct feed_cache *c = ctx->feed_cache;

	c->notified += db_notifications(ctx->db);
	if (db_generation(ctx->db) != c->db_gen) {
		c->db_gen = db_generation(ctx->db);
		c->notified++;
	}
	feed_cache_sync(c, atomic_load_explicit(&ctx->shm->content_gen, memory_order_acquire),
	                c->notified);
}

void feed_content_changed(struct request *req)
{
	atomic_fetch_add_explicit(&req->ctx->shm->content_gen, 1, memory_order_release);
}

void feed_votes_changed(struct request *req)
{
	uint64_t slot = (uint64_t)req->account_pk % SHM_VOTE_SLOTS;

	atomic_fetch_add_explicit(&req->ctx->shm->vote_gen[slot], 1, memory_order_release);
}

/* FNV-1a, folded to a slot. */
static size_t slot_of(const char *key)
{
	uint64_t h = 14695981039346656037u;

	for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++)
		h = (h ^ *p) * 1099511628211u;
	return (size_t)(h % FEED_CACHE_SLOTS);
}

const struct feed_page *feed_cache_get(struct feed_cache *c, const char *key, uint64_t now_us)
{
	struct feed_entry *e = c->slot[slot_of(key)];

	if (e == NULL || e->expires_us <= now_us || strcmp(e->key, key) != 0)
		return NULL;
	return &e->page;
}

void feed_cache_put(struct feed_cache *c, const char *key, const struct feed_page *page,
                    uint64_t now_us, uint64_t expires_us)
{
	size_t size = sizeof(struct feed_entry);
	size_t cursor = page->next_cursor != NULL ? strlen(page->next_cursor) + 1 : 0;
	size_t slot = slot_of(key);
	struct feed_entry *e;
	char *p;

	if (strlen(key) >= FEED_CACHE_KEY_MAX)
		return;
	/* Each text is arena memory, so no sum of them can wrap. */
	for (size_t i = 0; i < page->n; i++)
		size += page->post_len[i];
	size += cursor;
	/* What the slot held goes either way: the new page is the fresher one. */
	slot_drop(c, slot);
	if (size > FEED_CACHE_MAX_BYTES - c->bytes)
		drop_expired(c, now_us);
	if (size > FEED_CACHE_MAX_BYTES - c->bytes)
		return;
	e = malloc(size);
	if (e == NULL)
		return;
	strcpy(e->key, key);
	e->expires_us = expires_us;
	e->size = size;
	e->page = *page;
	p = (char *)(e + 1);
	for (size_t i = 0; i < page->n; i++) {
		memcpy(p, page->post[i], page->post_len[i]);
		e->page.post[i] = p;
		p += page->post_len[i];
	}
	if (page->next_cursor != NULL) {
		memcpy(p, page->next_cursor, cursor);
		e->page.next_cursor = p;
	}
	c->slot[slot] = e;
	c->bytes += size;
}

/* FNV-1a over the viewer and the page's pks, folded to a votes slot. */
static struct feed_votes *votes_slot(struct feed_cache *c, int64_t viewer,
                                     const struct feed_page *page)
{
	uint64_t h = 14695981039346656037u;

	h = (h ^ (uint64_t)viewer) * 1099511628211u;
	for (size_t i = 0; i < page->n; i++)
		h = (h ^ (uint64_t)page->pk[i]) * 1099511628211u;
	return &c->votes[h % FEED_VOTES_SLOTS];
}

bool feed_cache_votes_get(struct feed_cache *c, int64_t viewer, uint64_t gen,
                          const struct feed_page *page, uint64_t now_us, int *my_vote)
{
	const struct feed_votes *v = votes_slot(c, viewer, page);

	if (v->viewer != viewer || v->gen != gen || v->expires_us <= now_us || v->n != page->n ||
	    memcmp(v->pk, page->pk, page->n * sizeof(page->pk[0])) != 0)
		return false;
	for (size_t i = 0; i < page->n; i++)
		my_vote[i] = v->vote[i];
	return true;
}

void feed_cache_votes_put(struct feed_cache *c, int64_t viewer, uint64_t gen,
                          const struct feed_page *page, const int *my_vote,
                          uint64_t expires_us)
{
	struct feed_votes *v = votes_slot(c, viewer, page);

	v->viewer = viewer;
	v->gen = gen;
	v->expires_us = expires_us;
	v->n = page->n;
	memcpy(v->pk, page->pk, page->n * sizeof(page->pk[0]));
	for (size_t i = 0; i < page->n; i++)
		v->vote[i] = (signed char)my_vote[i];
}
