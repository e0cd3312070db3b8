/*
 * handlers_events.c — GET /events, POST /events/ack, POST /events/ticket,
 * GET /events/stream, and the "events" section of GET /me/export.
 *
 * The queue (sql/005_events.sql, events.h) hands out seq per account under
 * a row lock held to commit, so a reader that has seen seq N never later
 * finds a committed event with seq <= N: polling with after=<last seq> is
 * enough. Acknowledging deletes; what is not acknowledged comes back.
 *
 * Real time: a ticket is 32 random bytes (base64url) that Redis holds for
 * 60 seconds under evt:<hex BLAKE2b-256 of the ticket text> -> account pk
 * (so a Redis dump holds no usable ticket), consumed by GETDEL. The pk is
 * sealed (cachemac.h) under that key name until the ticket expires: a
 * Redis writer can neither make up a ticket for an account nor move one
 * to another key, and one copied back after use opens only until then. The stream
 * route checks and consumes it and answers X-Accel-Redirect to the
 * account's nchan channel (events_channel); any ticket that does not open
 * gets 403 forbidden from here, so nginx never upgrades it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "cache.h"
#include "cachemac.h"
#include "context.h"
#include "db.h"
#include "events.h"
#include "export.h"
#include "handlers.h"
#include "json.h"
#include "page.h"
#include "util.h"

#define EVENTS_KIND "events"
#define TICKET_BYTES 32
#define TICKET_CHARS 43            /* base64url of 32 bytes, no padding */
#define TICKET_TTL 60              /* seconds; the contract answers "expires_in": 60 */
#define TICKET_KEY_PREFIX "evt:"
#define SUBSCRIBER_PREFIX "/internal/sub/"
#define EVENT_TYPE_MAX 32          /* longest type written as it is */

static struct db_stmt stmt_list = {
	"events_list",
	"SELECT seq, type, day, data::text FROM events "
	"WHERE account_pk = $1 AND seq > $2 ORDER BY seq LIMIT $3", 3, 0
};
static struct db_stmt stmt_ack = {
	"events_ack", "DELETE FROM events WHERE account_pk = $1 AND seq <= $2", 2, 0
};
static struct db_stmt stmt_export = {
	"events_export",
	"SELECT seq, type, day, data::text FROM events WHERE account_pk = $1 ORDER BY seq", 1, 0
};

/* Row -> the GET /events item; NULL on OOM (the row is then left out). */
static json_object *item_row(struct request *req, const PGresult *res, int row, void *unused)
{
	int64_t seq, day;

	(void)req;
	(void)unused;
	if (util_parse_int64(PQgetvalue(res, row, 0), 1, INT64_MAX, &seq) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, 2), 0, INT64_MAX, &day) != 0)
		return NULL;
	return events_item(seq, PQgetvalue(res, row, 1), day, PQgetvalue(res, row, 3));
}

/* An event type as stored: a few lower-case words with dots (sql/005's CHECK). */
static bool type_plain(const char *t)
{
	size_t n = strlen(t);

	return n > 0 && n <= EVENT_TYPE_MAX && strspn(t, "abcdefghijklmnopqrstuvwxyz._") == n;
}

/*
 * The page's items as JSON text, written straight from the rows: data is
 * PostgreSQL's own jsonb text, never parsed and printed again, and no
 * json_object is built (building and printing them was most of what a
 * page cost). A row that is not as stored (a type out of shape, data not
 * an object) is left out, as the export leaves it out. NULL on OOM.
 */
static char *items_text(struct request *req, const struct page_rows *rows, size_t *len)
{
	const PGresult *res = rows->res;
	size_t cap = 1, n = 0;
	char *buf;

	for (int i = 0; i < rows->shown; i++)
		cap += (size_t)PQgetlength(res, i, 1) + (size_t)PQgetlength(res, i, 3) + 80;
	if ((buf = arena_alloc(req->arena, cap)) == NULL)
		return NULL;
	for (int i = 0; i < rows->shown; i++) {
		const char *type = PQgetvalue(res, i, 1), *data = PQgetvalue(res, i, 3);
		int64_t seq, day;

		if (util_parse_int64(PQgetvalue(res, i, 0), 1, INT64_MAX, &seq) != 0 ||
		    util_parse_int64(PQgetvalue(res, i, 2), 0, INT64_MAX, &day) != 0 ||
		    !type_plain(type) || data[0] != '{')
			continue;
		/* cap counts every byte: 80 covers the punctuation and two numbers */
		n += util_put_text(buf + n, n > 0 ? ",{\"seq\":" : "{\"seq\":");
		n += util_put_int64(buf + n, seq);
		n += util_put_text(buf + n, ",\"type\":\"");
		n += util_put_text(buf + n, type);
		n += util_put_text(buf + n, "\",\"day\":");
		n += util_put_int64(buf + n, day);
		n += util_put_text(buf + n, ",\"data\":");
		n += util_put_text(buf + n, data);
		n += util_put_text(buf + n, "}");
	}
	*len = n;
	return buf;
}

/* The seq to list after: the cursor's when given, else ?after= (default 0). */
static int after_or_reply(struct request *req, const struct page *page, int64_t *after)
{
	const char *text = http_query(req, "after");

	*after = 0;
	if (page->has_cursor) {
		if (page->cursor.n != 1 || page->cursor.v[0] < 0)
			return http_error(req, 400, "bad_request", "cursor is not valid for this list");
		*after = page->cursor.v[0];
		return 0;
	}
	if (text != NULL && util_parse_int64(text, 0, INT64_MAX - 1, after) != 0)
		return http_error(req, 422, "invalid_field",
		                  "after must be a whole number from 0 (a seq already seen)");
	return 0;
}

