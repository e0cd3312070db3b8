/*
 * handlers_auth.c — POST /auth/register, /auth/challenge, /auth/login,
 * /auth/refresh, /auth/logout.
 *
 * Nothing about a person is collected: an account is a random 128-bit id
 * plus either an Argon2id password hash or an Ed25519 public key, both
 * stored only as keyed lookup hashes (auth.h). Every login failure is the
 * same 401 invalid_credentials body; a password login for an unknown or
 * malformed account id still runs one Argon2id verification, so the
 * answer takes as long.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "auth.h"
#include "cache.h"
#include "cachemac.h"
#include "config.h"
#include "context.h"
#include "credentials.h"
#include "crypto.h"
#include "db.h"
#include "dpop_request.h"
#include "events.h"
#include "handlers.h"
#include "json.h"
#include "password.h"
#include "scope.h"
#include "session.h"
#include "token.h"
#include "util.h"

static struct db_stmt stmt_next_pk = {
	"account_next_pk", "SELECT nextval(pg_get_serial_sequence('accounts', 'pk'))", 0, 0
};
static struct db_stmt stmt_insert_account = {
	"account_insert",
	"INSERT INTO accounts (pk, id_hash, id_sealed, key_hash, password_hash, auth, day_joined) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7)", 7, 0
};
static struct db_stmt stmt_insert_key = {
	"account_key_insert",
	"INSERT INTO account_keys (account_pk, version, wrapped) VALUES ($1, $2, $3)", 3, 0
};
static struct db_stmt stmt_password_by_id = {
	"account_password_by_id",
	"SELECT pk, password_hash, token_gen FROM accounts WHERE id_hash = $1 AND auth = 1", 1, 0
};
static struct db_stmt stmt_update_password = {
	"account_password_update",
	"UPDATE accounts SET password_hash = $2 WHERE pk = $1", 2, 0
};

/* What a token answer shows besides the tokens. */
enum token_reply_shows {
	SHOW_ACCOUNT_ID = 1 << 0,    /* registration */
	SHOW_SESSION_ID = 1 << 1,    /* a new session */
};

/*
 * status with a fresh access token of the account's token generation gen
 * for account_id in session g and g's refresh token; shows says which
 * ids the answer carries too. The tokens of a session bound to a DPoP key
 * are of type "DPoP" (RFC 9449 section 5) and the access token names the
 * key (cnf.jkt).
 */
static int token_reply(struct request *req, int status, const char *account_id,
                       const struct session_grant *g, int64_t gen, unsigned shows)
{
	struct context *ctx = req->ctx;
	char *token = session_access_token(req, account_id, g, gen);
	json_object *o;

	if (token == NULL || (o = json_object_new_object()) == NULL)
		return http_error(req, 500, "internal", "internal error");
	if (shows & SHOW_ACCOUNT_ID)
		json_object_object_add(o, "account_id", json_object_new_string(account_id));
	if (shows & SHOW_SESSION_ID)
		json_object_object_add(o, "session_id", json_object_new_string(g->id));
	json_object_object_add(o, "token", json_object_new_string(token));
	if (g->jkt[0] != '\0')
		json_object_object_add(o, "token_type", json_object_new_string("DPoP"));
	json_object_object_add(o, "expires_in", json_object_new_int(ctx->cfg->token_lifetime_s));
	json_object_object_add(o, "refresh_token", json_object_new_string(g->refresh_token));
	json_object_object_add(o, "refresh_expires_in",
	                       json_object_new_int(ctx->cfg->refresh_lifetime_s));
	return http_reply(req, status, o);
}

/* A new session for account_pk bound to jkt ("": none), answered with its tokens (login). */
static int session_reply(struct request *req, int64_t account_pk, const char *account_id,
                         int64_t gen, const char *jkt)
{
	struct session_grant g;

	if (session_open(req, account_pk, 0, SCOPE_ALL, jkt, &g) != 0)
		return http_db_failure(req);
	return token_reply(req, 200, account_id, &g, gen, SHOW_SESSION_ID);
}

/* The new account's rows, the data key wrapped for it, the id sealed with it. */
struct new_account {
	char pk_text[24];
	const char *id;
	unsigned char id_hash[AUTH_HASH_BYTES];
	const unsigned char *key_hash;      /* NULL for password accounts */
	const char *password_hash;          /* NULL for key accounts */
	enum account_auth auth;
	const char *jkt;                    /* the DPoP key of its first session, "" = none */
};

