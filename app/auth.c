/*
 * auth.c — the bearer-token check every authenticated route shares, and
 * the account record it produces.
 *
 * Order: header syntax → token (signature and claims, token.c, no I/O) →
 * one Redis MGET (session ended? deleted? cached record?) → PostgreSQL only on
 * a cache miss. See auth.h for the cache, why it cannot go stale and
 * what a Redis writer can still do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "arena.h"
#include "auth.h"
#include "cache.h"
#include "cachemac.h"
#include "config.h"
#include "context.h"
#include "crypto.h"
#include "db.h"
#include "dpop_request.h"
#include "http.h"
#include "router.h"
#include "token.h"
#include "util.h"

#define HASH_HEX (2 * AUTH_HASH_BYTES + 1)

#define ACCOUNT_COLUMNS \
	"SELECT a.pk, a.day_joined, a.trust, a.auth, a.id_sealed, " \
	"k.version, k.wrapped, a.token_gen, a.token_keep " \
	"FROM accounts a JOIN account_keys k ON k.account_pk = a.pk "

static struct db_stmt stmt_by_key = {
	"auth_account_by_key", ACCOUNT_COLUMNS "WHERE a.key_hash = $1", 1, 0
};
static struct db_stmt stmt_by_pk = {
	"auth_account_by_pk", ACCOUNT_COLUMNS "WHERE a.pk = $1", 1, 0
};
/* The account of a token whose session is live (its row is there). */
static struct db_stmt stmt_by_token = {
	"auth_account_by_token", ACCOUNT_COLUMNS "WHERE a.id_hash = $1 AND EXISTS "
	"(SELECT 1 FROM sessions s WHERE s.id = $2 AND s.account_pk = a.pk)", 2, 0
};
static struct db_stmt stmt_keys = {
	"auth_account_keys",
	"SELECT k.version, k.wrapped, a.id_sealed FROM account_keys k "
	"JOIN accounts a ON a.pk = k.account_pk WHERE k.account_pk = $1", 1, 0
};

/*
 * The token check of a DPoP-bound token, still one round trip: remember
 * the proof's jti (the last key, for ARGV[1] seconds) and, when it is new,
 * answer what the MGET of a bearer token (the other keys) answers; 0 for
 * a replay.
 */
static const char bound_script[] =
	"if not redis.call('SET', KEYS[#KEYS], '1', 'NX', 'EX', ARGV[1]) then return 0 end "
	"return redis.call('MGET', unpack(KEYS, 1, #KEYS - 1))";
static struct cache_script bound_eval = CACHE_SCRIPT(bound_script);

/* Move the account's generation, so every cached record of it is stale. */
static const char forget_script[] =
	"redis.call('INCR', KEYS[1]) redis.call('EXPIRE', KEYS[1], ARGV[1]) "
	"return 1";
static struct cache_script forget_eval = CACHE_SCRIPT(forget_script);

static void lookup_hash(const struct context *ctx, const char *domain,
                        const unsigned char *data, size_t len,
                        unsigned char out[AUTH_HASH_BYTES])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, ctx->keys.lookup, sizeof(ctx->keys.lookup), AUTH_HASH_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)domain, strlen(domain));
	crypto_generichash_update(&st, data, len);
	crypto_generichash_final(&st, out, AUTH_HASH_BYTES);
}

void auth_id_hash(const struct context *ctx, const char *account_id,
                  unsigned char out[AUTH_HASH_BYTES])
{
	lookup_hash(ctx, "acct:", (const unsigned char *)account_id, strlen(account_id), out);
}

void auth_key_hash(const struct context *ctx, const unsigned char pk[32],
                   unsigned char out[AUTH_HASH_BYTES])
{
	lookup_hash(ctx, "ed25519:", pk, 32, out);
}

void auth_account_field(struct crypto_field *f, char *row_buf, size_t row_buf_len,
                        int64_t pk, const char *column)
{
	snprintf(row_buf, row_buf_len, "%lld", (long long)pk);
	f->table = "accounts";
	f->column = column;
	f->row = row_buf;
	f->owner = pk;
}

