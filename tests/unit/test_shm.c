/*
 * test_shm.c — the pool-wide figures: status mapping, latency buckets, the
 * latency ring's percentiles, and counting from several processes at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "router.h"
#include "shm.h"

static int setup_region(void **state)
{
	struct shm_region *r = shm_create();

	if (r == NULL)
		return -1;
	*state = r;
	return 0;
}

static int teardown_region(void **state)
{
	shm_destroy(*state);
	return 0;
}

static void test_shm_create_starts_zeroed(void **state)
{
	const struct shm_region *r = *state;
	const unsigned char *b = (const unsigned char *)r;
	size_t i;

	for (i = 0; i < sizeof(*r); i++)
		if (b[i] != 0)
			fail_msg("byte %zu of a fresh region is %u", i, b[i]);
}

static void test_status_index_maps_each_listed_code_and_back(void **state)
{
	static const int listed[] = {
#define X(code) code,
		SHM_STATUS_LIST
#undef X
	};
	size_t i;

	(void)state;
	assert_int_equal(sizeof(listed) / sizeof(listed[0]), SHM_STATUS_OTHER);
	for (i = 0; i < sizeof(listed) / sizeof(listed[0]); i++) {
		enum shm_status s = shm_status_index(listed[i]);

		assert_int_equal(s, (int)i);
		assert_int_equal(shm_status_code(s), listed[i]);
	}
	assert_int_equal(shm_status_index(200), SHM_STATUS_200);
	assert_int_equal(shm_status_index(503), SHM_STATUS_503);
}

static void test_status_index_sends_unlisted_codes_to_other(void **state)
{
	static const int unlisted[] = { 0, -1, 100, 203, 418, 451, 501, 599, 999, 20000 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(unlisted) / sizeof(unlisted[0]); i++)
		assert_int_equal(shm_status_index(unlisted[i]), SHM_STATUS_OTHER);
	assert_int_equal(shm_status_code(SHM_STATUS_OTHER), 0);
	assert_int_equal(shm_status_code(SHM_STATUS__MAX), 0);
}

static void test_record_counts_route_status_and_unrouted_row(void **state)
{
	struct shm_region *r = *state;
	const int last = (int)route_count - 1;

	assert_true(route_count >= 1 && route_count <= SHM_MAX_ROUTES);
	shm_record(r, 0, 200, 10);
	shm_record(r, 0, 200, 10);
	shm_record(r, last, 418, 10);
	shm_record(r, -1, 404, 10);
	shm_record(r, (int)route_count, 405, 10); /* not a route: unrouted too */
	shm_record(r, SHM_MAX_ROUTES + 7, 405, 10);

	assert_int_equal(r->requests[0][SHM_STATUS_200], 2);
	assert_int_equal(r->requests[last][SHM_STATUS_OTHER], 1);
	/* shm.h: row route_count holds the unrouted requests. */
	assert_int_equal(r->requests[route_count][SHM_STATUS_404], 1);
	assert_int_equal(r->requests[route_count][SHM_STATUS_405], 2);
	assert_int_equal(r->latency_count, 6);
	assert_int_equal(r->latency_sum_us, 60);
	assert_int_equal(r->ring_next, 6);
}

static void test_record_puts_latency_in_first_bucket_not_exceeded(void **state)
{
	struct shm_region *r = *state;

	shm_record(r, 0, 200, 0);
	shm_record(r, 0, 200, 250);         /* on the bound: that bucket */
	shm_record(r, 0, 200, 251);
	shm_record(r, 0, 200, 2500000);
	shm_record(r, 0, 200, 2500001);     /* past the last bound */
	shm_record(r, 0, 200, UINT32_MAX);

	assert_int_equal(r->latency_buckets[SHM_BUCKET_250], 2);
	assert_int_equal(r->latency_buckets[SHM_BUCKET_500], 1);
	assert_int_equal(r->latency_buckets[SHM_BUCKET_2500000], 1);
	assert_int_equal(r->latency_buckets[SHM_BUCKET_INF], 2);
	assert_int_equal(r->latency_sum_us,
	                 0u + 250 + 251 + 2500000 + 2500001 + (uint64_t)UINT32_MAX);
}