/* The account's rows and its first session (*g), in one transaction. */
static int insert_account(struct request *req, const struct new_account *na, int64_t pk,
                          const unsigned char *id_sealed, size_t id_sealed_len,
                          const unsigned char wrapped[CRYPTO_WRAPPED_BYTES],
                          uint32_t version, const char **sqlstate, struct session_grant *g)
{
	struct arena *a = req->arena;
	const char *acct[7] = {
		na->pk_text,
		db_bytea_text(a, na->id_hash, AUTH_HASH_BYTES),
		db_bytea_text(a, id_sealed, id_sealed_len),
		na->key_hash != NULL ? db_bytea_text(a, na->key_hash, AUTH_HASH_BYTES) : NULL,
		na->password_hash,
		na->auth == ACCOUNT_KEY ? "2" : "1",
		arena_i64(a, util_today()),
	};
	const char *key[3] = {
		na->pk_text, arena_printf(a, "%u", version),
		db_bytea_text(a, wrapped, CRYPTO_WRAPPED_BYTES),
	};

	if (acct[1] == NULL || acct[2] == NULL || acct[6] == NULL || key[1] == NULL ||
	    key[2] == NULL || (na->key_hash != NULL && acct[3] == NULL))
		return -1;
	if (db_begin(req->ctx->db) != 0 ||
	    db_exec(req->ctx->db, a, &stmt_insert_account, acct, sqlstate) == NULL ||
	    db_exec(req->ctx->db, a, &stmt_insert_key, key, sqlstate) == NULL ||
	    session_open(req, pk, 0, SCOPE_ALL, na->jkt, g) != 0 || db_commit(req->ctx->db) != 0) {
		db_rollback(req->ctx->db);
		return -1;
	}
	return 0;
}

/*
 * Create the account described by na (id, hashes): a fresh data key,
 * wrapped under the newest master key and bound to the new pk, seals the
 * account id; both rows and the first session go in one transaction.
 * Replies 201 with the session's tokens.
 */
static int create_account_or_reply(struct request *req, struct new_account *na)
{
	unsigned char key[CRYPTO_KEY_BYTES], wrapped[CRYPTO_WRAPPED_BYTES];
	struct crypto_field f;
	char row[24];
	const unsigned char *id_sealed;
	size_t id_sealed_len;
	const char *sqlstate = NULL;
	struct session_grant g;
	uint32_t version;
	int64_t pk;
	PGresult *res;
	int status;

	res = db_exec(req->ctx->db, req->arena, &stmt_next_pk, NULL, NULL);
	if (res == NULL || PQntuples(res) != 1 ||
	    util_parse_int64(PQgetvalue(res, 0, 0), 1, INT64_MAX - 1, &pk) != 0)
		return http_db_failure(req);
	snprintf(na->pk_text, sizeof(na->pk_text), "%lld", (long long)pk);
	crypto_data_key_new(key);
	auth_account_field(&f, row, sizeof(row), pk, "account_id");
	id_sealed = crypto_seal(req->arena, key, CRYPTO_DATA_KEY_VERSION, &f, na->id,
	                        strlen(na->id), &id_sealed_len);
	if (id_sealed == NULL || crypto_wrap_key(req->ctx->cfg, pk, key, wrapped, &version) != 0) {
		status = http_error(req, 500, "internal", "internal error");
		goto out;
	}
	if (insert_account(req, na, pk, id_sealed, id_sealed_len, wrapped, version, &sqlstate,
	                   &g) != 0) {
		if (sqlstate != NULL && strcmp(sqlstate, "23505") == 0)
			status = http_error(req, 409, "conflict", "this public key is already registered");
		else
			status = http_db_failure(req);
		goto out;
	}
	status = token_reply(req, 201, na->id, &g, 0, SHOW_ACCOUNT_ID | SHOW_SESSION_ID);
out:
	sodium_memzero(key, sizeof(key));
	return status;
}

static int new_account_id(struct request *req, struct new_account *na)
{
	na->id = util_random_id(req->arena, AUTH_ID_BYTES);
	if (na->id == NULL)
		return -1;
	auth_id_hash(req->ctx, na->id, na->id_hash);
	return 0;
}

static int register_password(struct request *req, const char *pw, size_t len, const char *jkt)
{
	struct new_account na = { .auth = ACCOUNT_PASSWORD, .jkt = jkt };
	char *hash;
	int status;

	if (len < PASSWORD_MIN_BYTES || len > PASSWORD_MAX_BYTES)
		return http_error(req, 422, "invalid_field", "password must be 10 to 1024 bytes");
	hash = arena_alloc(req->arena, PASSWORD_HASH_MAX);
	if (hash == NULL || new_account_id(req, &na) != 0)
		return http_oom(req);
	if ((status = password_hash_or_reply(req, pw, len, hash)) != 0)
		return status;
	na.password_hash = hash;
	return create_account_or_reply(req, &na);
}

