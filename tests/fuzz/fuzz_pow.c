/*
 * libFuzzer target: pow_solution_ok() never crashes on any split of the
 * input into action, challenge and nonce, refuses every malformed nonce,
 * and agrees with a digest computed here; pow_adaptive_extra() stays in
 * 0..max_extra and never falls as the load rises.
 *
 * Input: byte 0 = difficulty (0..255, beyond 256 via byte 1's high bit),
 * bytes 1 and 2 = where the action and the challenge end, the rest the
 * text. Inputs with NUL cannot arrive in a header and are skipped.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "pow.h"

#define TEXT_MAX 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool nonce_well_formed(const char *s)
{
	size_t n = strspn(s, "0123456789");

	return n >= 1 && n <= POW_NONCE_MAX_DIGITS && s[n] == '\0';
}

static int bits_of(const char *action, const char *challenge, const char *nonce)
{
	char msg[TEXT_MAX + 32];
	unsigned char d[crypto_hash_sha256_BYTES];
	int len = snprintf(msg, sizeof(msg), "sotto-pow:%s:%s:%s", action, challenge, nonce);

	if (len < 0 || (size_t)len >= sizeof(msg))
		__builtin_trap();
	crypto_hash_sha256(d, (const unsigned char *)msg, (size_t)len);
	return pow_leading_zero_bits(d);
}

static void check_solution(const char *action, const char *challenge, const char *nonce,
                           int difficulty)
{
	bool ok = pow_solution_ok(action, challenge, nonce, difficulty);

	if (!nonce_well_formed(nonce) || difficulty > 256) {
		if (ok)
			__builtin_trap();
		return;
	}
	if (ok != (bits_of(action, challenge, nonce) >= difficulty))
		__builtin_trap();
}

static void check_adaptive(const uint8_t *data, size_t size)
{
	uint64_t current = 0, baseline = 0;
	uint32_t min_rate;
	int max_extra, extra, more;

	if (size < 3)
		return;
	for (size_t i = 0; i < size && i < 8; i++)
		current = current << 8 | data[i];
	for (size_t i = 8; i < size && i < 16; i++)
		baseline = baseline << 8 | data[i];
	min_rate = (uint32_t)data[1] << 8 | data[2];
	max_extra = data[0] % 20;
	extra = pow_adaptive_extra(current, baseline, min_rate, max_extra);
	if (extra < 0 || extra > max_extra)
		__builtin_trap();
	if (current < UINT64_MAX) {
		more = pow_adaptive_extra(current + 1, baseline, min_rate, max_extra);
		if (more < extra)
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[TEXT_MAX + 3];
	size_t n, a_end, c_end;
	int difficulty;

	check_adaptive(data, size);
	if (size < 3 || size - 3 > TEXT_MAX || memchr(data + 3, '\0', size - 3) != NULL)
		return 0;
	n = size - 3;
	difficulty = data[0] + ((data[1] & 0x80) ? 2 : 0);  /* reaches 257 */
	a_end = n > 0 ? (data[1] & 0x7f) % (n + 1) : 0;
	c_end = a_end + (n - a_end > 0 ? data[2] % (n - a_end + 1) : 0);
	/* action NUL challenge NUL nonce NUL, in one buffer */
	memcpy(text, data + 3, a_end);
	text[a_end] = '\0';
	memcpy(text + a_end + 1, data + 3 + a_end, c_end - a_end);
	text[c_end + 1] = '\0';
	memcpy(text + c_end + 2, data + 3 + c_end, n - c_end);
	text[n + 2] = '\0';
	check_solution(text, text + a_end + 1, text + c_end + 2, difficulty);
	check_solution(text, text + a_end + 1, text + c_end + 2, 0);
	return 0;
}
