/*
 * libFuzzer target: the account record cached in Redis (auth.h) is read
 * back as untrusted text. Each input is used twice:
 * 1. as the record text (cut at its first NUL, as a Redis string is read):
 *    auth_record_parse never crashes, and what it accepts is a record
 *    auth_record_format could have written: pk >= 1, trust in [0, 1], a
 *    known auth kind, a token generation in bounds, a kept jti that fits,
 *    an X25519 text of 1..63 base64url characters or none; formatting it
 *    again parses back to the same account;
 * 2. as an account's fields (pk, day, trust, auth, token generation, kept
 *    jti, key text): what
 *    auth_record_format writes for a valid account always parses back.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "auth.h"

#define KEY_TEXT_MAX 63
#define B64URL "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool key_text_ok(const char *k)
{
	size_t n;

	if (k == NULL)
		return true;
	n = strlen(k);
	return n >= 1 && n <= KEY_TEXT_MAX && strspn(k, B64URL) == n;
}

static bool same_account(const struct account *a, const struct account *b)
{
	/* The record keeps trust to six decimals (half a unit of rounding, and the double's). */
	return a->pk == b->pk && a->day_joined == b->day_joined && a->auth == b->auth &&
	       fabs(a->trust - b->trust) <= 1e-6 && a->token_gen == b->token_gen &&
	       strcmp(a->token_keep, b->token_keep) == 0 &&
	       ((a->x25519 == NULL && b->x25519 == NULL) ||
	        (a->x25519 != NULL && b->x25519 != NULL && strcmp(a->x25519, b->x25519) == 0));
}

static void round_trip(struct arena *a, const struct account *acc)
{
	struct account back;
	char *text = auth_record_format(a, acc);

	memset(&back, 0, sizeof(back));
	if (text == NULL)
		return;
	if (auth_record_parse(a, text, &back) != 0 || !same_account(acc, &back))
		__builtin_trap();
}

static void as_text(struct arena *a, const uint8_t *data, size_t size)
{
	struct account acc;
	char *text = arena_strndup(a, (const char *)data, size);

	memset(&acc, 0, sizeof(acc));
	if (text == NULL || auth_record_parse(a, text, &acc) != 0)
		return;
	if (acc.pk < 1 || !(acc.trust >= 0.0 && acc.trust <= 1.0) || acc.token_gen < 0 ||
	    acc.token_gen > TOKEN_GEN_MAX || strlen(acc.token_keep) > TOKEN_JTI_MAX ||
	    (acc.auth != ACCOUNT_PASSWORD && acc.auth != ACCOUNT_KEY) || !key_text_ok(acc.x25519))
		__builtin_trap();
	round_trip(a, &acc);
}

static uint64_t take_u64(const uint8_t **p, size_t *left)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++) {
		v = v << 8 | (*left > 0 ? **p : 0);
		if (*left > 0) {
			(*p)++;
			(*left)--;
		}
	}
	return v;
}

static void as_fields(struct arena *a, const uint8_t *data, size_t size)
{
	static const int64_t decimal_max = 999999999999999999; /* 18 digits */
	struct account acc;
	char key[KEY_TEXT_MAX + 1];
	size_t key_len;

	memset(&acc, 0, sizeof(acc));
	acc.pk = (int64_t)(take_u64(&data, &size) % (uint64_t)decimal_max) + 1;
	acc.day_joined = (int64_t)(take_u64(&data, &size) % (uint64_t)decimal_max);
	acc.trust = (double)(take_u64(&data, &size) % 1000001) / 1e6;
	acc.auth = (take_u64(&data, &size) & 1) ? ACCOUNT_KEY : ACCOUNT_PASSWORD;
	acc.token_gen = (int64_t)(take_u64(&data, &size) % ((uint64_t)TOKEN_GEN_MAX + 1));
	/* A kept jti: 22 base64url characters, or none. */
	if (size > 0 && (data[0] & 1)) {
		for (size_t i = 0; i < 22; i++)
			acc.token_keep[i] = B64URL[(i + 1 < size ? data[i + 1] : 0) % 64];
		acc.token_keep[22] = '\0';
	}
	key_len = size < KEY_TEXT_MAX ? size : KEY_TEXT_MAX;
	for (size_t i = 0; i < key_len; i++)
		key[i] = B64URL[data[i] % 64];
	key[key_len] = '\0';
	/* "-" stands for no key; a real key's text is 43 characters. */
	acc.x25519 = key_len > 0 && strcmp(key, "-") != 0 ? key : NULL;
	round_trip(a, &acc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct arena *a;

	if (a == NULL && (a = arena_new()) == NULL)
		return 0;
	as_text(a, data, size);
	as_fields(a, data, size);
	arena_reset(a);
	return 0;
}
