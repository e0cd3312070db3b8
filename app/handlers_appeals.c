/*
 * handlers_appeals.c — POST /moderation/appeals, GET /moderation/appeals,
 * POST /moderation/appeals/{id}/decision, and a community's own:
 * GET /communities/{slug}/appeals, POST /communities/{slug}/appeals/{id}/decision.
 *
 * A removal opened its appeal (appeal.h); its author files it once, within
 * SOTTO_APPEAL_DAYS, with a note. A community's removal goes to that
 * community's moderators first (to the instance directly when it has none
 * left); when they uphold it, it goes on to the instance. A reversal, by
 * either, restores the post, gives back the trust the removal took (as
 * recorded then), marks the review item kept and its flags not upheld; the
 * author gets a moderation.appeal event and the public log (the
 * community's too, for its posts) an appeal_upheld or appeal_reversed row.
 * Nobody learns who appealed: moderators see the post and the note only.
 * Lock order: sql/028_appeals.sql.
 */
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "auth.h"
#include "community.h"
#include "context.h"
#include "db.h"
#include "events.h"
#include "feed_cache.h"
#include "export.h"
#include "handlers.h"
#include "json.h"
#include "log.h"
#include "moderation.h"
#include "page.h"
#include "post_view.h"
#include "trust.h"
#include "util.h"

#define PUBLIC_ID_MAX 64            /* longer ids are unknown without a query */
#define APPEALS_PENDING_KIND "appeals-pending"
#define APPEALS_DECIDED_KIND "appeals-decided"
#define APPEAL_TABLE "mod_appeals"  /* the note's seal is bound to it */

enum { APPEAL_UNFILED = 0, APPEAL_AT_COMMUNITY = 1, APPEAL_AT_INSTANCE = 2,
       APPEAL_UPHELD = 3, APPEAL_REVERSED = 4, APPEAL_VOID = 5 };
enum { DECIDER_COMMUNITY = 1, DECIDER_INSTANCE = 2 };
enum { MODLOG_APPEAL_UPHELD = 4, MODLOG_APPEAL_REVERSED = 5 };

/* ---- POST /moderation/appeals ------------------------------------------ */

static struct db_stmt stmt_file_lookup = {
	"appeal_file_lookup",
	"SELECT a.pk, a.status, a.last_day, p.author_pk, "
	"a.community_pk IS NOT NULL AND EXISTS (SELECT 1 FROM community_moderators m "
	"WHERE m.community_pk = a.community_pk) "
	"FROM mod_appeals a JOIN posts p ON p.pk = a.post_pk WHERE a.id = $1", 1, 0
};
/* Only an unfiled appeal: a second filing, even a racing one, is a no-op (409). */
static struct db_stmt stmt_file = {
	"appeal_file",
	"UPDATE mod_appeals SET status = $2, note_sealed = $3, note_version = $4, day_filed = $5 "
	"WHERE pk = $1 AND status = 0", 5, 0
};

/* The appeal being filed. */
struct filing {
	const char *id;
	const char *pk;
	int64_t status;
	bool to_community;          /* a community's removal, and it has moderators */
	const char *note;
	size_t note_len;
	const char *note_sealed;
	const char *note_version;
};

/*
 * Parse the body and look the appeal up: only its author sees it (anyone
 * else: 404, the same as an unknown id). 0, or the status it set.
 */
