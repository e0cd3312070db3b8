/*
 * test_crypto.c — content at rest (app/crypto.c): wrapped data keys and
 * sealed fields.
 *
 * Nonces are random, so the golden vectors go the other way: values made
 * by an independent implementation (Python's hashlib BLAKE2b for the
 * subkey derivation and PyNaCl's XChaCha20-Poly1305, fixed nonces) must
 * open here, and what is made here must open with libsodium directly using
 * the layout and associated data documented in include/crypto.h. Either
 * direction failing means the stored format changed. The vectors came from:
 *
 *   root   = blake2b(master, digest_size=32)
 *   subkey = blake2b(b"", digest_size=32, key=root,
 *                    salt=pack("<Q", version) + bytes(8),
 *                    person=b"datawrap" + bytes(8))
 *   wrapped = nonce + xchacha20poly1305_ietf_encrypt(dk,
 *                        b"sotto|dk|1|v=7|o=42", nonce, subkey)
 *   sealed  = b"\x01" + pack(">I", 1) + nonce2 + xchacha20poly1305_ietf_encrypt(
 *                 b"golden plaintext",
 *                 b"sotto|f|1|kv=1|t=accounts|c=x25519_public|r=42|o=42", nonce2, dk)
 *
 * with master = 00..1f, dk = 40..5f, nonce = 60..77, nonce2 = 80..97.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "config.h"
#include "crypto.h"
#include "keys.h"

#define NONCE_BYTES 24
#define TAG_BYTES 16
#define HEADER_BYTES 5

static const char GOLDEN_WRAPPED_HEX[] =
	"606162636465666768696a6b6c6d6e6f7071727374757677"
	"e9e72df275220b62d19119643853e2334f3f37a056b5038e41dd2dce83b76a45"
	"bf0392e9874422cf8833b44958f5cef8";
static const char GOLDEN_SEALED_HEX[] =
	"0100000001"
	"808182838485868788898a8b8c8d8e8f9091929394959697"
	"65cc1a9da55c790446ed9577f20abb21"
	"07e0b95a15223811d1b02c51398960c7";

static struct arena *arena;

static int setup(void **state)
{
	(void)state;
	arena = arena_new();
	return arena == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	arena_free(arena);
	arena = NULL;
	return 0;
}

/* bytes start, start+1, ... into out[0..n) */
static void fill_seq(unsigned char *out, size_t n, unsigned char start)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)(start + i);
}

/* A configuration holding only content keys: versions[i] gets key bytes seeds[i].. */
static void cfg_keys(struct config *cfg, const uint32_t *versions,
                     const unsigned char *seeds, size_t n)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < n; i++) {
		cfg->content_keys[i].version = versions[i];
		fill_seq(cfg->content_keys[i].key, sizeof(cfg->content_keys[i].key), seeds[i]);
	}
	cfg->n_content_keys = n;
}

static void hex_decode(const char *hex, unsigned char *out, size_t cap, size_t *len)
{
	assert_int_equal(sodium_hex2bin(out, cap, hex, strlen(hex), NULL, len, NULL), 0);
}

static bool all_zero(const unsigned char *p, size_t n)
{
	return sodium_is_zero(p, n) == 1;
}

static const struct crypto_field FIELD = { "accounts", "x25519_public", "42", 42 };

/* ---- wrapped data keys ------------------------------------------------ */

