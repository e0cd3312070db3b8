/*
 * community.c — see community.h. The community resource itself (list,
 * create, get) is handlers_communities.c.
 */
#include <libpq-fe.h>

#include "community.h"
#include "context.h"
#include "db.h"
#include "http.h"

static struct db_stmt stmt_pk = {
	"community_pk", "SELECT pk FROM communities WHERE slug = $1", 1, 0
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
	PGresult *res = db_exec(req->ctx->db, req->arena, &stmt_pk, params, NULL);

	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1)
		return 0;
	*pk = PQgetvalue(res, 0, 0);
	return 1;
}
