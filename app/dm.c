/*
 * dm.c — conversation keys, sealed message bodies and the message object
 * of direct messages (formats in include/dm.h).
 */
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "auth.h"
#include "context.h"
#include "crypto.h"
#include "db.h"
#include "dm.h"
#include "http.h"
#include "util.h"

void dm_key_new(unsigned char ck[DM_KEY_BYTES])
{
	randombytes_buf(ck, DM_KEY_BYTES);
}

static void key_field(struct crypto_field *f, const char *conversation_id, int64_t owner)
{
	f->table = "dm_participants";
	f->column = "conversation_key";
	f->row = conversation_id;
	f->owner = owner;
}

/* "<conversation id>.<message id>" on arena a, or NULL. */
static const char *body_row(struct arena *a, const char *conversation_id,
                            const char *message_id)
{
	return arena_printf(a, "%s.%s", conversation_id, message_id);
}

unsigned char *dm_key_seal(struct arena *a, const unsigned char dk[CRYPTO_KEY_BYTES],
                           const char *conversation_id, int64_t owner,
                           const unsigned char ck[DM_KEY_BYTES], size_t *len)
{
	struct crypto_field f;

	key_field(&f, conversation_id, owner);
	return crypto_seal(a, dk, CRYPTO_DATA_KEY_VERSION, &f, ck, DM_KEY_BYTES, len);
}

int dm_key_open(struct arena *a, const unsigned char dk[CRYPTO_KEY_BYTES],
                const char *conversation_id, int64_t owner,
                const unsigned char *sealed, size_t len, unsigned char ck[DM_KEY_BYTES])
{
	struct crypto_field f;
	unsigned char *pt = NULL;
	size_t pt_len = 0;
	int rc = -1;

	key_field(&f, conversation_id, owner);
	if (crypto_open(a, dk, &f, sealed, len, &pt, &pt_len) != 0)
		goto out;
	if (pt_len != DM_KEY_BYTES)
		goto out;
	memcpy(ck, pt, DM_KEY_BYTES);
	rc = 0;
out:
	if (pt != NULL)
		sodium_memzero(pt, pt_len);
	return rc;
}

unsigned char *dm_body_seal(struct arena *a, const unsigned char ck[DM_KEY_BYTES],
                            const char *conversation_id, const char *message_id,
                            const char *body, size_t len, size_t *out_len)
{
	struct crypto_field f = { "dm_messages", "body", NULL, 0 };

	*out_len = 0;
	if ((f.row = body_row(a, conversation_id, message_id)) == NULL)
		return NULL;
	return crypto_seal(a, ck, CRYPTO_DATA_KEY_VERSION, &f, body, len, out_len);
}

int dm_body_open(struct arena *a, const unsigned char ck[DM_KEY_BYTES],
                 const char *conversation_id, const char *message_id,
                 const unsigned char *sealed, size_t len, char **body)
{
	struct crypto_field f = { "dm_messages", "body", NULL, 0 };
	unsigned char *pt;
	size_t pt_len;

	*body = NULL;
	if ((f.row = body_row(a, conversation_id, message_id)) == NULL ||
	    crypto_open(a, ck, &f, sealed, len, &pt, &pt_len) != 0)
		return -1;
	*body = (char *)pt;
	return 0;
}

int dm_data_key(struct request *req, const PGresult *res, int row, int vcol, int64_t owner,
                unsigned char dk[CRYPTO_KEY_BYTES])
{
	const unsigned char *wrapped;
	size_t len = 0;
	int64_t version;

	if (PQgetisnull(res, row, vcol) ||
	    util_parse_int64(PQgetvalue(res, row, vcol), 1, UINT32_MAX, &version) != 0)
		return -1;
	wrapped = db_bytea_value(req->arena, res, row, vcol + 1, &len);
	if (wrapped == NULL)
		return -1;
	return crypto_unwrap_key(req->ctx->cfg, owner, (uint32_t)version, wrapped, len, dk);
}

int dm_x25519_parse(const char *text, size_t len, unsigned char pk[DM_X25519_BYTES])
{
	unsigned char sk[crypto_scalarmult_SCALARBYTES], shared[crypto_scalarmult_BYTES];
	size_t got = 0;
	int rc;

	if (util_b64url_decode(text, len, pk, DM_X25519_BYTES, &got) != 0 ||
	    got != DM_X25519_BYTES)
		return -1;
	/* crypto_scalarmult() refuses exactly the points of small order */
	randombytes_buf(sk, sizeof(sk));
	rc = crypto_scalarmult(shared, sk, pk) == 0 ? 0 : -1;
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(shared, sizeof(shared));
	return rc;
}