static void test_wrap_unwrap_round_trip(void **state)
{
	struct config cfg;
	unsigned char dk[CRYPTO_KEY_BYTES], back[CRYPTO_KEY_BYTES];
	unsigned char w1[CRYPTO_WRAPPED_BYTES], w2[CRYPTO_WRAPPED_BYTES];
	uint32_t v = 0;
	(void)state;

	cfg_keys(&cfg, (uint32_t[]){ 1 }, (unsigned char[]){ 0x10 }, 1);
	crypto_data_key_new(dk);
	assert_false(all_zero(dk, sizeof(dk)));
	assert_int_equal(crypto_wrap_key(&cfg, 7, dk, w1, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(crypto_unwrap_key(&cfg, 7, 1, w1, sizeof(w1), back), 0);
	assert_memory_equal(dk, back, sizeof(dk));
	/* A random nonce each time: the same key wraps differently. */
	assert_int_equal(crypto_wrap_key(&cfg, 7, dk, w2, &v), 0);
	assert_memory_not_equal(w1, w2, sizeof(w1));
	assert_int_equal(crypto_unwrap_key(&cfg, 7, 1, w2, sizeof(w2), back), 0);
	assert_memory_equal(dk, back, sizeof(dk));
}

static void test_wrap_and_unwrap_accept_extreme_versions_and_owners(void **state)
{
	struct config cfg;
	unsigned char dk[CRYPTO_KEY_BYTES], back[CRYPTO_KEY_BYTES], w[CRYPTO_WRAPPED_BYTES];
	const int64_t owners[] = { INT64_MIN, -1, 0, INT64_MAX };
	uint32_t v = 0;
	(void)state;

	cfg_keys(&cfg, (uint32_t[]){ UINT32_MAX }, (unsigned char[]){ 0x10 }, 1);
	crypto_data_key_new(dk);
	for (size_t i = 0; i < sizeof(owners) / sizeof(owners[0]); i++) {
		assert_int_equal(crypto_wrap_key(&cfg, owners[i], dk, w, &v), 0);
		assert_int_equal(v, UINT32_MAX);
		assert_int_equal(crypto_unwrap_key(&cfg, owners[i], v, w, sizeof(w), back), 0);
		assert_memory_equal(dk, back, sizeof(dk));
	}
}

static void test_unwrap_for_another_owner_fails_and_wipes_the_key(void **state)
{
	struct config cfg;
	unsigned char dk[CRYPTO_KEY_BYTES], back[CRYPTO_KEY_BYTES], w[CRYPTO_WRAPPED_BYTES];
	uint32_t v = 0;
	(void)state;

	cfg_keys(&cfg, (uint32_t[]){ 1 }, (unsigned char[]){ 0x10 }, 1);
	crypto_data_key_new(dk);
	assert_int_equal(crypto_wrap_key(&cfg, 7, dk, w, &v), 0);
	memset(back, 0xAA, sizeof(back));
	assert_int_equal(crypto_unwrap_key(&cfg, 8, 1, w, sizeof(w), back), -1);
	assert_true(all_zero(back, sizeof(back)));
	memset(back, 0xAA, sizeof(back));
	assert_int_equal(crypto_unwrap_key(&cfg, -7, 1, w, sizeof(w), back), -1);
	assert_true(all_zero(back, sizeof(back)));
}

static void test_unwrap_with_a_version_not_configured_fails(void **state)
{
	struct config cfg;
	unsigned char dk[CRYPTO_KEY_BYTES], back[CRYPTO_KEY_BYTES], w[CRYPTO_WRAPPED_BYTES];
	uint32_t v = 0;
	(void)state;

	cfg_keys(&cfg, (uint32_t[]){ 1 }, (unsigned char[]){ 0x10 }, 1);
	crypto_data_key_new(dk);
	assert_int_equal(crypto_wrap_key(&cfg, 7, dk, w, &v), 0);
	memset(back, 0xAA, sizeof(back));
	assert_int_equal(crypto_unwrap_key(&cfg, 7, 2, w, sizeof(w), back), -1);
	assert_true(all_zero(back, sizeof(back)));

	/* The old master key gone from the configuration: its keys are unreadable. */
	cfg_keys(&cfg, (uint32_t[]){ 2 }, (unsigned char[]){ 0x30 }, 1);
	memset(back, 0xAA, sizeof(back));
	assert_int_equal(crypto_unwrap_key(&cfg, 7, 1, w, sizeof(w), back), -1);
	assert_true(all_zero(back, sizeof(back)));

	/* Another master key under the same version number. */
	cfg_keys(&cfg, (uint32_t[]){ 1 }, (unsigned char[]){ 0x11 }, 1);
	assert_int_equal(crypto_unwrap_key(&cfg, 7, 1, w, sizeof(w), back), -1);
	assert_true(all_zero(back, sizeof(back)));
}

/*
 * One wrapping key for many unwraps (a page of posts): the same keys as
 * crypto_unwrap_key, under each author's own associated data; a version
 * that is not configured gives no wrapping key (version 0, key zero).
 */
static void test_one_wrapping_key_unwraps_what_unwrap_key_unwraps(void **state)
{
	struct config cfg;
	struct crypto_wrapping w;
	unsigned char dk[3][CRYPTO_KEY_BYTES], back[CRYPTO_KEY_BYTES], wr[3][CRYPTO_WRAPPED_BYTES];
	uint32_t v = 0;
	(void)state;

	cfg_keys(&cfg, (uint32_t[]){ 4 }, (unsigned char[]){ 0x10 }, 1);
	for (int i = 0; i < 3; i++) {
		crypto_data_key_new(dk[i]);
		assert_int_equal(crypto_wrap_key(&cfg, 100 + i, dk[i], wr[i], &v), 0);
	}
	assert_int_equal(crypto_wrapping_key(&cfg, 4, &w), 0);
	assert_int_equal(w.version, 4);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(crypto_unwrap_key_with(&w, 100 + i, wr[i], sizeof(wr[i]), back), 0);
		assert_memory_equal(back, dk[i], sizeof(back));
	}
	memset(back, 0xAA, sizeof(back));
	assert_int_equal(crypto_unwrap_key_with(&w, 101, wr[0], sizeof(wr[0]), back), -1);
	assert_true(all_zero(back, sizeof(back)));
	memset(back, 0xAA, sizeof(back));
	assert_int_equal(crypto_unwrap_key_with(&w, 100, wr[0], sizeof(wr[0]) - 1, back), -1);
	assert_true(all_zero(back, sizeof(back)));
	memset(&w, 0xAA, sizeof(w));
	assert_int_equal(crypto_wrapping_key(&cfg, 5, &w), -1);
	assert_int_equal(w.version, 0);
	assert_true(all_zero(w.key, sizeof(w.key)));
}

static void test_unwrap_of_tampered_or_resized_bytes_fails(void **state)
{
	struct config cfg;
	unsigned char dk[CRYPTO_KEY_BYTES], back[CRYPTO_KEY_BYTES];
	unsigned char w[CRYPTO_WRAPPED_BYTES + 1];
	uint32_t v = 0;
	(void)state;

	cfg_keys(&cfg, (uint32_t[]){ 1 }, (unsigned char[]){ 0x10 }, 1);
	crypto_data_key_new(dk);
	assert_int_equal(crypto_wrap_key(&cfg, 7, dk, w, &v), 0);
	w[CRYPTO_WRAPPED_BYTES] = 0;
	/* Every byte: nonce, ciphertext, tag. */
	for (size_t i = 0; i < CRYPTO_WRAPPED_BYTES; i++) {
		w[i] ^= 0x01;
		memset(back, 0xAA, sizeof(back));
		assert_int_equal(crypto_unwrap_key(&cfg, 7, 1, w, CRYPTO_WRAPPED_BYTES, back), -1);
		assert_true(all_zero(back, sizeof(back)));
		w[i] ^= 0x01;
	}
	for (size_t len = 0; len <= CRYPTO_WRAPPED_BYTES + 1; len++) {
		if (len == CRYPTO_WRAPPED_BYTES)
			continue;
		memset(back, 0xAA, sizeof(back));
		assert_int_equal(crypto_unwrap_key(&cfg, 7, 1, w, len, back), -1);
		assert_true(all_zero(back, sizeof(back)));
	}
	assert_int_equal(crypto_unwrap_key(&cfg, 7, 1, NULL, CRYPTO_WRAPPED_BYTES, back), -1);
	assert_int_equal(crypto_unwrap_key(&cfg, 7, 1, w, CRYPTO_WRAPPED_BYTES, back), 0);
	assert_memory_equal(dk, back, sizeof(dk));
}

static void test_wrap_uses_the_newest_of_unordered_versions(void **state)
{
	struct config cfg, only;
	unsigned char dk[CRYPTO_KEY_BYTES], back[CRYPTO_KEY_BYTES], w[CRYPTO_WRAPPED_BYTES];
	uint32_t v = 0;
	(void)state;

	cfg_keys(&cfg, (uint32_t[]){ 3, 9, 5 }, (unsigned char[]){ 0x10, 0x30, 0x50 }, 3);
	crypto_data_key_new(dk);
	assert_int_equal(crypto_wrap_key(&cfg, 7, dk, w, &v), 0);
	assert_int_equal(v, 9);
	/* Only version 9's key opens it, and only when asked as version 9. */
	cfg_keys(&only, (uint32_t[]){ 9 }, (unsigned char[]){ 0x30 }, 1);
	assert_int_equal(crypto_unwrap_key(&only, 7, 9, w, sizeof(w), back), 0);
	assert_memory_equal(dk, back, sizeof(dk));
	assert_int_equal(crypto_unwrap_key(&cfg, 7, 5, w, sizeof(w), back), -1);
	assert_int_equal(crypto_unwrap_key(&cfg, 7, 3, w, sizeof(w), back), -1);
	/* Every configured version still unwraps its own keys. */
	cfg_keys(&only, (uint32_t[]){ 3 }, (unsigned char[]){ 0x10 }, 1);
	assert_int_equal(crypto_wrap_key(&only, 7, dk, w, &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(crypto_unwrap_key(&cfg, 7, 3, w, sizeof(w), back), 0);
	assert_memory_equal(dk, back, sizeof(dk));
}

static void test_wrap_without_content_keys_fails(void **state)
{
	struct config cfg;
	unsigned char dk[CRYPTO_KEY_BYTES], w[CRYPTO_WRAPPED_BYTES];
	uint32_t v = 77;
	(void)state;

	cfg_keys(&cfg, NULL, NULL, 0);
	crypto_data_key_new(dk);
	memset(w, 0xAA, sizeof(w));
	assert_int_equal(crypto_wrap_key(&cfg, 7, dk, w, &v), -1);
	assert_int_equal(v, 77);
	assert_true(all_zero(w, sizeof(w)));
}

static void test_unwrap_opens_the_independent_golden_vector(void **state)
{
	struct config cfg;
	unsigned char w[CRYPTO_WRAPPED_BYTES], back[CRYPTO_KEY_BYTES], want[CRYPTO_KEY_BYTES];
	size_t len;
	(void)state;

	cfg_keys(&cfg, (uint32_t[]){ 7 }, (unsigned char[]){ 0x00 }, 1);
	hex_decode(GOLDEN_WRAPPED_HEX, w, sizeof(w), &len);
	assert_int_equal(len, CRYPTO_WRAPPED_BYTES);
	fill_seq(want, sizeof(want), 0x40);
	assert_int_equal(crypto_unwrap_key(&cfg, 42, 7, w, len, back), 0);
	assert_memory_equal(back, want, sizeof(want));
	assert_int_equal(crypto_unwrap_key(&cfg, 43, 7, w, len, back), -1);
}

static void test_wrapped_layout_and_associated_data_are_as_documented(void **state)
{
	struct config cfg;
	unsigned char dk[CRYPTO_KEY_BYTES], back[CRYPTO_KEY_BYTES], w[CRYPTO_WRAPPED_BYTES];
	unsigned char wk[KEYS_SUBKEY_BYTES];
	static const char ad[] = "sotto|dk|1|v=12|o=-5";
	uint32_t v = 0;
	(void)state;

	cfg_keys(&cfg, (uint32_t[]){ 12 }, (unsigned char[]){ 0x20 }, 1);
	crypto_data_key_new(dk);
	assert_int_equal(crypto_wrap_key(&cfg, -5, dk, w, &v), 0);
	assert_int_equal(keys_derive(wk, cfg.content_keys[0].key, 32, "datawrap", 12), 0);
	assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(
	                     back, NULL, NULL, w + NONCE_BYTES, sizeof(w) - NONCE_BYTES,
	                     (const unsigned char *)ad, strlen(ad), w, wk), 0);
	assert_memory_equal(dk, back, sizeof(dk));
}

/* ---- sealed fields ---------------------------------------------------- */

static void test_seal_open_round_trip_text_empty_and_binary(void **state)
{
	unsigned char key[CRYPTO_KEY_BYTES], bin[256];
	static const char text[] = "hello, sotto \xe2\x9c\x93";
	const struct { const void *pt; size_t len; } cases[] = {
		{ text, sizeof(text) - 1 }, { "", 0 }, { NULL, 0 }, { bin, sizeof(bin) },
	};
	(void)state;

	crypto_data_key_new(key);
	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)i;    /* includes NUL bytes */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t slen = 99, plen = 99;
		unsigned char *s = crypto_seal(arena, key, CRYPTO_DATA_KEY_VERSION, &FIELD,
		                               cases[i].pt, cases[i].len, &slen);
		unsigned char *p = NULL;

		assert_non_null(s);
		assert_int_equal(slen, cases[i].len + CRYPTO_SEAL_OVERHEAD);
		assert_int_equal(crypto_open(arena, key, &FIELD, s, slen, &p, &plen), 0);
		assert_non_null(p);
		assert_int_equal(plen, cases[i].len);
		if (cases[i].len > 0)
			assert_memory_equal(p, cases[i].pt, cases[i].len);
		assert_int_equal(p[plen], '\0');
	}
}

