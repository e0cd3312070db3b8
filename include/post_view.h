/*
 * post_view.h — posts as the HTTP contract shows them, decrypted.
 *
 * Every statement that lists posts selects POST_VIEW_COLUMNS from
 * POST_VIEW_FROM, with $1 the viewer's account pk (0 when anonymous), or
 * the feed's POST_VIEW_SHARED_COLUMNS (no viewer), so one function renders
 * a row everywhere: the body opened with its author's
 * data key, "mine" and "my_vote" for the viewer, never the author.
 */
#ifndef SOTTO_POST_VIEW_H
#define SOTTO_POST_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "crypto.h"

struct request;

/*
 * The viewer's vote is a subquery, looked up by primary key for each row
 * the page returns: as a join, the generic plan merged the page with all
 * of the viewer's votes, sorted (7 ms for a reader with 6000 votes at a
 * million posts, against 0.4 ms).
 */
#define POST_VIEW_POST_COLUMNS \
	"p.pk, p.id, p.body_sealed, p.day, p.score, p.reply_count, c.slug, par.id, " \
	"p.author_pk, k.version, k.wrapped, "
#define POST_VIEW_COLUMNS POST_VIEW_POST_COLUMNS \
	"COALESCE((SELECT v.value FROM votes v WHERE v.post_pk = p.pk AND v.voter_pk = $1), 0) "
/*
 * The same columns for a page every viewer shares (the feed's page cache):
 * no viewer, so no $1 and my_vote 0; the viewer's part is a statement of
 * its own (handlers_feed.c, feed_viewer).
 */
#define POST_VIEW_SHARED_COLUMNS POST_VIEW_POST_COLUMNS "0 "
#define POST_VIEW_FROM \
	"FROM posts p JOIN account_keys k ON k.account_pk = p.author_pk " \
	"LEFT JOIN communities c ON c.pk = p.community_pk " \
	"LEFT JOIN posts par ON par.pk = p.parent_pk "

/*
 * What the viewer $1 blocked stays out of a listing (docs/blocks.md): the
 * blocked post itself, and a blocked author's replies under the viewer's
 * own posts. Nothing else: a filter on everything an author wrote would
 * tell the viewer which posts share an author. Anonymous ($1 = 0) has no
 * blocks. Each condition is a set the statement reads once, on an index
 * (blocks_post, blocks_author), and that PostgreSQL hashes for a page of
 * rows: the viewer's blocked posts, and, only for a reply under the
 * viewer's own post, their blocked authors. As NOT EXISTS probes, a table
 * with few blocks in all was planned as a scan of all of them for every
 * row (a thread of 50 replies read 10 000 block rows: 0.64 x the rate
 * without blocks, tests/bench thread_blocks). The subqueries never return
 * NULL (post_pk is NULL once the post is gone), so NOT IN means "none of".
 */
#define POST_VIEW_UNBLOCKED \
	"p.pk NOT IN (SELECT b.post_pk FROM blocks b WHERE b.blocker_pk = $1 " \
	"AND b.post_pk IS NOT NULL) AND (par.author_pk IS DISTINCT FROM $1 OR " \
	"p.author_pk NOT IN (SELECT b.author_pk FROM blocks b WHERE b.blocker_pk = $1)) "

/* Column of p.pk in POST_VIEW_COLUMNS (for cursors). */
#define POST_VIEW_PK 0

#define POST_KEYS_MAX 128

/*
 * Data keys unwrapped while rendering one response, and the wrapping key
 * they were unwrapped with (derived once a response, for the master key
 * version of the last one; wrapping.version 0: none yet); wipe when done.
 */
struct post_keys {
	size_t n;
	struct {
		int64_t owner;
		unsigned char key[CRYPTO_KEY_BYTES];
	} e[POST_KEYS_MAX];
	struct crypto_wrapping wrapping;
};

void post_keys_wipe(struct post_keys *keys);

/* $1 of the view: the viewer's pk as text, "0" when anonymous (arena). */
const char *post_viewer(struct request *req);

/* The field a post body is sealed as: row = public id, owner = author. */
void post_body_field(struct crypto_field *f, const char *post_id, int64_t author_pk);

/*
 * A Post object from its parts (community and parent_id may be NULL).
 * NULL on out of memory. The caller owns the object.
 */
json_object *post_json(const char *id, const char *body, int64_t day, int64_t score,
                       int64_t reply_count, const char *community, const char *parent_id,
                       bool mine, int my_vote);

/*
 * Row of res as a Post object, its body opened with keys (a struct
 * post_keys, caching its authors' keys across rows; a page_row_fn,
 * include/page.h). A row whose body cannot be opened (its author's master
 * key version is gone) is left out and logged. NULL then or out of
 * memory. The caller owns the object.
 */
json_object *post_view_item(struct request *req, const PGresult *res, int row, void *keys);

/*
 * Row of res as the feed keeps it (include/feed_cache.h): the Post's JSON
 * text without "mine", "my_vote" and its closing brace, in the arena
 * (*len bytes), with its pk and author. NULL when the row is left out
 * (logged, as above) or out of memory.
 */
char *post_view_prefix(struct request *req, const PGresult *res, int row,
                       struct post_keys *keys, int64_t *pk, int64_t *author, size_t *len);

#endif
