/*
 * handlers_me.c — GET /me, PUT /me/keys, POST /me/password, GET /me/export,
 * DELETE /me.
 *
 * The account record comes from the auth check (req->account). The X25519
 * public key is stored sealed with the account's own data key, so a leaked
 * database cannot link a key seen in a conversation to an account row, and
 * deleting the account destroys it with everything else.
 *
 * Changing the password and deleting the account ask for the credentials
 * again (credentials.h): a stolen access token alone can do neither.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "auth.h"
#include "context.h"
#include "credentials.h"
#include "crypto.h"
#include "db.h"
#include "events.h"
#include "export.h"
#include "feed_cache.h"
#include "handlers.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "password.h"
#include "util.h"

#define X25519_BYTES crypto_scalarmult_BYTES

static struct db_stmt stmt_set_x25519 = {
	"account_set_x25519", "UPDATE accounts SET x25519_sealed = $2 WHERE pk = $1", 2, 0
};
static struct db_stmt stmt_set_password = {
	/* a new token generation ends every other token; the caller's is kept */
	"account_password_change",
	"UPDATE accounts SET password_hash = $2, token_gen = token_gen + 1, token_keep = $3 "
	"WHERE pk = $1 AND auth = 1", 3, 0
};
static struct db_stmt stmt_end_other_sessions = {
	/* their refresh tokens die with the rows; their access tokens with the generation */
	"account_end_other_sessions", "DELETE FROM sessions WHERE account_pk = $1 AND id <> $2", 2, 0
};
/*
 * Before the cascade, the account rows it will lock, in pk order: its own
 * and those of the authors whose posts it voted on or replied to (deleting
 * a vote or a reply locks that author's account, then the post). Two
 * accounts deleted at once, one having voted on or replied to the other,
 * otherwise lock each other's rows in opposite orders (the cascade of one
 * reaches the other's votes while the other's trigger waits for its
 * account): a deadlock, answered 503. Taken in one order, the later
 * deletion waits at its first lock, holding nothing the earlier one needs.
 */
static struct db_stmt stmt_delete_lock = {
	"account_delete_lock",
	"SELECT 1 FROM accounts WHERE pk = $1 OR pk IN ("
	"SELECT p.author_pk FROM votes v JOIN posts p ON p.pk = v.post_pk WHERE v.voter_pk = $1 "
	"UNION SELECT p.author_pk FROM posts r JOIN posts p ON p.pk = r.parent_pk "
	"WHERE r.author_pk = $1) ORDER BY pk FOR UPDATE", 1, 0
};
static struct db_stmt stmt_delete = {
	/* account_keys goes with it (ON DELETE CASCADE) */
	"account_delete", "DELETE FROM accounts WHERE pk = $1", 1, 0
};

/* Trust with four significant digits: it is stored as a 4-byte float. */
static json_object *trust_json(double trust)
{
	char text[32];

	snprintf(text, sizeof(text), "%.4g", trust);
	return json_object_new_double_s(trust, text);
}

/*
 * The account as GET /me shows it, with x25519 the key to show (NULL:
 * none). NULL when out of memory.
 */
static json_object *me_object(const struct account *acc, const char *x25519)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "account_id", json_object_new_string(acc->id));
	json_object_object_add(o, "day_joined", json_object_new_int64(acc->day_joined));
	json_object_object_add(o, "trust", trust_json(acc->trust));
	json_object_object_add(o, "auth", json_object_new_string(
	                       acc->auth == ACCOUNT_KEY ? "key" : "password"));
	json_object_object_add(o, "x25519_public",
	                       x25519 != NULL ? json_object_new_string(x25519) : NULL);
	return o;
}

static int me_reply(struct request *req, int status)
{
	json_object *o = me_object(req->account, req->account->x25519);

	if (o == NULL)
		return http_oom(req);
	return http_reply(req, status, o);
}

int handle_me_get(struct request *req)
{
	return me_reply(req, 200);
}

/*
 * True for a usable X25519 public key: a point of small order (the all-zero
 * key among them) would make every shared secret predictable, and
 * crypto_scalarmult() refuses exactly those by returning -1.
 */
static bool x25519_usable(const unsigned char pk[X25519_BYTES])
{
	unsigned char sk[crypto_scalarmult_SCALARBYTES], shared[X25519_BYTES];
	bool ok;

	randombytes_buf(sk, sizeof(sk));
	ok = crypto_scalarmult(shared, sk, pk) == 0;
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(shared, sizeof(shared));
	return ok;
}

