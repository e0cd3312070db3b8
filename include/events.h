/*
 * events.h — the per-account durable event queue (sql/005_events.sql).
 *
 * A module that announces something to an account (a reply to its post, a
 * direct message, a moderation decision) calls events_push() inside the
 * same transaction that writes the thing announced, after every other row
 * lock it takes (event_heads is the last lock; see sql/005). After the
 * request, dispatch calls events_flush(), which publishes what was pushed
 * to the accounts' real-time channels (best effort: the queue has it).
 */
#ifndef SOTTO_EVENTS_H
#define SOTTO_EVENTS_H

#include <stdint.h>

#include <json-c/json.h>

struct request;

#define EVENT_DM_MESSAGE          "dm.message"
#define EVENT_POST_REPLY          "post.reply"
#define EVENT_MODERATION_DECISION "moderation.decision"

/*
 * Append an event of type (one of EVENT_*) with data (public ids only;
 * the caller keeps ownership) to account_pk's queue, in the caller's open
 * transaction. Returns its seq (> 0), 0 when the account no longer
 * exists, -1 when the database failed (the caller rolls back).
 */
int64_t events_push(struct request *req, int64_t account_pk, const char *type,
                    json_object *data) __attribute__((warn_unused_result));

/*
 * After the handler returned status: publish the events this request
 * pushed, when its transaction committed. Never fails the request.
 */
void events_flush(struct request *req, int status);

#endif