static int register_key(struct request *req, const char *jkt)
{
	struct new_account na = { .auth = ACCOUNT_KEY, .jkt = jkt };
	unsigned char pk[32], key_hash[AUTH_HASH_BYTES];
	int status;

	if ((status = credentials_key_proof_or_reply(req, req->json, pk)) != 0)
		return status;
	auth_key_hash(req->ctx, pk, key_hash);
	na.key_hash = key_hash;
	if (new_account_id(req, &na) != 0)
		return http_oom(req);
	return create_account_or_reply(req, &na);
}

/* The DPoP key the request's proof binds its tokens to ("": none); 0 or the status set. */
static int proof_key_or_reply(struct request *req, char jkt[DPOP_JKT_CHARS + 1])
{
	return dpop_request_key_or_reply(req, (int64_t)(util_wall_us() / 1000000), jkt);
}

int handle_auth_register(struct request *req)
{
	char jkt[DPOP_JKT_CHARS + 1];
	const char *pw;
	size_t len;
	int has_pw = json_get_string(req->json, "password", &pw, &len), status;
	bool has_key = json_object_object_get_ex(req->json, "public_key", NULL);

	if ((status = proof_key_or_reply(req, jkt)) != 0)
		return status;
	if (has_pw < 0)
		return http_error(req, 422, "invalid_field", "password must be a string");
	if (has_pw == 1 && has_key)
		return http_error(req, 422, "invalid_field",
		                  "give either password or public_key, not both");
	if (has_pw == 1)
		return register_password(req, pw, len, jkt);
	if (has_key)
		return register_key(req, jkt);
	return http_error(req, 422, "invalid_field", "password or public_key is required");
}

int handle_auth_challenge(struct request *req)
{
	unsigned char pk[32];
	const char *key, *value;
	char *challenge, *key_text;
	json_object *o;

	if (json_get_b64(req->json, "public_key", pk, 32) != 1)
		return http_error(req, 422, "invalid_field", "public_key must be 32 bytes, base64url");
	challenge = util_random_id(req->arena, CREDENTIALS_CHALLENGE_BYTES);
	key = challenge != NULL ? arena_printf(req->arena, "authch:%s", challenge) : NULL;
	key_text = util_b64url_encode(req->arena, pk, 32);
	/* The key is bound, not stored: Redis holds no public key. */
	value = key != NULL && key_text != NULL ?
	        cachemac_seal(req->arena, req->ctx->keys.redis, key, key_text,
	                      (int64_t)(util_wall_us() / 1000000) + CREDENTIALS_CHALLENGE_TTL, "") : NULL;
	if (key == NULL || value == NULL)
		return http_oom(req);
	if (!cache_put_new(req->ctx->cache, req->arena, key, value, CREDENTIALS_CHALLENGE_TTL))
		return http_unavailable(req, "challenges are unavailable", HTTP_RETRY_AFTER_DOWN);
	if ((o = json_object_new_object()) == NULL)
		return http_oom(req);
	json_object_object_add(o, "challenge", json_object_new_string(challenge));
	json_object_object_add(o, "expires_in", json_object_new_int(CREDENTIALS_CHALLENGE_TTL));
	return http_reply(req, 200, o);
}

/*
 * Store a new hash for an account whose hash uses older parameters. Only
 * when a hash slot is free at once: a login never waits or fails for it.
 */
static void rehash(struct request *req, const char *pk_text, const char *pw, size_t len)
{
	char *hash = arena_alloc(req->arena, PASSWORD_HASH_MAX);
	const char *params[2] = { pk_text, hash };

	if (hash == NULL || password_hash_if_free(req->ctx, pw, len, hash) != 0)
		return;
	(void)db_exec(req->ctx->db, req->arena, &stmt_update_password, params, NULL);
}

/*
 * Every failure does the work of a wrong password: an unknown or malformed
 * account id and a password outside 10..1024 bytes are verified against
 * the dummy hash (a longer one cut to 1024 bytes for that only, so it can
 * never match the real hash), so no answer comes back faster.
 */