static void test_seal_twice_gives_different_ciphertexts(void **state)
{
	unsigned char key[CRYPTO_KEY_BYTES];
	size_t l1, l2;
	unsigned char *s1, *s2;
	(void)state;

	crypto_data_key_new(key);
	s1 = crypto_seal(arena, key, 1, &FIELD, "same", 4, &l1);
	s2 = crypto_seal(arena, key, 1, &FIELD, "same", 4, &l2);
	assert_non_null(s1);
	assert_non_null(s2);
	assert_int_equal(l1, l2);
	assert_memory_not_equal(s1 + HEADER_BYTES, s2 + HEADER_BYTES, l1 - HEADER_BYTES);
}

static void test_sealed_layout_and_associated_data_are_as_documented(void **state)
{
	unsigned char key[CRYPTO_KEY_BYTES], back[8];
	static const char ad[] =
		"sotto|f|1|kv=16909060|t=posts|c=body|r=Ab-_9|o=9223372036854775807";
	const struct crypto_field f = { "posts", "body", "Ab-_9", INT64_MAX };
	unsigned long long blen = 0;
	size_t slen;
	unsigned char *s;
	(void)state;

	crypto_data_key_new(key);
	s = crypto_seal(arena, key, 0x01020304, &f, "abcdefgh", 8, &slen);
	assert_non_null(s);
	assert_int_equal(s[0], 1);
	assert_memory_equal(s + 1, "\x01\x02\x03\x04", 4);
	assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(
	                     back, &blen, NULL, s + HEADER_BYTES + NONCE_BYTES,
	                     slen - HEADER_BYTES - NONCE_BYTES,
	                     (const unsigned char *)ad, strlen(ad), s + HEADER_BYTES, key), 0);
	assert_int_equal(blen, 8);
	assert_memory_equal(back, "abcdefgh", 8);
}

