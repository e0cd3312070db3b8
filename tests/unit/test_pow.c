/*
 * test_pow.c — proof of work (app/pow.c): solutions against golden vectors
 * computed independently (tests/unit/data/gen_pow_vectors.py, hashlib),
 * leading-zero counting, nonce syntax, action names, the adaptive-extra
 * rule, and the per-minute load ring in shared memory behind
 * pow_difficulty(): floor 0, steady load, bursts, the sliding previous
 * minute, the baseline hour, caps, stale slots and counting from several
 * processes.
 *
 * pow_verify_or_reply() needs a FastCGI request and Redis; the end-to-end
 * tests (tests/e2e/test_pow.py) cover it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "pow.h"
#include "shm.h"

#define VECTORS "tests/unit/data/pow_vectors.txt"
#define MIN_VECTORS 30
#define T0 1699999980ull            /* the start of a minute (divisible by 60) */
#define MINUTE 60ull
#define HOUR 3600ull
#define FLOOR 8
#define MIN_RATE 5

/* ---- golden vectors ---------------------------------------------------- */

struct vector {
	char action[32];
	char challenge[64];
	char nonce[32];
	int bits;
	char hex[65];
};

/* Every vector of the golden file into v (capacity cap); returns how many. */
static size_t load_vectors(struct vector *v, size_t cap)
{
	FILE *f = fopen(VECTORS, "r");
	char line[512];
	size_t n = 0;

	if (f == NULL)
		fail_msg("cannot open %s (unit tests run from the top of the tree)", VECTORS);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		assert_true(n < cap);
		if (sscanf(line, "%31s %63s %31s %d %64s", v[n].action, v[n].challenge,
		           v[n].nonce, &v[n].bits, v[n].hex) != 5)
			fail_msg("malformed vector line: %s", line);
		n++;
	}
	assert_int_equal(fclose(f), 0);
	return n;
}

static void pow_golden_vectors_digest_matches_hashlib(void **state)
{
	struct vector v[128];
	size_t n = load_vectors(v, 128);

	(void)state;
	assert_true(n >= MIN_VECTORS);
	for (size_t i = 0; i < n; i++) {
		char msg[256];
		unsigned char d[crypto_hash_sha256_BYTES];
		char hex[2 * crypto_hash_sha256_BYTES + 1];
		int len = snprintf(msg, sizeof(msg), "sotto-pow:%s:%s:%s", v[i].action,
		                   v[i].challenge, v[i].nonce);

		assert_true(len > 0 && (size_t)len < sizeof(msg));
		assert_int_equal(crypto_hash_sha256(d, (const unsigned char *)msg, (size_t)len), 0);
		sodium_bin2hex(hex, sizeof(hex), d, sizeof(d));
		assert_string_equal(hex, v[i].hex);
		assert_int_equal(pow_leading_zero_bits(d), v[i].bits);
	}
}

static void pow_solution_ok_holds_at_exactly_the_vector_bits_and_fails_one_more(void **state)
{
	struct vector v[128];
	size_t n = load_vectors(v, 128);
	int max_bits = 0;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		const struct vector *x = &v[i];

		if (!pow_solution_ok(x->action, x->challenge, x->nonce, x->bits))
			fail_msg("vector %zu (%s) should solve at %d bits", i, x->nonce, x->bits);
		if (pow_solution_ok(x->action, x->challenge, x->nonce, x->bits + 1))
			fail_msg("vector %zu (%s) should fail at %d bits", i, x->nonce, x->bits + 1);
		assert_true(pow_solution_ok(x->action, x->challenge, x->nonce, 0));
		if (x->bits > max_bits)
			max_bits = x->bits;
	}
	assert_true(max_bits >= 12);
}

static void pow_solution_is_bound_to_action_and_challenge(void **state)
{
	struct vector v[128];
	size_t n = load_vectors(v, 128);
	size_t checked = 0;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		char other[64];

		if (v[i].bits < 12)
			continue;
		/* Odds that a change keeps >= 12 zero bits are 1 in 4096 per vector. */
		assert_false(pow_solution_ok(strcmp(v[i].action, "post") == 0 ? "reply" : "post",
		                             v[i].challenge, v[i].nonce, v[i].bits));
		snprintf(other, sizeof(other), "%s", v[i].challenge);
		other[0] = other[0] == 'A' ? 'B' : 'A';
		assert_false(pow_solution_ok(v[i].action, other, v[i].nonce, v[i].bits));
		checked++;
	}
	assert_true(checked >= 5);
}

/* ---- leading zero bits and nonce syntax ---------------------------------- */

