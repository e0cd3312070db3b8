/*
 * moderation.c — the request-side moderation domain (flags and the review
 * queue; its routes are app/handlers_moderation.c, the automatic
 * classifier is `sotto moderate`, app/cmd_moderate.c): what it shares with
 * other modules, the flag reasons, note checks, the admin overview and
 * the "flags" export.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "auth.h"
#include "config.h"
#include "context.h"
#include "crypto.h"
#include "db.h"
#include "export.h"
#include "guard.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "moderation.h"
#include "page.h"
#include "post_view.h"
#include "util.h"

/* The order of the reasons in docs/openapi.yaml; the index is flags.reason. */
static const char *const reason_names[MOD_REASON_COUNT] = {
	"spam", "harassment", "hate", "sexual", "violence", "self_harm", "illegal", "other"
};

int moderation_reason_code(const char *name)
{
	for (int i = 0; i < MOD_REASON_COUNT; i++)
		if (strcmp(name, reason_names[i]) == 0)
			return i;
	return -1;
}

const char *moderation_reason_name(int code)
{
	return code >= 0 && code < MOD_REASON_COUNT ? reason_names[code] : NULL;
}

/*
 * The pure guardrails only: a note goes to no listing and is never
 * compared across requests, and the same short note ("spam bot") on many
 * flags is normal, so the repetition window does not apply.
 */
int moderation_note_or_reply(struct request *req, const char **text, size_t *len)
{
	const char *const *terms = NULL;
	size_t n_terms = guard_blocklist_terms(&terms);
	const char *why;
	int rc = json_get_string(req->json, "note", text, len);

	if (rc == 0 || (rc == 1 && *len == 0)) {   /* absent, null or "": no note */
		*text = NULL;
		*len = 0;
		return 0;
	}
	if (rc < 0)
		return http_error(req, 422, "invalid_field", "note must be a string");
	why = guard_check(*text, *len, MOD_NOTE_MAX_CHARS, req->ctx->cfg->guard_max_links,
	                  terms, n_terms);
	if (why != NULL)
		return http_error_reason(req, 422, "content_rejected", "note was rejected", why);
	return 0;
}

static struct db_stmt stmt_pending = {
	"mod_overview_pending", "SELECT count(*) FROM mod_items WHERE status = 0", 0, 0
};
static struct db_stmt stmt_recent = {
	"mod_overview_recent",
	"SELECT p.id, f.reason, f.day FROM flags f JOIN posts p ON p.pk = f.post_pk "
	"ORDER BY f.pk DESC LIMIT $1", 1, 0
};

/* {"post_id", "reason", "day"} of row; NULL on out of memory or a bad row. */
static json_object *recent_flag_json(const PGresult *res, int row)
{
	int64_t reason, day;
	json_object *o;

	if (util_parse_int64(PQgetvalue(res, row, 1), 0, MOD_REASON_COUNT - 1, &reason) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, 2), 0, INT32_MAX, &day) != 0 ||
	    (o = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(o, "post_id", json_object_new_string(PQgetvalue(res, row, 0)));
	json_object_object_add(o, "reason",
	                       json_object_new_string(moderation_reason_name((int)reason)));
	json_object_object_add(o, "day", json_object_new_int64(day));
	return o;
}

int moderation_overview(struct request *req, json_object *out)
{
	const char *params[1] = { arena_printf(req->arena, "%d", MOD_RECENT_FLAGS) };
	json_object *recent;
	PGresult *res;
	int64_t pending;

	if (params[0] == NULL)
		return http_oom(req);
	res = db_exec(req->ctx->db, req->arena, &stmt_pending, NULL, NULL);
	if (res == NULL || PQntuples(res) != 1 ||
	    util_parse_int64(PQgetvalue(res, 0, 0), 0, INT64_MAX - 1, &pending) != 0)
		return http_db_failure(req);
	res = db_exec(req->ctx->db, req->arena, &stmt_recent, params, NULL);
	if (res == NULL)
		return http_db_failure(req);
	if ((recent = json_object_new_array()) == NULL)
		return http_oom(req);
	json_object_object_add(out, "moderation_pending", json_object_new_int64(pending));
	json_object_object_add(out, "recent_flags", recent);
	for (int i = 0; i < PQntuples(res); i++) {
		json_object *o = recent_flag_json(res, i);

		if (o != NULL)
			json_object_array_add(recent, o);
	}
	return 0;
}

/* ---- a decision's note ------------------------------------------------- */

#define DECISION_NOTE_CONTEXT "modnotes"   /* keys_derive context of its seal */