static void test_open_opens_the_independent_golden_vector(void **state)
{
	unsigned char key[CRYPTO_KEY_BYTES], sealed[128], *p = NULL;
	size_t len, plen;
	(void)state;

	fill_seq(key, sizeof(key), 0x40);
	hex_decode(GOLDEN_SEALED_HEX, sealed, sizeof(sealed), &len);
	assert_int_equal(len, 16 + CRYPTO_SEAL_OVERHEAD);
	assert_int_equal(crypto_open(arena, key, &FIELD, sealed, len, &p, &plen), 0);
	assert_int_equal(plen, 16);
	assert_string_equal((const char *)p, "golden plaintext");
}

/* One sealed value of FIELD under a fresh key, for the failure tests. */
static unsigned char *seal_sample(unsigned char key[CRYPTO_KEY_BYTES], size_t *len)
{
	unsigned char *s;

	crypto_data_key_new(key);
	s = crypto_seal(arena, key, CRYPTO_DATA_KEY_VERSION, &FIELD, "secret text", 11, len);
	assert_non_null(s);
	return s;
}

static void assert_open_fails(const unsigned char *key, const struct crypto_field *f,
                              const unsigned char *s, size_t len)
{
	unsigned char *p = (unsigned char *)"untouched";
	size_t plen = 99;

	assert_int_equal(crypto_open(arena, key, f, s, len, &p, &plen), -1);
	assert_null(p);
	assert_int_equal(plen, 0);
}

