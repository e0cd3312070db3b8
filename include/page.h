/*
 * page.h — the pagination parameters every list route takes (the contract:
 * ?limit= 1..100, default 20; ?cursor= opaque) and the reply shape
 * {"items": [...], "next_cursor": "<opaque>"|null}.
 */
#ifndef SOTTO_PAGE_H
#define SOTTO_PAGE_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "cursor.h"

struct db_stmt;
struct request;

#define PAGE_LIMIT_DEFAULT 20
#define PAGE_LIMIT_MAX 100

struct page {
	int limit;
	bool has_cursor;
	struct cursor cursor;    /* valid when has_cursor */
};

/*
 * Renders row of res as one list item, with the caller's ctx; NULL leaves
 * the row out (the function logs why, when it is not out of memory).
 */
typedef json_object *page_row_fn(struct request *req, const PGresult *res, int row, void *ctx);

/* One page of a keyset query (page_query_or_reply, page_fetch_or_reply). */
struct page_rows {
	const PGresult *res;
	json_object *items;      /* up to limit items; the caller owns it (NULL: not built) */
	int shown;               /* rows [0, shown) are the page's */
	int last;                /* row the next page starts after; -1: no next page */
};

/*
 * Read ?limit= and ?cursor= (sealed for listing kind). Returns 0, or the
 * status it set: 422 invalid_field for a limit that is not 1..100, 400
 * bad_request for a cursor that does not open.
 */
int page_or_reply(struct request *req, const char *kind, struct page *p);

/*
 * Reply 200 {"items": items, "next_cursor": next or null}; next (may be
 * NULL) is sealed for kind. items is owned by the reply from here.
 */
/*
 * Run the keyset query stmt for page. Its last parameter is set here to
 * limit + 1: the extra row, never shown, says whether a next page exists.
 * Returns 0 with *out filled (no items), or the status it set.
 */
int page_query_or_reply(struct request *req, const struct page *page, struct db_stmt *stmt,
                        const char **params, struct page_rows *out);

/*
 * page_query_or_reply, then rows [0, limit) become items through row.
 * Returns 0 with *out filled, or the status it set.
 */
int page_fetch_or_reply(struct request *req, const struct page *page, struct db_stmt *stmt,
                        const char **params, page_row_fn *row, void *ctx,
                        struct page_rows *out);

/*
 * The next page's cursor when there is one: the whole number in column
 * col of the page's last row as its one field, in *next. NULL otherwise.
 */
const struct cursor *page_next_key(const struct page_rows *rows, int col, struct cursor *next);

int page_reply(struct request *req, const char *kind, json_object *items,
               const struct cursor *next);

/*
 * page_reply for items already rendered: items is the text of the items
 * separated by commas (len bytes, valid JSON values), copied into the
 * reply. Returns 200, or the status it set.
 */
int page_reply_text(struct request *req, const char *kind, const char *items, size_t len,
                    const struct cursor *next);

/*
 * A list keyed by one whole number, whole: its statement takes (owner,
 * after, limit) and returns rows in key order; after is the cursor's one
 * field, or start on the first page (INT64_MAX for newest first, 0 for
 * oldest first); key_col is the column the next page starts after.
 */
struct page_keyed {
	const char *kind;
	struct db_stmt *stmt;
	int64_t start;
	int key_col;
	page_row_fn *row;
	void *ctx;
};

/* GET of a page_keyed list whose $1 is owner (NULL: out of memory). */
int page_keyed_reply(struct request *req, const struct page_keyed *list, const char *owner);

#endif
