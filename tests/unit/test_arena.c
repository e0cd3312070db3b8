/* Unit tests for the per-request arena. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
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
		cmocka_unit_test(test_cleanups_run_once_at_reset),
		cmocka_unit_test(test_string_helpers_copy),
		cmocka_unit_test(test_i64_text_covers_the_whole_range),
		cmocka_unit_test(test_utf8_validation_follows_rfc3629),
		cmocka_unit_test(test_int_parse_is_strict),
		cmocka_unit_test(test_secret_compare),
	};
	return cmocka_run_group_tests_name("arena_util", tests, NULL, NULL);
}
