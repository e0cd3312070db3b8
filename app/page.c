/*
 * page.c — ?limit= and ?cursor= for every list route, and the list reply.
 */
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "context.h"
#include "cursor.h"
#include "db.h"
#include "http.h"
#include "page.h"
#include "util.h"

int page_or_reply(struct request *req, const char *kind, struct page *p)
{
	const char *limit = http_query(req, "limit");
	const char *cursor = http_query(req, "cursor");
	int64_t n = PAGE_LIMIT_DEFAULT;

	if (limit != NULL && util_parse_int64(limit, 1, PAGE_LIMIT_MAX, &n) != 0)
		return http_error(req, 422, "invalid_field", "limit must be a whole number from 1 to 100");
	p->limit = (int)n;
	p->has_cursor = cursor != NULL;
	if (p->has_cursor &&
	    cursor_open(req->ctx->keys.cursor, kind, cursor, &p->cursor) != 0)
		return http_error(req, 400, "bad_request", "cursor is not valid for this list");
	return 0;
}

int page_query_or_reply(struct request *req, const struct page *page, struct db_stmt *stmt,
                        const char **params, struct page_rows *out)
{
	PGresult *res;

	params[stmt->n_params - 1] = arena_printf(req->arena, "%d", page->limit + 1);
	if (params[stmt->n_params - 1] == NULL)
		return http_oom(req);
	if ((res = db_exec(req->db, req->arena, stmt, params, NULL)) == NULL)
		return http_db_failure(req);
	out->res = res;
	out->items = NULL;
	out->shown = PQntuples(res) > page->limit ? page->limit : PQntuples(res);
	out->last = PQntuples(res) > page->limit ? out->shown - 1 : -1;
	return 0;
}

int page_fetch_or_reply(struct request *req, const struct page *page, struct db_stmt *stmt,
                        const char **params, page_row_fn *row, void *ctx,
                        struct page_rows *out)
{
	int status;

	if ((status = page_query_or_reply(req, page, stmt, params, out)) != 0)
		return status;
	if ((out->items = json_object_new_array()) == NULL)
		return http_oom(req);
	for (int i = 0; i < out->shown; i++) {
		json_object *item = row(req, out->res, i, ctx);

		if (item != NULL)
			json_object_array_add(out->items, item);
	}
	return 0;
}

const struct cursor *page_next_key(const struct page_rows *rows, int col, struct cursor *next)
{
	if (rows->last < 0)
		return NULL;
	next->n = 1;
	if (util_parse_int64(PQgetvalue(rows->res, rows->last, col), 0, INT64_MAX,
	                     &next->v[0]) != 0)
		return NULL;
	return next;
}

int page_reply(struct request *req, const char *kind, json_object *items,
               const struct cursor *next)
{
	json_object *o = json_object_new_object();
	char *text = NULL;

	if (o == NULL) {
		json_object_put(items);
		return http_oom(req);
	}
	json_object_object_add(o, "items", items);
	if (next != NULL &&
	    (text = cursor_seal(req->arena, req->ctx->keys.cursor, kind, next)) == NULL) {
		json_object_put(o);
		return http_oom(req);
	}
	json_object_object_add(o, "next_cursor", text != NULL ? json_object_new_string(text) : NULL);
	return http_reply(req, 200, o);
}

int page_reply_text(struct request *req, const char *kind, const char *items, size_t len,
                    const struct cursor *next)
{
	static const char head[] = "{\"items\":[", tail[] = "],\"next_cursor\":";
	const char *cursor = NULL;
	size_t cap, n;
	char *buf;

	if (next != NULL &&
	    (cursor = cursor_seal(req->arena, req->ctx->keys.cursor, kind, next)) == NULL)
		return http_oom(req);
	/* a sealed cursor is base64url: nothing in it needs escaping */
	cap = sizeof(head) + len + sizeof(tail) + (cursor != NULL ? strlen(cursor) : 0) + 8;
	if ((buf = arena_alloc(req->arena, cap)) == NULL)
		return http_oom(req);
	memcpy(buf, head, sizeof(head) - 1);
	n = sizeof(head) - 1;
	memcpy(buf + n, items, len);
	n += len;
	memcpy(buf + n, tail, sizeof(tail) - 1);
	n += sizeof(tail) - 1;
	if (cursor != NULL)
		n += (size_t)snprintf(buf + n, cap - n, "\"%s\"}", cursor);
	else
		n += (size_t)snprintf(buf + n, cap - n, "null}");
	req->reply_raw = buf;
	req->reply_raw_len = n;
	req->reply_type = "application/json";
	return 200;
}

int page_keyed_reply(struct request *req, const struct page_keyed *list, const char *owner)
{
	struct page page;
	struct page_rows rows;
	struct cursor next;
	const char *params[3];
	int status;

	if ((status = page_or_reply(req, list->kind, &page)) != 0)
		return status;
	if (page.has_cursor && page.cursor.n != 1)
		return http_error(req, 400, "bad_request", "cursor is not valid for this list");
	params[0] = owner;
	params[1] = arena_i64(req->arena, page.has_cursor ? page.cursor.v[0] : list->start);
	if (params[0] == NULL || params[1] == NULL)
		return http_oom(req);
	if ((status = page_fetch_or_reply(req, &page, list->stmt, params, list->row, list->ctx,
	                                  &rows)) != 0)
		return status;
	return page_reply(req, list->kind, rows.items, page_next_key(&rows, list->key_col, &next));
}