static int filing_lookup_or_reply(struct request *req, struct filing *f)
{
	PGresult *res;
	int64_t last_day, author;
	size_t len = 0;
	int status;

	if (json_get_string(req->json, "appeal_id", &f->id, &len) != 1 || len == 0)
		return http_error(req, 422, "invalid_field", "appeal_id must be an appeal id");
	if ((status = moderation_note_or_reply(req, &f->note, &f->note_len)) != 0)
		return status;
	if (f->note == NULL || f->note_len == 0)
		return http_error(req, 422, "invalid_field", "note must say why the removal was wrong");
	if (len > PUBLIC_ID_MAX)
		return http_error(req, 404, "not_found", "no such appeal");
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_file_lookup, &f->id, NULL)) == NULL)
		return http_db_failure(req);
	if (PQntuples(res) != 1 ||
	    util_parse_int64(PQgetvalue(res, 0, 3), 1, INT64_MAX - 1, &author) != 0 ||
	    author != req->account_pk)
		return http_error(req, 404, "not_found", "no such appeal");
	if (util_parse_int64(PQgetvalue(res, 0, 1), APPEAL_UNFILED, APPEAL_VOID, &f->status) != 0 ||
	    util_parse_int64(PQgetvalue(res, 0, 2), 0, INT32_MAX, &last_day) != 0)
		return http_error(req, 500, "internal", "internal error");
	if (f->status == APPEAL_VOID)
		return http_error(req, 409, "conflict", "this removal was already undone");
	if (f->status != APPEAL_UNFILED)
		return http_error(req, 409, "conflict", "this removal was already appealed");
	if (util_today() > last_day)
		return http_error(req, 409, "conflict", "the appeal window of this removal has closed");
	f->pk = PQgetvalue(res, 0, 0);
	f->to_community = strcmp(PQgetvalue(res, 0, 4), "t") == 0;
	return 0;
}

/* The note sealed for the appeal's row; 0 or the status it set. */
static int filing_seal_or_reply(struct request *req, struct filing *f)
{
	uint32_t version = 0;

	f->note_sealed = moderation_note_seal(req, APPEAL_TABLE, f->id, f->note, f->note_len,
	                                      &version);
	if (f->note_sealed == NULL ||
	    (f->note_version = arena_printf(req->arena, "%u", version)) == NULL)
		return http_error(req, 500, "internal", "internal error");
	return 0;
}

/*
 * POST /moderation/appeals {"appeal_id", "note"} -> 201 {"appeal_id",
 * "status": "pending", "stage": "community"|"instance"}. Not the
 * removed post's author, or unknown: 404; filed before: 409; the window
 * passed or the removal undone: 409.
 */
int handle_appeal_file(struct request *req)
{
	struct filing f = { 0 };
	const char *params[5];
	PGresult *res;
	json_object *o;
	int status;

	if ((status = filing_lookup_or_reply(req, &f)) != 0 ||
	    (status = filing_seal_or_reply(req, &f)) != 0)
		return status;
	params[0] = f.pk;
	params[1] = f.to_community ? "1" : "2";
	params[2] = f.note_sealed;
	params[3] = f.note_version;
	params[4] = arena_i64(req->arena, util_today());
	if (params[4] == NULL)
		return http_oom(req);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_file, params, NULL)) == NULL)
		return http_db_failure(req);
	if (strcmp(PQcmdTuples(res), "1") != 0)
		return http_error(req, 409, "conflict", "this removal was already appealed");
	if ((o = json_object_new_object()) == NULL)
		return http_oom(req);
	json_object_object_add(o, "appeal_id", json_object_new_string(f.id));
	json_object_object_add(o, "status", json_object_new_string("pending"));
	json_object_object_add(o, "stage",
	                       json_object_new_string(f.to_community ? "community" : "instance"));
	return http_reply(req, 201, o);
}

/* ---- GET /moderation/appeals, GET /communities/{slug}/appeals ---------- */

#define APPEAL_SELECT \
	"SELECT " POST_VIEW_COLUMNS ", a.pk, a.id, a.status, a.day_filed, a.day_decided, " \
	"a.community_pk IS NOT NULL, length(p.body_sealed) = 0, a.note_sealed, a.note_version " \
	POST_VIEW_FROM "JOIN mod_appeals a ON a.post_pk = p.pk "

/* Columns after POST_VIEW_COLUMNS (12 of them). */
enum { A_PK = 12, A_ID, A_STATUS, A_DAY, A_DAY_DECIDED, A_BY_COMMUNITY, A_PURGED, A_NOTE };

/* The instance's: filed to it, oldest first; decided by it, newest first. */
static struct db_stmt stmt_list_pending = {
	"appeal_list_pending",
	APPEAL_SELECT "WHERE a.status = 2 AND a.pk > $2 ORDER BY a.pk LIMIT $3", 3, 0
};
static struct db_stmt stmt_list_decided = {
	"appeal_list_decided",
	APPEAL_SELECT "WHERE a.status IN (3, 4) AND a.decider = 2 AND a.pk < $2 "
	"ORDER BY a.pk DESC LIMIT $3", 3, 0
};
/* A community's ($3): filed to it; answered by it (or gone on to the instance). */
static struct db_stmt stmt_clist_pending = {
	"appeal_clist_pending",
	APPEAL_SELECT "WHERE a.status = 1 AND a.community_pk = $3 AND a.pk > $2 "
	"ORDER BY a.pk LIMIT $4", 4, 0
};
static struct db_stmt stmt_clist_decided = {
	"appeal_clist_decided",
	APPEAL_SELECT "WHERE a.status IN (2, 3, 4) AND a.community_pk = $3 AND a.pk < $2 "
	"ORDER BY a.pk DESC LIMIT $4", 4, 0
};