static void test_ciphertext_moved_to_another_row_fails_to_open(void **state)
{
	unsigned char key[CRYPTO_KEY_BYTES];
	size_t len;
	unsigned char *s = seal_sample(key, &len);
	const struct crypto_field other_row = { "accounts", "x25519_public", "43", 42 };
	const struct crypto_field prefix_row = { "accounts", "x25519_public", "4", 42 };
	(void)state;

	assert_open_fails(key, &other_row, s, len);
	assert_open_fails(key, &prefix_row, s, len);
}

static void test_open_fails_when_table_column_or_owner_differs(void **state)
{
	unsigned char key[CRYPTO_KEY_BYTES];
	size_t len;
	unsigned char *s = seal_sample(key, &len);
	const struct crypto_field others[] = {
		{ "posts", "x25519_public", "42", 42 },
		{ "accounts", "x25519_secret", "42", 42 },
		{ "accounts", "x25519_public", "42", 43 },
		{ "accounts", "x25519_public", "42", -42 },
		{ "Accounts", "x25519_public", "42", 42 },
	};
	unsigned char *p;
	size_t plen;
	(void)state;

	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		assert_open_fails(key, &others[i], s, len);
	assert_int_equal(crypto_open(arena, key, &FIELD, s, len, &p, &plen), 0);
}