/* Open a value of acc's own row sealed with its data key; plaintext on the arena. */
static int open_own(struct request *req, struct account *acc, const char *column,
                    const unsigned char *sealed, size_t len, unsigned char **pt,
                    size_t *pt_len)
{
	unsigned char key[CRYPTO_KEY_BYTES];
	struct crypto_field f;
	char row[24];
	int rc = -1;

	if (auth_data_key(req, acc, key) != 0)
		goto out;
	auth_account_field(&f, row, sizeof(row), acc->pk, column);
	rc = crypto_open(req->arena, key, &f, sealed, len, pt, pt_len);
out:
	sodium_memzero(key, sizeof(key));
	return rc;
}

/* Version and wrapped key from columns vcol, vcol + 1 of row 0; -1 when malformed. */
static int parse_keys(struct request *req, const PGresult *res, int vcol, struct account *acc)
{
	const unsigned char *wrapped;
	size_t len = 0;
	int64_t version;

	if (util_parse_int64(PQgetvalue(res, 0, vcol), 1, UINT32_MAX, &version) != 0)
		return -1;
	wrapped = db_bytea_value(req->arena, res, 0, vcol + 1, &len);
	if (wrapped == NULL || len != CRYPTO_WRAPPED_BYTES)
		return -1;
	acc->wrap_version = (uint32_t)version;
	memcpy(acc->wrapped_key, wrapped, CRYPTO_WRAPPED_BYTES);
	acc->keys_loaded = true;
	return 0;
}

/* True for 1..TOKEN_JTI_MAX base64url characters (a jti). */
static bool jti_text(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");

	return s[n] == '\0' && n >= 1 && n <= TOKEN_JTI_MAX;
}

/*
 * What every Redis key naming a token holds of its jti (auth.h): hex of
 * BLAKE2b keyed with the lookup subkey over "jti:" + jti, so a Redis dump
 * holds no token id. On the arena; NULL on OOM.
 */
static const char *jti_hash_text(struct request *req, const char *jti)
{
	unsigned char h[32];
	char *hex = arena_alloc(req->arena, 2 * sizeof(h) + 1);
	crypto_generichash_state st;

	if (hex == NULL)
		return NULL;
	crypto_generichash_init(&st, req->ctx->keys.lookup, sizeof(req->ctx->keys.lookup), sizeof(h));
	crypto_generichash_update(&st, (const unsigned char *)"jti:", 4);
	crypto_generichash_update(&st, (const unsigned char *)jti, strlen(jti));
	crypto_generichash_final(&st, h, sizeof(h));
	return sodium_bin2hex(hex, 2 * sizeof(h) + 1, h, sizeof(h));
}

/* Token generation and kept jti from columns col, col + 1 of row 0; -1 when malformed. */
static int parse_tokens(const PGresult *res, int col, struct account *acc)
{
	const char *keep = PQgetvalue(res, 0, col + 1);

	if (util_parse_int64(PQgetvalue(res, 0, col), 0, TOKEN_GEN_MAX, &acc->token_gen) != 0)
		return -1;
	acc->token_keep[0] = '\0';
	if (PQgetisnull(res, 0, col + 1))
		return 0;
	if (!jti_text(keep))
		return -1;
	memcpy(acc->token_keep, keep, strlen(keep) + 1);
	return 0;
}

/* One row of ACCOUNT_COLUMNS into *acc; -1 on failure. */
static int account_parse(struct request *req, const PGresult *res, struct account *acc)
{
	int64_t auth;

	if (util_parse_int64(PQgetvalue(res, 0, 0), 1, INT64_MAX - 1, &acc->pk) != 0 ||
	    util_parse_int64(PQgetvalue(res, 0, 1), 0, INT32_MAX, &acc->day_joined) != 0 ||
	    util_parse_int64(PQgetvalue(res, 0, 3), ACCOUNT_PASSWORD, ACCOUNT_KEY, &auth) != 0 ||
	    parse_keys(req, res, 5, acc) != 0 || parse_tokens(res, 7, acc) != 0)
		return -1;
	acc->trust = strtod(PQgetvalue(res, 0, 2), NULL);
	acc->auth = (enum account_auth)auth;
	acc->id_sealed = db_bytea_value(req->arena, res, 0, 4, &acc->id_sealed_len);
	if (acc->id_sealed == NULL)
		return -1;
	return 0;
}

/* 1 found, 0 none, -1 failure: the account stmt finds with params, from PostgreSQL. */
static int account_load(struct request *req, struct db_stmt *stmt, const char **params,
                        struct account *acc)
{
	PGresult *res;

