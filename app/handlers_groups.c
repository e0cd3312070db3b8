/*
 * handlers_groups.c — POST /groups, GET /groups, GET /groups/{id},
 * POST /groups/{id}/invites, DELETE /groups/{id}/invites/{invite_id},
 * POST /groups/join and DELETE /groups/{id}/members/{member_id|me}.
 * Keys and messages are in handlers_group_messages.c.
 *
 * Membership changes lock the group row first (sql/018_groups.sql), start
 * a new epoch in the same transaction and queue group.member and
 * group.rekey for the members; the events SQL pushed are noted here for
 * real-time delivery. Anyone who is not a current member gets 404 on
 * every route of a group, exactly as for a group that does not exist.
 */
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "config.h"
#include "context.h"
#include "db.h"
#include "events.h"
#include "group.h"
#include "group_access.h"
#include "handlers.h"
#include "json.h"
#include "log.h"
#include "page.h"
#include "util.h"

#define LIST_KIND "group-list"
#define INVITES_MAX 100             /* unexpired invites of one group */

static struct db_stmt stmt_group_insert = {
	"group_insert", "INSERT INTO groups (id, member_count) VALUES ($1, 1) RETURNING pk", 1, 0
};
static struct db_stmt stmt_member_insert = {
	"group_member_insert",
	"INSERT INTO group_members (group_pk, id, account_pk, x25519, admin, joined_epoch) "
	"VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_pk, group_pk) DO NOTHING RETURNING pk",
	6, 0
};
static struct db_stmt stmt_invite_count = {
	"group_invite_count",
	"SELECT count(*) FROM group_invites WHERE group_pk = $1 AND expires_day >= $2", 2, 0
};
static struct db_stmt stmt_invite_insert = {
	"group_invite_insert",
	"INSERT INTO group_invites (id, group_pk, hash, uses_left, expires_day) "
	"VALUES ($1, $2, $3, $4, $5)", 5, 0
};
static struct db_stmt stmt_invite_delete = {
	"group_invite_delete", "DELETE FROM group_invites WHERE id = $1 AND group_pk = $2", 2, 0
};
static struct db_stmt stmt_invite_find = {
	"group_invite_find", "SELECT group_pk FROM group_invites WHERE hash = $1", 1, 0
};
/* One use of an invite, under the group's lock; the last use deletes it. */
static struct db_stmt stmt_invite_use = {
	"group_invite_use",
	"WITH u AS (UPDATE group_invites SET uses_left = uses_left - 1 "
	" WHERE hash = $1 AND group_pk = $2 AND uses_left > 0 AND expires_day >= $3 "
	" RETURNING pk, uses_left), "
	"d AS (DELETE FROM group_invites WHERE pk IN (SELECT pk FROM u WHERE uses_left = 0)) "
	"SELECT pk FROM u", 3, 0
};
static struct db_stmt stmt_epoch_next = {
	"group_epoch_next",
	"UPDATE groups SET epoch = epoch + 1, member_count = member_count + 1 WHERE pk = $1 "
	"RETURNING epoch", 1, 0
};
static struct db_stmt stmt_push = {
	"group_push",
	"SELECT account, seq, $4::jsonb::text FROM sotto_group_push($1, $2, $5, $3, $4::jsonb)",
	5, 0
};
static struct db_stmt stmt_leave = {
	"group_leave", "SELECT account, seq, kind, payload::text FROM sotto_group_leave($1, $2, $3)",
	3, 0
};
static struct db_stmt stmt_target = {
	"group_target", "SELECT pk FROM group_members WHERE id = $1 AND group_pk = $2", 2, 0
};
static struct db_stmt stmt_list = {
	"group_list",
	"SELECT g.id, m.id, m.admin, g.epoch, g.member_count, "
	"(SELECT count(*) FROM group_messages x WHERE x.group_pk = g.pk AND x.seq > m.read_seq "
	" AND x.epoch >= m.joined_epoch AND x.sender <> m.id), m.pk "
	"FROM group_members m JOIN groups g ON g.pk = m.group_pk "
	"WHERE m.account_pk = $1 AND m.pk > $2 ORDER BY m.pk LIMIT $3", 3, 0
};
enum { LS_ID, LS_MEMBER, LS_ADMIN, LS_EPOCH, LS_COUNT, LS_UNREAD, LS_PK };

