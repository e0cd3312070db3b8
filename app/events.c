/*
 * events.c — see events.h. Pushing writes the queue row in the caller's
 * transaction and notes the event on the request; flushing publishes the
 * notes to nchan once the handler has succeeded.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "config.h"
#include "context.h"
#include "db.h"
#include "events.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "nchan.h"
#include "shm.h"
#include "util.h"

#define EVENT_DATA_DEPTH 8     /* data holds a few ids: flat */

/*
 * The jsonb text comes back with the seq so that what is published is
 * rendered from the same text GET /events reads (same key order).
 */
static struct db_stmt stmt_push = {
	"events_push",
	"SELECT s, $4::jsonb::text FROM sotto_event_push($1, $2, $3, $4::jsonb) AS s", 4, 0
};

/* Note the event on the request, in push order. -1 on OOM. */
static int note(struct request *req, int64_t account_pk, int64_t seq, const char *type,
                int64_t day, const char *data)
{
	struct event_note *n = arena_alloc(req->arena, sizeof(*n));
	struct event_note **tail = &req->events;

	if (n == NULL || (n->type = arena_strdup(req->arena, type)) == NULL ||
	    (n->data = arena_strdup(req->arena, data)) == NULL)
		return -1;
	n->account_pk = account_pk;
	n->seq = seq;
	n->day = day;
	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = n;
	return 0;
}

int64_t events_push(struct request *req, int64_t account_pk, const char *type,
                    json_object *data)
{
	const char *params[4];
	size_t len = 0;
	int64_t seq = 0, day = util_today();
	PGresult *res;

	params[0] = arena_i64(req->arena, account_pk);
	params[1] = type;
	params[2] = arena_i64(req->arena, day);
	params[3] = json_dump(data, &len);
	if (params[0] == NULL || params[2] == NULL || params[3] == NULL)
		return -1;
	res = db_exec(req->ctx->db, req->arena, &stmt_push, params, NULL);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	if (PQgetisnull(res, 0, 0))
		return 0;
	if (util_parse_int64(PQgetvalue(res, 0, 0), 1, INT64_MAX, &seq) != 0)
		return -1;
	/* Without the note the event is still queued; only real time misses it. */
	if (note(req, account_pk, seq, type, day, PQgetvalue(res, 0, 1)) != 0)
		log_msg(LOG_WARN, "events: out of memory noting an event for publishing");
	return seq;
}

int events_note(struct request *req, int64_t account_pk, int64_t seq, const char *type,
                int64_t day, const char *data)
{
	return note(req, account_pk, seq, type, day, data);
}

json_object *events_item(int64_t seq, const char *type, int64_t day, const char *data)
{
	json_object *o, *d;
	char *copy;

	/* jsonb text of an object: written out as it is, never parsed and
	 * printed again (that was most of the cost of a GET /events page). */
	if (data == NULL || data[0] != '{')
		return NULL;
	if ((copy = strdup(data)) == NULL)
		return NULL;
	if ((d = json_object_new_object()) == NULL) {
		free(copy);
		return NULL;
	}
	json_object_set_serializer(d, json_object_userdata_to_json_string, copy,
	                           json_object_free_userdata);
	if ((o = json_object_new_object()) == NULL ||
	    json_object_object_add(o, "seq", json_object_new_int64(seq)) != 0 ||
	    json_object_object_add(o, "type", json_object_new_string(type)) != 0 ||
	    json_object_object_add(o, "day", json_object_new_int64(day)) != 0) {
		json_object_put(o);
		json_object_put(d);
		return NULL;
	}
	if (json_object_object_add(o, "data", d) != 0) {
		json_object_put(o);
		json_object_put(d);
		return NULL;
	}
	return o;
}

char *events_channel(struct arena *a, const unsigned char key[32], int64_t account_pk)
{
	unsigned char msg[8], out[32];
	uint64_t v = (uint64_t)account_pk;
	char *text;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)(v >> (8 * i));
	crypto_generichash(out, sizeof(out), msg, sizeof(msg), key, 32);
	text = util_b64url_encode(a, out, sizeof(out));
	sodium_memzero(out, sizeof(out));
	return text;
}

/* Publish one noted event; -1 when it did not reach nchan. */
static int publish(struct request *req, const struct event_note *n)
{
	const struct config *cfg = req->ctx->cfg;
	json_object *item = events_item(n->seq, n->type, n->day, n->data);
	char *channel = events_channel(req->arena, req->ctx->keys.events, n->account_pk);
	const char *body;
	size_t len = 0;
	int rc = -1;

	if (item != NULL && channel != NULL && (body = json_dump(item, &len)) != NULL)
		rc = nchan_publish(cfg->nchan_publish, cfg->nchan_timeout_ms, channel, body, len);
	json_object_put(item);
	return rc;
}

void events_close(struct request *req, int64_t account_pk)
{
	const struct config *cfg = req->ctx->cfg;
	char *channel;

	if (cfg->nchan_publish == NULL || cfg->nchan_publish[0] == '\0')
		return;
	channel = events_channel(req->arena, req->ctx->keys.events, account_pk);
	if (channel != NULL &&
	    nchan_close(cfg->nchan_publish, cfg->nchan_timeout_ms, channel) == 0)
		return;
	log_msg(LOG_WARN, "events: closing a channel in nchan failed (its streams stay open)");
	atomic_fetch_add_explicit(&req->ctx->shm->events_publish_failed, 1,
	                          memory_order_relaxed);
}

void events_flush(struct request *req, int status)
{
	const struct config *cfg = req->ctx->cfg;
	struct event_note *n = req->events;

	req->events = NULL;
	if (n == NULL || status < 200 || status > 299 || cfg->nchan_publish == NULL ||
	    cfg->nchan_publish[0] == '\0')
		return;
	/* After one failure the rest are not tried: a dead nginx costs one timeout. */
	for (bool failed = false; n != NULL; n = n->next) {
		if (!failed && publish(req, n) == 0)
			continue;
		if (!failed)
			log_msg(LOG_WARN, "events: publishing to nchan failed (the queue keeps the event)");
		failed = true;
		atomic_fetch_add_explicit(&req->ctx->shm->events_publish_failed, 1,
		                          memory_order_relaxed);
	}
}