	res = db_exec(req->ctx->db, req->arena, stmt, params, NULL);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return 0;
	return account_parse(req, res, acc) == 0 ? 1 : -1;
}

/* The public id of a loaded account, opened from id_sealed, and its lookup hash. */
static int account_open_id(struct request *req, struct account *acc)
{
	unsigned char *id;
	size_t len;

	if (open_own(req, acc, "account_id", acc->id_sealed, acc->id_sealed_len, &id, &len) != 0 ||
	    len == 0 || len > TOKEN_SUB_MAX)
		return -1;
	memcpy(acc->id, id, len + 1);
	auth_id_hash(req->ctx, acc->id, acc->id_hash);
	return 0;
}

/* account_load of the one row param (NULL: out of memory) finds, its id opened. */
static int account_load_open(struct request *req, struct db_stmt *stmt, const char *param,
                             struct account *acc)
{
	const char *params[1] = { param };
	int found;

	memset(acc, 0, sizeof(*acc));
	if (param == NULL)
		return -1;
	found = account_load(req, stmt, params, acc);
	if (found != 1)
		return found;
	return account_open_id(req, acc) == 0 ? 1 : -1;
}

int auth_load_by_key_hash(struct request *req, const unsigned char hash[AUTH_HASH_BYTES],
                          struct account *acc)
{
	return account_load_open(req, &stmt_by_key,
	                         db_bytea_text(req->arena, hash, AUTH_HASH_BYTES), acc);
}

int auth_load_by_pk(struct request *req, int64_t pk, struct account *acc)
{
	return account_load_open(req, &stmt_by_pk, arena_i64(req->arena, pk), acc);
}

int auth_data_key(struct request *req, struct account *acc,
                  unsigned char key[CRYPTO_KEY_BYTES])
{
	const char *params[1];
	PGresult *res;

	if (!acc->keys_loaded) {
		params[0] = arena_i64(req->arena, acc->pk);
		if (params[0] == NULL)
			return -1;
		res = db_exec(req->ctx->db, req->arena, &stmt_keys, params, NULL);
		if (res == NULL || PQntuples(res) != 1 || parse_keys(req, res, 0, acc) != 0)
			return -1;
		acc->id_sealed = db_bytea_value(req->arena, res, 0, 2, &acc->id_sealed_len);
	}
	return crypto_unwrap_key(req->ctx->cfg, acc->pk, acc->wrap_version,
	                         acc->wrapped_key, CRYPTO_WRAPPED_BYTES, key);
}

/* ---- the cached record -------------------------------------------------- */

/*
 * "3|gen|pk|day|trust|auth|token_gen|kept jti or -": what auth and GET /me
 * need, no secret, for the account generation gen ("ag:<h>" when it was
 * read, "-" for none), on arena a (NULL on OOM). (Version 3 added the
 * token fields; another version reads as a miss.)
 */
char *auth_record_text(struct arena *a, const char *gen, const struct account *acc)
{
	return arena_printf(a, "3|%s|%lld|%lld|%.6f|%d|%lld|%s", gen, (long long)acc->pk,
	                    (long long)acc->day_joined, acc->trust, (int)acc->auth,
	                    (long long)acc->token_gen,
	                    acc->token_keep[0] != '\0' ? acc->token_keep : "-");
}

/* auth_record_text sealed (cachemac.h) under its key name until AUTH_CACHE_TTL from now. */
static char *record_format(struct request *req, const char *name, const char *gen,
                           const struct account *acc, int64_t now)
{
	char *text = auth_record_text(req->arena, gen, acc);

	if (text == NULL)
		return NULL;
	return cachemac_seal(req->arena, req->ctx->keys.redis, name, "",
	                     now + AUTH_CACHE_TTL, text);
}

/* The decimal (1..18 digits) at *p, ended by sep; *p moves past sep. */
static int record_int(const char **p, char sep, long long *out)
{
	const char *s = *p;
	long long v = 0;
	int n;

	for (n = 0; n < 18 && *s >= '0' && *s <= '9'; n++)
		v = v * 10 + (*s++ - '0');
	if (n == 0 || *s != sep)
		return -1;
	*out = v;
	*p = s + 1;
	return 0;
}

/* The kept jti p ("-": none), the record's last field, into acc. */
static int record_keep(const char *p, struct account *acc)
{
	size_t n = strlen(p);

	if (n == 0 || n > TOKEN_JTI_MAX)
		return -1;
	memcpy(acc->token_keep, p, n + 1);
	if (strcmp(acc->token_keep, "-") == 0)
		acc->token_keep[0] = '\0';
	else if (!jti_text(acc->token_keep))
		return -1;
	return 0;
}