static struct db_stmt stmt_members = {
	"group_members",
	"SELECT id, x25519, admin, joined_epoch FROM group_members WHERE group_pk = $1 ORDER BY pk",
	1, 0
};

/* ---- events --------------------------------------------------------------- */

/*
 * Queue type with data for every member of g but except_pk (0: none), in
 * the open transaction. 0 or -1.
 */
static int push_all(struct request *req, const struct group_access *g, int64_t except_pk,
                    const char *type, json_object *data)
{
	size_t len = 0;
	const char *params[5] = { arena_i64(req->arena, g->pk), arena_i64(req->arena, except_pk),
	                          arena_i64(req->arena, util_today()), json_dump(data, &len), type };
	PGresult *res;

	if (params[0] == NULL || params[1] == NULL || params[2] == NULL || params[3] == NULL)
		return -1;
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_push, params, NULL)) == NULL)
		return -1;
	group_note_events(req, res, 0, type);
	return 0;
}

/* ---- POST /groups ------------------------------------------------------------ */

/* The body's x25519_public as bytea text, or NULL after replying 422. */
static const char *x25519_or_reply(struct request *req, int *status)
{
	unsigned char key[GROUP_X25519_BYTES];
	const char *text, *out;
	size_t len = 0;

	if (json_get_string(req->json, "x25519_public", &text, &len) != 1 ||
	    group_x25519_parse(text, len, key) != 0) {
		*status = http_error(req, 422, "invalid_field",
		                     "x25519_public must be a 32-byte X25519 public key, base64url");
		return NULL;
	}
	if ((out = db_bytea_text(req->arena, key, sizeof(key))) == NULL)
		*status = http_oom(req);
	return out;
}

/* 201 {"group_id", "member_id", "epoch"}. */
static int joined_reply(struct request *req, int status, const char *group_id,
                        const char *member_id, int64_t epoch)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		return http_oom(req);
	json_object_object_add(o, "group_id", json_object_new_string(group_id));
	json_object_object_add(o, "member_id", json_object_new_string(member_id));
	json_object_object_add(o, "epoch", json_object_new_int64(epoch));
	return http_reply(req, status, o);
}

/* POST /groups: the caller is the first member and the admin, in epoch 1. */
int handle_group_create(struct request *req)
{
	const char *gid = util_random_id(req->arena, GROUP_ID_BYTES);
	const char *mid = util_random_id(req->arena, GROUP_ID_BYTES);
	const char *params[6], *x;
	PGresult *res;
	int status = 0;

	if ((x = x25519_or_reply(req, &status)) == NULL)
		return status;
	if (gid == NULL || mid == NULL)
		return http_oom(req);
	if (db_begin(req->ctx->db) != 0)
		return http_db_failure(req);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_group_insert, &gid, NULL)) == NULL ||
	    PQntuples(res) != 1)
		goto fail;
	params[0] = PQgetvalue(res, 0, 0);
	params[1] = mid;
	params[2] = arena_i64(req->arena, req->account_pk);
	params[3] = x;
	params[4] = "true";
	params[5] = "1";
	if (params[2] == NULL ||
	    (res = db_exec(req->ctx->db, req->arena, &stmt_member_insert, params, NULL)) == NULL ||
	    PQntuples(res) != 1 || db_commit(req->ctx->db) != 0)
		goto fail;
	return joined_reply(req, 201, gid, mid, 1);
fail:
	db_rollback(req->ctx->db);
	return http_db_failure(req);
}

