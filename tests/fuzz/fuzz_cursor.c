/*
 * libFuzzer target: cursor_open never crashes and never accepts a forgery.
 *
 * Each input is used three times:
 * 1. as the ?cursor= text itself (a NUL-terminated copy, cut at the first
 *    NUL as a query string would be): without the key nothing opens;
 * 2. as the plaintext, sealed here with the key, so the bytes get past
 *    the MAC into the layout checks. Opening may succeed then, but only
 *    when the bytes are exactly the layout cursor.h documents for what
 *    was opened (rebuilt here independently);
 * 3. as values: byte 0 picks n, the next 8 * n bytes the values; what
 *    cursor_seal writes must open to the same cursor.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "cursor.h"
#include "util.h"

#define FUZZ_KIND "fuzz-list"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char fuzz_key[32] = {
	0x63, 0x75, 0x72, 0x73, 0x6f, 0x72, 0x2d, 0x66, 0x75, 0x7a, 0x7a, 0x2d,
	0x6b, 0x65, 0x79, 0x2d, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
	0x38, 0x39, 0x61, 0x62, 0x63, 0x64, 0x65, 0x21,
};

/* cursor.h's layout of c for FUZZ_KIND into out; its length. */
static size_t expected_layout(const struct cursor *c, unsigned char *out)
{
	size_t k = strlen(FUZZ_KIND), p = 0;

	out[p++] = CURSOR_VERSION;
	out[p++] = (unsigned char)k;
	memcpy(out + p, FUZZ_KIND, k);
	p += k;
	out[p++] = (unsigned char)c->n;
	for (size_t i = 0; i < c->n; i++)
		for (int b = 0; b < 8; b++)
			out[p++] = (unsigned char)((uint64_t)c->v[i] >> (8 * b));
	return p;
}

static void as_text(struct arena *a, const uint8_t *data, size_t size)
{
	struct cursor c;
	char *text = arena_strndup(a, (const char *)data, size);

	if (text != NULL && cursor_open(fuzz_key, FUZZ_KIND, text, &c) == 0)
		__builtin_trap(); /* accepted without the key */
}

static void as_plaintext(struct arena *a, const uint8_t *data, size_t size)
{
	unsigned char box[crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + 256];
	unsigned char want[256];
	struct cursor c;
	char *text;

	if (size > 256 - crypto_secretbox_MACBYTES - crypto_secretbox_NONCEBYTES)
		return;
	randombytes_buf(box, crypto_secretbox_NONCEBYTES);
	if (crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, data, size, box,
	                          fuzz_key) != 0)
		__builtin_trap();
	text = util_b64url_encode(a, box, crypto_secretbox_NONCEBYTES +
	                          crypto_secretbox_MACBYTES + size);
	if (text == NULL || cursor_open(fuzz_key, FUZZ_KIND, text, &c) != 0)
		return;
	if (c.n > CURSOR_MAX_FIELDS || expected_layout(&c, want) != size ||
	    memcmp(want, data, size) != 0)
		__builtin_trap();
}

static void as_values(struct arena *a, const uint8_t *data, size_t size)
{
	struct cursor in, out;
	char *text;

	if (size == 0)
		return;
	memset(&in, 0, sizeof(in));
	in.n = data[0] % (CURSOR_MAX_FIELDS + 1);
	for (size_t i = 0; i < in.n; i++) {
		uint64_t u = 0;

		for (size_t b = 0; b < 8; b++) {
			size_t at = 1 + 8 * i + b;

			u |= (uint64_t)(at < size ? data[at] : 0) << (8 * b);
		}
		memcpy(&in.v[i], &u, sizeof(u));
	}
	text = cursor_seal(a, fuzz_key, FUZZ_KIND, &in);
	if (text == NULL)
		return;
	if (strlen(text) > CURSOR_MAX_CHARS ||
	    cursor_open(fuzz_key, FUZZ_KIND, text, &out) != 0 || out.n != in.n ||
	    memcmp(out.v, in.v, in.n * sizeof(in.v[0])) != 0 ||
	    cursor_open(fuzz_key, "other-list", text, &out) == 0)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct arena *a;

	if (a == NULL) {
		if (sodium_init() < 0)
			__builtin_trap();
		a = arena_new();
		if (a == NULL)
			return 0;
	}
	as_text(a, data, size);
	as_plaintext(a, data, size);
	as_values(a, data, size);
	arena_reset(a);
	return 0;
}
