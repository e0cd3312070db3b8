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
#include "log.h"
#include "scope.h"
#include "session.h"
#include "token.h"
#include "util.h"

#define REFRESH_DOMAIN "sotto-refresh"

static struct db_stmt stmt_open = {
	"session_open",
	"INSERT INTO sessions (id, account_pk, day_created, day_last_used, client_pk, scope, jkt) "
	"VALUES ($1, $2, $3, $3, $4, $5, $6)",
	6, 0
};
/*
 * The one step of a rotation: only the current generation, only while
 * not idle too long, only for the session's key ($5: the proof's, NULL
 * for none); the first proof binds a bearer session.
 */
static struct db_stmt stmt_rotate = {
	"session_rotate",
	"UPDATE sessions SET gen = gen + 1, day_last_used = $3, jkt = coalesce(jkt, $5) "
	"WHERE id = $1 AND gen = $2 AND day_last_used > $4 AND (jkt IS NULL OR jkt = $5) "
	"AND ($6::bigint < 0 OR client_pk = $6::bigint) "
	"RETURNING account_pk, gen, coalesce(jkt, ''), coalesce(client_pk, 0), scope",
	6, 0
};
/*
 * A token that did not rotate: its session ends, unless it is bound to
 * a key the request did not prove (then whoever sent it cannot use it,
 * and must not be able to end it either). Counts: sessions ended, and
 * sessions of that id (0: already gone).
 */
