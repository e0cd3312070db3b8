/*
 * page.h — the pagination parameters every list route takes (API.md:
 * ?limit= 1..100, default 20; ?cursor= opaque) and the reply shape
 * {"items": [...], "next_cursor": "<opaque>"|null}.
 */
#ifndef SOTTO_PAGE_H
#define SOTTO_PAGE_H

#include <stdbool.h>

#include <json-c/json.h>

#include "cursor.h"

struct request;

#define PAGE_LIMIT_DEFAULT 20
#define PAGE_LIMIT_MAX 100

struct page {
	int limit;
	bool has_cursor;
	struct cursor cursor;    /* valid when has_cursor */
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
int page_reply(struct request *req, const char *kind, json_object *items,
               const struct cursor *next);

#endif