static const char *appeal_status_name(int64_t status)
{
	switch (status) {
	case APPEAL_UNFILED:
		return "unfiled";
	case APPEAL_UPHELD:
		return "upheld";
	case APPEAL_REVERSED:
		return "reversed";
	case APPEAL_VOID:
		return "void";
	default:
		return "pending";
	}
}

/*
 * One appeal of row: {"id", "post": Post|null (null once its ciphertext
 * was emptied), "note", "status", "stage", "removed_by", "day",
 * "day_decided"}; NULL to leave it out.
 */
static json_object *appeal_item_json(struct request *req, const PGresult *res, int row,
                                     void *keys)
{
	bool purged = strcmp(PQgetvalue(res, row, A_PURGED), "t") == 0;
	bool by_community = strcmp(PQgetvalue(res, row, A_BY_COMMUNITY), "t") == 0;
	json_object *post = NULL, *o = NULL;
	int64_t status, day, decided = -1;

	if (util_parse_int64(PQgetvalue(res, row, A_STATUS), APPEAL_AT_COMMUNITY, APPEAL_REVERSED,
	                     &status) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, A_DAY), 0, INT32_MAX, &day) != 0 ||
	    (!PQgetisnull(res, row, A_DAY_DECIDED) &&
	     util_parse_int64(PQgetvalue(res, row, A_DAY_DECIDED), 0, INT32_MAX, &decided) != 0) ||
	    (!purged && (post = post_view_item(req, res, row, keys)) == NULL) ||
	    (o = json_object_new_object()) == NULL) {
		json_object_put(post);
		log_msg(LOG_WARN, "an appeal could not be rendered; left out");
		return NULL;
	}
	json_object_object_add(o, "id", json_object_new_string(PQgetvalue(res, row, A_ID)));
	json_object_object_add(o, "post", post);
	json_object_object_add(o, "note", moderation_note_json(req, APPEAL_TABLE,
	                                                       PQgetvalue(res, row, A_ID),
	                                                       res, row, A_NOTE));
	json_object_object_add(o, "status", json_object_new_string(appeal_status_name(status)));
	json_object_object_add(o, "stage", json_object_new_string(
	                       status == APPEAL_AT_COMMUNITY ? "community" : "instance"));
	json_object_object_add(o, "removed_by",
	                       json_object_new_string(by_community ? "community" : "instance"));
	json_object_object_add(o, "day", json_object_new_int64(day));
	json_object_object_add(o, "day_decided", decided < 0 ? NULL : json_object_new_int64(decided));
	return o;
}

static const struct mod_listing appeal_listing = {
	{ APPEALS_PENDING_KIND, APPEALS_DECIDED_KIND },
	{ { &stmt_list_pending, &stmt_list_decided }, { &stmt_clist_pending, &stmt_clist_decided } },
	appeal_item_json, A_PK
};

/* GET /moderation/appeals (review token). */
int handle_appeal_list(struct request *req)
{
	return moderation_list(req, NULL, &appeal_listing);
}

/* GET /communities/{slug}/appeals (a moderator of it). */
int handle_community_appeal_list(struct request *req)
{
	const char *community = NULL;
	int status;

	if ((status = community_moderated_or_reply(req, http_param(req, 0), &community)) != 0)
		return status;
	return moderation_list(req, community, &appeal_listing);
}

/* ---- POST .../appeals/{id}/decision ------------------------------------ */

