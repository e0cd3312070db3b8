/*
 * events.c — see events.h. events_flush is a placeholder until issue 6
 * lands the real-time delivery (nchan); the queue itself works.
 */
#include <stdio.h>

#include "arena.h"
#include "db.h"
#include "events.h"
#include "http.h"
#include "json.h"
#include "util.h"
#include "worker.h"

static struct db_stmt stmt_push = {
	"events_push", "SELECT sotto_event_push($1, $2, $3, $4::jsonb)", 4, 0
};

int64_t events_push(struct request *req, int64_t account_pk, const char *type,
                    json_object *data)
{
	const char *params[4];
	size_t len = 0;
	int64_t seq = 0;
	PGresult *res;

	params[0] = arena_printf(req->arena, "%lld", (long long)account_pk);
	params[1] = type;
	params[2] = arena_printf(req->arena, "%lld", (long long)util_today());
	params[3] = json_dump(data, &len);
	if (params[0] == NULL || params[2] == NULL || params[3] == NULL)
		return -1;
	res = db_exec(req->worker->db, req->arena, &stmt_push, params, NULL);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	if (PQgetisnull(res, 0, 0))
		return 0;
	if (util_parse_int64(PQgetvalue(res, 0, 0), 1, INT64_MAX, &seq) != 0)
		return -1;
	return seq;
}

void events_flush(struct request *req, int status)
{
	(void)req;
	(void)status;
}
