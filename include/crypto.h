/*
 * crypto.h — content at rest: per-account data keys and field encryption.
 *
 * Each account has a random 32-byte data key, stored only wrapped
 * (XChaCha20-Poly1305) by a subkey of a versioned master key from
 * CONTENT_KEYS; the newest version wraps, every configured version
 * unwraps. Deleting the wrapped key makes the account's content
 * unreadable everywhere (crypto-shredding).
 *
 * Fields are sealed with the data key and associated data binding the
 * format, key version, table, column, row and owner, so a ciphertext moved
 * to another row, column or owner fails to open.
 *
 * Sealed field layout (stored as bytea):
 *   [1 byte format = 1][4 bytes key version, big endian][24 bytes nonce]
 *   [ciphertext + 16 bytes tag]
 *   associated data "sotto|f|1|kv=<key version>|t=<table>|c=<column>|r=<row>|o=<owner>"
 * Wrapped key layout (account_keys.wrapped, with account_keys.version):
 *   [24 bytes nonce][32 + 16 bytes ciphertext + tag]
 *   key: keys_derive(master key of that version, "datawrap", id = version)
 *   associated data "sotto|dk|1|v=<master version>|o=<owner>"
 * Numbers in associated data are decimal. Changing any of this makes
 * stored values unreadable: it needs a new format number and a migration.
 *
 * Key rotation, in this order: add the new version to CONTENT_KEYS of
 * every server and restart them (new accounts are then wrapped with it,
 * and every server can unwrap it); run `sotto rotate-keys` until it exits
 * 0; only then remove the old version. A server started without a version
 * still in use cannot unwrap those accounts' keys.
 *
 * Key material: callers wipe data keys with sodium_memzero() when done.
 * Plaintext returned by crypto_open() stays on the arena until it is reset.
 */
#ifndef SOTTO_CRYPTO_H
#define SOTTO_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

struct arena;
struct config;

#define CRYPTO_KEY_BYTES 32
#define CRYPTO_WRAPPED_BYTES (24 + 32 + 16)
#define CRYPTO_SEAL_OVERHEAD (1 + 4 + 24 + 16)
#define CRYPTO_DATA_KEY_VERSION 1   /* generation of per-account data keys */

/* Where a sealed value lives; every part goes into the associated data. */
struct crypto_field {
	const char *table;   /* "accounts", "posts" ... (no '|') */
	const char *column;  /* "x25519_public", "body" ... (no '|') */
	const char *row;     /* the row's stable id as text (public id or pk) (no '|') */
	int64_t owner;       /* account pk that owns the value */
};

/* A fresh random data key (the caller wipes it). */
void crypto_data_key_new(unsigned char key[CRYPTO_KEY_BYTES]);

/*
 * Wrap key for account owner (accounts.pk) under the newest configured
 * master key: out gets CRYPTO_WRAPPED_BYTES (random nonce, so two wraps
 * of one key differ), *version the master key version used; store both.
 * 0, or -1 when no content key is configured (out is then wiped).
 */
int crypto_wrap_key(const struct config *cfg, int64_t owner,
                    const unsigned char key[CRYPTO_KEY_BYTES],
                    unsigned char out[CRYPTO_WRAPPED_BYTES], uint32_t *version)
    __attribute__((warn_unused_result));

/*
 * Unwrap a data key wrapped for owner under master key version (the
 * values stored by crypto_wrap_key). 0, or -1 when that version is not
 * configured, len is not CRYPTO_WRAPPED_BYTES or authentication fails
 * (another owner or version, another master key, tampered). key is wiped
 * on failure. wrapped and key must not overlap.
 */
int crypto_unwrap_key(const struct config *cfg, int64_t owner, uint32_t version,
                      const unsigned char *wrapped, size_t len,
                      unsigned char key[CRYPTO_KEY_BYTES])
    __attribute__((warn_unused_result));

/*
 * The wrapping key of master key version, for unwrapping many data keys
 * with one derivation (a page of posts by twenty authors): 0, or -1 when
 * that version is not configured. The caller wipes it (sodium_memzero)
 * as soon as it is done, as crypto_unwrap_key wipes its own at once.
 */
struct crypto_wrapping {
	uint32_t version;
	unsigned char key[CRYPTO_KEY_BYTES];
};
int crypto_wrapping_key(const struct config *cfg, uint32_t version, struct crypto_wrapping *w)
    __attribute__((warn_unused_result));

/* crypto_unwrap_key under a wrapping key crypto_wrapping_key derived (its version). */
int crypto_unwrap_key_with(const struct crypto_wrapping *w, int64_t owner,
                           const unsigned char *wrapped, size_t len,
                           unsigned char key[CRYPTO_KEY_BYTES])
    __attribute__((warn_unused_result));

/*
 * Seal plaintext pt[0..len) for field f with data key (of key_version,
 * CRYPTO_DATA_KEY_VERSION today; it is stored in the header). pt may be
 * NULL when len is 0. Returns the sealed bytes on arena a
 * (*out_len = len + CRYPTO_SEAL_OVERHEAD), or NULL (*out_len = 0) on out
 * of memory, or when f is NULL or its table, column or row is NULL, empty
 * or contains '|'.
 */
unsigned char *crypto_seal(struct arena *a, const unsigned char key[CRYPTO_KEY_BYTES],
                           uint32_t key_version, const struct crypto_field *f,
                           const void *pt, size_t len, size_t *out_len)
    __attribute__((warn_unused_result));

/*
 * Open a sealed value for field f (the same table, column, row and owner
 * it was sealed for). On success returns 0 and *pt points to the
 * plaintext on arena a, NUL-terminated (*pt_len excludes the NUL; the
 * plaintext itself may contain NUL bytes). -1 (*pt = NULL, *pt_len = 0)
 * when shorter than CRYPTO_SEAL_OVERHEAD, of an unknown format, for
 * another field/row/owner or data key, tampered, when f is invalid (as
 * for crypto_seal), or on out of memory.
 */
int crypto_open(struct arena *a, const unsigned char key[CRYPTO_KEY_BYTES],
                const struct crypto_field *f, const unsigned char *sealed,
                size_t len, unsigned char **pt, size_t *pt_len)
    __attribute__((warn_unused_result));

/*
 * A value the server owns (no account: f->owner is 0), sealed with
 * crypto_seal under keys_derive(newest CONTENT_KEYS key, context,
 * id = its version); context is 8 characters and names the use. Returns
 * the sealed bytes on arena a (*out_len) and the version used (*version;
 * store it beside them), or NULL when no content key is configured or on
 * out of memory.
 */
unsigned char *crypto_seal_server(struct arena *a, const struct config *cfg, const char *context,
                                  const struct crypto_field *f, const void *pt, size_t len,
                                  size_t *out_len, uint32_t *version)
    __attribute__((warn_unused_result));

/*
 * Open a value crypto_seal_server sealed for f under context and content
 * key version. 0 (as crypto_open), or -1 when that version is no longer
 * configured or the value does not open.
 */
int crypto_open_server(struct arena *a, const struct config *cfg, const char *context,
                       uint32_t version, const struct crypto_field *f,
                       const unsigned char *sealed, size_t len, unsigned char **pt,
                       size_t *pt_len)
    __attribute__((warn_unused_result));

#endif