/*
 * Parse what auth_record_text wrote, once opened, for the current
 * generation gen (by hand: sscanf was a twentieth of the worker CPU of
 * GET /me). -1 when malformed or of another generation.
 */
int auth_record_parse(const char *text, const char *gen, struct account *acc)
{
	long long pk, day, auth, token_gen;
	size_t gen_len = strlen(gen);
	const char *p = text;
	char *end;
	double trust;

	if (strncmp(p, "3|", 2) != 0 || strncmp(p + 2, gen, gen_len) != 0 || p[2 + gen_len] != '|')
		return -1;
	p += 3 + gen_len;
	if (record_int(&p, '|', &pk) != 0 || record_int(&p, '|', &day) != 0)
		return -1;
	trust = strtod(p, &end);
	if (end == p || *end != '|' || !(trust >= 0.0 && trust <= 1.0))
		return -1;
	p = end + 1;
	if (record_int(&p, '|', &auth) != 0 || record_int(&p, '|', &token_gen) != 0 ||
	    token_gen > TOKEN_GEN_MAX || record_keep(p, acc) != 0 || pk < 1 ||
	    (auth != ACCOUNT_PASSWORD && auth != ACCOUNT_KEY))
		return -1;
	acc->token_gen = token_gen;
	acc->pk = pk;
	acc->day_joined = day;
	acc->trust = trust;
	acc->auth = (enum account_auth)auth;
	return 0;
}

/* prefix + hex [+ ':' + jti_hash]: the Redis keys of one account and of one of its tokens. */
static const char *redis_key(struct arena *a, const char *prefix, const char hex[HASH_HEX],
                             const char *jti_hash)
{
	size_t plen = strlen(prefix), jlen = jti_hash != NULL ? strlen(jti_hash) + 1 : 0;
	char *k = arena_alloc(a, plen + HASH_HEX + jlen);

	if (k != NULL) {
		memcpy(k, prefix, plen);
		memcpy(k + plen, hex, HASH_HEX);    /* HASH_HEX counts the NUL */
		if (jti_hash != NULL) {
			k[plen + HASH_HEX - 1] = ':';
			memcpy(k + plen + HASH_HEX, jti_hash, jlen);
		}
	}
	return k;
}

/* gone:<h>, ag:<h> and, when jti_hash is given, ac:<h>:<jti_hash> (else *ac is NULL). */
static void redis_keys(struct arena *a, const unsigned char hash[AUTH_HASH_BYTES],
                       const char *jti_hash, const char **gone, const char **ac,
                       const char **ag)
{
	char hex[HASH_HEX];

	sodium_bin2hex(hex, sizeof(hex), hash, AUTH_HASH_BYTES);
	*gone = redis_key(a, "gone:", hex, NULL);
	*ac = jti_hash != NULL ? redis_key(a, "ac:", hex, jti_hash) : NULL;
	*ag = redis_key(a, "ag:", hex, NULL);
}

const char *auth_written_key(struct arena *a, const unsigned char id_hash[AUTH_HASH_BYTES])
{
	char hex[HASH_HEX];

	sodium_bin2hex(hex, sizeof(hex), id_hash, AUTH_HASH_BYTES);
	return redis_key(a, "rw:", hex, NULL);
}

/* The read-your-writes mark an MGET answered, as text (standby.h reads it); NULL: none. */
static void written_mark(const redisReply *r, struct account *acc)
{
	bool text = cache_reply_is(r, REDIS_REPLY_STRING);

	acc->written_mark = NULL;
	acc->written_mark_len = 0;
	if (r == NULL || cache_reply_is(r, REDIS_REPLY_NIL))
		return;
	acc->written_mark = text ? r->str : "";   /* not text: no position, the primary */
	acc->written_mark_len = text ? r->len : 0;
}

/* Cache the record read from the database for this token. */
static void record_fill(struct request *req, const struct account *acc, const char *ac,
                        const char *gen, int64_t now)
{
	char ttl[16];
	const char *argv[] = { "SET", ac, NULL, "EX", ttl };

	snprintf(ttl, sizeof(ttl), "%d", AUTH_CACHE_TTL);
	argv[2] = record_format(req, ac, gen, acc, now);
	if (argv[2] != NULL)
		(void)cache_command(req->ctx->cache, req->arena, 5, argv, NULL);
}