static void pow_leading_zero_bits_counts_from_the_most_significant_bit(void **state)
{
	unsigned char d[32];

	(void)state;
	memset(d, 0, sizeof(d));
	assert_int_equal(pow_leading_zero_bits(d), 256);
	d[31] = 0x01;
	assert_int_equal(pow_leading_zero_bits(d), 255);
	d[0] = 0x80;
	assert_int_equal(pow_leading_zero_bits(d), 0);
	d[0] = 0x01;
	assert_int_equal(pow_leading_zero_bits(d), 7);
	d[0] = 0x00;
	d[1] = 0x00;
	d[2] = 0x40;
	assert_int_equal(pow_leading_zero_bits(d), 17);
	d[2] = 0xff;
	assert_int_equal(pow_leading_zero_bits(d), 16);
	memset(d, 0xff, sizeof(d));
	assert_int_equal(pow_leading_zero_bits(d), 0);
}

static void pow_solution_rejects_malformed_nonces_at_any_difficulty(void **state)
{
	static const char *const bad[] = {
		"", "123456789012345678901", "+1", "1a", " 1", "1 ", "-1", "0x1",
		"1:2", "１", "1\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (pow_solution_ok("post", "AAAAAAAAAAAAAAAAAAAAAA", bad[i], 0))
			fail_msg("nonce \"%s\" accepted", bad[i]);
	}
	assert_false(pow_solution_ok("post", "AAAAAAAAAAAAAAAAAAAAAA", NULL, 0));
	assert_false(pow_solution_ok(NULL, "AAAAAAAAAAAAAAAAAAAAAA", "1", 0));
	assert_false(pow_solution_ok("post", NULL, "1", 0));
}

static void pow_solution_difficulty_zero_accepts_and_out_of_range_refuses(void **state)
{
	(void)state;
	assert_true(pow_solution_ok("post", "AAAAAAAAAAAAAAAAAAAAAA", "0", 0));
	assert_true(pow_solution_ok("post", "AAAAAAAAAAAAAAAAAAAAAA", "12345678901234567890", 0));
	assert_false(pow_solution_ok("post", "AAAAAAAAAAAAAAAAAAAAAA", "1", 257));
	assert_false(pow_solution_ok("post", "AAAAAAAAAAAAAAAAAAAAAA", "1", 256));
	assert_false(pow_solution_ok("post", "AAAAAAAAAAAAAAAAAAAAAA", "1", -1));
}

static void pow_action_parse_knows_exactly_the_lower_case_names(void **state)
{
	(void)state;
	for (int a = 0; a < POW__MAX; a++)
		assert_int_equal(pow_action_parse(config_pow_name((enum pow_action)a)), a);
	assert_int_equal(pow_action_parse("register"), POW_REGISTER);
	assert_int_equal(pow_action_parse("community"), POW_COMMUNITY);
	assert_int_equal(pow_action_parse("Register"), POW_NONE);
	assert_int_equal(pow_action_parse("none"), POW_NONE);
	assert_int_equal(pow_action_parse(""), POW_NONE);
	assert_int_equal(pow_action_parse("post "), POW_NONE);
	assert_int_equal(pow_action_parse(NULL), POW_NONE);
}

/* ---- the adaptive rule --------------------------------------------------- */

