/*
 * group_access.c — see group_access.h. The group row is read (and, for
 * changes, locked) by one statement and the caller's membership by the
 * next, so under READ COMMITTED the membership is read after the lock is
 * held and reflects every change committed before it.
 */
#include "arena.h"
#include "context.h"
#include "db.h"
#include "events.h"
#include "group.h"
#include "group_access.h"
#include "http.h"
#include "log.h"
#include "util.h"

static struct db_stmt stmt_view = {
	"group_view",
	"SELECT g.pk, g.id, g.epoch, g.key_epoch, g.member_count, m.pk, m.id, m.admin, "
	"m.joined_epoch FROM group_members m JOIN groups g ON g.pk = m.group_pk "
	"WHERE g.id = $1 AND m.account_pk = $2", 2, 0
};
static struct db_stmt stmt_lock_id = {
	"group_lock_id",
	"SELECT pk, id, epoch, key_epoch, member_count FROM groups WHERE id = $1 FOR UPDATE", 1, 0
};
static struct db_stmt stmt_lock_pk = {
	"group_lock_pk",
	"SELECT pk, id, epoch, key_epoch, member_count FROM groups WHERE pk = $1 FOR UPDATE", 1, 0
};
static struct db_stmt stmt_membership = {
	"group_membership",
	"SELECT pk, id, admin, joined_epoch FROM group_members "
	"WHERE group_pk = $1 AND account_pk = $2", 2, 0
};

/* Columns pk, id, epoch, key_epoch, member_count from col 0 of row 0. 0 or -1. */
static int group_cols(const PGresult *res, struct group_access *g)
{
	g->id = PQgetvalue(res, 0, 1);
	return util_parse_int64(PQgetvalue(res, 0, 0), 1, INT64_MAX - 1, &g->pk) != 0 ||
	       util_parse_int64(PQgetvalue(res, 0, 2), 1, GROUP_EPOCH_MAX, &g->epoch) != 0 ||
	       util_parse_int64(PQgetvalue(res, 0, 3), 0, GROUP_EPOCH_MAX, &g->key_epoch) != 0 ||
	       util_parse_int64(PQgetvalue(res, 0, 4), 0, INT32_MAX, &g->member_count) != 0
	       ? -1 : 0;
}

/* Columns pk, id, admin, joined_epoch from column col of row 0. 0 or -1. */
static int member_cols(const PGresult *res, int col, struct group_access *g)
{
	g->member_id = PQgetvalue(res, 0, col + 1);
	g->admin = PQgetvalue(res, 0, col + 2)[0] == 't';
	return util_parse_int64(PQgetvalue(res, 0, col), 1, INT64_MAX - 1, &g->member_pk) != 0 ||
	       util_parse_int64(PQgetvalue(res, 0, col + 3), 1, GROUP_EPOCH_MAX,
	                        &g->joined_epoch) != 0 ? -1 : 0;
}

int group_member_or_reply(struct request *req, struct group_access *g)
{
	const char *params[2] = { http_param(req, 0), arena_i64(req->arena, req->account_pk) };
	PGresult *res;

	if (params[1] == NULL)
		return http_oom(req);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_view, params, NULL)) == NULL)
		return http_db_failure(req);
	if (PQntuples(res) != 1)
		return http_error(req, 404, "not_found", "no such group");
	if (group_cols(res, g) != 0 || member_cols(res, 5, g) != 0)
		return http_error(req, 500, "internal", "internal error");
	return 0;
}

int group_rollback(struct request *req, int status)
{
	db_rollback(req->ctx->db);
	return status;
}

/* Lock the group by stmt (id or pk), then read the caller's membership. */
static int lock_or_reply(struct request *req, struct db_stmt *stmt, const char *key,
                         bool member_needed, struct group_access *g)
{
	const char *params[2];
	PGresult *res;

	if (db_begin(req->ctx->db) != 0)
		return http_db_failure(req);
	if ((res = db_exec(req->ctx->db, req->arena, stmt, &key, NULL)) == NULL)
		return group_rollback(req, http_db_failure(req));
	if (PQntuples(res) != 1)
		return group_rollback(req, http_error(req, 404, "not_found", "no such group"));
	if (group_cols(res, g) != 0)
		return group_rollback(req, http_error(req, 500, "internal", "internal error"));
	params[0] = arena_i64(req->arena, g->pk);
	params[1] = arena_i64(req->arena, req->account_pk);
	if (params[0] == NULL || params[1] == NULL)
		return group_rollback(req, http_oom(req));
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_membership, params, NULL)) == NULL)
		return group_rollback(req, http_db_failure(req));
	g->member_pk = 0;
	g->member_id = NULL;
	g->admin = false;
	g->joined_epoch = 0;
	if (PQntuples(res) != 1)
		return member_needed
		       ? group_rollback(req, http_error(req, 404, "not_found", "no such group"))
		       : 0;
	if (member_cols(res, 0, g) != 0)
		return group_rollback(req, http_error(req, 500, "internal", "internal error"));
	return 0;
}

int group_lock_or_reply(struct request *req, struct group_access *g)
{
	return lock_or_reply(req, &stmt_lock_id, http_param(req, 0), true, g);
}

int group_lock_pk_or_reply(struct request *req, const char *pk_text, struct group_access *g)
{
	return lock_or_reply(req, &stmt_lock_pk, pk_text, false, g);
}

void group_note_events(struct request *req, const PGresult *res, int first, const char *type)
{
	int64_t day = util_today();
	int data_col = type == NULL ? 3 : 2;

	for (int i = first; i < PQntuples(res); i++) {
		int64_t account = 0, seq = 0;

		if (util_parse_int64(PQgetvalue(res, i, 0), 1, INT64_MAX - 1, &account) != 0 ||
		    util_parse_int64(PQgetvalue(res, i, 1), 1, INT64_MAX - 1, &seq) != 0 ||
		    events_note(req, account, seq, type != NULL ? type : PQgetvalue(res, i, 2), day,
		                PQgetvalue(res, i, data_col)) != 0) {
			log_msg(LOG_WARN, "groups: an event is not published in real time");
			return;
		}
	}
}