/* ---- invites ------------------------------------------------------------------ */

/* {"uses"?, "days"?} of an invite; 0 or the status it set. */
static int invite_fields_or_reply(struct request *req, int64_t *uses, int64_t *days)
{
	*uses = 1;
	*days = 7;
	if (json_get_int64(req->json, "uses", 1, GROUP_INVITE_USES_MAX, uses) < 0)
		return http_error(req, 422, "invalid_field", "uses must be a whole number, 1 to 256");
	if (json_get_int64(req->json, "days", 1, GROUP_INVITE_DAYS_MAX, days) < 0)
		return http_error(req, 422, "invalid_field", "days must be a whole number, 1 to 30");
	return 0;
}

/* Store the hash of a new invite secret (*secret) under the group's lock. 0 or status. */
static int invite_store_or_reply(struct request *req, const struct group_access *g,
                                 int64_t uses, int64_t expires, const char **secret,
                                 const char **invite_id)
{
	unsigned char raw[GROUP_INVITE_BYTES], hash[GROUP_INVITE_HASH_BYTES];
	const char *params[5];
	PGresult *res;
	int64_t live = 0;

	params[0] = arena_i64(req->arena, g->pk);
	params[1] = arena_i64(req->arena, util_today());
	if (params[0] == NULL || params[1] == NULL)
		return http_oom(req);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_invite_count, params, NULL)) == NULL ||
	    util_parse_int64(PQgetvalue(res, 0, 0), 0, INT64_MAX - 1, &live) != 0)
		return http_db_failure(req);
	if (live >= INVITES_MAX)
		return http_error(req, 409, "conflict", "this group has 100 open invites; revoke one");
	randombytes_buf(raw, sizeof(raw));
	*secret = util_b64url_encode(req->arena, raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
	if (*secret == NULL || (*invite_id = util_random_id(req->arena, GROUP_ID_BYTES)) == NULL)
		return http_oom(req);
	group_invite_hash(req->ctx->keys.invites, *secret, strlen(*secret), hash);
	params[0] = *invite_id;
	params[1] = arena_i64(req->arena, g->pk);
	params[2] = db_bytea_text(req->arena, hash, sizeof(hash));
	params[3] = arena_i64(req->arena, uses);
	params[4] = arena_i64(req->arena, expires);
	if (params[1] == NULL || params[2] == NULL || params[3] == NULL || params[4] == NULL)
		return http_oom(req);
	if (db_exec(req->ctx->db, req->arena, &stmt_invite_insert, params, NULL) == NULL)
		return http_db_failure(req);
	return 0;
}

/*
 * POST /groups/{id}/invites (admin): 201 {"invite", "invite_id",
 * "expires_day"}. The secret is shown once; only its keyed hash is kept.
 */
int handle_group_invite(struct request *req)
{
	struct group_access g;
	const char *secret = NULL, *invite_id = NULL;
	int64_t uses, days, expires;
	json_object *o;
	int status;

	if ((status = group_lock_or_reply(req, &g)) != 0)
		return status;
	if ((status = invite_fields_or_reply(req, &uses, &days)) != 0)
		return group_rollback(req, status);
	expires = util_today() + days;
	if (!g.admin)
		status = http_error(req, 403, "forbidden", "only the group's admin invites");
	else
		status = invite_store_or_reply(req, &g, uses, expires, &secret, &invite_id);
	if (status != 0)
		return group_rollback(req, status);
	if (db_commit(req->ctx->db) != 0)
		return group_rollback(req, http_db_failure(req));
	if ((o = json_object_new_object()) == NULL)
		return http_oom(req);
	json_object_object_add(o, "invite", json_object_new_string(secret));
	json_object_object_add(o, "invite_id", json_object_new_string(invite_id));
	json_object_object_add(o, "expires_day", json_object_new_int64(expires));
	return http_reply(req, 201, o);
}