static void pow_adaptive_extra_follows_the_documented_table(void **state)
{
	static const struct {
		uint64_t current, baseline;
		uint32_t min_rate;
		int max_extra, want;
	} rows[] = {
		{ 0, 0, 60, 8, 0 },
		{ 239, 0, 60, 8, 0 },          /* below 4 x min_rate */
		{ 240, 0, 60, 8, 1 },          /* exactly 4x */
		{ 479, 0, 60, 8, 1 },
		{ 480, 0, 60, 8, 2 },          /* 8x */
		{ 960, 0, 60, 8, 3 },          /* 16x */
		{ 1919, 0, 60, 8, 3 },
		{ 1920, 0, 60, 8, 4 },         /* 32x */
		{ 60u << 20, 0, 60, 8, 8 },    /* 2^20 x would be 19: capped */
		{ 60u << 20, 0, 60, 3, 3 },
		{ UINT64_MAX, 0, 1, 16, 16 },
		{ UINT64_MAX, 0, 1, 100, 62 }, /* 2^63 x ref is the most there is */
		{ 100000, 0, 60, 0, 0 },       /* max_extra 0: no adaptation */
		{ 100000, 0, 60, -1, 0 },
		{ 400, 100, 60, 8, 1 },        /* baseline above min_rate is the ref */
		{ 399, 100, 60, 8, 0 },
		{ 800, 100, 60, 8, 2 },
		{ 240, 10, 60, 8, 1 },         /* baseline below min_rate: min_rate is */
		{ 239, 10, 60, 8, 0 },
		{ 4, 0, 0, 8, 1 },             /* ref 0 is taken as 1 */
		{ 3, 0, 0, 8, 0 },
		{ UINT64_MAX, UINT64_MAX, 60, 8, 0 },
		{ UINT64_MAX, UINT64_MAX / 4, 60, 8, 1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int got = pow_adaptive_extra(rows[i].current, rows[i].baseline,
		                             rows[i].min_rate, rows[i].max_extra);

		if (got != rows[i].want)
			fail_msg("row %zu: current %llu baseline %llu min_rate %u max_extra %d: "
			         "got %d, want %d", i, (unsigned long long)rows[i].current,
			         (unsigned long long)rows[i].baseline, rows[i].min_rate,
			         rows[i].max_extra, got, rows[i].want);
	}
}

/* ---- the load ring and pow_difficulty ------------------------------------ */

struct fixture {
	struct shm_region *shm;
	struct config cfg;
};

static int setup_ring(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || (f->shm = shm_create()) == NULL) {
		free(f);
		return -1;
	}
	f->cfg.pow[POW_POST] = FLOOR;
	f->cfg.pow[POW_REGISTER] = FLOOR;
	f->cfg.pow[POW_LOGIN] = 0;
	f->cfg.pow_adapt_min_rate = MIN_RATE;
	f->cfg.pow_adapt_max_extra = 8;
	*state = f;
	return 0;
}

static int teardown_ring(void **state)
{
	struct fixture *f = *state;

	shm_destroy(f->shm);
	free(f);
	return 0;
}

static void note(struct fixture *f, enum pow_action a, uint64_t now_s, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		pow_note_verified(f->shm, a, now_s);
}

static int diff(const struct fixture *f, enum pow_action a, uint64_t now_s)
{
	return pow_difficulty(f->shm, &f->cfg, a, now_s);
}

static void pow_difficulty_floor_zero_stays_zero_under_any_load(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(diff(f, POW_LOGIN, T0), 0);
	note(f, POW_LOGIN, T0, 10000);
	assert_int_equal(diff(f, POW_LOGIN, T0 + 1), 0);
	assert_int_equal(diff(f, POW_NONE, T0 + 1), 0);
	pow_note_verified(f->shm, POW_NONE, T0);  /* ignored, no crash */
}

static void pow_difficulty_without_load_is_the_floor(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(diff(f, POW_POST, T0), FLOOR);
	assert_int_equal(diff(f, POW_POST, 0), FLOOR);  /* a zeroed ring at the epoch */
	assert_int_equal(diff(f, POW_POST, 59), FLOOR);
}

static void pow_difficulty_steady_load_stays_at_the_floor(void **state)
{
	struct fixture *f = *state;

	/*
	 * 30 a minute, six times min_rate: the first minute is a burst against
	 * no history, but once an hour of it is the baseline nothing changes,
	 * at any second of any minute.
	 */
	for (uint64_t m = 0; m < 180; m++) {
		for (uint64_t s = 0; s < 60; s += 2) {
			pow_note_verified(f->shm, POW_POST, T0 + m * MINUTE + s);
			if (m >= 62)
				assert_int_equal(diff(f, POW_POST, T0 + m * MINUTE + s), FLOOR);
		}
		if (m == 0)
			assert_int_equal(diff(f, POW_POST, T0 + 59), FLOOR + 1);
	}
}

static void pow_difficulty_burst_raises_it_by_doublings(void **state)
{
	struct fixture *f = *state;

	note(f, POW_POST, T0 + 10, 4 * MIN_RATE - 1);
	assert_int_equal(diff(f, POW_POST, T0 + 11), FLOOR);
	note(f, POW_POST, T0 + 11, 1);                      /* 4 x min_rate */
	assert_int_equal(diff(f, POW_POST, T0 + 12), FLOOR + 1);
	note(f, POW_POST, T0 + 12, 4 * MIN_RATE);           /* 8x */
	assert_int_equal(diff(f, POW_POST, T0 + 13), FLOOR + 2);
	note(f, POW_POST, T0 + 13, 8 * MIN_RATE);           /* 16x */
	assert_int_equal(diff(f, POW_POST, T0 + 14), FLOOR + 3);
	/* Other actions do not feel it. */
	assert_int_equal(diff(f, POW_REGISTER, T0 + 14), FLOOR);
}