static void decision_note_field(struct crypto_field *f, const char *table, const char *row)
{
	f->table = table;
	f->column = "note";
	f->row = row;
	f->owner = 0;              /* the server's: moderators have no account */
}

const char *moderation_decision_note_seal(struct request *req, const char *item_id,
                                          const char *note, size_t len, uint32_t *version)
{
	return moderation_note_seal(req, "mod_items", item_id, note, len, version);
}

json_object *moderation_decision_note_json(struct request *req, const char *item_id,
                                           const PGresult *res, int row, int col)
{
	return moderation_note_json(req, "mod_items", item_id, res, row, col);
}

const char *moderation_note_seal(struct request *req, const char *table, const char *id,
                                 const char *note, size_t len, uint32_t *version)
{
	struct crypto_field f;
	const unsigned char *sealed;
	size_t sealed_len = 0;

	decision_note_field(&f, table, id);
	sealed = crypto_seal_server(req->arena, req->ctx->cfg, DECISION_NOTE_CONTEXT, &f, note, len,
	                            &sealed_len, version);
	return sealed == NULL ? NULL : db_bytea_text(req->arena, sealed, sealed_len);
}

json_object *moderation_note_json(struct request *req, const char *table, const char *id,
                                  const PGresult *res, int row, int col)
{
	struct crypto_field f;
	const unsigned char *sealed;
	unsigned char *note = NULL;
	size_t sealed_len = 0, note_len = 0;
	int64_t version;

	if (PQgetisnull(res, row, col))
		return NULL;
	decision_note_field(&f, table, id);
	sealed = db_bytea_value(req->arena, res, row, col, &sealed_len);
	if (sealed == NULL ||
	    util_parse_int64(PQgetvalue(res, row, col + 1), 1, UINT32_MAX, &version) != 0 ||
	    crypto_open_server(req->arena, req->ctx->cfg, DECISION_NOTE_CONTEXT, (uint32_t)version,
	                       &f, sealed, sealed_len, &note, &note_len) != 0) {
		log_msg(LOG_WARN, "a decision's note could not be opened; shown as none");
		return NULL;
	}
	return json_object_new_string_len((const char *)note, (int)note_len);
}

/* ---- GET /me/export: "flags" -------------------------------------------- */

static struct db_stmt stmt_export = {
	"mod_flags_export",
	"SELECT f.id, p.id, f.reason, f.note_sealed, f.day, f.upheld "
	"FROM flags f JOIN posts p ON p.pk = f.post_pk WHERE f.flagger_pk = $1 ORDER BY f.pk", 1, 0
};

void moderation_note_field(struct crypto_field *f, const char *flag_id, int64_t flagger_pk)
{
	f->table = "flags";
	f->column = "note";
	f->row = flag_id;
	f->owner = flagger_pk;
}