/* Seal pk for acc's row with its data key; NULL when the key is unreadable. */
static unsigned char *seal_x25519(struct request *req, struct account *acc,
                                  const unsigned char pk[X25519_BYTES], size_t *len)
{
	unsigned char key[CRYPTO_KEY_BYTES];
	unsigned char *sealed = NULL;
	struct crypto_field f;
	char row[24];

	if (auth_data_key(req, acc, key) != 0)
		goto out;
	auth_account_field(&f, row, sizeof(row), acc->pk, "x25519_public");
	sealed = crypto_seal(req->arena, key, CRYPTO_DATA_KEY_VERSION, &f, pk, X25519_BYTES, len);
out:
	sodium_memzero(key, sizeof(key));
	return sealed;
}

/* The X25519 key from the body, checked; -1 when unusable. */
static int x25519_from_body(struct request *req, unsigned char pk[X25519_BYTES])
{
	const char *text;
	size_t len, got;

	if (json_get_string(req->json, "x25519_public", &text, &len) != 1 ||
	    util_b64url_decode(text, len, pk, X25519_BYTES, &got) != 0 || got != X25519_BYTES ||
	    !x25519_usable(pk))
		return -1;
	return 0;
}

/*
 * PUT /me/keys. The cached account record is dropped before the update
 * (if Redis cannot do that, nothing changes: 503) and again after it, so
 * no worker goes on showing the old key.
 */
int handle_me_keys(struct request *req)
{
	struct account *acc = req->account;
	unsigned char pk[X25519_BYTES];
	const char *params[2];
	unsigned char *sealed;
	size_t len;

	if (x25519_from_body(req, pk) != 0)
		return http_error(req, 422, "invalid_field",
		                  "x25519_public must be a usable X25519 public key: 32 bytes, base64url");
	sealed = seal_x25519(req, acc, pk, &len);
	if (sealed == NULL)
		return db_down(req->ctx->db) ? http_db_failure(req)
		       : http_error(req, 500, "internal", "the account's data key cannot be read");
	params[0] = arena_i64(req->arena, acc->pk);
	params[1] = db_bytea_text(req->arena, sealed, len);
	acc->x25519 = util_b64url_encode(req->arena, pk, X25519_BYTES);
	if (params[0] == NULL || params[1] == NULL || acc->x25519 == NULL)
		return http_oom(req);
	if (auth_forget(req, acc->id_hash) != 0)
		return http_unavailable(req, "sessions are unavailable", HTTP_RETRY_AFTER_DOWN);
	if (db_exec(req->ctx->db, req->arena, &stmt_set_x25519, params, NULL) == NULL)
		return http_db_failure(req);
	if (auth_forget(req, acc->id_hash) != 0)
		log_msg(LOG_WARN, "account record not dropped after a change; it expires by itself");
	return me_reply(req, 200);
}

int export_account(struct request *req, json_object *out, const char *section)
{
	json_object *o = me_object(req->account, req->account->x25519);

	if (o == NULL)
		return http_oom(req);
	json_object_object_add(out, section, o);
	return 0;
}

/*
 * One export section, built and written out on its own, so the export
 * holds at most one section in memory: ,"<section>":<value>. 0 or -1.
 */
static int export_section(struct request *req, const struct export_hook *hook)
{
	json_object *o = json_object_new_object(), *v;
	const char *text;
	char *name;
	size_t len = 0;
	int rc = -1;

	/* Section names are constant lower-case words: no escaping needed. */
	if (o == NULL || hook->fn(req, o, hook->section) != 0 ||
	    !json_object_object_get_ex(o, hook->section, &v) ||
	    (name = arena_printf(req->arena, ",\"%s\":", hook->section)) == NULL ||
	    (text = json_dump(v, &len)) == NULL)
		goto out;
	if (http_stream_write(req, name, strlen(name)) != 0 || http_stream_write(req, text, len) != 0)
		goto out;
	rc = 0;
out:
	json_object_put(o);
	return rc;
}

/*
 * The export body, streamed after the headers: {"format":..., then one
 * section at a time}. A section that fails stops the stream, leaving
 * invalid JSON: a client cannot take a cut-short export for a whole one.
 */
static int export_stream(struct request *req)
{
	static const char head[] = "{\"format\":\"sotto-export/1\"";

	if (http_stream_write(req, head, sizeof(head) - 1) != 0)
		return -1;
	for (size_t i = 0; i < export_hook_count; i++)
		if (export_section(req, &export_hooks[i]) != 0)
			return -1;
	return http_stream_write(req, "}", 1);
}

/* GET /me/export: rate class EXPORT; the body is streamed (export_stream). */
int handle_me_export(struct request *req)
{
	http_header_add(req, "Content-Disposition", "attachment; filename=\"sotto-export.json\"");
	req->reply_stream = export_stream;
	return 200;
}

/*
 * The change itself, in one transaction: the new hash and token
 * generation (params: pk, hash, the caller's jti), and the end of every
 * other session of the account. 0, or the status it set.
 */
