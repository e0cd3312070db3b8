/*
 * export.h — GET /me/export: everything stored about an account.
 *
 * Each module that stores data about accounts adds one hook to the table
 * in app/export.c. A hook adds its section (decrypted) to the export
 * object and returns 0, or the error status it set.
 */
#ifndef SOTTO_EXPORT_H
#define SOTTO_EXPORT_H

#include <json-c/json.h>
#include <libpq-fe.h>

#include "page.h"

struct db_stmt;

struct request;

struct export_hook {
	const char *section;        /* key in the export object */
	int (*fn)(struct request *req, json_object *out, const char *section);
};

/*
 * A section of one JSON item per row of stmt, run with the account's pk as
 * $1; row renders a row with ctx (NULL: left out). 0 or the status it set.
 */
int export_rows(struct request *req, json_object *out, const char *section,
                struct db_stmt *stmt, page_row_fn *row, void *ctx);

/* The hooks, in the order their sections appear. */
extern const struct export_hook export_hooks[];
extern const size_t export_hook_count;

/* app/handlers_me.c: the "account" section. */
int export_account(struct request *req, json_object *out, const char *section);

/* app/handlers_posts.c: "posts" (posts and replies, decrypted) and "votes". */
int export_posts(struct request *req, json_object *out, const char *section);
int export_votes(struct request *req, json_object *out, const char *section);

/* app/handlers_communities.c: "communities" created and "mutes", {"community"}. */
int export_communities(struct request *req, json_object *out, const char *section);
int export_mutes(struct request *req, json_object *out, const char *section);

/* app/handlers_blocks.c: "blocks", {"block_id", "origin_post_id", "day"}, oldest first. */
int export_blocks(struct request *req, json_object *out, const char *section);

/*
 * app/moderation.c: "flags" filed, {"flag_id", "post_id", "reason",
 * "note" (decrypted)|null, "day", "upheld": true|false|null}, oldest first.
 */
int export_flags(struct request *req, json_object *out, const char *section);
/*
 * app/handlers_appeals.c: "appeals" of the account's removed posts, filed or
 * not, {"appeal_id", "post_id", "status": "unfiled"|"pending"|"upheld"|
 * "reversed"|"void", "last_day", "day_filed", "day_decided", "note"
 * (decrypted)|null}, oldest first.
 */
int export_appeals(struct request *req, json_object *out, const char *section);
/*
 * app/handlers_community_mods.c: "moderating", the communities the account
 * moderates, {"community", "moderator_id", "day_joined"}.
 */
int export_moderating(struct request *req, json_object *out, const char *section);
/* app/handlers_events.c: "events" not yet acknowledged. */
int export_events(struct request *req, json_object *out, const char *section);
/* app/handlers_dm.c: "conversations" with their messages (server-readable ones decrypted). */
int export_conversations(struct request *req, json_object *out, const char *section);
/*
 * app/handlers_group_messages.c: "groups" the account is in, each with its
 * own messages there as stored (ciphertext and nonce).
 */
int export_groups(struct request *req, json_object *out, const char *section);

#endif