static struct db_stmt stmt_appeal = {
	"appeal_get",
	"SELECT a.pk, a.status, a.item_pk, a.post_pk, a.trust_taken, a.community_pk, "
	"p.author_pk, p.id, acc.id_hash "
	"FROM mod_appeals a JOIN posts p ON p.pk = a.post_pk "
	"JOIN accounts acc ON acc.pk = p.author_pk WHERE a.id = $1", 1, 0
};
/* Only from the stage it was checked in ($5): a second decision is a no-op (409). */
static struct db_stmt stmt_decide = {
	"appeal_decide",
	"UPDATE mod_appeals SET status = $2, decider = $3, day_decided = $4 "
	"WHERE pk = $1 AND status = $5", 5, 0
};
static struct db_stmt stmt_item_kept = {
	"appeal_item_kept",
	"UPDATE mod_items SET status = 1, decider = $2 WHERE pk = $1 AND status = 2", 2, 0
};
static struct db_stmt stmt_post_restore = {
	"appeal_post_restore", "UPDATE posts SET status = 0 WHERE pk = $1 AND status = 2", 1, 0
};
static struct db_stmt stmt_log_insert = {
	"appeal_log_insert",
	"INSERT INTO mod_log (day, action, reason, post_id, community_pk) "
	"SELECT $1, $2, 'appeal', id, community_pk FROM posts WHERE pk = $3", 3, 0
};

/* The appeal a decision is about. */
struct verdict {
	const char *id;
	const char *community;      /* the deciding community's pk; NULL: the instance */
	bool reverse;
	int64_t stage;              /* APPEAL_AT_COMMUNITY or APPEAL_AT_INSTANCE */
	int64_t next;               /* the status it moves to */
	const char *pk;
	const char *item_pk;
	const char *post_pk;
	const char *post_id;
	double trust_taken;
	int64_t author;
	unsigned char author_hash[AUTH_HASH_BYTES];
};

/*
 * Look the appeal up for its decider: unknown, unfiled or another
 * community's: 404; not at the decider's stage (decided, or still with
 * the community's moderators): 409. 0 or the status it set.
 */
static int verdict_appeal_or_reply(struct request *req, struct verdict *v)
{
	const unsigned char *hash;
	size_t len = 0;
	int64_t status;
	PGresult *res;

	if (strlen(v->id) > PUBLIC_ID_MAX)
		return http_error(req, 404, "not_found", "no such appeal");
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_appeal, &v->id, NULL)) == NULL)
		return http_db_failure(req);
	if (PQntuples(res) != 1 ||
	    util_parse_int64(PQgetvalue(res, 0, 1), APPEAL_UNFILED, APPEAL_VOID, &status) != 0 ||
	    status == APPEAL_UNFILED ||
	    (v->community != NULL && (PQgetisnull(res, 0, 5) ||
	                              strcmp(PQgetvalue(res, 0, 5), v->community) != 0)))
		return http_error(req, 404, "not_found", "no such appeal");
	hash = db_bytea_value(req->arena, res, 0, 8, &len);
	if (util_parse_int64(PQgetvalue(res, 0, 6), 1, INT64_MAX - 1, &v->author) != 0 ||
	    hash == NULL || len != AUTH_HASH_BYTES)
		return http_error(req, 500, "internal", "internal error");
	v->stage = v->community != NULL ? APPEAL_AT_COMMUNITY : APPEAL_AT_INSTANCE;
	if (status != v->stage)
		return http_error(req, 409, "conflict", status == APPEAL_AT_COMMUNITY ?
		                  "this appeal is with the community's moderators first" :
		                  "this appeal is not pending here");
	v->next = v->reverse ? APPEAL_REVERSED :
	          v->stage == APPEAL_AT_COMMUNITY ? APPEAL_AT_INSTANCE : APPEAL_UPHELD;
	v->pk = PQgetvalue(res, 0, 0);
	v->item_pk = PQgetvalue(res, 0, 2);
	v->post_pk = PQgetvalue(res, 0, 3);
	v->post_id = PQgetvalue(res, 0, 7);
	v->trust_taken = strtod(PQgetvalue(res, 0, 4), NULL);
	memcpy(v->author_hash, hash, AUTH_HASH_BYTES);
	return 0;
}

/*
 * In the transaction, in the lock order of sql/028: on a reversal the
 * trust the removal took goes back; the post; the appeal, only from its
 * stage. 0 or the status it set.
 */