static void test_open_with_another_data_key_fails(void **state)
{
	unsigned char key[CRYPTO_KEY_BYTES], other[CRYPTO_KEY_BYTES];
	size_t len;
	unsigned char *s = seal_sample(key, &len);
	(void)state;

	crypto_data_key_new(other);
	assert_open_fails(other, &FIELD, s, len);
}

static void test_open_fails_on_every_tampered_byte(void **state)
{
	unsigned char key[CRYPTO_KEY_BYTES], *p;
	size_t len, plen;
	unsigned char *s = seal_sample(key, &len);
	(void)state;

	/* [0] format, [1..5) key version, [5..29) nonce, then ciphertext, then tag. */
	for (size_t i = 0; i < len; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			s[i] ^= (unsigned char)(1u << bit);
			assert_open_fails(key, &FIELD, s, len);
			s[i] ^= (unsigned char)(1u << bit);
		}
	}
	assert_int_equal(crypto_open(arena, key, &FIELD, s, len, &p, &plen), 0);
}

static void test_open_refuses_an_unknown_format_byte(void **state)
{
	unsigned char key[CRYPTO_KEY_BYTES];
	size_t len;
	unsigned char *s = seal_sample(key, &len);
	(void)state;

	for (unsigned fmt = 0; fmt < 256; fmt++) {
		if (fmt == 1)
			continue;
		s[0] = (unsigned char)fmt;
		assert_open_fails(key, &FIELD, s, len);
	}
}

static void test_open_fails_on_every_length_below_the_overhead(void **state)
{
	unsigned char key[CRYPTO_KEY_BYTES], buf[CRYPTO_SEAL_OVERHEAD + 16];
	size_t len, elen;
	unsigned char *s = seal_sample(key, &len);
	unsigned char *empty = crypto_seal(arena, key, 1, &FIELD, "", 0, &elen);
	(void)state;

	assert_non_null(empty);
	assert_int_equal(elen, CRYPTO_SEAL_OVERHEAD);
	for (size_t n = 0; n < CRYPTO_SEAL_OVERHEAD; n++) {
		assert_open_fails(key, &FIELD, empty, n);
		assert_open_fails(key, &FIELD, s, n);
	}
	assert_open_fails(key, &FIELD, NULL, 0);
	/* Truncated or extended valid values fail too. */
	for (size_t n = CRYPTO_SEAL_OVERHEAD; n < len; n++)
		assert_open_fails(key, &FIELD, s, n);
	memcpy(buf, empty, elen);
	buf[elen] = 0;
	assert_open_fails(key, &FIELD, buf, elen + 1);
}

static void test_field_parts_empty_or_with_a_pipe_are_refused(void **state)
{
	unsigned char key[CRYPTO_KEY_BYTES];
	size_t len, slen = 99;
	unsigned char *s = seal_sample(key, &len);
	const struct crypto_field bad[] = {
		{ "acc|ounts", "x25519_public", "42", 42 },
		{ "accounts", "x25519|public", "42", 42 },
		{ "accounts", "x25519_public", "42|o=1", 42 },
		{ "accounts", "x25519_public", "|", 42 },
		{ "", "x25519_public", "42", 42 },
		{ "accounts", "", "42", 42 },
		{ "accounts", "x25519_public", "", 42 },
		{ NULL, "x25519_public", "42", 42 },
		{ "accounts", NULL, "42", 42 },
		{ "accounts", "x25519_public", NULL, 42 },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		slen = 99;
		assert_null(crypto_seal(arena, key, 1, &bad[i], "x", 1, &slen));
		assert_int_equal(slen, 0);
		assert_open_fails(key, &bad[i], s, len);
	}
	assert_null(crypto_seal(arena, key, 1, NULL, "x", 1, &slen));
	assert_open_fails(key, NULL, s, len);
	/* A NULL plaintext with a length is a caller bug, not an empty value. */
	assert_null(crypto_seal(arena, key, 1, &FIELD, NULL, 1, &slen));
}