/* The field of a side's key; row_buf holds the legacy row (the account pk). */
static void x25519_field(struct crypto_field *f, char *row_buf, size_t row_buf_len,
                         const char *conversation_id, int64_t owner, bool legacy)
{
	if (legacy) {
		auth_account_field(f, row_buf, row_buf_len, owner, "x25519_public");
		return;
	}
	f->table = "dm_participants";
	f->column = "x25519_public";
	f->row = conversation_id;
	f->owner = owner;
}

unsigned char *dm_x25519_seal(struct arena *a, const unsigned char dk[CRYPTO_KEY_BYTES],
                              const char *conversation_id, int64_t owner,
                              const unsigned char pk[DM_X25519_BYTES], size_t *len)
{
	struct crypto_field f;
	char row[24];

	x25519_field(&f, row, sizeof(row), conversation_id, owner, false);
	return crypto_seal(a, dk, CRYPTO_DATA_KEY_VERSION, &f, pk, DM_X25519_BYTES, len);
}

int dm_x25519_open(struct arena *a, const unsigned char dk[CRYPTO_KEY_BYTES],
                   const char *conversation_id, int64_t owner, bool legacy,
                   const unsigned char *sealed, size_t len, unsigned char pk[DM_X25519_BYTES])
{
	struct crypto_field f;
	unsigned char *pt = NULL;
	size_t pt_len = 0;
	char row[24];

	x25519_field(&f, row, sizeof(row), conversation_id, owner, legacy);
	if (crypto_open(a, dk, &f, sealed, len, &pt, &pt_len) != 0 || pt_len != DM_X25519_BYTES)
		return -1;
	memcpy(pk, pt, DM_X25519_BYTES);
	return 0;
}

const char *dm_x25519_text(struct request *req, const PGresult *res, int row, int xcol,
                           int vcol, const char *conversation_id, int64_t owner)
{
	unsigned char dk[CRYPTO_KEY_BYTES], pk[DM_X25519_BYTES];
	const unsigned char *sealed;
	const char *text = NULL;
	size_t sealed_len = 0;
	bool legacy = PQgetvalue(res, row, xcol + 1)[0] == 't';

	if (PQgetisnull(res, row, xcol) ||
	    (sealed = db_bytea_value(req->arena, res, row, xcol, &sealed_len)) == NULL)
		return NULL;
	if (dm_data_key(req, res, row, vcol, owner, dk) == 0 &&
	    dm_x25519_open(req->arena, dk, conversation_id, owner, legacy, sealed, sealed_len,
	                   pk) == 0)
		text = util_b64url_encode(req->arena, pk, DM_X25519_BYTES);
	sodium_memzero(dk, sizeof(dk));
	return text;
}

static struct db_stmt stmt_lock = {
	"dm_lock_conversations",
	"SELECT c.pk FROM dm_conversations c JOIN dm_participants p ON p.conversation_pk = c.pk "
	"WHERE p.account_pk = $1 ORDER BY c.pk FOR UPDATE OF c", 1, 0
};

int dm_lock_conversations(struct request *req, const char *account_pk)
{
	return db_exec(req->ctx->db, req->arena, &stmt_lock, &account_pk, NULL) != NULL ? 0 : -1;
}

json_object *dm_message_json(struct request *req, const char *id, int64_t seq, bool mine,
                             int64_t day, const char *body,
                             const unsigned char *ciphertext, size_t ciphertext_len,
                             const unsigned char *nonce)
{
	json_object *o = json_object_new_object();
	const char *ct = NULL, *n = NULL;

	if (o == NULL)
		return NULL;
	if (body == NULL &&
	    ((ct = util_b64url_encode(req->arena, ciphertext, ciphertext_len)) == NULL ||
	     (n = util_b64url_encode(req->arena, nonce, DM_NONCE_BYTES)) == NULL)) {
		json_object_put(o);
		return NULL;
	}
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "seq", json_object_new_int64(seq));
	json_object_object_add(o, "mine", json_object_new_boolean(mine));
	json_object_object_add(o, "day", json_object_new_int64(day));
	if (body != NULL) {
		json_object_object_add(o, "body", json_object_new_string(body));
	} else {
		json_object_object_add(o, "ciphertext", json_object_new_string(ct));
		json_object_object_add(o, "nonce", json_object_new_string(n));
	}
	return o;
}
