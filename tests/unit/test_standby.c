/*
 * test_standby.c — the pure parts of reads from a standby: LSN text as
 * PostgreSQL and Redis write it, and the lag bound judged from positions
 * of the primary sampled over time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "standby.h"

static void test_lsn_parse_reads_postgresql_text(void **state)
{
	uint64_t lsn = 0;

	(void)state;
	assert_int_equal(standby_lsn_parse("0/0", &lsn), 0);
	assert_true(lsn == 0);
	assert_int_equal(standby_lsn_parse("16/B374D848", &lsn), 0);
	assert_true(lsn == ((uint64_t)0x16 << 32 | 0xB374D848u));
	assert_int_equal(standby_lsn_parse("ffffffff/ffffffff", &lsn), 0);
	assert_true(lsn == UINT64_MAX);
	assert_int_equal(standby_lsn_parse("1/a", &lsn), 0);
	assert_true(lsn == ((uint64_t)1 << 32 | 10));
}

static void test_lsn_parse_refuses_anything_else(void **state)
{
	static const char *const bad[] = {
		"", "/", "0/", "/0", "0", "0//0", "0/0/0", "123456789/0", "0/123456789",
		"g/0", "0/0 ", " 0/0", "-1/0", "0x1/0", "1/+2",
	};
	uint64_t lsn = 7;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(standby_lsn_parse(bad[i], &lsn), -1);
		assert_true(lsn == 7);
	}
	assert_int_equal(standby_lsn_parse(NULL, &lsn), -1);
}

static void test_lsn_key_round_trips_and_orders_as_text(void **state)
{
	static const uint64_t values[] = { 0, 1, 0xB374D848u, (uint64_t)0x16 << 32, UINT64_MAX };
	char a[STANDBY_LSN_HEX + 1], b[STANDBY_LSN_HEX + 1];
	uint64_t back;

	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		standby_lsn_key_text(values[i], a);
		assert_int_equal(strlen(a), STANDBY_LSN_HEX);
		assert_int_equal(standby_lsn_key_parse(a, strlen(a), &back), 0);
		assert_true(back == values[i]);
		/* Redis's script keeps the higher of two marks by comparing their text */
		if (i > 0) {
			standby_lsn_key_text(values[i - 1], b);
			assert_true(strcmp(b, a) < 0);
		}
	}
}

static void test_lsn_key_refuses_other_text(void **state)
{
	static const char *const bad[] = {
		"", "0", "000000000000000", "00000000000000000", "000000000000000A",
		"00000000/0000000", "000000000000000g", "-00000000000000f",
	};
	uint64_t lsn = 7;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(standby_lsn_key_parse(bad[i], strlen(bad[i]), &lsn), -1);
	assert_true(lsn == 7);
	/* a length that does not match the text is refused, NUL or not */
	assert_int_equal(standby_lsn_key_parse("0000000000000001", 15, &lsn), -1);
}

/* The primary at 100 after 1 s, 200 after 2 s, 300 after 3 s (times in us). */
static const struct standby_sample samples[] = {
	{ 1000000, 100 }, { 3000000, 300 }, { 2000000, 200 },
};
#define N_SAMPLES (sizeof(samples) / sizeof(samples[0]))

static void test_within_when_a_recent_position_is_replayed(void **state)
{
	(void)state;
	/* replayed 200 (read at 2 s): at 2.5 s it is at most 0.5 s behind */
	assert_true(standby_within(samples, N_SAMPLES, 200, 2500000, 1000000, 0));
	assert_true(standby_within(samples, N_SAMPLES, 250, 2500000, 600000, 0));
	/* replayed past the newest position: current */
	assert_true(standby_within(samples, N_SAMPLES, 300, 3000000, 0, 0));
}

static void test_beyond_the_bound_when_only_old_positions_are_replayed(void **state)
{
	(void)state;
	/* replayed 200 only: at 3.5 s that is 1.5 s ago */
	assert_false(standby_within(samples, N_SAMPLES, 200, 3500000, 1000000, 0));
	assert_false(standby_within(samples, N_SAMPLES, 299, 3000000, 999999, 0));
	/* replayed nothing the primary was ever seen at */
	assert_false(standby_within(samples, N_SAMPLES, 99, 3000000, UINT64_MAX, 0));
	assert_false(standby_within(samples, 0, UINT64_MAX, 3000000, UINT64_MAX, 0));
}

static void test_within_counts_only_positions_read_since(void **state)
{
	(void)state;
	/* the cache was emptied at 2.5 s: only the position of 3 s counts */
	assert_false(standby_within(samples, N_SAMPLES, 200, 3000000, UINT64_MAX, 2500000));
	assert_true(standby_within(samples, N_SAMPLES, 300, 3000000, UINT64_MAX, 2500000));
	/* nothing read since then yet */
	assert_false(standby_within(samples, N_SAMPLES, UINT64_MAX, 3500000, UINT64_MAX, 3100000));
	/* positions read after now never count */
	assert_false(standby_within(samples, N_SAMPLES, UINT64_MAX, 900000, UINT64_MAX, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lsn_parse_reads_postgresql_text),
		cmocka_unit_test(test_lsn_parse_refuses_anything_else),
		cmocka_unit_test(test_lsn_key_round_trips_and_orders_as_text),
		cmocka_unit_test(test_lsn_key_refuses_other_text),
		cmocka_unit_test(test_within_when_a_recent_position_is_replayed),
		cmocka_unit_test(test_beyond_the_bound_when_only_old_positions_are_replayed),
		cmocka_unit_test(test_within_counts_only_positions_read_since),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