/* ---- server-owned values ---------------------------------------------- */

static void test_server_seal_uses_the_newest_version_and_opens_only_in_its_context(void **state)
{
	static const struct crypto_field note = { "mod_items", "note", "item1", 0 };
	unsigned char key[CRYPTO_KEY_BYTES], *pt = NULL, *s, *alone;
	struct config cfg, older_only;
	size_t len = 0, plen = 0;
	uint32_t v = 0;
	(void)state;

	cfg_keys(&cfg, (uint32_t[]){ 3, 9 }, (unsigned char[]){ 0x10, 0x20 }, 2);
	s = crypto_seal_server(arena, &cfg, "modnotes", &note, "a note", 6, &len, &v);
	assert_non_null(s);
	assert_int_equal(v, 9);
	assert_int_equal(crypto_open_server(arena, &cfg, "modnotes", 9, &note, s, len, &pt, &plen), 0);
	assert_int_equal(plen, 6);
	assert_memory_equal(pt, "a note", 6);
	/* it is crypto_seal under keys_derive(version 9's key, context, 9) */
	assert_int_equal(keys_derive(key, cfg.content_keys[1].key, 32, "modnotes", 9), 0);
	assert_int_equal(crypto_open(arena, key, &note, s, len, &pt, &plen), 0);
	/* another context, version, row or configuration without that version: no */
	assert_int_equal(crypto_open_server(arena, &cfg, "ipbanenc", 9, &note, s, len, &pt, &plen),
	                 -1);
	assert_null(pt);
	assert_int_equal(crypto_open_server(arena, &cfg, "modnotes", 3, &note, s, len, &pt, &plen),
	                 -1);
	assert_int_equal(crypto_open_server(arena, &cfg, "modnotes", 9, &FIELD, s, len, &pt, &plen),
	                 -1);
	cfg_keys(&older_only, (uint32_t[]){ 3 }, (unsigned char[]){ 0x10 }, 1);
	assert_int_equal(crypto_open_server(arena, &older_only, "modnotes", 9, &note, s, len, &pt,
	                                    &plen), -1);
	/* no content key: nothing sealed */
	cfg_keys(&older_only, NULL, NULL, 0);
	alone = crypto_seal_server(arena, &older_only, "modnotes", &note, "x", 1, &len, &v);
	assert_null(alone);
	assert_int_equal(len, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_wrap_unwrap_round_trip),
		T(test_wrap_and_unwrap_accept_extreme_versions_and_owners),
		T(test_unwrap_for_another_owner_fails_and_wipes_the_key),
		T(test_unwrap_with_a_version_not_configured_fails),
		T(test_one_wrapping_key_unwraps_what_unwrap_key_unwraps),
		T(test_unwrap_of_tampered_or_resized_bytes_fails),
		T(test_wrap_uses_the_newest_of_unordered_versions),
		T(test_wrap_without_content_keys_fails),
		T(test_unwrap_opens_the_independent_golden_vector),
		T(test_wrapped_layout_and_associated_data_are_as_documented),
		T(test_seal_open_round_trip_text_empty_and_binary),
		T(test_seal_twice_gives_different_ciphertexts),
		T(test_sealed_layout_and_associated_data_are_as_documented),
		T(test_open_opens_the_independent_golden_vector),
		T(test_ciphertext_moved_to_another_row_fails_to_open),
		T(test_open_fails_when_table_column_or_owner_differs),
		T(test_open_with_another_data_key_fails),
		T(test_open_fails_on_every_tampered_byte),
		T(test_open_refuses_an_unknown_format_byte),
		T(test_open_fails_on_every_length_below_the_overhead),
		T(test_field_parts_empty_or_with_a_pipe_are_refused),
		T(test_server_seal_uses_the_newest_version_and_opens_only_in_its_context),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
