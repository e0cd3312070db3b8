/*
 * community.c — see community.h. The community resource itself (list,
 * create, get) is handlers_communities.c.
 */
#include <libpq-fe.h>

#include "arena.h"
#include "community.h"
#include "context.h"
#include "db.h"
#include "http.h"

static struct db_stmt stmt_pk = {
	"community_pk", "SELECT pk FROM communities WHERE slug = $1", 1, 0
};
static struct db_stmt stmt_moderated = {
	"community_moderated",
	"SELECT c.pk FROM communities c JOIN community_moderators m ON m.community_pk = c.pk "
	"WHERE c.slug = $1 AND m.account_pk = $2", 2, 0
};

bool community_slug_valid(const char *s, size_t len)
{
	if (len < COMMUNITY_SLUG_MIN || len > COMMUNITY_SLUG_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

int community_pk(struct request *req, const char *slug, const char **pk)
{
	const char *params[1] = { slug };
	PGresult *res = db_exec(req->db, req->arena, &stmt_pk, params, NULL);

	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1)
		return 0;
	*pk = PQgetvalue(res, 0, 0);
	return 1;
}

int community_moderated_by_caller(struct request *req, const char *slug, const char **pk)
{
	const char *params[2] = { slug, arena_i64(req->arena, req->account_pk) };
	PGresult *res;

	if (params[1] == NULL)
		return -1;
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_moderated, params, NULL)) == NULL)
		return -1;
	if (PQntuples(res) != 1)
		return 0;
	*pk = PQgetvalue(res, 0, 0);
	return 1;
}

/* The reply for a lookup's result rc (1 found, 0 none, -1 failed): 0, 404 or the failure. */
static int lookup_reply(struct request *req, int rc)
{
	if (rc == 1)
		return 0;
	return rc == 0 ? http_error(req, 404, "not_found", "no such community")
	               : http_db_failure(req);
}

int community_pk_or_reply(struct request *req, const char *slug, const char **pk)
{
	return lookup_reply(req, community_pk(req, slug, pk));
}

int community_moderated_or_reply(struct request *req, const char *slug, const char **pk)
{
	return lookup_reply(req, community_moderated_by_caller(req, slug, pk));
}
