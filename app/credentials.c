/*
 * credentials.c — the Ed25519 challenge proof and the password check of
 * an account, shared by login, registration and the actions that ask for
 * the credentials again (credentials.h).
 */
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "auth.h"
#include "cache.h"
#include "cachemac.h"
#include "context.h"
#include "credentials.h"
#include "db.h"
#include "http.h"
#include "json.h"
#include "password.h"
#include "util.h"

static struct db_stmt stmt_secrets = {
	"credentials_of_account", "SELECT password_hash, key_hash FROM accounts WHERE pk = $1", 1, 0
};

int credentials_invalid(struct request *req)
{
	return http_error(req, 401, "invalid_credentials", "invalid credentials");
}

/* True for 1..CREDENTIALS_CHALLENGE_MAX_CHARS characters of base64url. */
static bool challenge_shape_ok(const char *challenge, size_t len)
{
	unsigned char raw[CREDENTIALS_CHALLENGE_MAX_CHARS];
	size_t got;

	return len > 0 && len <= CREDENTIALS_CHALLENGE_MAX_CHARS &&
	       util_b64url_decode(challenge, len, raw, sizeof(raw), &got) == 0;
}

int credentials_key_proof_or_reply(struct request *req, json_object *body,
                                   unsigned char pk[32])
{
	unsigned char sig[crypto_sign_BYTES];
	const char *challenge, *argv[2];
	char *key_text, *message;
	size_t challenge_len;
	redisReply *r;

	if (json_get_b64(body, "public_key", pk, 32) != 1)
		return http_error(req, 422, "invalid_field", "public_key must be 32 bytes, base64url");
	if (json_get_b64(body, "signature", sig, sizeof(sig)) != 1)
		return http_error(req, 422, "invalid_field", "signature must be 64 bytes, base64url");
	if (json_get_string(body, "challenge", &challenge, &challenge_len) != 1)
		return http_error(req, 422, "invalid_field", "challenge must be a string");
	if (!challenge_shape_ok(challenge, challenge_len))
		return credentials_invalid(req);
	argv[0] = "GETDEL";
	argv[1] = arena_printf(req->arena, "authch:%s", challenge);
	key_text = util_b64url_encode(req->arena, pk, 32);
	message = arena_printf(req->arena, CREDENTIALS_SIGN_PREFIX "%s", challenge);
	if (argv[1] == NULL || key_text == NULL || message == NULL)
		return http_oom(req);
	r = cache_command(req->ctx->cache, req->arena, 2, argv, NULL);
	if (r == NULL || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL))
		return http_unavailable(req, "challenges are unavailable", HTTP_RETRY_AFTER_DOWN);
	/* the challenge's sealed value opens only with the key it was issued for */
	if (r->type == REDIS_REPLY_NIL ||
	    cachemac_open(req->ctx->keys.redis, argv[1], key_text, r->str, r->len,
	                  (int64_t)(util_wall_us() / 1000000)) == NULL)
		return credentials_invalid(req);
	if (crypto_sign_verify_detached(sig, (const unsigned char *)message, strlen(message),
	                                pk) != 0)
		return credentials_invalid(req);
	return 0;
}

/* The password of a password account again: absent or wrong is 401, never truncated. */
static int password_again_or_reply(struct request *req, const PGresult *res)
{
	const char *pw;
	size_t len;
	bool ok, rehash;
	int status, has = req->json != NULL ? json_get_string(req->json, "password", &pw, &len) : 0;

	if (has < 0)
		return http_error(req, 422, "invalid_field", "password must be a string");
	if (has == 0 || len < PASSWORD_MIN_BYTES || len > PASSWORD_MAX_BYTES ||
	    PQgetisnull(res, 0, 0))
		return credentials_invalid(req);
	status = password_verify_or_reply(req, PQgetvalue(res, 0, 0), pw, len, &ok, &rehash);
	if (status != 0)
		return status;
	return ok ? 0 : credentials_invalid(req);
}

/* A fresh proof for the key account's own key: its lookup hash is the row's. */
static int key_again_or_reply(struct request *req, const PGresult *res)
{
	unsigned char pk[32], hash[AUTH_HASH_BYTES];
	const unsigned char *stored;
	size_t stored_len = 0;
	int status;

	if (req->json == NULL || !json_object_object_get_ex(req->json, "public_key", NULL))
		return credentials_invalid(req);
	if ((status = credentials_key_proof_or_reply(req, req->json, pk)) != 0)
		return status;
	auth_key_hash(req->ctx, pk, hash);
	stored = db_bytea_value(req->arena, res, 0, 1, &stored_len);
	if (stored == NULL || stored_len != sizeof(hash) ||
	    sodium_memcmp(stored, hash, sizeof(hash)) != 0)
		return credentials_invalid(req);
	return 0;
}

int credentials_again_or_reply(struct request *req)
{
	const struct account *acc = req->account;
	const char *params[1] = { arena_i64(req->arena, acc->pk) };
	PGresult *res;

	if (params[0] == NULL)
		return http_oom(req);
	res = db_exec(req->ctx->db, req->arena, &stmt_secrets, params, NULL);
	if (res == NULL)
		return http_db_failure(req);
	if (PQntuples(res) != 1)
		return credentials_invalid(req);   /* deleted meanwhile */
	if (acc->auth == ACCOUNT_KEY)
		return key_again_or_reply(req, res);
	return password_again_or_reply(req, res);
}