static int verdict_lock_or_reply(struct request *req, const struct verdict *v)
{
	struct db *db = req->ctx->db;
	const char *params[5] = { v->post_pk, NULL, NULL, NULL, NULL };
	PGresult *res;

	if (v->reverse && v->trust_taken > 0) {
		switch (trust_adjust(req, v->author, v->trust_taken)) {
		case 1:
			break;
		case 0:
			return http_error(req, 404, "not_found", "no such appeal");
		default:
			return http_db_failure(req);
		}
	}
	switch (moderation_lock_post(req, v->post_pk)) {
	case 1:
		break;
	case 0:
		return http_error(req, 404, "not_found", "no such appeal");
	default:
		return http_db_failure(req);
	}
	params[0] = v->pk;
	params[1] = arena_i64(req->arena, v->next);
	params[2] = v->community != NULL ? "1" : "2";
	params[3] = arena_i64(req->arena, util_today());
	params[4] = arena_i64(req->arena, v->stage);
	if (params[1] == NULL || params[3] == NULL || params[4] == NULL)
		return http_oom(req);
	if ((res = db_exec(db, req->arena, &stmt_decide, params, NULL)) == NULL)
		return http_db_failure(req);
	if (strcmp(PQcmdTuples(res), "1") != 0)
		return http_error(req, 409, "conflict", "this appeal was already decided");
	return 0;
}

/*
 * A reversal's effects (the post shown again, the item kept, its flags
 * not upheld and their flaggers' records moved, as an override does), the public
 * log row and the author's moderation.appeal event. 0 or the status.
 */
static int verdict_apply_or_reply(struct request *req, const struct verdict *v)
{
	struct db *db = req->ctx->db;
	const char *params[3] = { v->item_pk, v->community != NULL ? "1" : "2", NULL };
	json_object *data;
	int64_t seq;

	if (v->reverse) {
		if (db_exec(db, req->arena, &stmt_post_restore, &v->post_pk, NULL) == NULL ||
		    db_exec(db, req->arena, &stmt_item_kept, params, NULL) == NULL ||
		    moderation_flags_settle(req, v->item_pk, false, false) != 0)
			return http_db_failure(req);
	}
	params[0] = arena_i64(req->arena, util_today());
	params[1] = v->reverse ? "5" : "4";
	params[2] = v->post_pk;
	if (params[0] == NULL)
		return http_oom(req);
	if (db_exec(db, req->arena, &stmt_log_insert, params, NULL) == NULL)
		return http_db_failure(req);
	if ((data = json_object_new_object()) == NULL)
		return http_oom(req);
	json_object_object_add(data, "appeal_id", json_object_new_string(v->id));
	json_object_object_add(data, "post_id", json_object_new_string(v->post_id));
	json_object_object_add(data, "decision",
	                       json_object_new_string(v->reverse ? "reverse" : "uphold"));
	json_object_object_add(data, "by", json_object_new_string(v->community != NULL ?
	                                                          "community" : "instance"));
	json_object_object_add(data, "status", json_object_new_string(
	                       v->next == APPEAL_AT_INSTANCE ? "pending" : appeal_status_name(v->next)));
	seq = events_push(req, v->author, EVENT_MODERATION_APPEAL, data);
	json_object_put(data);
	return seq < 0 ? http_db_failure(req) : 0;
}

/*
 * {"decision": "uphold"|"reverse", "note"?} on appeal v.id by v.community
 * (NULL: the instance) -> 200 {"id", "status", "stage"}. A community's
 * uphold sends the appeal on to the instance ("pending", stage
 * "instance"). The decider's note is checked but not kept: the author's
 * event says what was decided, never by whom.
 */
