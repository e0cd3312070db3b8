/*
 * session.c — sessions: opening, refresh-token rotation with reuse
 * detection, ending (session.h has the token format and why nothing of
 * a refresh token is stored).
 */
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "cache.h"
#include "config.h"
#include "context.h"
#include "db.h"
#include "http.h"
#include "scope.h"
#include "session.h"
#include "token.h"
#include "util.h"

#define REFRESH_DOMAIN "sotto-refresh"

static struct db_stmt stmt_open = {
	"session_open",
	"INSERT INTO sessions (id, account_pk, day_created, day_last_used, client_pk, scope) "
	"VALUES ($1, $2, $3, $3, $4, $5)",
	5, 0
};
/* The one step of a rotation: only the current generation, only while not idle too long. */
static struct db_stmt stmt_rotate = {
	"session_rotate",
	"UPDATE sessions SET gen = gen + 1, day_last_used = $3 "
	"WHERE id = $1 AND gen = $2 AND day_last_used > $4 "
	"AND ($5::bigint < 0 OR client_pk = $5::bigint) "
	"RETURNING account_pk, gen, coalesce(client_pk, 0), scope",
	5, 0
};
static struct db_stmt stmt_end = {
	"session_end",
	"DELETE FROM sessions WHERE id = $1 AND ($2::bigint = 0 OR account_pk = $2::bigint) RETURNING id",
	2, 0
};

/* Ends of each key named in KEYS, until ARGV[1] seconds from now. */
static const char forget_script[] =
	"for _, k in ipairs(KEYS) do redis.call('SET', k, '1', 'EX', ARGV[1]) end "
	"return #KEYS";

bool session_id_valid(const char *id)
{
	size_t n;

	if (id == NULL)
		return false;
	n = strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");
	return n == SESSION_ID_CHARS && id[n] == '\0';
}

/* The MAC of (id, gen) in mac, as session.h describes. */
static void refresh_mac(const struct context *ctx, const unsigned char id[SESSION_ID_BYTES],
                        const unsigned char gen[8], unsigned char mac[32])
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, ctx->keys.refresh, sizeof(ctx->keys.refresh));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)REFRESH_DOMAIN,
	                              sizeof(REFRESH_DOMAIN) - 1);
	crypto_auth_hmacsha256_update(&st, id, SESSION_ID_BYTES);
	crypto_auth_hmacsha256_update(&st, gen, 8);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(&st, sizeof(st));
}

/* The refresh token of session id (its text) at generation gen, on the arena. */
static char *refresh_token(struct request *req, const char *id_text, int64_t gen)
{
	unsigned char raw[SESSION_REFRESH_BYTES];
	size_t len = 0;
	char *out = NULL;
	int i;

	if (util_b64url_decode(id_text, strlen(id_text), raw, SESSION_ID_BYTES, &len) != 0 ||
	    len != SESSION_ID_BYTES)
		goto out;
	for (i = 0; i < 8; i++)
		raw[SESSION_ID_BYTES + i] = (unsigned char)((uint64_t)gen >> (56 - 8 * i));
	refresh_mac(req->ctx, raw, raw + SESSION_ID_BYTES, raw + SESSION_ID_BYTES + 8);
	out = util_b64url_encode(req->arena, raw, sizeof(raw));
out:
	sodium_memzero(raw, sizeof(raw));
	return out;
}

/*
 * Parse and authenticate a presented refresh token: 0 with id (text) and
 * gen filled when its MAC is right (compared in constant time), -1 for
 * anything else.
 */
static int refresh_parse(struct request *req, const char *text, char id[SESSION_ID_CHARS + 1],
                         int64_t *gen)
{
	unsigned char raw[SESSION_REFRESH_BYTES], mac[32];
	uint64_t g = 0;
	size_t len = 0;
	char *id_text;
	int i, rc = -1;

	if (strnlen(text, SESSION_REFRESH_CHARS + 1) != SESSION_REFRESH_CHARS ||
	    util_b64url_decode(text, SESSION_REFRESH_CHARS, raw, sizeof(raw), &len) != 0 ||
	    len != sizeof(raw))
		goto out;
	refresh_mac(req->ctx, raw, raw + SESSION_ID_BYTES, mac);
	if (sodium_memcmp(mac, raw + SESSION_ID_BYTES + 8, sizeof(mac)) != 0)
		goto out;
	for (i = 0; i < 8; i++)
		g = g << 8 | raw[SESSION_ID_BYTES + i];
	if (g > INT64_MAX - 1)
		goto out;
	id_text = util_b64url_encode(req->arena, raw, SESSION_ID_BYTES);
	if (id_text == NULL || strlen(id_text) != SESSION_ID_CHARS)
		goto out;
	memcpy(id, id_text, SESSION_ID_CHARS + 1);
	*gen = (int64_t)g;
	rc = 0;
out:
	sodium_memzero(raw, sizeof(raw));
	return rc;
}

int session_open(struct request *req, int64_t account_pk, int64_t client_pk, unsigned scope,
                 struct session_grant *g)
{
	const char *id = util_random_id(req->arena, SESSION_ID_BYTES);
	const char *params[5];

