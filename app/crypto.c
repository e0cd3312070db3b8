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
 * The wrapping key is never a master key itself: it is derived per use
 * (keys_derive, context "datawrap", id = master version) and wiped at
 * once: after one call, or after one response that unwraps many
 * (crypto_wrapping_key; the rendering of a page of posts).
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

/* Associated data of a wrapped key into ad[WRAP_AD_MAX]; its length. */
static size_t wrap_ad(char ad[WRAP_AD_MAX], uint32_t version, int64_t owner)
{
	static const char head[] = "sotto|dk|1|v=";
	size_t n = sizeof(head) - 1;

	_Static_assert(WRAP_FORMAT == 1, "the format number in the associated data");
	_Static_assert(sizeof(head) - 1 + 3 + 2 * UTIL_INT64_CHARS < WRAP_AD_MAX, "WRAP_AD_MAX");
	memcpy(ad, head, n);
	n += util_put_int64(ad + n, version);
	memcpy(ad + n, "|o=", 3);
	n += 3;
	n += util_put_int64(ad + n, owner);
	return n;
}

/* The wrapping subkey of master key mk into wk (caller wipes it). 0 or -1. */
static int wrap_key(const struct content_key *mk, unsigned char wk[KEYS_SUBKEY_BYTES])
{
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

	if (mk == NULL || wrap_key(mk, wk) != 0)
		goto out;
	ad_len = wrap_ad(ad, mk->version, owner);
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

int crypto_wrapping_key(const struct config *cfg, uint32_t version, struct crypto_wrapping *w)
{
	const struct content_key *mk = config_content_key_find(cfg, version);

	if (mk == NULL || wrap_key(mk, w->key) != 0) {
		sodium_memzero(w, sizeof(*w));
		return -1;
	}
	w->version = version;
	return 0;
}

int crypto_unwrap_key_with(const struct crypto_wrapping *w, int64_t owner,
                           const unsigned char *wrapped, size_t len,
                           unsigned char key[CRYPTO_KEY_BYTES])
{
	char ad[WRAP_AD_MAX];
	size_t ad_len;

	if (wrapped == NULL || len != CRYPTO_WRAPPED_BYTES)
		goto fail;
	ad_len = wrap_ad(ad, w->version, owner);
	/* The tag is checked before anything is written to key. */
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(key, NULL, NULL,
	                                               wrapped + NONCE_BYTES,
	                                               len - NONCE_BYTES,
	                                               (const unsigned char *)ad, ad_len,
	                                               wrapped, w->key) != 0)
		goto fail;
	return 0;
fail:
	sodium_memzero(key, CRYPTO_KEY_BYTES);
	return -1;
}

int crypto_unwrap_key(const struct config *cfg, int64_t owner, uint32_t version,
                      const unsigned char *wrapped, size_t len,
                      unsigned char key[CRYPTO_KEY_BYTES])
{
	struct crypto_wrapping w;
	int rc = -1;

	if (crypto_wrapping_key(cfg, version, &w) != 0)
		sodium_memzero(key, CRYPTO_KEY_BYTES);
	else
		rc = crypto_unwrap_key_with(&w, owner, wrapped, len, key);
	sodium_memzero(&w, sizeof(w));
	return rc;
}

/* ---- sealed fields ---------------------------------------------------- */

static bool field_part_ok(const char *s)
{
	return s != NULL && s[0] != '\0' && strchr(s, '|') == NULL;
}

/* s then text at p; returns the end. */
static char *put_part(char *p, const char *s, size_t len, const char *text)
{
	size_t n = strlen(text);

	memcpy(p, s, len);
	memcpy(p + len, text, n);
	return p + len + n;
}

#define PUT_PART(p, s, text) put_part(p, s, sizeof(s) - 1, text)

/*
 * Associated data of field f sealed under data key version kv, on a; NULL
 * when f is invalid or OOM. Written part by part, not by arena_printf:
 * every post of a feed page is opened with it.
 */
static char *field_ad(struct arena *a, uint32_t kv, const struct crypto_field *f)
{
	char *ad, *p;

	if (f == NULL || !field_part_ok(f->table) || !field_part_ok(f->column) ||
	    !field_part_ok(f->row))
		return NULL;
	ad = arena_alloc(a, sizeof("sotto|f|1|kv=|t=|c=|r=|o=") + 2 * UTIL_INT64_CHARS +
	                 strlen(f->table) + strlen(f->column) + strlen(f->row));
	if (ad == NULL)
		return NULL;
	_Static_assert(SEAL_FORMAT == 1, "the format number in the associated data");
	p = PUT_PART(ad, "sotto|f|1|kv=", "");
	p += util_put_int64(p, kv);
	p = PUT_PART(p, "|t=", f->table);
	p = PUT_PART(p, "|c=", f->column);
	p = PUT_PART(p, "|r=", f->row);
	p = PUT_PART(p, "|o=", "");
	p += util_put_int64(p, f->owner);
	*p = '\0';
	return ad;
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