/* DELETE /groups/{id}/invites/{invite_id} (admin): 204; 404 for no such invite. */
int handle_group_invite_revoke(struct request *req)
{
	struct group_access g;
	const char *params[2];
	PGresult *res;
	int status;

	if ((status = group_member_or_reply(req, &g)) != 0)
		return status;
	if (!g.admin)
		return http_error(req, 403, "forbidden", "only the group's admin revokes invites");
	params[0] = http_param(req, 1);
	params[1] = arena_i64(req->arena, g.pk);
	if (params[1] == NULL)
		return http_oom(req);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_invite_delete, params, NULL)) == NULL)
		return http_db_failure(req);
	if (strcmp(PQcmdTuples(res), "1") != 0)
		return http_error(req, 404, "not_found", "no such invite");
	return 204;
}

/* ---- POST /groups/join --------------------------------------------------------- */

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
	if (len != 43) {
		*status = http_error(req, 404, "not_found", "no such invite");
		return NULL;
	}
	group_invite_hash(req->ctx->keys.invites, secret, len, hash);
	if ((out = db_bytea_text(req->arena, hash, sizeof(hash))) == NULL)
		*status = http_oom(req);
	return out;
}

/*
 * Add the caller to the locked group g with key x, in a new epoch, and
 * queue the events. 0 with *mid and *epoch, or the status it set.
 */
static int member_add_or_reply(struct request *req, struct group_access *g, const char *x,
                               const char **mid)
{
	const char *params[6];
	json_object *data = json_object_new_object();
	PGresult *res;
	int status = 0;

	if (data == NULL || (*mid = util_random_id(req->arena, GROUP_ID_BYTES)) == NULL) {
		status = http_oom(req);
		goto out;
	}
	params[0] = arena_i64(req->arena, g->pk);
	if (params[0] == NULL ||
	    (res = db_exec(req->ctx->db, req->arena, &stmt_epoch_next, params, NULL)) == NULL ||
	    util_parse_int64(PQgetvalue(res, 0, 0), 1, GROUP_EPOCH_MAX, &g->epoch) != 0) {
		status = http_db_failure(req);
		goto out;
	}
	params[1] = *mid;
	params[2] = arena_i64(req->arena, req->account_pk);
	params[3] = x;
	params[4] = "false";
	params[5] = arena_i64(req->arena, g->epoch);
	if (params[2] == NULL || params[5] == NULL ||
	    (res = db_exec(req->ctx->db, req->arena, &stmt_member_insert, params, NULL)) == NULL ||
	    PQntuples(res) != 1 || util_parse_int64(PQgetvalue(res, 0, 0), 1, INT64_MAX - 1,
	                                            &g->member_pk) != 0) {
		status = http_db_failure(req);
		goto out;
	}
	json_object_object_add(data, "group_id", json_object_new_string(g->id));
	json_object_object_add(data, "epoch", json_object_new_int64(g->epoch));
	json_object_object_add(data, "member_id", json_object_new_string(*mid));
	json_object_object_add(data, "change", json_object_new_string("joined"));
	if (push_all(req, g, g->member_pk, EVENT_GROUP_MEMBER, data) != 0) {
		status = http_db_failure(req);
		goto out;
	}
	json_object_object_del(data, "member_id");
	json_object_object_del(data, "change");
	if (push_all(req, g, 0, EVENT_GROUP_REKEY, data) != 0)
		status = http_db_failure(req);
out:
	json_object_put(data);
	return status;
}

/*
 * POST /groups/join {"invite", "x25519_public"}: 201 {"group_id",
 * "member_id", "epoch"}. An unknown, used-up or expired invite is 404
 * alike; a full group or a caller already in it 409. The invite is used
 * only when the join happens.
 */