static int password_change_or_reply(struct request *req, const char **params)
{
	const char *others[2] = { params[0], req->account->token.sid };
	PGresult *res;

	if (db_begin(req->ctx->db) != 0)
		return http_db_failure(req);
	res = db_exec(req->ctx->db, req->arena, &stmt_set_password, params, NULL);
	if (res == NULL || strcmp(PQcmdTuples(res), "1") != 0 ||
	    db_exec(req->ctx->db, req->arena, &stmt_end_other_sessions, others, NULL) == NULL ||
	    db_commit(req->ctx->db) != 0) {
		db_rollback(req->ctx->db);
		/* no row: deleted meanwhile */
		return res != NULL && strcmp(PQcmdTuples(res), "1") != 0 ? credentials_invalid(req)
		       : http_db_failure(req);
	}
	return 0;
}

/*
 * POST /me/password {"password", "new_password"}. The new password's
 * shape is checked before the current one (the cheaper check first), the
 * new hash is made before anything changes, and the cached account record
 * is dropped before the update (if Redis cannot do that, nothing changes:
 * 503) and again after it. From the commit on, only the calling token and
 * tokens issued later work (auth.h), every other session has ended (its
 * refresh token with it), and the account's open event streams end.
 */
int handle_me_password(struct request *req)
{
	struct account *acc = req->account;
	const char *params[3], *pw;
	char *hash;
	size_t len;
	int status;

	if (acc->auth != ACCOUNT_PASSWORD)
		return http_error(req, 422, "invalid_field",
		                  "this account signs in with a key: it has no password");
	if (json_get_string(req->json, "new_password", &pw, &len) != 1 ||
	    len < PASSWORD_MIN_BYTES || len > PASSWORD_MAX_BYTES)
		return http_error(req, 422, "invalid_field", "new_password must be 10 to 1024 bytes");
	if ((status = credentials_again_or_reply(req)) != 0)
		return status;
	hash = arena_alloc(req->arena, PASSWORD_HASH_MAX);
	params[0] = arena_i64(req->arena, acc->pk);
	if (hash == NULL || params[0] == NULL)
		return http_oom(req);
	if ((status = password_hash_or_reply(req, pw, len, hash)) != 0)
		return status;
	params[1] = hash;
	params[2] = acc->token.jti;
	if (auth_forget(req, acc->id_hash) != 0)
		return http_unavailable(req, "sessions are unavailable", HTTP_RETRY_AFTER_DOWN);
	if ((status = password_change_or_reply(req, params)) != 0)
		return status;
	if (auth_forget(req, acc->id_hash) != 0)
		log_msg(LOG_WARN, "account record not dropped after a password change; "
		        "it expires by itself");
	events_close(req, acc->pk);
	return 204;
}

/* The account's rows, in one transaction after stmt_delete_lock. 0 or -1. */
static int delete_rows(struct request *req, const char *const params[1])
{
	struct db *db = req->ctx->db;

	if (db_begin(db) != 0 ||
	    db_exec(db, req->arena, &stmt_delete_lock, params, NULL) == NULL ||
	    db_exec(db, req->arena, &stmt_delete, params, NULL) == NULL ||
	    db_commit(db) != 0) {
		db_rollback(db);
		return -1;
	}
	return 0;
}

/*
 * DELETE /me with the credentials again in the body. The account is
 * marked deleted in Redis first, so from that moment no token of it
 * passes on any worker; then one transaction locks the account rows the
 * cascade needs (stmt_delete_lock) and deletes its rows, the wrapped
 * data key among them (ON DELETE CASCADE), which makes everything sealed
 * with that key unreadable. If the deletion fails the mark is taken back.
 * The row's absence is what PostgreSQL answers every later token check
 * with, so the mark only needs to outlive the cached record. Open event
 * streams of the account end.
 */
int handle_me_delete(struct request *req)
{
	struct account *acc = req->account;
	const char *params[1];
	int status;

	if ((status = credentials_again_or_reply(req)) != 0)
		return status;
	params[0] = arena_i64(req->arena, acc->pk);
	if (params[0] == NULL)
		return http_oom(req);
	if (auth_mark_deleted(req, acc) != 0)
		return http_unavailable(req, "sessions are unavailable", HTTP_RETRY_AFTER_DOWN);
	if (delete_rows(req, params) != 0) {
		auth_undelete(req, acc);
		return http_db_failure(req);
	}
	feed_content_changed(req);   /* the account's posts vanish from every feed */
	if (auth_forget(req, acc->id_hash) != 0)
		log_msg(LOG_WARN, "account record not dropped after deletion; it expires by itself");
	events_close(req, acc->pk);
	return 204;
}
