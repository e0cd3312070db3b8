/*
 * crypto.c — content at rest: wrapped per-account data keys and sealed
 * fields (formats in include/crypto.h; `sotto rotate-keys` is
 * app/cmd_rotate_keys.c).
 *
 * Both constructions are XChaCha20-Poly1305 (IETF) with a random 24-byte
 * nonce, so nonces never need coordinating between workers or hosts.
 *
 * Associated data is ASCII, '|'-separated, each variable part labelled,
 * in a fixed order:
 *   wrapped key   "sotto|dk|1|v=<master version>|o=<owner pk>"
 *   sealed field  "sotto|f|1|kv=<data key version>|t=<table>|c=<column>|r=<row>|o=<owner pk>"
 * The numbers are decimal and the text parts may not contain '|' (nor be
 * empty), so two different fields can never produce the same string.
 * Changing either string is a format change: it makes every stored value
 * unreadable, so it needs a new format number and a migration.
 *
 * The wrapping key is never a master key itself: it is derived per call
 * (keys_derive, context "datawrap", id = master version) and wiped at once.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "keys.h"
#include "util.h"

#define WRAP_CONTEXT "datawrap"   /* keys_derive context, 8 characters */
#define WRAP_FORMAT 1             /* the "1" in the wrapped key's AD */
#define SEAL_FORMAT 1             /* first byte of a sealed value, and in its AD */
#define WRAP_AD_MAX 64            /* "sotto|dk|1|v=" + 10 + "|o=" + 20 digits < 64 */
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SEAL_HEADER_BYTES (1 + 4)  /* format, key version */

_Static_assert(CRYPTO_KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
               "data keys are XChaCha20-Poly1305 keys");
_Static_assert(KEYS_SUBKEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
               "wrapping subkeys are XChaCha20-Poly1305 keys");
_Static_assert(CRYPTO_WRAPPED_BYTES == NONCE_BYTES + CRYPTO_KEY_BYTES + TAG_BYTES,
               "wrapped layout: nonce, key, tag");
_Static_assert(CRYPTO_SEAL_OVERHEAD == SEAL_HEADER_BYTES + NONCE_BYTES + TAG_BYTES,
               "sealed layout: format, version, nonce, tag");

void crypto_data_key_new(unsigned char key[CRYPTO_KEY_BYTES])
{
	randombytes_buf(key, CRYPTO_KEY_BYTES);
}

/* ---- wrapping data keys ---------------------------------------------- */

/* Associated data of a wrapped key into ad[WRAP_AD_MAX]; its length, or 0 on error. */
static size_t wrap_ad(char ad[WRAP_AD_MAX], uint32_t version, int64_t owner)
{
	int n = snprintf(ad, WRAP_AD_MAX, "sotto|dk|%d|v=%" PRIu32 "|o=%" PRId64,
	                 WRAP_FORMAT, version, owner);

	return n > 0 && n < WRAP_AD_MAX ? (size_t)n : 0;
}

/*
 * The wrapping subkey of master key mk into wk (caller wipes it), and the
 * associated data for owner into ad. 0 or -1.
 */
static int wrap_prepare(const struct content_key *mk, int64_t owner,
                        unsigned char wk[KEYS_SUBKEY_BYTES], char ad[WRAP_AD_MAX],
                        size_t *ad_len)
{
	*ad_len = wrap_ad(ad, mk->version, owner);
	if (*ad_len == 0)
		return -1;
	return keys_derive(wk, mk->key, sizeof(mk->key), WRAP_CONTEXT, mk->version);
}

int crypto_wrap_key(const struct config *cfg, int64_t owner,
                    const unsigned char key[CRYPTO_KEY_BYTES],
                    unsigned char out[CRYPTO_WRAPPED_BYTES], uint32_t *version)
{
	const struct content_key *mk = config_content_key_newest(cfg);
	unsigned char wk[KEYS_SUBKEY_BYTES];
	char ad[WRAP_AD_MAX];
	size_t ad_len;
	int rc = -1;

	if (mk == NULL || wrap_prepare(mk, owner, wk, ad, &ad_len) != 0)
		goto out;
	randombytes_buf(out, NONCE_BYTES);
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(out + NONCE_BYTES, NULL,
	                                               key, CRYPTO_KEY_BYTES,
	                                               (const unsigned char *)ad, ad_len,
	                                               NULL, out, wk) != 0)
		goto out;
	*version = mk->version;
	rc = 0;
out:
	sodium_memzero(wk, sizeof(wk));
	if (rc != 0)
		sodium_memzero(out, CRYPTO_WRAPPED_BYTES);
	return rc;
}

int crypto_unwrap_key(const struct config *cfg, int64_t owner, uint32_t version,
                      const unsigned char *wrapped, size_t len,
                      unsigned char key[CRYPTO_KEY_BYTES])
{
	const struct content_key *mk = config_content_key_find(cfg, version);
	unsigned char wk[KEYS_SUBKEY_BYTES];
	char ad[WRAP_AD_MAX];
	size_t ad_len;
	int rc = -1;

	if (mk == NULL || wrapped == NULL || len != CRYPTO_WRAPPED_BYTES ||
	    wrap_prepare(mk, owner, wk, ad, &ad_len) != 0)
		goto out;
	/* The tag is checked before anything is written to key. */
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(key, NULL, NULL,
	                                               wrapped + NONCE_BYTES,
	                                               len - NONCE_BYTES,
	                                               (const unsigned char *)ad, ad_len,
	                                               wrapped, wk) != 0)
		goto out;
	rc = 0;