int handle_group_join(struct request *req)
{
	struct group_access g;
	const char *hash, *x, *mid = NULL, *params[3];
	PGresult *res;
	int status = 0;

	if ((x = x25519_or_reply(req, &status)) == NULL ||
	    (hash = invite_hash_or_reply(req, &status)) == NULL)
		return status;
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_invite_find, &hash, NULL)) == NULL)
		return http_db_failure(req);
	if (PQntuples(res) != 1)
		return http_error(req, 404, "not_found", "no such invite");
	if ((status = group_lock_pk_or_reply(req, PQgetvalue(res, 0, 0), &g)) != 0)
		return status;
	if (g.member_pk != 0)
		return group_rollback(req, http_error(req, 409, "conflict",
		                                      "you are a member of this group already"));
	params[0] = hash;
	params[1] = arena_i64(req->arena, g.pk);
	params[2] = arena_i64(req->arena, util_today());
	if (params[1] == NULL || params[2] == NULL)
		return group_rollback(req, http_oom(req));
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_invite_use, params, NULL)) == NULL)
		return group_rollback(req, http_db_failure(req));
	if (PQntuples(res) != 1)
		return group_rollback(req, http_error(req, 404, "not_found", "no such invite"));
	if (g.member_count >= req->ctx->cfg->group_max_members)
		return group_rollback(req, http_error(req, 409, "conflict", "the group is full"));
	if ((status = member_add_or_reply(req, &g, x, &mid)) != 0)
		return group_rollback(req, status);
	if (db_commit(req->ctx->db) != 0)
		return group_rollback(req, http_db_failure(req));
	return joined_reply(req, 201, g.id, mid, g.epoch);
}

/* ---- leaving ------------------------------------------------------------------- */

/* member_pk leaves the locked group g: new epoch, events, commit. 204 or status. */
static int leave_commit_or_reply(struct request *req, const struct group_access *g,
                                 int64_t member_pk)
{
	const char *params[3] = { arena_i64(req->arena, g->pk), arena_i64(req->arena, member_pk),
	                          arena_i64(req->arena, util_today()) };
	PGresult *res;

	if (params[0] == NULL || params[1] == NULL || params[2] == NULL)
		return group_rollback(req, http_oom(req));
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_leave, params, NULL)) == NULL)
		return group_rollback(req, http_db_failure(req));
	group_note_events(req, res, 0, NULL);
	if (db_commit(req->ctx->db) != 0)
		return group_rollback(req, http_db_failure(req));
	return 204;
}

/*
 * DELETE /groups/{id}/members/me (leave) and .../{member_id} (the admin
 * removes a member; a member id of one's own is leaving too).
 */
int handle_group_member_delete(struct request *req)
{
	const char *target = http_param(req, 1);
	const char *params[2];
	struct group_access g;
	PGresult *res;
	int64_t pk = 0;
	int status;

	if ((status = group_lock_or_reply(req, &g)) != 0)
		return status;
	if (strcmp(target, "me") == 0 || strcmp(target, g.member_id) == 0)
		return leave_commit_or_reply(req, &g, g.member_pk);
	if (!g.admin)
		return group_rollback(req, http_error(req, 403, "forbidden",
		                                      "only the group's admin removes members"));
	params[0] = target;
	params[1] = arena_i64(req->arena, g.pk);
	if (params[1] == NULL)
		return group_rollback(req, http_oom(req));
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_target, params, NULL)) == NULL)
		return group_rollback(req, http_db_failure(req));
	if (PQntuples(res) != 1 ||
	    util_parse_int64(PQgetvalue(res, 0, 0), 1, INT64_MAX - 1, &pk) != 0)
		return group_rollback(req, http_error(req, 404, "not_found", "no such member"));
	return leave_commit_or_reply(req, &g, pk);
}

/* ---- GET /groups, GET /groups/{id} ------------------------------------------------ */

