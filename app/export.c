/*
 * export.c — the sections of GET /me/export, one hook per module that
 * stores data about accounts (see export.h). A module adds its line here.
 */
#include "arena.h"
#include "context.h"
#include "db.h"
#include "export.h"
#include "http.h"

int export_rows(struct request *req, json_object *out, const char *section,
                struct db_stmt *stmt, page_row_fn *row, void *ctx)
{
	const char *params[1] = { arena_i64(req->arena, req->account_pk) };
	json_object *items = json_object_new_array();
	PGresult *res;

	if (params[0] == NULL || items == NULL) {
		json_object_put(items);
		return http_oom(req);
	}
	json_object_object_add(out, section, items);
	res = db_exec(req->ctx->db, req->arena, stmt, params, NULL);
	if (res == NULL)
		return http_db_failure(req);
	for (int i = 0; i < PQntuples(res); i++) {
		json_object *item = row(req, res, i, ctx);

		if (item != NULL)
			json_object_array_add(items, item);
	}
	return 0;
}

const struct export_hook export_hooks[] = {
	{ "account", export_account },
	{ "posts", export_posts },
	{ "votes", export_votes },
	{ "communities", export_communities },
	{ "mutes", export_mutes },
	{ "blocks", export_blocks },
	{ "flags", export_flags },
	{ "appeals", export_appeals },
	{ "moderating", export_moderating },
	{ "events", export_events },
	{ "conversations", export_conversations },
	{ "groups", export_groups },
};

const size_t export_hook_count = sizeof(export_hooks) / sizeof(export_hooks[0]);
