/*
 * libFuzzer target: the account record cached in Redis (auth.h), once its
 * seal has opened, is still parsed as untrusted text. Each input is used
 * twice:
 * 1. as the record text (cut at its first NUL, as a Redis string is read),
 *    for the generation named by its first byte: auth_record_parse never
 *    crashes, and what it accepts is a record auth_record_text could have
 *    written for that generation: pk >= 1, trust in [0, 1], a known auth
 *    kind, a token generation in bounds, a kept jti that fits; writing it
 *    again parses back to the same account;
 * 2. as an account's fields (pk, day, trust, auth, token generation, kept
 *    jti): what auth_record_text writes for a valid account always parses
 *    back, and never for another generation.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "auth.h"

#define B64URL "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const generations[] = { "-", "0", "1", "42", "18446744073709551615" };
#define N_GENERATIONS (sizeof(generations) / sizeof(generations[0]))

static bool same_account(const struct account *a, const struct account *b)
{
	/* The record keeps trust to six decimals (half a unit of rounding, and the double's). */
	return a->pk == b->pk && a->day_joined == b->day_joined && a->auth == b->auth &&
	       fabs(a->trust - b->trust) <= 1e-6 && a->token_gen == b->token_gen &&
	       strcmp(a->token_keep, b->token_keep) == 0;
}

static void round_trip(struct arena *a, const char *gen, const struct account *acc)
{
	struct account back;
	char *text = auth_record_text(a, gen, acc);

	if (text == NULL)
		return;
	memset(&back, 0, sizeof(back));
	if (auth_record_parse(text, gen, &back) != 0 || !same_account(acc, &back))
		__builtin_trap();
	for (size_t i = 0; i < N_GENERATIONS; i++) {
		memset(&back, 0, sizeof(back));
		if (strcmp(generations[i], gen) != 0 && auth_record_parse(text, generations[i], &back) == 0)
			__builtin_trap();   /* a record of another generation is a miss */
	}
}

static void as_text(struct arena *a, const uint8_t *data, size_t size)
{
	struct account acc;
	const char *gen = generations[size > 0 ? data[0] % N_GENERATIONS : 0];
	char *text = arena_strndup(a, (const char *)data, size);

	memset(&acc, 0, sizeof(acc));
	if (text == NULL || auth_record_parse(text, gen, &acc) != 0)
		return;
	if (acc.pk < 1 || !(acc.trust >= 0.0 && acc.trust <= 1.0) || acc.token_gen < 0 ||
	    acc.token_gen > TOKEN_GEN_MAX || strlen(acc.token_keep) > TOKEN_JTI_MAX ||
	    (acc.auth != ACCOUNT_PASSWORD && acc.auth != ACCOUNT_KEY))
		__builtin_trap();
	round_trip(a, gen, &acc);
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
	const char *gen = generations[size > 0 ? data[0] % N_GENERATIONS : 0];
	struct account acc;

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
	round_trip(a, gen, &acc);
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
