/* Unit tests for the per-request arena. */
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arena.h"
#include "util.h"

static int cleanups;
static void count_cleanup(void *p) { (void)p; cleanups++; }

static void test_allocations_are_aligned_and_zeroed(void **state)
{
	struct arena *a = arena_new();
	(void)state;
	for (size_t n = 1; n < 100; n += 7) {
		unsigned char *p = arena_alloc(a, n);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % 16, 0);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(p[i], 0);
		memset(p, 0xAB, n);
	}
	arena_free(a);
}

static void test_large_allocations_and_reset_reuse(void **state)
{
	struct arena *a = arena_new();
	(void)state;
	char *big = arena_alloc(a, 1 << 20);
	assert_non_null(big);
	memset(big, 1, 1 << 20);
	assert_true(arena_used(a) >= (1u << 20));
	arena_reset(a);
	assert_int_equal(arena_used(a), 0);
	assert_non_null(arena_alloc(a, 10));
	arena_free(a);
}

/*
 * What a request wrote (a password, decrypted text) is gone from the kept
 * chunk after reset, and memory handed out again, in that chunk or past a
 * chunk that overflowed, is zero without arena_alloc clearing it.
 */
static void test_reset_wipes_what_was_handed_out(void **state)
{
	struct arena *a = arena_new();
	unsigned char *secret, *again;
	(void)state;

	secret = arena_alloc(a, 64);
	assert_non_null(secret);
	memset(secret, 0x5A, 64);
	for (int i = 0; i < 40; i++)    /* past the first chunk: more chunks, freed at reset */
		memset(arena_alloc(a, 1000), 0xC3, 1000);
	arena_reset(a);
	for (size_t i = 0; i < 64; i++)
		assert_int_equal(secret[i], 0);
	again = arena_alloc(a, 16384);
	assert_non_null(again);
	for (size_t i = 0; i < 16384; i++)
		assert_int_equal(again[i], 0);
	arena_free(a);
}

/*
 * arena_printf prints into the current chunk when the text fits; when it
 * does not, what it printed there is wiped, so memory handed out next is
 * still zero, and the text lands whole in a chunk of its own.
 */
static void test_printf_in_place_and_past_the_chunk(void **state)
{
	struct arena *a = arena_new();
	char big[20000];
	unsigned char *next;
	char *s;
	(void)state;

	assert_string_equal(arena_printf(a, "%s-%d", "a", 42), "a-42");
	assert_non_null(arena_alloc(a, 16384 - 64));   /* leaves the first chunk nearly full */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	s = arena_printf(a, "%s!", big);
	assert_non_null(s);
	assert_int_equal(strlen(s), sizeof(big));
	assert_int_equal(s[sizeof(big) - 1], '!');
	/* the first chunk is kept and wiped only up to what it handed out */
	arena_reset(a);
	next = arena_alloc(a, 16384);
	assert_non_null(next);
	for (size_t i = 0; i < 16384; i++)
		assert_int_equal(next[i], 0);
	arena_free(a);
}

/* Chunks kept across a reset for the next request come back wiped. */
static void test_spare_chunks_come_back_zero(void **state)
{
	struct arena *a = arena_new();
	(void)state;

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 20; i++) {
			unsigned char *p = arena_alloc(a, 3000);

			assert_non_null(p);
			for (size_t j = 0; j < 3000; j++)
				assert_int_equal(p[j], 0);
			memset(p, 0xE7, 3000);
		}
		unsigned char *big = arena_alloc(a, 40000);   /* a chunk of its own */
		assert_non_null(big);
		for (size_t j = 0; j < 40000; j++)
			assert_int_equal(big[j], 0);
		memset(big, 0x3C, 40000);
		arena_reset(a);
	}
	arena_free(a);
}

static void test_cleanups_run_once_at_reset(void **state)
{
	struct arena *a = arena_new();
	int x;
	(void)state;
	cleanups = 0;
	assert_int_equal(arena_defer(a, count_cleanup, &x), 0);
	assert_int_equal(arena_defer(a, count_cleanup, &x), 0);
	assert_int_equal(arena_defer(a, count_cleanup, NULL), 0); /* NULL is a no-op */
	arena_reset(a);
	assert_int_equal(cleanups, 2);
	arena_reset(a);
	assert_int_equal(cleanups, 2);
	arena_free(a);
}

static void test_string_helpers_copy(void **state)
{
	struct arena *a = arena_new();
	(void)state;
	assert_string_equal(arena_strdup(a, "abc"), "abc");
	assert_string_equal(arena_strndup(a, "abcdef", 3), "abc");
	assert_string_equal(arena_printf(a, "%d-%s", 42, "x"), "42-x");
	arena_free(a);
}

static void test_i64_text_covers_the_whole_range(void **state)
{
	struct arena *a = arena_new();
	(void)state;
	assert_non_null(a);
	assert_string_equal(arena_i64(a, 0), "0");
	assert_string_equal(arena_i64(a, -42), "-42");
	assert_string_equal(arena_i64(a, INT64_MAX), "9223372036854775807");
	assert_string_equal(arena_i64(a, INT64_MIN), "-9223372036854775808");
	arena_free(a);
}