static int unauthorized(struct request *req)
{
	http_header_add(req, "WWW-Authenticate", "Bearer");
	return http_error(req, 401, "unauthorized", "missing or invalid token");
}

/* The account generation an MGET answered: its digits, or "-" when absent or not a counter. */
static const char *generation_text(const redisReply *r)
{
	if (!cache_reply_is(r, REDIS_REPLY_STRING) || r->len == 0 || r->len > 20 ||
	    strspn(r->str, "0123456789") != r->len)
		return "-";
	return r->str;
}

/* 1 the record opened and parsed into *acc, 0 not (absent, forged, moved, stale). */
static int record_hit(struct request *req, const redisReply *r, const char *ac,
                      const char *gen, int64_t now, struct account *acc)
{
	const char *text;

	if (!cache_reply_is(r, REDIS_REPLY_STRING))
		return 0;
	text = cachemac_open(req->ctx->keys.redis, ac, "", r->str, r->len, now);
	return text != NULL && auth_record_parse(text, gen, acc) == 0;
}

/*
 * True when the token is still one of the account's: of its current
 * generation, or the token that moved the generation on (auth.h).
 */
static bool token_current(const struct account *acc, const struct token_claims *claims)
{
	return claims->gen == acc->token_gen ||
	       (acc->token_keep[0] != '\0' && strcmp(claims->jti, acc->token_keep) == 0);
}

/*
 * The one round trip of the token check: MGET of keys[0..n) (n is 4, or
 * 5 with the read-your-writes mark), or for a bound token (replay: the
 * proof's key name, ttl_s its lifetime) the same behind the proof's
 * replay check. The reply, or NULL when Redis failed; *replayed when the
 * proof was seen before.
 */
static redisReply *check_round_trip(struct request *req, const char *const keys[5], int n,
                                    const char *replay, int ttl_s, bool *replayed)
{
	const char *argv[10] = { NULL };
	char ttl[16], nkeys[4];
	redisReply *r;

	*replayed = false;
	if (replay == NULL) {
		const char *mget[6] = { "MGET" };

		memcpy(&mget[1], keys, (size_t)n * sizeof(*keys));
		return cache_command(req->ctx->cache, req->arena, n + 1, mget, NULL);
	}
	snprintf(ttl, sizeof(ttl), "%d", ttl_s);
	snprintf(nkeys, sizeof(nkeys), "%d", n + 1);
	argv[2] = nkeys;
	memcpy(&argv[3], keys, (size_t)n * sizeof(*keys));
	argv[3 + n] = replay;
	argv[4 + n] = ttl;
	r = cache_eval(req->ctx->cache, req->arena, &bound_eval, 5 + n, argv, NULL);
	*replayed = cache_reply_is(r, REDIS_REPLY_INTEGER) && r->integer == 0;
	return r;
}

/*
 * The account the verified claims name: session ended, deleted, cached or
 * loaded (the load also refuses a token whose session row is gone, so a
 * Redis that lost "rs:<sid>" cannot revive it), and the token still of
 * its current generation; for a bound token, replay is the replay key of
 * its proof (else NULL), checked in the same round trip. Returns 0 with
 * *acc filled, or the status it set.
 */
