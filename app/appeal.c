/*
 * appeal.c — opening and voiding a removal's appeal: see appeal.h.
 */
#include "appeal.h"
#include "arena.h"
#include "config.h"
#include "context.h"
#include "db.h"
#include "http.h"
#include "util.h"

enum { APPEAL_VOID = 5 };

/* One live appeal per item (mod_appeals_live): a second removal of one item reuses none. */
static struct db_stmt stmt_open = {
	"appeal_open",
	"INSERT INTO mod_appeals (id, item_pk, post_pk, community_pk, trust_taken, last_day) "
	"VALUES ($1, $2, $3, $4, $5, $6)", 6, 0
};
static struct db_stmt stmt_void = {
	"appeal_void",
	"UPDATE mod_appeals SET status = 5, day_decided = $2 WHERE item_pk = $1 AND status IN (0, 1, 2)",
	2, 0
};

const char *appeal_open(struct request *req, const char *item_pk, const char *post_pk,
                        const char *community, double trust_taken)
{
	int64_t today = util_today();
	const char *params[6] = {
		util_random_id(req->arena, APPEAL_ID_BYTES), item_pk, post_pk, community,
		arena_printf(req->arena, "%.6f", trust_taken < 0 ? 0 : trust_taken),
		arena_i64(req->arena, today + req->ctx->cfg->appeal_days)
	};

	if (params[0] == NULL || params[4] == NULL || params[5] == NULL)
		return NULL;
	if (db_exec(req->ctx->db, req->arena, &stmt_open, params, NULL) == NULL)
		return NULL;
	return params[0];
}

int appeal_void(struct request *req, const char *item_pk)
{
	const char *params[2] = { item_pk, arena_i64(req->arena, util_today()) };

	if (params[1] == NULL)
		return -1;
	return db_exec(req->ctx->db, req->arena, &stmt_void, params, NULL) == NULL ? -1 : 0;
}
