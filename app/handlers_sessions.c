/*
 * handlers_sessions.c — GET /me/sessions, DELETE /me/sessions/{id}: the
 * person's own sessions (session.h), listed and ended from any of them.
 *
 * A session shows only its id, two day numbers, the name of the OAuth
 * client it was opened through and whether it is the one asking: no
 * address, user agent or time of day is ever kept.
 */
#include <string.h>

#include "arena.h"
#include "auth.h"
#include "context.h"
#include "db.h"
#include "handlers.h"
#include "http.h"
#include "log.h"
#include "page.h"
#include "session.h"
#include "util.h"

#define LIST_KIND "sessions"

enum { SC_ID, SC_CREATED, SC_LAST_USED, SC_PK, SC_BOUND, SC_CLIENT };

static struct db_stmt stmt_list = {
	"session_list",
	"SELECT s.id, s.day_created, s.day_last_used, s.pk, s.jkt IS NOT NULL, c.name "
	"FROM sessions s LEFT JOIN oauth_clients c ON c.pk = s.client_pk "
	"WHERE s.account_pk = $1 AND s.pk < $2 ORDER BY s.pk DESC LIMIT $3", 3, 0
};

/* One session as the list shows it; ctx is the asking session's id. */
static json_object *session_item(struct request *req, const PGresult *res, int row, void *ctx)
{
	const char *id = PQgetvalue(res, row, SC_ID), *current = ctx;
	int64_t created, last_used;
	json_object *o;

	(void)req;
	if (util_parse_int64(PQgetvalue(res, row, SC_CREATED), 0, INT32_MAX, &created) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, SC_LAST_USED), 0, INT32_MAX, &last_used) != 0) {
		log_msg(LOG_WARN, "a session row is malformed");
		return NULL;
	}
	if ((o = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "current", json_object_new_boolean(strcmp(id, current) == 0));
	json_object_object_add(o, "day_created", json_object_new_int64(created));
	json_object_object_add(o, "day_last_used", json_object_new_int64(last_used));
	json_object_object_add(o, "client", PQgetisnull(res, row, SC_CLIENT) ? NULL :
	                       json_object_new_string(PQgetvalue(res, row, SC_CLIENT)));
	json_object_object_add(o, "bound",
	                       json_object_new_boolean(strcmp(PQgetvalue(res, row, SC_BOUND), "t") == 0));
	return o;
}

/* GET /me/sessions: newest first, keyset on the session's internal key (sealed in the cursor). */
int handle_me_sessions(struct request *req)
{
	struct page_keyed list = {
		LIST_KIND, &stmt_list, INT64_MAX, SC_PK, session_item, req->account->token.sid
	};

	return page_keyed_reply(req, &list, arena_i64(req->arena, req->account_pk));
}

/*
 * DELETE /me/sessions/{id}: that session ends at once. An id that is not
 * one of this account's sessions (another account's included) is 404,
 * whatever it is.
 */
int handle_me_session_delete(struct request *req)
{
	int ended = session_end(req, http_param(req, 0), req->account_pk);

	if (ended < 0)
		return db_down(req->ctx->db) ? http_db_failure(req)
		       : http_unavailable(req, "sessions are unavailable", HTTP_RETRY_AFTER_DOWN);
	if (ended == 0)
		return http_error(req, 404, "not_found", "no such session");
	return 204;
}