static void test_utf8_validation_follows_rfc3629(void **state)
{
	(void)state;
	assert_true(util_utf8_valid("plain", 5));
	assert_true(util_utf8_valid("\xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80", 9));
	assert_false(util_utf8_valid("\xc0\xaf", 2));         /* overlong */
	assert_false(util_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
	assert_false(util_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(util_utf8_valid("\xe2\x9c", 2));         /* truncated */
	assert_false(util_utf8_valid("a\0b", 3));             /* NUL */
}

static void test_int_parse_is_strict(void **state)
{
	int64_t v;
	(void)state;
	assert_int_equal(util_parse_int64("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(util_parse_int64("-1", -5, 5, &v), 0);
	assert_int_equal(util_parse_int64(" 1", 0, 9, &v), -1);
	assert_int_equal(util_parse_int64("+1", 0, 9, &v), -1);
	assert_int_equal(util_parse_int64("1x", 0, 9, &v), -1);
	assert_int_equal(util_parse_int64("", 0, 9, &v), -1);
	assert_int_equal(util_parse_int64("10", 0, 9, &v), -1);
	assert_int_equal(util_parse_int64("99999999999999999999", 0, INT64_MAX, &v), -1);
}

static void test_int_parse_takes_the_whole_range_and_nothing_past_it(void **state)
{
	int64_t v = 7;
	(void)state;
	assert_int_equal(util_parse_int64("9223372036854775807", INT64_MIN + 1, INT64_MAX - 1, &v), -1);
	assert_int_equal(util_parse_int64("9223372036854775807", 0, INT64_MAX, &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(util_parse_int64("-9223372036854775808", INT64_MIN, 0, &v), 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(util_parse_int64("9223372036854775808", INT64_MIN, INT64_MAX, &v), -1);
	assert_int_equal(util_parse_int64("-9223372036854775809", INT64_MIN, INT64_MAX, &v), -1);
	assert_int_equal(util_parse_int64("007", 0, 9, &v), 0);      /* as strtoll took it */
	assert_int_equal(v, 7);
	assert_int_equal(util_parse_int64("-0", 0, 9, &v), 0);
	assert_int_equal(v, 0);
	v = 5;
	assert_int_equal(util_parse_int64("-", -9, 9, &v), -1);
	assert_int_equal(util_parse_int64("--1", -9, 9, &v), -1);
	assert_int_equal(util_parse_int64("1 ", 0, 9, &v), -1);
	assert_int_equal(util_parse_int64(NULL, 0, 9, &v), -1);
	assert_int_equal(v, 5);     /* untouched by a refusal */
}

static void test_decimal_text_covers_the_whole_range(void **state)
{
	const int64_t values[] = { 0, 7, -7, 10, 1234567890123, INT64_MAX, INT64_MIN, INT64_MIN + 1 };
	char want[32], got[UTIL_INT64_CHARS + 1];
	(void)state;

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		size_t n = util_put_int64(got, values[i]);

		got[n] = '\0';
		snprintf(want, sizeof(want), "%" PRId64, values[i]);
		assert_string_equal(got, want);
	}
}

static void test_hex_decode_refuses_what_is_not_hex(void **state)
{
	unsigned char out[4];
	(void)state;
	assert_int_equal(util_hex_decode("00aFfE7b", 4, out), 0);
	assert_memory_equal(out, "\x00\xaf\xfe\x7b", 4);
	assert_int_equal(util_hex_decode("0g", 1, out), -1);
	assert_int_equal(util_hex_decode("g0", 1, out), -1);
	assert_int_equal(util_hex_decode("0 ", 1, out), -1);
	assert_int_equal(util_hex_decode("\xc3\xa9", 1, out), -1);
	for (int c = 1; c < 256; c++) {     /* every character, against util_hex_value */
		char text[3] = { (char)c, '0', '\0' };

		assert_int_equal(util_hex_decode(text, 1, out), util_hex_value((char)c) < 0 ? -1 : 0);
		if (util_hex_value((char)c) >= 0)
			assert_int_equal(out[0], util_hex_value((char)c) << 4);
		text[0] = '0';
		text[1] = (char)c;
		assert_int_equal(util_hex_decode(text, 1, out), util_hex_value((char)c) < 0 ? -1 : 0);
	}
}

static void test_secret_compare(void **state)
{
	(void)state;
	assert_true(util_secret_equal("abc", "abc"));
	assert_false(util_secret_equal("abc", "abd"));
	assert_false(util_secret_equal("abc", "abcd"));
	assert_false(util_secret_equal("", "a"));
	assert_false(util_secret_equal(NULL, "a"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allocations_are_aligned_and_zeroed),
		cmocka_unit_test(test_large_allocations_and_reset_reuse),
		cmocka_unit_test(test_reset_wipes_what_was_handed_out),
		cmocka_unit_test(test_printf_in_place_and_past_the_chunk),
		cmocka_unit_test(test_spare_chunks_come_back_zero),
		cmocka_unit_test(test_cleanups_run_once_at_reset),
		cmocka_unit_test(test_string_helpers_copy),
		cmocka_unit_test(test_i64_text_covers_the_whole_range),
		cmocka_unit_test(test_utf8_validation_follows_rfc3629),
		cmocka_unit_test(test_int_parse_is_strict),
		cmocka_unit_test(test_int_parse_takes_the_whole_range_and_nothing_past_it),
		cmocka_unit_test(test_decimal_text_covers_the_whole_range),
		cmocka_unit_test(test_hex_decode_refuses_what_is_not_hex),
		cmocka_unit_test(test_secret_compare),
	};
	return cmocka_run_group_tests_name("arena_util", tests, NULL, NULL);
}
