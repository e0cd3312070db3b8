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
 * Wrapped key layout: [24 bytes nonce][32 + 16 bytes ciphertext + tag].
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

/* A fresh random data key. */
void crypto_data_key_new(unsigned char key[CRYPTO_KEY_BYTES]);

/*
 * Wrap key for account owner under the newest configured master key:
 * out gets CRYPTO_WRAPPED_BYTES, *version the master key version used.
 * 0, or -1 when no content key is configured.
 */
int crypto_wrap_key(const struct config *cfg, int64_t owner,
                    const unsigned char key[CRYPTO_KEY_BYTES],
                    unsigned char out[CRYPTO_WRAPPED_BYTES], uint32_t *version)
    __attribute__((warn_unused_result));

/*
 * Unwrap a data key wrapped for owner under master key version.
 * 0, or -1 when that version is not configured, the length is wrong or
 * authentication fails (wrong owner, tampered). key is wiped on failure.
 */
int crypto_unwrap_key(const struct config *cfg, int64_t owner, uint32_t version,
                      const unsigned char *wrapped, size_t len,
                      unsigned char key[CRYPTO_KEY_BYTES])
    __attribute__((warn_unused_result));

/*
 * Seal plaintext pt[0..len) for field f with data key (of key_version).
 * Returns the sealed bytes on arena a (*out_len = len + CRYPTO_SEAL_OVERHEAD),
 * or NULL on out of memory or a field part containing '|'.
 */
unsigned char *crypto_seal(struct arena *a, const unsigned char key[CRYPTO_KEY_BYTES],
                           uint32_t key_version, const struct crypto_field *f,
                           const void *pt, size_t len, size_t *out_len);

/*
 * Open a sealed value for field f. On success returns 0 and *pt points to
 * the plaintext on arena a, NUL-terminated (*pt_len excludes the NUL).
 * -1 when malformed, for another field/row/owner, or tampered.
 */
int crypto_open(struct arena *a, const unsigned char key[CRYPTO_KEY_BYTES],
                const struct crypto_field *f, const unsigned char *sealed,
                size_t len, unsigned char **pt, size_t *pt_len)
    __attribute__((warn_unused_result));

/*
 * `sotto rotate-keys`: rewrap every data key not under the newest master
 * key, in batches of `batch` rows, each batch its own short transaction
 * (FOR UPDATE SKIP LOCKED), so it runs online and resumes where it
 * stopped. Prints progress to stdout. Returns 0 when every key is under
 * the newest version, 1 when some could not be unwrapped (version not
 * configured or damaged; counted and reported), -1 on database failure.
 */
int crypto_rotate_keys(const struct config *cfg, int batch);

#endif
