/*
 * moderation.h — flags, the human review queue and the public log
 * (sql/006_moderation.sql, docs/moderation.md).
 *
 * The routes are in app/handlers_moderation.c (the automatic classifier
 * is `sotto moderate`, app/cmd_moderate.c); this module holds what they
 * share with other modules: the flag reasons (in docs/openapi.yaml's
 * order), the flag weight, the admin overview and (export.h) the "flags"
 * section of GET /me/export.
 */
#ifndef SOTTO_MODERATION_H
#define SOTTO_MODERATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>
#include <libpq-fe.h>

struct crypto_field;
struct db_stmt;
struct request;

#define MOD_REASON_COUNT 8
#define MOD_NOTE_MAX_CHARS 500      /* a flag's or a decision's note, code points */
#define MOD_RECENT_FLAGS 20         /* flags shown by the admin overview */

/*
 * The reason code (0..MOD_REASON_COUNT-1, the order of docs/openapi.yaml and of the
 * flags.reason column) of name, or -1 when name is not one of them.
 */
int moderation_reason_code(const char *name);

/* The contract's name of reason code (0..7), or NULL when out of range. */
const char *moderation_reason_name(int code);

/*
 * Check the optional "note" of a flag or a decision body: absent or
 * null is fine (*text = NULL), else a string that passes the guardrails'
 * pure checks (guard_check: at most MOD_NOTE_MAX_CHARS characters, no
 * control characters, links, blocked terms). Returns 0, or the status it
 * set (422 invalid_field for a wrong type, 422 content_rejected).
 */
int moderation_note_or_reply(struct request *req, const char **text, size_t *len);

/* The field a flag's note is sealed as: row = the flag's id, owner = the flagger. */
void moderation_note_field(struct crypto_field *f, const char *flag_id, int64_t flagger_pk);

/*
 * A decision's note sealed for review item item_id (mod_items.note_sealed,
 * sql/025: a server-owned value bound to the item, to no account): the
 * bytea text on req's arena and *version the content key version used;
 * NULL when no content key is configured or out of memory.
 */
const char *moderation_decision_note_seal(struct request *req, const char *item_id,
                                          const char *note, size_t len, uint32_t *version);

/*
 * The note of item item_id from column col (note_sealed) and col + 1
 * (note_version) of row: a JSON string, or NULL when there is none or it
 * cannot be opened (its content key version is gone; logged).
 */
json_object *moderation_decision_note_json(struct request *req, const char *item_id,
                                           const PGresult *res, int row, int col);

/*
 * The same for a note kept in another table (an appeal's author's note,
 * sql/028): sealed for the row id of table, read from col and col + 1.
 */
const char *moderation_note_seal(struct request *req, const char *table, const char *id,
                                 const char *note, size_t len, uint32_t *version);
json_object *moderation_note_json(struct request *req, const char *table, const char *id,
                                  const PGresult *res, int row, int col);

/*
 * Inside a decision's transaction (a queue decision, an appeal's): lock
 * the post post_pk (a pk as text) FOR UPDATE. 1 locked, 0 the post is gone
 * (deleted meanwhile), -1 a database failure.
 */
int moderation_lock_post(struct request *req, const char *post_pk)
    __attribute__((warn_unused_result));

/*
 * Inside a decision's transaction, after the item's row: mark the flags of
 * item_pk upheld or not, and count them in their flaggers' records; first
 * is the item's first decision, else one that undoes an earlier decision
 * (an override, an appeal reversed) and moves each flagger's count of it to
 * the other side. 0 or -1.
 */
int moderation_flags_settle(struct request *req, const char *item_pk, bool upheld, bool first)
    __attribute__((warn_unused_result));

/*
 * A review list (the queue, the appeals), pending or decided: its cursor
 * kinds [pending, decided], its statements [instance, community][pending,
 * decided] (each: $1 the viewer "0", $2 the cursor pk, $3 the community
 * pk when a community's, then the limit), the row renderer (given a
 * struct post_keys) and the pk column.
 */
struct mod_listing {
	const char *kind[2];
	struct db_stmt *stmt[2][2];
	json_object *(*row)(struct request *req, const PGresult *res, int row, void *keys);
	int pk_col;
};

/*
 * ?status=pending|decided of list l for community (a pk as text; NULL: the
 * instance's): pending oldest first, decided newest first; cursor = the
 * last row's pk. Replies; returns the status.
 */
int moderation_list(struct request *req, const char *community, const struct mod_listing *l);

/*
 * For GET /admin/overview: add "moderation_pending" (pending queue items)
 * and "recent_flags" (the latest MOD_RECENT_FLAGS flags, newest first, no
 * identities: {"post_id", "reason", "day"}) to out. Returns 0, or the
 * error status it set on req.
 */
int moderation_overview(struct request *req, json_object *out);

#endif
