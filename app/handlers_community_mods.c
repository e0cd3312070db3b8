/*
 * handlers_community_mods.c — a community's moderators:
 * POST /communities/{slug}/moderators/invites, POST
 * /communities/{slug}/moderators/join, GET /communities/{slug}/moderators,
 * DELETE /communities/{slug}/moderators/me.
 *
 * Moderators are known by a per-community moderator_id only
 * (sql/027_community_moderators.sql); no answer here names an account.
 * Every moderator route answers 404 to anyone who does not moderate that
 * community, exactly as for a community that does not exist.
 */
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "community.h"
#include "context.h"
#include "db.h"
#include "export.h"
#include "group.h"
#include "handlers.h"
#include "json.h"
#include "page.h"
#include "util.h"

#define MODERATORS_KIND "moderators"
#define MOD_INVITE_DAYS 7
#define MOD_INVITES_MAX 100       /* open invites per community */

static struct db_stmt stmt_invite_count = {
	"mod_invite_count",
	"SELECT count(*) FROM community_mod_invites WHERE community_pk = $1 AND expires_day >= $2",
	2, 0
};
static struct db_stmt stmt_invite_insert = {
	"mod_invite_insert",
	"INSERT INTO community_mod_invites (community_pk, hash, expires_day) VALUES ($1, $2, $3)",
	3, 0
};
/* Single use: the join takes the invite away (restored if the join rolls back). */
static struct db_stmt stmt_invite_use = {
	"mod_invite_use",
	"DELETE FROM community_mod_invites i USING communities c "
	"WHERE i.hash = $1 AND c.slug = $2 AND i.community_pk = c.pk AND i.expires_day >= $3 "
	"RETURNING c.pk", 3, 0
};
static struct db_stmt stmt_moderator_insert = {
	"mod_insert",
	"INSERT INTO community_moderators (id, community_pk, account_pk, day_joined) "
	"VALUES ($1, $2, $3, $4) ON CONFLICT (community_pk, account_pk) DO NOTHING RETURNING id",
	4, 0
};
static struct db_stmt stmt_list = {
	"mod_list",
	"SELECT id, day_joined, pk FROM community_moderators "
	"WHERE community_pk = $1 AND pk > $2 ORDER BY pk LIMIT $3", 3, 0
};
static struct db_stmt stmt_leave = {
	"mod_leave",
	"DELETE FROM community_moderators m USING communities c "
	"WHERE c.slug = $1 AND m.community_pk = c.pk AND m.account_pk = $2", 2, 0
};

enum { COL_ID, COL_DAY, COL_PK };

/* Store the keyed hash of a new invite secret for community pk; 0 or the status set. */
static int invite_store_or_reply(struct request *req, const char *pk, int64_t expires,
                                 const char **secret)
{
	unsigned char raw[GROUP_INVITE_BYTES], hash[GROUP_INVITE_HASH_BYTES];
	const char *params[3] = { pk, arena_i64(req->arena, util_today()), NULL };
	PGresult *res;
	int64_t open = 0;

	if (params[1] == NULL)
		return http_oom(req);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_invite_count, params, NULL)) == NULL ||
	    util_parse_int64(PQgetvalue(res, 0, 0), 0, INT64_MAX - 1, &open) != 0)
		return http_db_failure(req);
	if (open >= MOD_INVITES_MAX)
		return http_error(req, 409, "conflict",
		                  "this community has 100 open moderator invites; wait for one to expire");
	randombytes_buf(raw, sizeof(raw));
	*secret = util_b64url_encode(req->arena, raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
	if (*secret == NULL)
		return http_oom(req);
	group_invite_hash(req->ctx->keys.invites, *secret, strlen(*secret), hash);
	params[1] = db_bytea_text(req->arena, hash, sizeof(hash));
	params[2] = arena_i64(req->arena, expires);
	if (params[1] == NULL || params[2] == NULL)
		return http_oom(req);
	if (db_exec(req->ctx->db, req->arena, &stmt_invite_insert, params, NULL) == NULL)
		return http_db_failure(req);
	return 0;
}

/*
 * POST /communities/{slug}/moderators/invites (a moderator): 201
 * {"invite", "expires_day"}. The secret is shown once; only its keyed hash
 * is kept. It works once, through expires_day.
 */
int handle_mod_invite(struct request *req)
{
	const char *pk = NULL, *secret = NULL;
	int64_t expires = util_today() + MOD_INVITE_DAYS;
	json_object *o;
	int status;

	if ((status = community_moderated_or_reply(req, http_param(req, 0), &pk)) != 0 ||
	    (status = invite_store_or_reply(req, pk, expires, &secret)) != 0)
		return status;
	if ((o = json_object_new_object()) == NULL)
		return http_oom(req);
	json_object_object_add(o, "invite", json_object_new_string(secret));
	json_object_object_add(o, "expires_day", json_object_new_int64(expires));
	return http_reply(req, 201, o);
}