static void pow_difficulty_previous_minute_fades_over_the_next(void **state)
{
	struct fixture *f = *state;

	note(f, POW_POST, T0 + 30, 8 * MIN_RATE);           /* 8x in minute 0 */
	assert_int_equal(diff(f, POW_POST, T0 + 59), FLOOR + 2);
	assert_int_equal(diff(f, POW_POST, T0 + MINUTE), FLOOR + 2);      /* weight 60/60 */
	assert_int_equal(diff(f, POW_POST, T0 + MINUTE + 30), FLOOR + 1); /* 30/60: 4x */
	assert_int_equal(diff(f, POW_POST, T0 + MINUTE + 31), FLOOR);     /* 29/60 */
	assert_int_equal(diff(f, POW_POST, T0 + 2 * MINUTE), FLOOR);      /* now baseline */
}

static void pow_difficulty_measures_against_the_baseline_hour(void **state)
{
	struct fixture *f = *state;
	uint64_t m0 = T0 + 100 * MINUTE;                     /* "now" minute start */

	/* 50 a minute over minutes m-2 .. m-61; minute m-1 is quiet. */
	for (uint64_t k = 2; k <= 61; k++)
		note(f, POW_POST, m0 - k * MINUTE, 50);
	/* Outside the hour (m-62): must not count, else the ref would be 150. */
	note(f, POW_POST, m0 - 62 * MINUTE, 6000);
	assert_int_equal(diff(f, POW_POST, m0), FLOOR);
	note(f, POW_POST, m0, 199);
	assert_int_equal(diff(f, POW_POST, m0 + 1), FLOOR);  /* 3.98 x baseline */
	note(f, POW_POST, m0, 1);
	assert_int_equal(diff(f, POW_POST, m0 + 1), FLOOR + 1);
	note(f, POW_POST, m0, 200);
	assert_int_equal(diff(f, POW_POST, m0 + 1), FLOOR + 2);
}

static void pow_difficulty_caps_at_max_extra_and_difficulty_max(void **state)
{
	struct fixture *f = *state;

	note(f, POW_POST, T0, MIN_RATE << 12);               /* 4096x: 11 extra bits */
	assert_int_equal(diff(f, POW_POST, T0 + 1), FLOOR + 8);
	f->cfg.pow_adapt_max_extra = 2;
	assert_int_equal(diff(f, POW_POST, T0 + 1), FLOOR + 2);
	f->cfg.pow_adapt_max_extra = 0;                      /* adaptation off */
	assert_int_equal(diff(f, POW_POST, T0 + 1), FLOOR);
	f->cfg.pow_adapt_max_extra = 16;
	f->cfg.pow[POW_POST] = 28;
	assert_int_equal(diff(f, POW_POST, T0 + 1), POW_DIFFICULTY_MAX);
	f->cfg.pow[POW_POST] = POW_DIFFICULTY_MAX;
	assert_int_equal(diff(f, POW_POST, T0 + 1), POW_DIFFICULTY_MAX);
}

static void pow_difficulty_ignores_stale_slots_hours_later(void **state)
{
	struct fixture *f = *state;
	const uint64_t lap = SHM_POW_MINUTES * MINUTE;       /* same slot again */

	note(f, POW_POST, T0, 1000);
	assert_true(diff(f, POW_POST, T0 + 1) > FLOOR);
	assert_int_equal(diff(f, POW_POST, T0 + 3 * HOUR), FLOOR);
	assert_int_equal(diff(f, POW_POST, T0 + lap), FLOOR);
	assert_int_equal(diff(f, POW_POST, T0 + lap + 1), FLOOR);
	/* Counting in the old slot starts over instead of adding to 1000. */
	note(f, POW_POST, T0 + lap, 4 * MIN_RATE - 1);
	assert_int_equal(diff(f, POW_POST, T0 + lap + 1), FLOOR);
	assert_int_equal(atomic_load(&f->shm->pow_load[POW_POST][(T0 + lap) / MINUTE %
	                                                         SHM_POW_MINUTES].count),
	                 4 * MIN_RATE - 1);
	/* A clock stepped back a lap does not wipe the newer minute. */
	note(f, POW_POST, T0, 5);
	assert_int_equal(atomic_load(&f->shm->pow_load[POW_POST][T0 / MINUTE %
	                                                         SHM_POW_MINUTES].minute),
	                 (T0 + lap) / MINUTE);
	assert_int_equal(diff(f, POW_POST, T0 + 1), FLOOR);
}

#define CHILDREN 4
#define PER_CHILD 20000