out:
	sodium_memzero(wk, sizeof(wk));
	if (rc != 0)
		sodium_memzero(key, CRYPTO_KEY_BYTES);
	return rc;
}

/* ---- sealed fields ---------------------------------------------------- */

static bool field_part_ok(const char *s)
{
	return s != NULL && s[0] != '\0' && strchr(s, '|') == NULL;
}

/* Associated data of field f sealed under data key version kv, on a; NULL when f is invalid or OOM. */
static char *field_ad(struct arena *a, uint32_t kv, const struct crypto_field *f)
{
	if (f == NULL || !field_part_ok(f->table) || !field_part_ok(f->column) ||
	    !field_part_ok(f->row))
		return NULL;
	return arena_printf(a, "sotto|f|%d|kv=%" PRIu32 "|t=%s|c=%s|r=%s|o=%" PRId64,
	                    SEAL_FORMAT, kv, f->table, f->column, f->row, f->owner);
}

static void store_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t load_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

unsigned char *crypto_seal(struct arena *a, const unsigned char key[CRYPTO_KEY_BYTES],
                           uint32_t key_version, const struct crypto_field *f,
                           const void *pt, size_t len, size_t *out_len)
{
	static const unsigned char empty[1];
	unsigned char *out = NULL, *nonce;
	char *ad;

	*out_len = 0;
	if ((pt == NULL && len > 0) ||
	    len > crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX ||
	    len > SIZE_MAX - CRYPTO_SEAL_OVERHEAD)
		goto out;
	if ((ad = field_ad(a, key_version, f)) == NULL)
		goto out;
	if ((out = arena_alloc(a, len + CRYPTO_SEAL_OVERHEAD)) == NULL)
		goto out;
	out[0] = SEAL_FORMAT;
	store_be32(out + 1, key_version);
	nonce = out + SEAL_HEADER_BYTES;
	randombytes_buf(nonce, NONCE_BYTES);
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + NONCE_BYTES, NULL,
	                                               len > 0 ? pt : empty, len,
	                                               (const unsigned char *)ad, strlen(ad),
	                                               NULL, nonce, key) != 0) {
		out = NULL;
		goto out;
	}
	*out_len = len + CRYPTO_SEAL_OVERHEAD;
out:
	return out;
}

int crypto_open(struct arena *a, const unsigned char key[CRYPTO_KEY_BYTES],
                const struct crypto_field *f, const unsigned char *sealed,
                size_t len, unsigned char **pt, size_t *pt_len)
{
	const unsigned char *nonce;
	unsigned char *buf;
	size_t n;
	char *ad;
	int rc = -1;

	*pt = NULL;
	*pt_len = 0;
	if (sealed == NULL || len < CRYPTO_SEAL_OVERHEAD || sealed[0] != SEAL_FORMAT)
		goto out;
	/* The version is only read to rebuild the AD: a changed one fails the tag. */
	if ((ad = field_ad(a, load_be32(sealed + 1), f)) == NULL)
		goto out;
	n = len - CRYPTO_SEAL_OVERHEAD;
	if ((buf = arena_alloc(a, n + 1)) == NULL)
		goto out;
	nonce = sealed + SEAL_HEADER_BYTES;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(buf, NULL, NULL,
	                                               nonce + NONCE_BYTES,
	                                               len - SEAL_HEADER_BYTES - NONCE_BYTES,
	                                               (const unsigned char *)ad, strlen(ad),
	                                               nonce, key) != 0)
		goto out;
	buf[n] = '\0';
	*pt = buf;
	*pt_len = n;
	rc = 0;
out:
	return rc;
}

/* ---- server-owned values ---------------------------------------------- */

unsigned char *crypto_seal_server(struct arena *a, const struct config *cfg, const char *context,
                                  const struct crypto_field *f, const void *pt, size_t len,
                                  size_t *out_len, uint32_t *version)
{
	const struct content_key *mk = config_content_key_newest(cfg);
	unsigned char key[CRYPTO_KEY_BYTES];
	unsigned char *sealed = NULL;

	*out_len = 0;
	if (mk == NULL || keys_derive(key, mk->key, sizeof(mk->key), context, mk->version) != 0)
		goto out;
	sealed = crypto_seal(a, key, mk->version, f, pt, len, out_len);
	*version = mk->version;
out:
	sodium_memzero(key, sizeof(key));
	return sealed;
}

int crypto_open_server(struct arena *a, const struct config *cfg, const char *context,
                       uint32_t version, const struct crypto_field *f,
                       const unsigned char *sealed, size_t len, unsigned char **pt,
                       size_t *pt_len)
{
	const struct content_key *mk = config_content_key_find(cfg, version);
	unsigned char key[CRYPTO_KEY_BYTES];
	int rc = -1;

	*pt = NULL;
	*pt_len = 0;
	if (mk == NULL || keys_derive(key, mk->key, sizeof(mk->key), context, version) != 0)
		goto out;
	rc = crypto_open(a, key, f, sealed, len, pt, pt_len);
out:
	sodium_memzero(key, sizeof(key));
	return rc;
}