/* One group of the caller's list; NULL on OOM. */
static json_object *list_item(struct request *req, const PGresult *res, int row, void *unused)
{
	json_object *o = json_object_new_object();
	int64_t epoch = 0, count = 0, unread = 0;

	(void)req;
	(void)unused;
	if (o == NULL)
		return NULL;
	if (util_parse_int64(PQgetvalue(res, row, LS_EPOCH), 1, GROUP_EPOCH_MAX, &epoch) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, LS_COUNT), 0, INT32_MAX, &count) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, LS_UNREAD), 0, INT64_MAX - 1, &unread) != 0)
		log_msg(LOG_WARN, "a group row is malformed");
	json_object_object_add(o, "id", json_object_new_string(PQgetvalue(res, row, LS_ID)));
	json_object_object_add(o, "member_id",
	                       json_object_new_string(PQgetvalue(res, row, LS_MEMBER)));
	json_object_object_add(o, "role", json_object_new_string(
	                       PQgetvalue(res, row, LS_ADMIN)[0] == 't' ? "admin" : "member"));
	json_object_object_add(o, "epoch", json_object_new_int64(epoch));
	json_object_object_add(o, "member_count", json_object_new_int64(count));
	json_object_object_add(o, "unread", json_object_new_int64(unread));
	return o;
}

/* GET /groups: the caller's groups in the order joined (keyset on the membership). */
int handle_group_list(struct request *req)
{
	static const struct page_keyed list = {
		LIST_KIND, &stmt_list, 0, LS_PK, list_item, NULL
	};

	return page_keyed_reply(req, &list, arena_i64(req->arena, req->account_pk));
}

/* One member of GET /groups/{id}; NULL on OOM or a malformed row (logged). */
static json_object *member_item(struct request *req, const PGresult *res, int row)
{
	const unsigned char *x;
	size_t len = 0;
	int64_t joined = 0;
	const char *text;
	json_object *o;

	x = db_bytea_value(req->arena, res, row, 1, &len);
	if (x == NULL || len != GROUP_X25519_BYTES ||
	    util_parse_int64(PQgetvalue(res, row, 3), 1, GROUP_EPOCH_MAX, &joined) != 0 ||
	    (text = util_b64url_encode(req->arena, x, len)) == NULL) {
		log_msg(LOG_WARN, "a group member row is malformed");
		return NULL;
	}
	if ((o = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(o, "member_id", json_object_new_string(PQgetvalue(res, row, 0)));
	json_object_object_add(o, "x25519_public", json_object_new_string(text));
	json_object_object_add(o, "role", json_object_new_string(
	                       PQgetvalue(res, row, 2)[0] == 't' ? "admin" : "member"));
	json_object_object_add(o, "joined_epoch", json_object_new_int64(joined));
	return o;
}

/* GET /groups/{id}: {"id", "epoch", "key_ready", "member_id", "members": [...]}. */
int handle_group_get(struct request *req)
{
	struct group_access g;
	json_object *o, *members;
	const char *params[1];
	PGresult *res;
	int status;

	if ((status = group_member_or_reply(req, &g)) != 0)
		return status;
	if ((params[0] = arena_i64(req->arena, g.pk)) == NULL)
		return http_oom(req);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_members, params, NULL)) == NULL)
		return http_db_failure(req);
	if ((o = json_object_new_object()) == NULL || (members = json_object_new_array()) == NULL) {
		json_object_put(o);
		return http_oom(req);
	}
	json_object_object_add(o, "id", json_object_new_string(g.id));
	json_object_object_add(o, "epoch", json_object_new_int64(g.epoch));
	json_object_object_add(o, "key_ready", json_object_new_boolean(g.key_epoch == g.epoch));
	json_object_object_add(o, "member_id", json_object_new_string(g.member_id));
	json_object_object_add(o, "members", members);
	for (int i = 0; i < PQntuples(res); i++) {
		json_object *m = member_item(req, res, i);

		if (m != NULL)
			json_object_array_add(members, m);
	}
	return http_reply(req, 200, o);
}