int handle_events_list(struct request *req)
{
	struct page page;
	struct page_rows rows;
	struct cursor next;
	const char *params[3];
	char *items;
	size_t len = 0;
	int64_t after;
	int status;

	if ((status = page_or_reply(req, EVENTS_KIND, &page)) != 0 ||
	    (status = after_or_reply(req, &page, &after)) != 0)
		return status;
	params[0] = arena_i64(req->arena, req->account_pk);
	params[1] = arena_i64(req->arena, after);
	if (params[0] == NULL || params[1] == NULL)
		return http_oom(req);
	if ((status = page_query_or_reply(req, &page, &stmt_list, params, &rows)) != 0)
		return status;
	if ((items = items_text(req, &rows, &len)) == NULL)
		return http_oom(req);
	return page_reply_text(req, EVENTS_KIND, items, len, page_next_key(&rows, 0, &next));
}

int handle_events_ack(struct request *req)
{
	const char *params[2];
	int64_t up_to;

	if (json_get_int64(req->json, "up_to", 0, INT64_MAX - 1, &up_to) != 1)
		return http_error(req, 422, "invalid_field",
		                  "up_to must be a whole number from 0 (the last seq handled)");
	params[0] = arena_i64(req->arena, req->account_pk);
	params[1] = arena_i64(req->arena, up_to);
	if (params[0] == NULL || params[1] == NULL)
		return http_oom(req);
	if (db_exec(req->ctx->db, req->arena, &stmt_ack, params, NULL) == NULL)
		return http_db_failure(req);
	return 204;
}

/* The Redis key of a ticket: evt:<hex BLAKE2b-256 of its text>. NULL on OOM. */
static char *ticket_key(struct arena *a, const char *ticket)
{
	unsigned char h[32];
	char hex[2 * sizeof(h) + 1];

	crypto_generichash(h, sizeof(h), (const unsigned char *)ticket, strlen(ticket), NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	sodium_memzero(h, sizeof(h));
	return arena_printf(a, TICKET_KEY_PREFIX "%s", hex);
}

int handle_events_ticket(struct request *req)
{
	char *ticket = util_random_id(req->arena, TICKET_BYTES);
	const char *key = ticket != NULL ? ticket_key(req->arena, ticket) : NULL;
	const char *pk = arena_i64(req->arena, req->account_pk);
	const char *value = key != NULL && pk != NULL ?
	        cachemac_seal(req->arena, req->ctx->keys.redis, key, "", (int64_t)(util_wall_us() / 1000000) + TICKET_TTL, pk)
	        : NULL;
	json_object *o;

	if (value == NULL)
		return http_oom(req);
	if (!cache_put_new(req->ctx->cache, req->arena, key, value, TICKET_TTL))
		return http_unavailable(req, "tickets are unavailable", HTTP_RETRY_AFTER_DOWN);
	if ((o = json_object_new_object()) == NULL)
		return http_oom(req);
	json_object_object_add(o, "ticket", json_object_new_string(ticket));
	json_object_object_add(o, "expires_in", json_object_new_int(TICKET_TTL));
	return http_reply(req, 200, o);
}

static int refuse(struct request *req)
{
	return http_error(req, 403, "forbidden", "the ticket is invalid, expired or already used");
}

/* A ticket's shape: exactly TICKET_CHARS base64url characters. */
static bool ticket_well_formed(const char *t)
{
	return t != NULL && strlen(t) == TICKET_CHARS &&
	       strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                 "0123456789_-") == TICKET_CHARS;
}

int handle_events_stream(struct request *req)
{
	const char *ticket = http_query(req, "ticket");
	const char *argv[2] = { "GETDEL", NULL };
	char *channel, *target;
	const char *pk_text;
	redisReply *r;
	int64_t pk;

	if (!ticket_well_formed(ticket))
		return refuse(req);
	if ((argv[1] = ticket_key(req->arena, ticket)) == NULL)
		return http_oom(req);
	r = cache_command(req->ctx->cache, req->arena, 2, argv, NULL);
	if (r == NULL)
		return http_unavailable(req, "tickets are unavailable", HTTP_RETRY_AFTER_DOWN);
	if (r->type != REDIS_REPLY_STRING)
		return refuse(req);
	pk_text = cachemac_open(req->ctx->keys.redis, argv[1], "", r->str, r->len, (int64_t)(util_wall_us() / 1000000));
	if (pk_text == NULL || util_parse_int64(pk_text, 1, INT64_MAX, &pk) != 0)
		return refuse(req);
	channel = events_channel(req->arena, req->ctx->keys.events, pk);
	target = channel != NULL ? arena_printf(req->arena, SUBSCRIBER_PREFIX "%s", channel) : NULL;
	if (target == NULL || http_header_add(req, "X-Accel-Redirect", target) != 0)
		return http_oom(req);
	return 200;
}

/* Export: the events not yet acknowledged, as GET /events lists them. */
int export_events(struct request *req, json_object *out, const char *section)
{
	return export_rows(req, out, section, &stmt_export, item_row, NULL);
}
