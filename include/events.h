/*
 * events.h — the per-account durable event queue (sql/005_events.sql) and
 * its real-time delivery through nginx nchan.
 *
 * A module that announces something to an account (a reply to its post, a
 * direct message, a moderation decision) calls events_push() inside the
 * same transaction that writes the thing announced, after every other row
 * lock it takes (event_heads is the last lock; see sql/005). events_push
 * also notes the event on the request. After the response, dispatch calls
 * events_flush(), which publishes the noted events to the accounts'
 * real-time channels when the handler returned a 2xx status (best effort:
 * the queue has them; a failed publish is counted, never an error).
 *
 * So: a handler that rolls back after pushing MUST return an error status
 * (4xx/5xx), or clients would be told of an event that never committed.
 * (They would find nothing for it in GET /events, but still.)
 *
 * What is published is exactly one GET /events item:
 *   {"seq": N, "type": "...", "day": D, "data": {...}}
 * with data rendered from PostgreSQL's jsonb text, as GET /events does.
 */
#ifndef SOTTO_EVENTS_H
#define SOTTO_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

struct arena;
struct request;

#define EVENT_DM_MESSAGE          "dm.message"
#define EVENT_DM_KEY              "dm.key"
#define EVENT_POST_REPLY          "post.reply"
#define EVENT_MODERATION_DECISION "moderation.decision"
#define EVENT_MODERATION_APPEAL   "moderation.appeal"
#define EVENT_GROUP_MESSAGE       "group.message"
#define EVENT_GROUP_REKEY         "group.rekey"
#define EVENT_GROUP_MEMBER        "group.member"

/* Characters of a channel id: base64url of 32 bytes. */
#define EVENTS_CHANNEL_CHARS 43

/* An event noted on the request by events_push (arena-owned). */
struct event_note {
	struct event_note *next;
	int64_t account_pk;
	int64_t seq;
	const char *type;
	int64_t day;
	const char *data;           /* jsonb text as PostgreSQL returned it */
};

/*
 * Append an event of type (one of EVENT_*) with data (public ids only;
 * the caller keeps ownership) to account_pk's queue, in the caller's open
 * transaction. Returns its seq (> 0), 0 when the account no longer
 * exists, -1 when the database failed (the caller rolls back and returns
 * an error status).
 */
int64_t events_push(struct request *req, int64_t account_pk, const char *type,
                    json_object *data) __attribute__((warn_unused_result));

/*
 * Note an event that SQL pushed for the caller's transaction (many at once:
 * sql/018's group functions) so events_flush publishes it; data is the
 * jsonb text PostgreSQL returned. -1 on OOM (the queue still has it).
 */
int events_note(struct request *req, int64_t account_pk, int64_t seq, const char *type,
                int64_t day, const char *data) __attribute__((warn_unused_result));

/*
 * After the handler returned status: publish the events this request
 * pushed, when status is 2xx (its transaction committed). Never fails the
 * request.
 */
void events_flush(struct request *req, int status);

/*
 * Close the real-time channel of account_pk: every open event stream of
 * the account ends now (logout, password change, account deletion; a
 * client whose token still works asks for a new ticket). Best effort
 * after the change committed: a failure is logged and counted with the
 * failed publishes, never an error.
 */
void events_close(struct request *req, int64_t account_pk);

/*
 * The GET /events item for one event: a new json_object (the caller owns
 * it), or NULL on OOM or when data is not the text of a JSON object (it
 * always is: PostgreSQL's jsonb output). data is copied and printed as it
 * is when the item is serialized, not parsed.
 */
json_object *events_item(int64_t seq, const char *type, int64_t day, const char *data);

/*
 * The account's nchan channel id: base64url of a BLAKE2b-256 keyed hash
 * (key: the worker's "evchanid" subkey of IP_HMAC_KEY) of the account pk,
 * EVENTS_CHANNEL_CHARS characters, on arena a; NULL on OOM. Neither the
 * account id nor the pk can be learnt from it or guessed into it.
 */
char *events_channel(struct arena *a, const unsigned char key[32], int64_t account_pk);

#endif
