/*
 * libFuzzer target: token_verify never crashes, leaks or accepts a forgery.
 *
 * Each input is used twice:
 * 1. as the bearer string itself (a NUL-terminated copy, cut at the first
 *    NUL as FastCGI would): without the key no input may be accepted;
 * 2. as "header.payload" (the input up to its second '.', if any) signed
 *    here with the key, so the bytes get past the MAC check into libjwt's
 *    JSON parsing and the claim checks. Accepting is allowed then, but
 *    only with claims that obey every rule in token.h.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "token.h"
#include "util.h"

#define FUZZ_NOW INT64_C(1700000000)
#define FUZZ_MAX_LIFETIME 3600

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char fuzz_key[32] = {
	0x66, 0x75, 0x7a, 0x7a, 0x2d, 0x74, 0x6f, 0x6b, 0x65, 0x6e, 0x2d, 0x6b,
	0x65, 0x79, 0x2d, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38,
	0x39, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x21,
};

static int id_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

/* Trap unless accepted claims obey token.h. */
static void check_claims(const struct token_claims *c)
{
	if (!id_ok(c->sub, TOKEN_SUB_MAX) || !id_ok(c->sid, TOKEN_SID_MAX) ||
	    !id_ok(c->jti, TOKEN_JTI_MAX))
		__builtin_trap();
	/* bound to a key: exactly a thumbprint's 43 base64url characters */
	if (c->jkt[0] != '\0' && (strlen(c->jkt) != TOKEN_JKT_CHARS || !id_ok(c->jkt, TOKEN_JKT_CHARS)))
		__builtin_trap();
	if (c->iat < 0 || c->iat > FUZZ_NOW + TOKEN_CLOCK_SKEW_S ||
	    c->iat >= c->exp || c->exp <= FUZZ_NOW ||
	    c->exp - c->iat > FUZZ_MAX_LIFETIME)
		__builtin_trap();
}

/* text (a signing input) "." base64url(HMAC-SHA256) on the arena. */
static char *sign(struct arena *a, const char *text)
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char *sig;

	crypto_auth_hmacsha256(mac, (const unsigned char *)text, strlen(text), fuzz_key);
	sig = util_b64url_encode(a, mac, sizeof(mac));
	return sig == NULL ? NULL : arena_printf(a, "%s.%s", text, sig);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct arena *a;
	struct token_claims c;
	char *text, *dot, *signed_tok;

	if (a == NULL) {
		if (sodium_init() < 0)
			__builtin_trap();
		a = arena_new();
	}
	text = arena_strndup(a, (const char *)data, size);
	if (text == NULL)
		goto out;
	if (token_verify(fuzz_key, text, FUZZ_NOW, FUZZ_MAX_LIFETIME, &c) == 0)
		__builtin_trap(); /* accepted without the key */

	dot = strchr(text, '.');
	if (dot != NULL && (dot = strchr(dot + 1, '.')) != NULL)
		*dot = '\0';
	signed_tok = sign(a, text);
	if (signed_tok == NULL)
		goto out;
	if (token_verify(fuzz_key, signed_tok, FUZZ_NOW, FUZZ_MAX_LIFETIME, &c) == 0)
		check_claims(&c);
out:
	arena_reset(a);
	return 0;
}