	if (id == NULL || !session_id_valid(id))
		return -1;
	params[0] = id;
	params[1] = arena_i64(req->arena, account_pk);
	params[2] = arena_i64(req->arena, util_today());
	params[3] = client_pk != 0 ? arena_i64(req->arena, client_pk) : NULL;
	params[4] = arena_i64(req->arena, scope);
	if (params[1] == NULL || params[2] == NULL || params[4] == NULL ||
	    (client_pk != 0 && params[3] == NULL))
		return -1;
	if (db_exec(req->ctx->db, req->arena, &stmt_open, params, NULL) == NULL)
		return -1;
	memcpy(g->id, id, SESSION_ID_CHARS + 1);
	g->account_pk = account_pk;
	g->client_pk = client_pk;
	g->scope = scope;
	g->refresh_token = refresh_token(req, id, 0);
	return g->refresh_token != NULL ? 0 : -1;
}

int session_mark_ended(struct cache *c, struct arena *a, int token_lifetime_s,
                       const char *const *ids, size_t n)
{
	const char **argv;
	redisReply *r;
	size_t i;

	if (n == 0)
		return 0;
	if (n > SESSION_FORGET_MAX)
		return -1;
	argv = arena_alloc(a, (n + 4) * sizeof(*argv));
	if (argv == NULL)
		return -1;
	argv[0] = "EVAL";
	argv[1] = forget_script;
	argv[2] = arena_i64(a, (int64_t)n);
	for (i = 0; i < n; i++)
		if ((argv[3 + i] = arena_printf(a, "rs:%s", ids[i])) == NULL)
			return -1;
	/* Outlives every access token the sessions issued. */
	argv[3 + n] = arena_i64(a, (int64_t)token_lifetime_s + TOKEN_CLOCK_SKEW_S);
	if (argv[2] == NULL || argv[3 + n] == NULL)
		return -1;
	r = cache_command(c, a, (int)(n + 4), argv, NULL);
	return r != NULL && r->type == REDIS_REPLY_INTEGER ? 0 : -1;
}

int session_forget(struct request *req, const char *const *ids, size_t n)
{
	return session_mark_ended(req->ctx->cache, req->arena, req->ctx->cfg->token_lifetime_s,
	                          ids, n);
}

int session_end(struct request *req, const char *id, int64_t account_pk)
{
	const char *params[2] = { id, arena_i64(req->arena, account_pk) };
	PGresult *res;

	if (!session_id_valid(id))
		return 0;
	if (params[1] == NULL)
		return -1;
	res = db_exec(req->ctx->db, req->arena, &stmt_end, params, NULL);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return 0;
	return session_forget(req, &id, 1) == 0 ? 1 : -1;
}

/* The oldest day_last_used that is still too recent to be idle. */
static int64_t idle_floor(const struct request *req)
{
	return util_today() - req->ctx->cfg->refresh_lifetime_s / 86400;
}

int session_rotate(struct request *req, const char *text, int64_t client_pk,
                   struct session_grant *g)
{
	const char *params[5];
	PGresult *res;
	int64_t gen, next, scope;

	if (refresh_parse(req, text, g->id, &gen) != 0)
		return 0;
	params[0] = g->id;
	params[1] = arena_i64(req->arena, gen);
	params[2] = arena_i64(req->arena, util_today());
	params[3] = arena_i64(req->arena, idle_floor(req));
	params[4] = arena_i64(req->arena, client_pk);
	if (params[1] == NULL || params[2] == NULL || params[3] == NULL || params[4] == NULL)
		return -1;
	res = db_exec(req->ctx->db, req->arena, &stmt_rotate, params, NULL);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		/*
		 * A genuine token (its MAC is right) that no longer moves its
		 * session: used before, idle too long, or in the hands of
		 * another client than the session's. Either way the
		 * session ends now; one that is already gone stays gone.
		 */
		return session_end(req, g->id, 0) < 0 ? -1 : 0;
	}
	if (util_parse_int64(PQgetvalue(res, 0, 0), 1, INT64_MAX - 1, &g->account_pk) != 0 ||
	    util_parse_int64(PQgetvalue(res, 0, 1), 1, INT64_MAX - 1, &next) != 0 ||
	    util_parse_int64(PQgetvalue(res, 0, 2), 0, INT64_MAX - 1, &g->client_pk) != 0 ||
	    util_parse_int64(PQgetvalue(res, 0, 3), 0, SCOPE_ALL, &scope) != 0)
		return -1;
	g->scope = (unsigned)scope;
	g->refresh_token = refresh_token(req, g->id, next);
	return g->refresh_token != NULL ? 1 : -1;
}

char *session_access_token(struct request *req, const char *account_id,
                           const struct session_grant *g, int64_t gen)
{
	struct context *ctx = req->ctx;

	return token_issue(req->arena, ctx->keys.jwt, account_id, g->id, gen, g->scope,
	                   (int64_t)(util_wall_us() / 1000000), ctx->cfg->token_lifetime_s, NULL);
}