static int account_or_reply(struct request *req, const struct token_claims *claims,
                            int64_t now, const char *replay, int ttl_s, struct account *acc)
{
	const char *keys[5], *gen, *params[2], *jti_hash;
	/* a read the standby may answer also asks for the account's last write */
	int n = req->ctx->standby != NULL && (req->route->flags & ROUTE_STANDBY) ? 5 : 4;
	redisReply *r;
	bool replayed;
	int found;

	auth_id_hash(req->ctx, claims->sub, acc->id_hash);
	if ((jti_hash = jti_hash_text(req, claims->jti)) == NULL)
		return http_oom(req);
	keys[0] = arena_printf(req->arena, "rs:%s", claims->sid);
	redis_keys(req->arena, acc->id_hash, jti_hash, &keys[1], &keys[2], &keys[3]);
	keys[4] = n == 5 ? auth_written_key(req->arena, acc->id_hash) : "";
	if (keys[0] == NULL || keys[1] == NULL || keys[2] == NULL || keys[3] == NULL ||
	    keys[4] == NULL)
		return http_oom(req);
	r = check_round_trip(req, keys, n, replay, ttl_s, &replayed);
	if (replayed)
		return dpop_unauthorized(req);
	if (!cache_reply_is(r, REDIS_REPLY_ARRAY) || r->elements != (size_t)n)
		return http_unavailable(req, "sessions are unavailable", HTTP_RETRY_AFTER_DOWN);
	written_mark(n == 5 ? r->element[4] : NULL, acc);
	/* the token's session ended, or the account was deleted */
	if (!cache_reply_is(r->element[0], REDIS_REPLY_NIL) ||
	    !cache_reply_is(r->element[1], REDIS_REPLY_NIL))
		return unauthorized(req);
	gen = generation_text(r->element[3]);
	if (record_hit(req, r->element[2], keys[2], gen, now, acc))
		return token_current(acc, claims) ? 0 : unauthorized(req);
	params[0] = db_bytea_text(req->arena, acc->id_hash, AUTH_HASH_BYTES);
	params[1] = claims->sid;
	if (params[0] == NULL)
		return http_oom(req);
	found = account_load(req, &stmt_by_token, params, acc);
	if (found < 0)
		return http_db_failure(req);
	if (found == 0)
		return unauthorized(req);  /* no such account, or the token's session ended */
	record_fill(req, acc, keys[2], gen, now);
	return token_current(acc, claims) ? 0 : unauthorized(req);
}

/*
 * Verified tokens, per worker (ctx->tokens). libjwt takes ~20-30 us to verify one
 * (OpenSSL 3 fetches the HMAC implementation on every call), more than
 * the rest of an authenticated request's own work, and a client sends
 * the same token for its whole lifetime. A token's verdict depends only
 * on its bytes, this worker's key and the clock, so a slot remembers the
 * claims of a token that passed, under a BLAKE2b digest of the whole
 * token; a hit re-checks only expiry. Revocation and deletion are checked
 * on every request regardless (account_or_reply).
 */
#define TOKEN_CACHE_SLOTS 1024

struct token_cache_slot {
	unsigned char digest[32];
	struct token_claims claims;
	bool used;
};

struct auth_token_cache {
	struct token_cache_slot slot[TOKEN_CACHE_SLOTS];
};

struct auth_token_cache *auth_token_cache_new(void)
{
	return calloc(1, sizeof(struct auth_token_cache));
}

void auth_token_cache_free(struct auth_token_cache *c)
{
	if (c == NULL)
		return;
	sodium_memzero(c, sizeof(*c));
	free(c);
}

static int token_check(const struct context *ctx, const char *token, int64_t now,
                       struct token_claims *out)
{
	unsigned char digest[32];
	struct token_cache_slot *slot;
	size_t len = strnlen(token, TOKEN_MAX_LEN + 1);

	if (len > TOKEN_MAX_LEN)
		return -1;
	crypto_generichash(digest, sizeof(digest), (const unsigned char *)token, len, NULL, 0);
	slot = &ctx->tokens->slot[(digest[0] | (unsigned)digest[1] << 8) % TOKEN_CACHE_SLOTS];
	if (slot->used && sodium_memcmp(slot->digest, digest, sizeof(digest)) == 0) {
		if (slot->claims.exp <= now)
			return -1;
		*out = slot->claims;
		return 0;
	}
	if (token_verify(ctx->keys.jwt, token, now, ctx->cfg->token_lifetime_s, out) != 0)
		return -1;
	memcpy(slot->digest, digest, sizeof(digest));
	slot->claims = *out;
	slot->used = true;
	return 0;
}

/*
 * The token of "Authorization: Bearer <token>" or "Authorization: DPoP
 * <token>" (scheme case-insensitive, RFC 7235 section 2.1; *dpop says
 * which), or NULL when the header has another shape.
 */
static const char *scheme_token(const char *header, bool *dpop)
{
	static const char bearer[] = "Bearer", pop[] = "DPoP";
	size_t n;

	if (strncasecmp(header, bearer, sizeof(bearer) - 1) == 0)
		n = sizeof(bearer) - 1;
	else if (strncasecmp(header, pop, sizeof(pop) - 1) == 0)
		n = sizeof(pop) - 1;
	else
		return NULL;
	if (header[n] != ' ')
		return NULL;
	*dpop = n == sizeof(pop) - 1;
	header += n;
	while (*header == ' ')
		header++;
	return *header != '\0' ? header : NULL;
}