/* The hash of the body's invite as bytea text; NULL after replying. */
static const char *invite_hash_or_reply(struct request *req, int *status)
{
	unsigned char hash[GROUP_INVITE_HASH_BYTES];
	const char *secret, *out;
	size_t len = 0;

	if (json_get_string(req->json, "invite", &secret, &len) != 1) {
		*status = http_error(req, 422, "invalid_field", "invite must be a string");
		return NULL;
	}
	if (len != sodium_base64_ENCODED_LEN(GROUP_INVITE_BYTES,
	                                     sodium_base64_VARIANT_URLSAFE_NO_PADDING) - 1) {
		*status = http_error(req, 404, "not_found", "no such invite");
		return NULL;
	}
	group_invite_hash(req->ctx->keys.invites, secret, len, hash);
	if ((out = db_bytea_text(req->arena, hash, sizeof(hash))) == NULL)
		*status = http_oom(req);
	return out;
}

/* Use the invite and add the caller, in the open transaction; 0 with *id, or the status set. */
static int join_or_reply(struct request *req, const char *hash, const char **id)
{
	const char *params[4] = { hash, http_param(req, 0), arena_i64(req->arena, util_today()),
	                          NULL };
	PGresult *res;

	if (params[2] == NULL)
		return http_oom(req);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_invite_use, params, NULL)) == NULL)
		return http_db_failure(req);
	if (PQntuples(res) != 1)
		return http_error(req, 404, "not_found", "no such invite");
	params[1] = PQgetvalue(res, 0, 0);
	params[3] = params[2];
	params[2] = arena_i64(req->arena, req->account_pk);
	params[0] = util_random_id(req->arena, UTIL_PUBLIC_ID_BYTES);
	if (params[0] == NULL || params[2] == NULL)
		return http_oom(req);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_moderator_insert, params, NULL)) == NULL)
		return http_db_failure(req);
	if (PQntuples(res) != 1)
		return http_error(req, 409, "conflict", "you moderate this community already");
	*id = PQgetvalue(res, 0, 0);
	return 0;
}

/*
 * POST /communities/{slug}/moderators/join {"invite"}: 201
 * {"moderator_id"}. An unknown, used or expired invite, or one of another
 * community, is 404 alike; a caller who moderates the community already
 * 409, and the invite stays usable.
 */
int handle_mod_join(struct request *req)
{
	const char *hash, *id = NULL;
	int status = 0;

	if ((hash = invite_hash_or_reply(req, &status)) == NULL)
		return status;
	if (db_begin(req->ctx->db) != 0)
		return http_db_failure(req);
	if ((status = join_or_reply(req, hash, &id)) == 0 && db_commit(req->ctx->db) != 0)
		status = http_db_failure(req);
	if (status != 0) {
		db_rollback(req->ctx->db);
		return status;
	}
	return http_reply_member(req, 201, "moderator_id", json_object_new_string(id));
}

/* A moderator as the list shows it (a page_row_fn). */
static json_object *moderator_json(struct request *req, const PGresult *res, int row,
                                   void *unused)
{
	json_object *o = json_object_new_object();
	int64_t day;

	(void)req;
	(void)unused;
	if (o == NULL || util_parse_int64(PQgetvalue(res, row, COL_DAY), 0, INT32_MAX, &day) != 0) {
		json_object_put(o);
		return NULL;
	}
	json_object_object_add(o, "moderator_id", json_object_new_string(PQgetvalue(res, row, COL_ID)));
	json_object_object_add(o, "day_joined", json_object_new_int64(day));
	return o;
}

/* GET /communities/{slug}/moderators (public): oldest first. */
int handle_mod_list(struct request *req)
{
	static const struct page_keyed list = {
		MODERATORS_KIND, &stmt_list, 0, COL_PK, moderator_json, NULL
	};
	const char *community;
	int status;

	if ((status = community_pk_or_reply(req, http_param(req, 0), &community)) != 0)
		return status;
	return page_keyed_reply(req, &list, community);
}

/* DELETE /communities/{slug}/moderators/me: 204; not a moderator of it, 404. */
int handle_mod_leave(struct request *req)
{
	const char *params[2] = { http_param(req, 0), arena_i64(req->arena, req->account_pk) };
	PGresult *res;

	if (params[1] == NULL)
		return http_oom(req);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_leave, params, NULL)) == NULL)
		return http_db_failure(req);
	if (strcmp(PQcmdTuples(res), "1") != 0)
		return http_error(req, 404, "not_found", "no such community");
	return 204;
}

/* ---- GET /me/export: "moderating" --------------------------------------- */

static struct db_stmt stmt_export = {
	"mod_export",
	"SELECT c.slug, m.id, m.day_joined FROM community_moderators m "
	"JOIN communities c ON c.pk = m.community_pk WHERE m.account_pk = $1 ORDER BY m.pk", 1, 0
};

/* {"community", "moderator_id", "day_joined"} (a page_row_fn). */
static json_object *moderating_json(struct request *req, const PGresult *res, int row,
                                    void *unused)
{
	json_object *o = json_object_new_object();
	int64_t day;

	(void)req;
	(void)unused;
	if (o == NULL || util_parse_int64(PQgetvalue(res, row, 2), 0, INT32_MAX, &day) != 0) {
		json_object_put(o);
		return NULL;
	}
	json_object_object_add(o, "community", json_object_new_string(PQgetvalue(res, row, 0)));
	json_object_object_add(o, "moderator_id", json_object_new_string(PQgetvalue(res, row, 1)));
	json_object_object_add(o, "day_joined", json_object_new_int64(day));
	return o;
}

int export_moderating(struct request *req, json_object *out, const char *section)
{
	return export_rows(req, out, section, &stmt_export, moderating_json, NULL);
}
