/*
 * handlers_me.c — GET /me, PUT /me/keys, GET /me/export, DELETE /me.
 *
 * The account record comes from the auth check (req->account). The X25519
 * public key is stored sealed with the account's own data key, so a leaked
 * database cannot link a key seen in a conversation to an account row, and
 * deleting the account destroys it with everything else.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "auth.h"
#include "context.h"
#include "crypto.h"
#include "db.h"
#include "export.h"
#include "feed_cache.h"
#include "handlers.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "util.h"

#define X25519_BYTES crypto_scalarmult_BYTES

static struct db_stmt stmt_set_x25519 = {
	"account_set_x25519", "UPDATE accounts SET x25519_sealed = $2 WHERE pk = $1", 2, 0
};
static struct db_stmt stmt_delete = {
	/* account_keys goes with it (ON DELETE CASCADE): one statement, one transaction */
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

int handle_me_export(struct request *req)
{
	json_object *o = json_new_object(req->arena);  /* the arena owns it */
	int status;

	if (o == NULL)
		return http_oom(req);
	json_object_object_add(o, "format", json_object_new_string("sotto-export/1"));
	for (size_t i = 0; i < export_hook_count; i++)
		if ((status = export_hooks[i].fn(req, o, export_hooks[i].section)) != 0)
			return status;
	http_header_add(req, "Content-Disposition", "attachment; filename=\"sotto-export.json\"");
	req->reply = o;
	return 200;
}

/*
 * DELETE /me. The account is marked deleted in Redis first, so from that
 * moment no token of it passes on any worker; then one statement deletes
 * its rows, the wrapped data key among them (ON DELETE CASCADE), which
 * makes everything sealed with that key unreadable. If the deletion fails
 * the mark is taken back.
 */
int handle_me_delete(struct request *req)
{
	struct account *acc = req->account;
	const char *params[1];

	params[0] = arena_i64(req->arena, acc->pk);
	if (params[0] == NULL)
		return http_oom(req);
	if (auth_mark_deleted(req, acc) != 0)
		return http_unavailable(req, "sessions are unavailable", HTTP_RETRY_AFTER_DOWN);
	if (db_exec(req->ctx->db, req->arena, &stmt_delete, params, NULL) == NULL) {
		auth_undelete(req, acc);
		return http_db_failure(req);
	}
	feed_content_changed(req);   /* the account's posts vanish from every feed */
	if (auth_forget(req, acc->id_hash) != 0)
		log_msg(LOG_WARN, "account record not dropped after deletion; it expires by itself");
	return 204;
}