static int appeal_decide(struct request *req, struct verdict v)
{
	struct db *db = req->ctx->db;
	const char *what, *note;
	size_t note_len;
	json_object *o;
	int status;

	if (json_get_string(req->json, "decision", &what, NULL) != 1 ||
	    (strcmp(what, "uphold") != 0 && strcmp(what, "reverse") != 0))
		return http_error(req, 422, "invalid_field", "decision must be uphold or reverse");
	v.reverse = strcmp(what, "reverse") == 0;
	if ((status = moderation_note_or_reply(req, &note, &note_len)) != 0 ||
	    (status = verdict_appeal_or_reply(req, &v)) != 0)
		return status;
	if (db_begin(db) != 0)
		return http_db_failure(req);
	if ((status = verdict_lock_or_reply(req, &v)) != 0 ||
	    (status = verdict_apply_or_reply(req, &v)) != 0) {
		db_rollback(db);
		return status;
	}
	if (db_commit(db) != 0)
		return http_db_failure(req);
	if (v.reverse) {
		feed_content_changed(req);
		/* trust_adjust dropped it already; again now that the new trust is committed. */
		if (auth_forget(req, v.author_hash) != 0)
			log_msg(LOG_WARN, "account record not dropped after a trust change; it expires by itself");
	}
	if ((o = json_object_new_object()) == NULL)
		return http_oom(req);
	json_object_object_add(o, "id", json_object_new_string(v.id));
	json_object_object_add(o, "status", json_object_new_string(appeal_status_name(v.next)));
	json_object_object_add(o, "stage", json_object_new_string(
	                       v.next == APPEAL_AT_INSTANCE || v.community == NULL ? "instance" :
	                       "community"));
	return http_reply(req, 200, o);
}

/* POST /moderation/appeals/{id}/decision (review token). */
int handle_appeal_decide(struct request *req)
{
	struct verdict v = { .id = http_param(req, 0) };

	return appeal_decide(req, v);
}

/* POST /communities/{slug}/appeals/{id}/decision (a moderator of it). */
int handle_community_appeal_decide(struct request *req)
{
	struct verdict v = { .id = http_param(req, 1) };
	int status;

	if ((status = community_moderated_or_reply(req, http_param(req, 0), &v.community)) != 0)
		return status;
	return appeal_decide(req, v);
}

/* ---- GET /me/export: "appeals" ------------------------------------------- */

static struct db_stmt stmt_export = {
	"appeal_export",
	"SELECT a.id, p.id, a.status, a.last_day, a.day_filed, a.day_decided, a.note_sealed, "
	"a.note_version FROM mod_appeals a JOIN posts p ON p.pk = a.post_pk "
	"WHERE p.author_pk = $1 ORDER BY a.pk", 1, 0
};
enum { X_ID, X_POST, X_STATUS, X_LAST_DAY, X_FILED, X_DECIDED, X_NOTE };

/* A day column that may be NULL, as JSON; 0, or -1 when it is not a day. */
static int day_json(const PGresult *res, int row, int col, json_object **out)
{
	int64_t day;

	*out = NULL;
	if (PQgetisnull(res, row, col))
		return 0;
	if (util_parse_int64(PQgetvalue(res, row, col), 0, INT32_MAX, &day) != 0)
		return -1;
	*out = json_object_new_int64(day);
	return 0;
}

/* One appeal of the account's removed posts, filed or not (a page_row_fn). */
static json_object *appeal_export_json(struct request *req, const PGresult *res, int row,
                                       void *unused)
{
	json_object *o = NULL, *last = NULL, *filed = NULL, *decided = NULL;
	int64_t status;

	(void)unused;
	if (util_parse_int64(PQgetvalue(res, row, X_STATUS), APPEAL_UNFILED, APPEAL_VOID,
	                     &status) != 0 ||
	    day_json(res, row, X_LAST_DAY, &last) != 0 || day_json(res, row, X_FILED, &filed) != 0 ||
	    day_json(res, row, X_DECIDED, &decided) != 0 || (o = json_object_new_object()) == NULL) {
		json_object_put(last);
		json_object_put(filed);
		json_object_put(decided);
		log_msg(LOG_WARN, "an appeal could not be exported; left out");
		return NULL;
	}
	json_object_object_add(o, "appeal_id", json_object_new_string(PQgetvalue(res, row, X_ID)));
	json_object_object_add(o, "post_id", json_object_new_string(PQgetvalue(res, row, X_POST)));
	json_object_object_add(o, "status", json_object_new_string(appeal_status_name(status)));
	json_object_object_add(o, "last_day", last);
	json_object_object_add(o, "day_filed", filed);
	json_object_object_add(o, "day_decided", decided);
	json_object_object_add(o, "note", moderation_note_json(req, APPEAL_TABLE,
	                                                       PQgetvalue(res, row, X_ID),
	                                                       res, row, X_NOTE));
	return o;
}

int export_appeals(struct request *req, json_object *out, const char *section)
{
	return export_rows(req, out, section, &stmt_export, appeal_export_json, NULL);
}
