/*
 * handlers_blocks.c — POST /blocks, GET /blocks, DELETE /blocks/{block_id},
 * and the "blocks" section of the export.
 *
 * A block is made from a post and acts on that post's author without ever
 * naming them (sql/021_blocks.sql, docs/blocks.md). What it hides is
 * decided where posts and conversations are listed (POST_VIEW_UNBLOCKED,
 * DM_BLOCKED_BY, the feed's viewer query); this file only keeps the rows.
 * Every change drops the blocker's cached feed view (feed_votes_changed).
 */
#include <string.h>

#include "arena.h"
#include "context.h"
#include "db.h"
#include "export.h"
#include "feed_cache.h"
#include "handlers.h"
#include "json.h"
#include "page.h"
#include "util.h"

#define BLOCKS_KIND "blocks"

/* The post to block, as the caller may see it: whose it is, and the caller's block on it. */
static struct db_stmt stmt_target = {
	"block_target",
	"SELECT p.pk, p.author_pk = $2, b.id FROM posts p "
	"LEFT JOIN blocks b ON b.blocker_pk = $2 AND b.post_pk = p.pk "
	"WHERE p.id = $1 AND p.status = 0", 2, 0
};
static struct db_stmt stmt_insert = {
	"block_insert",
	"INSERT INTO blocks (id, blocker_pk, author_pk, post_pk, origin_post_id, day) "
	"SELECT $1, $2, p.author_pk, p.pk, p.id, $4 FROM posts p WHERE p.pk = $3 "
	"ON CONFLICT (blocker_pk, post_pk) DO NOTHING RETURNING id", 4, 0
};
static struct db_stmt stmt_list = {
	"block_list",
	"SELECT id, origin_post_id, day, pk FROM blocks WHERE blocker_pk = $1 AND pk < $2 "
	"ORDER BY pk DESC LIMIT $3", 3, 0
};
static struct db_stmt stmt_delete = {
	"block_delete", "DELETE FROM blocks WHERE id = $1 AND blocker_pk = $2", 2, 0
};
static struct db_stmt stmt_export = {
	"block_export",
	"SELECT id, origin_post_id, day, pk FROM blocks WHERE blocker_pk = $1 ORDER BY pk", 1, 0
};

enum { COL_ID, COL_ORIGIN, COL_DAY, COL_PK };
enum { TG_PK, TG_MINE, TG_BLOCK };

/* A block as GET /blocks and the export show it (a page_row_fn). */
static json_object *block_json(struct request *req, const PGresult *res, int row, void *unused)
{
	json_object *o = json_object_new_object();
	int64_t day;

	(void)req;
	(void)unused;
	if (o == NULL || util_parse_int64(PQgetvalue(res, row, COL_DAY), 0, INT32_MAX, &day) != 0) {
		json_object_put(o);
		return NULL;
	}
	json_object_object_add(o, "block_id", json_object_new_string(PQgetvalue(res, row, COL_ID)));
	json_object_object_add(o, "origin_post_id",
	                       json_object_new_string(PQgetvalue(res, row, COL_ORIGIN)));
	json_object_object_add(o, "day", json_object_new_int64(day));
	return o;
}

static int created_reply(struct request *req, const char *block_id)
{
	return http_reply_member(req, 201, "block_id", json_object_new_string(block_id));
}

/*
 * POST /blocks {"post_id"}: 201 {"block_id"}; blocking the same post
 * again answers the same block. A post the caller cannot see is 404, the
 * caller's own post 422: nothing here depends on who wrote the post.
 */
int handle_block_create(struct request *req)
{
	const char *post_id, *params[4];
	size_t len;
	PGresult *res;

	if (json_get_string(req->json, "post_id", &post_id, &len) != 1)
		return http_error(req, 422, "invalid_field", "post_id must be a string");
	if (!util_public_id_valid(post_id, len))
		return http_error(req, 404, "not_found", "no such post");
	params[0] = post_id;
	params[1] = arena_i64(req->arena, req->account_pk);
	if (params[1] == NULL)
		return http_oom(req);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_target, params, NULL)) == NULL)
		return http_db_failure(req);
	if (PQntuples(res) != 1)
		return http_error(req, 404, "not_found", "no such post");
	if (PQgetvalue(res, 0, TG_MINE)[0] == 't')
		return http_error(req, 422, "invalid_field", "post_id: you cannot block your own post");
	if (!PQgetisnull(res, 0, TG_BLOCK))
		return created_reply(req, PQgetvalue(res, 0, TG_BLOCK));
	params[2] = PQgetvalue(res, 0, TG_PK);
	params[3] = arena_i64(req->arena, util_today());
	params[0] = util_random_id(req->arena, UTIL_PUBLIC_ID_BYTES);
	if (params[0] == NULL || params[3] == NULL)
		return http_oom(req);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_insert, params, NULL)) == NULL)
		return http_db_failure(req);
	if (PQntuples(res) != 1)    /* the same block, made by a concurrent request */
		return http_error(req, 409, "conflict", "try again");
	feed_votes_changed(req);
	return created_reply(req, PQgetvalue(res, 0, 0));
}

/* GET /blocks: the caller's blocks, newest first (the cursor holds the last internal key). */
int handle_block_list(struct request *req)
{
	static const struct page_keyed list = {
		BLOCKS_KIND, &stmt_list, INT64_MAX, COL_PK, block_json, NULL
	};

	return page_keyed_reply(req, &list, arena_i64(req->arena, req->account_pk));
}

/* DELETE /blocks/{block_id}: 204; someone else's block is as absent as none (404). */
int handle_block_delete(struct request *req)
{
	const char *params[2] = { http_param(req, 0), arena_i64(req->arena, req->account_pk) };
	PGresult *res;

	if (params[0] == NULL || !util_public_id_valid(params[0], strlen(params[0])))
		return http_error(req, 404, "not_found", "no such block");
	if (params[1] == NULL)
		return http_oom(req);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_delete, params, NULL)) == NULL)
		return http_db_failure(req);
	if (strcmp(PQcmdTuples(res), "1") != 0)
		return http_error(req, 404, "not_found", "no such block");
	feed_votes_changed(req);
	return 204;
}

/* Export: the account's blocks, oldest first, as GET /blocks shows them. */
int export_blocks(struct request *req, json_object *out, const char *section)
{
	return export_rows(req, out, section, &stmt_export, block_json, NULL);
}
