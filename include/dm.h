/*
 * dm.h — the keys and the message format of direct messages
 * (sql/008_dm.sql, app/handlers_dm.c).
 *
 * Every conversation has a random 32-byte key. Each participant holds it
 * sealed (crypto_seal) with their own data key as the field
 *   table "dm_participants", column "conversation_key",
 *   row <conversation id>, owner <participant's account pk>
 * so a copy can neither move to another conversation nor to another
 * account. A server-readable message body is sealed with the conversation
 * key as the field
 *   table "dm_messages", column "body", row "<conversation id>.<message id>", owner 0
 * (public ids are base64url, so the '.' is unambiguous), so a body cannot
 * move to another message or conversation. Either participant opens every
 * message with their copy of the key; deleting one account destroys only
 * that copy.
 *
 * Keys handed out here are the caller's to wipe (sodium_memzero).
 */
#ifndef SOTTO_DM_H
#define SOTTO_DM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "crypto.h"

struct arena;
struct request;

#define DM_KEY_BYTES CRYPTO_KEY_BYTES
#define DM_ID_BYTES 16              /* public ids: 22 base64url characters */
#define DM_NONCE_BYTES 24           /* crypto_box nonce of end-to-end messages */
#define DM_BOX_MAC_BYTES 16         /* crypto_box MAC: the least ciphertext overhead */

/* A fresh random conversation key. */
void dm_key_new(unsigned char ck[DM_KEY_BYTES]);

/*
 * The conversation key ck sealed for participant owner with that
 * participant's data key dk: the bytes on arena a (*len), or NULL on OOM.
 */
unsigned char *dm_key_seal(struct arena *a, const unsigned char dk[CRYPTO_KEY_BYTES],
                           const char *conversation_id, int64_t owner,
                           const unsigned char ck[DM_KEY_BYTES], size_t *len)
    __attribute__((warn_unused_result));

/*
 * Open a participant's sealed copy into ck. 0, or -1 when it does not open
 * (another conversation or account, tampered) or is not a key. The
 * plaintext's arena copy is wiped.
 */
int dm_key_open(struct arena *a, const unsigned char dk[CRYPTO_KEY_BYTES],
                const char *conversation_id, int64_t owner,
                const unsigned char *sealed, size_t len, unsigned char ck[DM_KEY_BYTES])
    __attribute__((warn_unused_result));

/* Seal body[0..len) of message message_id: bytes on arena a (*out_len), NULL on OOM. */
unsigned char *dm_body_seal(struct arena *a, const unsigned char ck[DM_KEY_BYTES],
                            const char *conversation_id, const char *message_id,
                            const char *body, size_t len, size_t *out_len)
    __attribute__((warn_unused_result));

/* Open a sealed body: 0 and *body (NUL-terminated, on arena a), or -1. */
int dm_body_open(struct arena *a, const unsigned char ck[DM_KEY_BYTES],
                 const char *conversation_id, const char *message_id,
                 const unsigned char *sealed, size_t len, char **body)
    __attribute__((warn_unused_result));

/*
 * The data key of account owner from an account_keys version (column
 * vcol of row) and wrapped key (column vcol + 1). 0, or -1 when the
 * columns are NULL or malformed or the key does not unwrap.
 */
int dm_data_key(struct request *req, const PGresult *res, int row, int vcol, int64_t owner,
                unsigned char dk[CRYPTO_KEY_BYTES]) __attribute__((warn_unused_result));

#define DM_X25519_BYTES 32

/*
 * The X25519 public key of text[0..len) (base64url, 32 bytes) into pk.
 * 0, or -1 when it is not one or is not usable: a point of small order
 * (the all-zero key among them) would make every shared secret predictable.
 */
int dm_x25519_parse(const char *text, size_t len, unsigned char pk[DM_X25519_BYTES])
    __attribute__((warn_unused_result));

/*
 * A side's X25519 key pk sealed with that participant's data key dk as the
 * field
 *   table "dm_participants", column "x25519_public",
 *   row <conversation id>, owner <participant's account pk>
 * so it opens for this conversation and this account only: bytes on arena
 * a (*len), or NULL on OOM.
 */
unsigned char *dm_x25519_seal(struct arena *a, const unsigned char dk[CRYPTO_KEY_BYTES],
                              const char *conversation_id, int64_t owner,
                              const unsigned char pk[DM_X25519_BYTES], size_t *len)
    __attribute__((warn_unused_result));

/*
 * Open a side's sealed key into pk. legacy: sealed as the account-wide key
 * it was before sql/016 (table "accounts", row and owner the account pk),
 * copied into the conversations that were end to end under it. 0 or -1.
 */
int dm_x25519_open(struct arena *a, const unsigned char dk[CRYPTO_KEY_BYTES],
                   const char *conversation_id, int64_t owner, bool legacy,
                   const unsigned char *sealed, size_t len, unsigned char pk[DM_X25519_BYTES])
    __attribute__((warn_unused_result));

/*
 * A side's key of conversation conversation_id as base64url (arena), from
 * row of res: the sealed key in column xcol, its legacy flag in xcol + 1,
 * the owner's data key in vcol, vcol + 1 (as for dm_data_key). NULL when
 * the side has none or it cannot be opened.
 */
const char *dm_x25519_text(struct request *req, const PGresult *res, int row, int xcol,
                           int vcol, const char *conversation_id, int64_t owner);

/*
 * Lock every conversation account_pk (decimal text) takes part in, in pk
 * order, inside the caller's transaction: DELETE /me does so before
 * deleting anything, so it takes the conversation rows before event_heads
 * as a message does (sql/016). 0, or -1 when the database failed.
 */
int dm_lock_conversations(struct request *req, const char *account_pk)
    __attribute__((warn_unused_result));

/*
 * A message as the contract shows it: {"id", "seq", "mine", "day", "body"} or,
 * when body is NULL, {..., "ciphertext", "nonce"} (base64url). NULL on
 * OOM. The caller owns it.
 */
json_object *dm_message_json(struct request *req, const char *id, int64_t seq, bool mine,
                             int64_t day, const char *body,
                             const unsigned char *ciphertext, size_t ciphertext_len,
                             const unsigned char *nonce);

#endif