static struct db_stmt stmt_end_unrotated = {
	"session_end_unrotated",
	"WITH s AS (SELECT id, jkt FROM sessions WHERE id = $1), "
	"d AS (DELETE FROM sessions WHERE id IN "
	"(SELECT id FROM s WHERE jkt IS NULL OR jkt = $2) RETURNING id) "
	"SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM s)",
	2, 0
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
static struct cache_script forget_eval = CACHE_SCRIPT(forget_script);

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

/* True for "" or SESSION_JKT_CHARS base64url characters. */
static bool jkt_valid(const char *jkt)
{
	size_t n = strspn(jkt, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");

	return jkt[n] == '\0' && (n == 0 || n == SESSION_JKT_CHARS);
}

int session_open(struct request *req, int64_t account_pk, int64_t client_pk, unsigned scope,
                 const char *jkt, struct session_grant *g)
{
	const char *id = util_random_id(req->arena, SESSION_ID_BYTES);
	const char *params[6];

	if (id == NULL || !session_id_valid(id) || !jkt_valid(jkt))
		return -1;
	params[0] = id;
	params[1] = arena_i64(req->arena, account_pk);
	params[2] = arena_i64(req->arena, util_today());
	params[3] = client_pk != 0 ? arena_i64(req->arena, client_pk) : NULL;
	params[4] = arena_i64(req->arena, scope);
	params[5] = jkt[0] != '\0' ? jkt : NULL;
	if (params[1] == NULL || params[2] == NULL || params[4] == NULL ||
	    (client_pk != 0 && params[3] == NULL))
		return -1;
	if (db_exec(req->ctx->db, req->arena, &stmt_open, params, NULL) == NULL)
		return -1;
	memcpy(g->id, id, SESSION_ID_CHARS + 1);
	memcpy(g->jkt, jkt, strlen(jkt) + 1);
	g->account_pk = account_pk;
	g->client_pk = client_pk;
	g->scope = scope;
	g->refresh_token = refresh_token(req, id, 0);
	return g->refresh_token != NULL ? 0 : -1;
}

int session_mark_ended(struct cache *c, struct arena *a, const struct config *cfg,
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
	argv[2] = arena_i64(a, (int64_t)n);
	for (i = 0; i < n; i++)
		if ((argv[3 + i] = arena_printf(a, "rs:%s", ids[i])) == NULL)
			return -1;
	/* Outlives every access token the sessions issued. */
	argv[3 + n] = arena_i64(a, (int64_t)cfg->token_lifetime_s + TOKEN_CLOCK_SKEW_S);
	if (argv[2] == NULL || argv[3 + n] == NULL)
		return -1;
	r = cache_eval(c, a, &forget_eval, (int)(n + 4), argv, NULL);
	if (!cache_reply_is(r, REDIS_REPLY_INTEGER))
		return -1;
	/*
	 * With Sentinel, a failover keeps the marks only if a replica has them;
	 * PostgreSQL already refuses the sessions, but a record cached before
	 * would answer for a token until a new server drops it (revocation.h).
	 */
	if (cfg->redis_sentinels[0] != '\0' && cache_wait_replica(c, a) != 0) {
		log_msg(LOG_WARN, "session: no Redis replica confirmed the end of a session");
		return -1;
	}
	return 0;
}

int session_forget(struct request *req, const char *const *ids, size_t n)
{
	return session_mark_ended(req->ctx->cache, req->arena, req->ctx->cfg, ids, n);
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

/*
 * A genuine token (its MAC is right) that did not rotate: used before,
 * idle too long, another client's, or bound to a key not proved (jkt: the proof's, NULL
 * for none). The session ends now unless it is bound to another key;
 * one that is already gone stays gone.
 */
static enum session_rotation end_unrotated(struct request *req, const char *id, const char *jkt)
{
	const char *params[2] = { id, jkt };
	int64_t ended, found;
	PGresult *res = db_exec(req->ctx->db, req->arena, &stmt_end_unrotated, params, NULL);

	if (res == NULL || PQntuples(res) != 1 ||
	    util_parse_int64(PQgetvalue(res, 0, 0), 0, 1, &ended) != 0 ||
	    util_parse_int64(PQgetvalue(res, 0, 1), 0, 1, &found) != 0)
		return SESSION_FAILED;
	if (ended == 1)
		return session_forget(req, &id, 1) == 0 ? SESSION_REFUSED : SESSION_FAILED;
	return found == 1 ? SESSION_WRONG_KEY : SESSION_REFUSED;
}

enum session_rotation session_rotate(struct request *req, const char *text, int64_t client_pk,
                                     const char *jkt, struct session_grant *g)
{
	const char *params[6];
	PGresult *res;
	int64_t gen, next, scope;
	const char *bound;

	if (!jkt_valid(jkt) || refresh_parse(req, text, g->id, &gen) != 0)
		return SESSION_REFUSED;
	params[0] = g->id;
	params[1] = arena_i64(req->arena, gen);
	params[2] = arena_i64(req->arena, util_today());
	params[3] = arena_i64(req->arena, idle_floor(req));
	params[4] = jkt[0] != '\0' ? jkt : NULL;
	params[5] = arena_i64(req->arena, client_pk);
	if (params[1] == NULL || params[2] == NULL || params[3] == NULL || params[5] == NULL)
		return SESSION_FAILED;
	res = db_exec(req->ctx->db, req->arena, &stmt_rotate, params, NULL);
	if (res == NULL)
		return SESSION_FAILED;
	if (PQntuples(res) == 0)
		return end_unrotated(req, g->id, params[4]);
	bound = PQgetvalue(res, 0, 2);
	if (util_parse_int64(PQgetvalue(res, 0, 0), 1, INT64_MAX - 1, &g->account_pk) != 0 ||
	    util_parse_int64(PQgetvalue(res, 0, 1), 1, INT64_MAX - 1, &next) != 0 ||
	    !jkt_valid(bound) ||
	    util_parse_int64(PQgetvalue(res, 0, 3), 0, INT64_MAX - 1, &g->client_pk) != 0 ||
	    util_parse_int64(PQgetvalue(res, 0, 4), 0, SCOPE_ALL, &scope) != 0)
		return SESSION_FAILED;
	memcpy(g->jkt, bound, strlen(bound) + 1);
	g->scope = (unsigned)scope;
	g->refresh_token = refresh_token(req, g->id, next);
	return g->refresh_token != NULL ? SESSION_ROTATED : SESSION_FAILED;
}

char *session_access_token(struct request *req, const char *account_id,
                           const struct session_grant *g, int64_t gen)
{
	struct context *ctx = req->ctx;

	return token_issue(req->arena, ctx->keys.jwt, account_id, g->id, gen, g->scope, g->jkt,
	                   (int64_t)(util_wall_us() / 1000000), ctx->cfg->token_lifetime_s, NULL);
}