static void test_percentile_of_empty_ring_is_zero(void **state)
{
	size_t n = 123;

	assert_int_equal(shm_latency_percentile(*state, 99.0, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(shm_latency_percentile(NULL, 50.0, &n), 0);
	assert_int_equal(n, 0);
}

static void test_percentile_under_ring_size_uses_every_sample(void **state)
{
	struct shm_region *r = *state;
	uint32_t v;
	size_t n = 0;

	/* 1..100 in a scrambled order (37 is coprime with 100). */
	for (v = 0; v < 100; v++)
		shm_record(r, 0, 200, (v * 37) % 100 + 1);

	assert_int_equal(shm_latency_percentile(r, 50.0, &n), 50);
	assert_int_equal(n, 100);
	assert_int_equal(shm_latency_percentile(r, 99.0, NULL), 99);
	assert_int_equal(shm_latency_percentile(r, 99.5, NULL), 100);
	assert_int_equal(shm_latency_percentile(r, 100.0, NULL), 100);
	assert_int_equal(shm_latency_percentile(r, 0.0, NULL), 1);
	assert_int_equal(shm_latency_percentile(r, 1.0, NULL), 1);
	assert_int_equal(shm_latency_percentile(r, 1.5, NULL), 2);
	/* Out-of-range p is clamped rather than read out of bounds. */
	assert_int_equal(shm_latency_percentile(r, -5.0, NULL), 1);
	assert_int_equal(shm_latency_percentile(r, 250.0, NULL), 100);
}

static void test_percentile_over_ring_size_keeps_only_newest(void **state)
{
	struct shm_region *r = *state;
	uint32_t v;
	size_t n = 0;

	/* 300 slow requests that must have been pushed out of the ring ... */
	for (v = 0; v < 300; v++)
		shm_record(r, 0, 200, 1000000);
	/* ... by 700 newer ones, of which only 201..700 remain. */
	for (v = 1; v <= 700; v++)
		shm_record(r, 0, 200, v);

	assert_int_equal(r->ring_next, 1000);
	assert_int_equal(shm_latency_percentile(r, 100.0, &n), 700);
	assert_int_equal(n, SHM_LATENCY_RING);
	assert_int_equal(shm_latency_percentile(r, 0.0, NULL), 201);
	assert_int_equal(shm_latency_percentile(r, 50.0, NULL), 450);
	assert_int_equal(shm_latency_percentile(r, 99.0, NULL), 695);
	assert_int_equal(r->latency_count, 1000);
}

/* Fork a child that records count requests, each on route, then exits. */
static pid_t spawn_recorder(struct shm_region *r, int route, int status, int count)
{
	pid_t pid = fork();
	int i;

	if (pid == 0) {
		for (i = 0; i < count; i++)
			shm_record(r, route, status, (uint32_t)(i % 1000));
		_exit(0);
	}
	return pid;
}

static void test_record_from_two_processes_lands_in_same_counters(void **state)
{
	struct shm_region *r = *state;
	const int count = 20000;
	pid_t a, b;
	int st;

	a = spawn_recorder(r, 0, 200, count);
	b = spawn_recorder(r, 0, 200, count);
	assert_true(a > 0 && b > 0);
	assert_int_equal(waitpid(a, &st, 0), a);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(waitpid(b, &st, 0), b);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* No increment lost although both children raced on every counter. */
	assert_int_equal(r->requests[0][SHM_STATUS_200], 2 * count);
	assert_int_equal(r->latency_count, 2 * count);
	assert_int_equal(r->ring_next, 2 * count);
	assert_int_equal(r->latency_sum_us, 2 * (uint64_t)(count / 1000) * (999 * 1000 / 2));
}

/* A worker killed while hashing a password must not keep its hash slot forever. */
static void test_worker_gone_returns_a_held_password_hash_slot(void **state)
{
	struct shm_region *r = *state;

	atomic_store(&r->pwhash_inflight, 2);
	atomic_store(&r->workers[3].pid, 1234);
	atomic_store(&r->workers[3].busy, 1);
	atomic_store(&r->workers[3].hashing, 1);
	shm_worker_gone(r, 3);
	assert_int_equal(atomic_load(&r->pwhash_inflight), 1);
	assert_int_equal(atomic_load(&r->workers[3].hashing), 0);
	assert_int_equal(atomic_load(&r->workers[3].pid), 0);
	assert_int_equal(atomic_load(&r->workers[3].busy), 0);
	/* A slot not held is not given back twice. */
	shm_worker_gone(r, 3);
	shm_worker_gone(r, 4);
	assert_int_equal(atomic_load(&r->pwhash_inflight), 1);
}

#define REGION_TEST(f) cmocka_unit_test_setup_teardown(f, setup_region, teardown_region)

int main(void)
{
	const struct CMUnitTest tests[] = {
		REGION_TEST(test_shm_create_starts_zeroed),
		cmocka_unit_test(test_status_index_maps_each_listed_code_and_back),
		cmocka_unit_test(test_status_index_sends_unlisted_codes_to_other),
		REGION_TEST(test_record_counts_route_status_and_unrouted_row),
		REGION_TEST(test_record_puts_latency_in_first_bucket_not_exceeded),
		REGION_TEST(test_percentile_of_empty_ring_is_zero),
		REGION_TEST(test_percentile_under_ring_size_uses_every_sample),
		REGION_TEST(test_percentile_over_ring_size_keeps_only_newest),
		REGION_TEST(test_record_from_two_processes_lands_in_same_counters),
		REGION_TEST(test_worker_gone_returns_a_held_password_hash_slot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