static int login_password(struct request *req, const char *jkt)
{
	const char *id, *pw, *stored = NULL, *pk_text = NULL, *gen_text = NULL, *params[1];
	unsigned char hash[AUTH_HASH_BYTES];
	size_t id_len, pw_len, checked_len;
	bool ok, needs_rehash, shape_ok;
	int64_t pk = 0;
	PGresult *res;
	int64_t gen;
	int status;

	if (json_get_string(req->json, "account_id", &id, &id_len) != 1)
		return http_error(req, 422, "invalid_field", "account_id must be a string");
	if (json_get_string(req->json, "password", &pw, &pw_len) != 1)
		return http_error(req, 422, "invalid_field", "password must be a string");
	shape_ok = id_len == AUTH_ID_CHARS && pw_len >= PASSWORD_MIN_BYTES &&
	           pw_len <= PASSWORD_MAX_BYTES;
	checked_len = pw_len > PASSWORD_MAX_BYTES ? PASSWORD_MAX_BYTES : pw_len;
	/* Malformed ids are looked up too (they never match): same work, same time. */
	auth_id_hash(req->ctx, id, hash);
	params[0] = db_bytea_text(req->arena, hash, sizeof(hash));
	if (params[0] == NULL)
		return http_oom(req);
	res = db_exec(req->ctx->db, req->arena, &stmt_password_by_id, params, NULL);
	if (res == NULL)
		return http_db_failure(req);
	if (PQntuples(res) == 1 && shape_ok) {
		pk_text = PQgetvalue(res, 0, 0);
		stored = PQgetvalue(res, 0, 1);
		gen_text = PQgetvalue(res, 0, 2);
	}
	status = password_verify_or_reply(req, stored, pw, checked_len, &ok, &needs_rehash);
	if (status != 0)
		return status;
	if (!ok)
		return credentials_invalid(req);
	if (util_parse_int64(gen_text, 0, TOKEN_GEN_MAX, &gen) != 0 ||
	    util_parse_int64(pk_text, 1, INT64_MAX - 1, &pk) != 0)
		return http_error(req, 500, "internal", "internal error");
	if (needs_rehash)
		rehash(req, pk_text, pw, pw_len);
	return session_reply(req, pk, id, gen, jkt);
}

static int login_key(struct request *req, const char *jkt)
{
	unsigned char pk[32], hash[AUTH_HASH_BYTES];
	struct account acc;
	int status, found;

	if ((status = credentials_key_proof_or_reply(req, req->json, pk)) != 0)
		return status;
	auth_key_hash(req->ctx, pk, hash);
	found = auth_load_by_key_hash(req, hash, &acc);
	if (found < 0)
		return db_down(req->ctx->db) ? http_db_failure(req)
		       : http_error(req, 500, "internal", "the account's data key cannot be read");
	if (found == 0)
		return credentials_invalid(req);
	return session_reply(req, acc.pk, acc.id, acc.token_gen, jkt);
}

int handle_auth_login(struct request *req)
{
	char jkt[DPOP_JKT_CHARS + 1];
	int status;

	if ((status = proof_key_or_reply(req, jkt)) != 0)
		return status;
	if (json_object_object_get_ex(req->json, "public_key", NULL))
		return login_key(req, jkt);
	return login_password(req, jkt);
}

/*
 * POST /auth/refresh {"refresh_token"}: the next access and refresh
 * tokens of the session. Every refusal, a reused token included (which
 * ends its session, session.h), is the same 401 invalid_credentials;
 * the token of a session bound to a DPoP key, sent without a proof of
 * that key, is 401 unauthorized and changes nothing.
 */
int handle_auth_refresh(struct request *req)
{
	char jkt[DPOP_JKT_CHARS + 1];
	struct session_grant g;
	struct account acc;
	const char *text;
	size_t len;
	int status, found;

	if (json_get_string(req->json, "refresh_token", &text, &len) != 1)
		return http_error(req, 422, "invalid_field", "refresh_token must be a string");
	if ((status = proof_key_or_reply(req, jkt)) != 0)
		return status;
	if (len != strlen(text))
		return credentials_invalid(req);
	switch (session_rotate(req, text, SESSION_ANY_CLIENT, jkt, &g)) {
	case SESSION_FAILED:
		return db_down(req->ctx->db) ? http_db_failure(req)
		       : http_unavailable(req, "sessions are unavailable", HTTP_RETRY_AFTER_DOWN);
	case SESSION_REFUSED:
		return credentials_invalid(req);
	case SESSION_WRONG_KEY:
		return dpop_unauthorized(req);
	case SESSION_ROTATED:
		break;
	}
	found = auth_load_by_pk(req, g.account_pk, &acc);
	if (found < 0)
		return http_db_failure(req);
	if (found == 0)
		return credentials_invalid(req);  /* deleted since the rotation */
	return token_reply(req, 200, acc.id, &g, acc.token_gen, 0);
}

/* POST /auth/logout: the current session ends, every token of it with it. */
int handle_auth_logout(struct request *req)
{
	if (session_end(req, req->account->token.sid, req->account_pk) < 0)
		return db_down(req->ctx->db) ? http_db_failure(req)
		       : http_unavailable(req, "sessions are unavailable", HTTP_RETRY_AFTER_DOWN);
	events_close(req, req->account->pk);   /* the account's open streams end too */
	return 204;
}