static void pow_note_verified_counts_exactly_from_several_processes(void **state)
{
	struct fixture *f = *state;
	pid_t pids[CHILDREN];
	const struct shm_pow_minute *slot =
		&f->shm->pow_load[POW_POST][(T0 + 5) / MINUTE % SHM_POW_MINUTES];

	/* The slot is taken over once, before the race; after that no count is lost. */
	pow_note_verified(f->shm, POW_POST, T0 + 5);
	for (int i = 0; i < CHILDREN; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			for (int k = 0; k < PER_CHILD; k++)
				pow_note_verified(f->shm, POW_POST, T0 + 5);
			_exit(0);
		}
	}
	for (int i = 0; i < CHILDREN; i++) {
		int st;

		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	assert_int_equal(atomic_load(&slot->count), 1 + CHILDREN * PER_CHILD);
	assert_int_equal(atomic_load(&slot->minute), (T0 + 5) / MINUTE);
}

#define RING_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_ring, teardown_ring)

static void busy(struct fixture *f, uint64_t now_s, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		pow_note_hash_busy(f->shm, now_s);
}

static void pow_busy_slots_raise_login_and_register_only_while_they_stay_busy(void **state)
{
	struct fixture *f = *state;
	int base = FLOOR > 12 ? FLOOR : 12;

	f->cfg.pwhash_busy_pow = 12;
	busy(f, T0 + 10, POW_BUSY_MIN - 1);
	assert_int_equal(diff(f, POW_LOGIN, T0 + 11), 0);
	assert_int_equal(pow_busy_difficulty(f->shm, &f->cfg, POW_LOGIN, T0 + 11), 0);
	busy(f, T0 + 11, 1);                                 /* saturated */
	assert_int_equal(diff(f, POW_LOGIN, T0 + 12), 12);   /* floor 0 still rises */
	assert_int_equal(diff(f, POW_REGISTER, T0 + 12), base);
	assert_int_equal(diff(f, POW_POST, T0 + 12), FLOOR); /* other actions do not feel it */
	busy(f, T0 + 12, 4 * MIN_RATE);                      /* and every doubling adds a bit */
	assert_int_equal(diff(f, POW_LOGIN, T0 + 13), 13);
	busy(f, T0 + 13, 4 * MIN_RATE);
	assert_int_equal(diff(f, POW_LOGIN, T0 + 14), 14);
	/* It fades with the sliding minute once the slots are no longer busy. */
	assert_int_equal(diff(f, POW_LOGIN, T0 + MINUTE + 54), 12);   /* 44 x 6/60 = 4 */
	assert_int_equal(diff(f, POW_LOGIN, T0 + MINUTE + 55), 0);    /* 44 x 5/60 = 3 */
	assert_int_equal(diff(f, POW_LOGIN, T0 + 2 * MINUTE), 0);
	assert_int_equal(diff(f, POW_REGISTER, T0 + 2 * MINUTE), FLOOR);
	/* SOTTO_PWHASH_BUSY_POW=0 turns it off. */
	busy(f, T0 + 2 * MINUTE, 100);
	assert_int_equal(diff(f, POW_LOGIN, T0 + 2 * MINUTE + 1), 15);  /* 100 = 20 x 5: +3 */
	f->cfg.pwhash_busy_pow = 0;
	assert_int_equal(diff(f, POW_LOGIN, T0 + 2 * MINUTE + 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pow_golden_vectors_digest_matches_hashlib),
		cmocka_unit_test(pow_solution_ok_holds_at_exactly_the_vector_bits_and_fails_one_more),
		cmocka_unit_test(pow_solution_is_bound_to_action_and_challenge),
		cmocka_unit_test(pow_leading_zero_bits_counts_from_the_most_significant_bit),
		cmocka_unit_test(pow_solution_rejects_malformed_nonces_at_any_difficulty),
		cmocka_unit_test(pow_solution_difficulty_zero_accepts_and_out_of_range_refuses),
		cmocka_unit_test(pow_action_parse_knows_exactly_the_lower_case_names),
		cmocka_unit_test(pow_adaptive_extra_follows_the_documented_table),
		RING_TEST(pow_difficulty_floor_zero_stays_zero_under_any_load),
		RING_TEST(pow_difficulty_without_load_is_the_floor),
		RING_TEST(pow_difficulty_steady_load_stays_at_the_floor),
		RING_TEST(pow_difficulty_burst_raises_it_by_doublings),
		RING_TEST(pow_difficulty_previous_minute_fades_over_the_next),
		RING_TEST(pow_difficulty_measures_against_the_baseline_hour),
		RING_TEST(pow_difficulty_caps_at_max_extra_and_difficulty_max),
		RING_TEST(pow_difficulty_ignores_stale_slots_hours_later),
		RING_TEST(pow_note_verified_counts_exactly_from_several_processes),
		RING_TEST(pow_busy_slots_raise_login_and_register_only_while_they_stay_busy),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