/* One exported flag; the note opened with key (NULL when there is none). */
static json_object *export_flag_json(struct request *req, const PGresult *res, int row,
                                     const unsigned char *key)
{
	const char *id = PQgetvalue(res, row, 0);
	const unsigned char *sealed;
	unsigned char *note = NULL;
	size_t sealed_len = 0, note_len = 0;
	struct crypto_field f;
	int64_t reason, day;
	json_object *o;

	if (util_parse_int64(PQgetvalue(res, row, 2), 0, MOD_REASON_COUNT - 1, &reason) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, 4), 0, INT32_MAX, &day) != 0)
		return NULL;
	if (!PQgetisnull(res, row, 3)) {
		sealed = db_bytea_value(req->arena, res, row, 3, &sealed_len);
		moderation_note_field(&f, id, req->account_pk);
		if (key == NULL || sealed == NULL ||
		    crypto_open(req->arena, key, &f, sealed, sealed_len, &note, &note_len) != 0) {
			log_msg(LOG_WARN, "a flag note could not be opened; exported without it");
			note = NULL;
		}
	}
	if ((o = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(o, "flag_id", json_object_new_string(id));
	json_object_object_add(o, "post_id", json_object_new_string(PQgetvalue(res, row, 1)));
	json_object_object_add(o, "reason",
	                       json_object_new_string(moderation_reason_name((int)reason)));
	json_object_object_add(o, "note", note != NULL ?
	                       json_object_new_string_len((const char *)note, (int)note_len) : NULL);
	json_object_object_add(o, "day", json_object_new_int64(day));
	json_object_object_add(o, "upheld", PQgetisnull(res, row, 5) ? NULL :
	                       json_object_new_boolean(PQgetvalue(res, row, 5)[0] == 't'));
	return o;
}

int export_flags(struct request *req, json_object *out, const char *section)
{
	const char *params[1] = { arena_i64(req->arena, req->account_pk) };
	unsigned char key[CRYPTO_KEY_BYTES];
	bool have_key = false;
	json_object *items;
	PGresult *res;
	int status = 0;

	if (params[0] == NULL || (items = json_object_new_array()) == NULL)
		return http_oom(req);
	json_object_object_add(out, section, items);
	res = db_exec(req->ctx->db, req->arena, &stmt_export, params, NULL);
	if (res == NULL)
		return http_db_failure(req);
	for (int i = 0; i < PQntuples(res) && !have_key; i++) {
		if (PQgetisnull(res, i, 3))
			continue;
		if (auth_data_key(req, req->account, key) != 0) {
			status = http_db_failure(req);
			goto out;
		}
		have_key = true;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		json_object *o = export_flag_json(req, res, i, have_key ? key : NULL);

		if (o != NULL)
			json_object_array_add(items, o);
	}
out:
	sodium_memzero(key, sizeof(key));
	return status;
}

/* ---- the review lists: the queue and the appeals ------------------------ */

int moderation_list(struct request *req, const char *community, const struct mod_listing *l)
{
	const char *which = http_query(req, "status");
	bool decided = which != NULL && strcmp(which, "decided") == 0;
	const char *kind = l->kind[decided];
	struct post_keys keys = { 0 };
	struct page_rows rows;
	struct cursor next;
	struct page page;
	const char *params[4];
	int status;

	if (which != NULL && !decided && strcmp(which, "pending") != 0)
		return http_error(req, 422, "invalid_field", "status must be pending or decided");
	if ((status = page_or_reply(req, kind, &page)) != 0)
		return status;
	params[0] = "0";            /* no viewer: mine false, my_vote 0 */
	params[1] = arena_i64(req->arena, page.has_cursor ? page.cursor.v[0] :
	                                  decided ? INT64_MAX : 0);
	if (params[1] == NULL)
		return http_oom(req);
	params[2] = community;
	status = page_fetch_or_reply(req, &page, l->stmt[community != NULL][decided], params, l->row,
	                             &keys, &rows);
	post_keys_wipe(&keys);
	if (status != 0)
		return status;
	return page_reply(req, kind, rows.items, page_next_key(&rows, l->pk_col, &next));
}

/* ---- the flags of a decided item ---------------------------------------- */

static struct db_stmt stmt_lock_post = {
	"mod_lock_post", "SELECT 1 FROM posts WHERE pk = $1 FOR UPDATE", 1, 0
};
int moderation_lock_post(struct request *req, const char *post_pk)
{
	const char *params[1] = { post_pk };
	PGresult *res = db_exec(req->ctx->db, req->arena, &stmt_lock_post, params, NULL);

	if (res == NULL)
		return -1;
	return PQntuples(res) == 1;
}

static struct db_stmt stmt_flags_decide = {
	"mod_flags_decide", "UPDATE flags SET upheld = $2 WHERE item_pk = $1", 2, 0
};
/* In flagger_pk order, so two decisions sharing flaggers lock them alike. */
static struct db_stmt stmt_flagger_stats = {
	"mod_flagger_stats",
	"INSERT INTO flagger_stats AS s (account_pk, upheld, not_upheld) "
	"SELECT flagger_pk, $2::int, 1 - $2::int FROM flags WHERE item_pk = $1 ORDER BY flagger_pk "
	"ON CONFLICT (account_pk) DO UPDATE SET upheld = s.upheld + EXCLUDED.upheld, "
	"not_upheld = s.not_upheld + EXCLUDED.not_upheld", 2, 0
};
/* An overriding decision moves each flagger's count of this item to the other side. */
static struct db_stmt stmt_flagger_flip = {
	"mod_flagger_flip",
	"INSERT INTO flagger_stats AS s (account_pk, upheld, not_upheld) "
	"SELECT flagger_pk, 0, 0 FROM flags WHERE item_pk = $1 ORDER BY flagger_pk "
	"ON CONFLICT (account_pk) DO UPDATE SET "
	"upheld = greatest(s.upheld + 2 * $2::int - 1, 0), "
	"not_upheld = greatest(s.not_upheld + 1 - 2 * $2::int, 0)", 2, 0
};
int moderation_flags_settle(struct request *req, const char *item_pk, bool upheld, bool first)
{
	const char *params[2] = { item_pk, upheld ? "true" : "false" };

	if (db_exec(req->ctx->db, req->arena, &stmt_flags_decide, params, NULL) == NULL)
		return -1;
	params[1] = upheld ? "1" : "0";
	return db_exec(req->ctx->db, req->arena, first ? &stmt_flagger_stats : &stmt_flagger_flip,
	               params, NULL) == NULL ? -1 : 0;
}