/*
 * For a token bound to a DPoP key (RFC 9449 section 7): sent as "DPoP"
 * with a proof of that key for this request and this token; its replay
 * key into *replay. A bearer token must come as "Bearer" (a bound one
 * sent so, or an unbound one sent as "DPoP", is refused). 0, or the
 * status it set.
 */
static int binding_or_reply(struct request *req, const char *token, bool dpop, int64_t now,
                            const struct token_claims *claims, const char **replay,
                            int *ttl_s)
{
	struct dpop_proof p;

	*replay = NULL;
	if (claims->jkt[0] == '\0')
		return dpop ? unauthorized(req) : 0;
	if (!dpop)
		return unauthorized(req);
	if (dpop_request_proof(req, token, now, &p) != DPOP_VALID ||
	    strcmp(p.jkt, claims->jkt) != 0)
		return dpop_unauthorized(req);
	*replay = dpop_replay_key(req, &p, now, ttl_s);
	return *replay != NULL ? 0 : http_oom(req);
}

int auth_or_reply(struct request *req)
{
	const struct route *route = req->route;
	struct context *ctx = req->ctx;
	const char *header, *token, *replay;
	int64_t now = (int64_t)(util_wall_us() / 1000000);
	struct account *acc;
	bool dpop = false;
	int status, ttl = 0;

	if (!(route->flags & (ROUTE_AUTH | ROUTE_AUTH_OPT)))
		return 0;
	header = http_env(req, "HTTP_AUTHORIZATION");
	if (header == NULL)
		return (route->flags & ROUTE_AUTH) ? unauthorized(req) : 0;
	acc = arena_alloc(req->arena, sizeof(*acc));
	if (acc == NULL)
		return http_oom(req);
	token = scheme_token(header, &dpop);
	if (token == NULL ||
	    token_check(ctx, token, now, &acc->token) != 0)
		return unauthorized(req);
	if ((status = binding_or_reply(req, token, dpop, now, &acc->token, &replay, &ttl)) != 0 ||
	    (status = account_or_reply(req, &acc->token, now, replay, ttl, acc)) != 0)
		return status;
	memcpy(acc->id, acc->token.sub, sizeof(acc->id));
	req->account = acc;
	req->account_id = acc->id;
	req->account_pk = acc->pk;
	return 0;
}

/* ---- changes ------------------------------------------------------------ */

int auth_forget(struct request *req, const unsigned char id_hash[AUTH_HASH_BYTES])
{
	char ttl[16];
	const char *argv[5] = { NULL, NULL, "1", NULL, ttl };
	const char *gone, *ac;
	redisReply *r;

	/* Outlives every record sealed under the old generation. */
	snprintf(ttl, sizeof(ttl), "%d", 2 * AUTH_CACHE_TTL);
	redis_keys(req->arena, id_hash, NULL, &gone, &ac, &argv[3]);
	if (argv[3] == NULL)
		return -1;
	r = cache_eval(req->ctx->cache, req->arena, &forget_eval, 5, argv, NULL);
	return cache_reply_is(r, REDIS_REPLY_INTEGER) ? 0 : -1;
}

int auth_mark_deleted(struct request *req, const struct account *acc)
{
	char ttl[16];
	const char *argv[5] = { "SET", NULL, "1", "EX", ttl };
	const char *ac, *ag;
	redisReply *r;

	/* Outlives every token the account could still hold. */
	snprintf(ttl, sizeof(ttl), "%d", req->ctx->cfg->token_lifetime_s + TOKEN_CLOCK_SKEW_S);
	redis_keys(req->arena, acc->id_hash, NULL, &argv[1], &ac, &ag);
	if (argv[1] == NULL)
		return -1;
	r = cache_command(req->ctx->cache, req->arena, 5, argv, NULL);
	return cache_reply_is(r, REDIS_REPLY_STATUS) ? 0 : -1;
}

void auth_undelete(struct request *req, const struct account *acc)
{
	const char *argv[2] = { "DEL", NULL };
	const char *ac, *ag;

	redis_keys(req->arena, acc->id_hash, NULL, &argv[1], &ac, &ag);
	if (argv[1] != NULL)
		(void)cache_command(req->ctx->cache, req->arena, 2, argv, NULL);
}
