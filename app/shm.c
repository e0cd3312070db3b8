/*
 * shm.c — pool-wide figures in one anonymous shared mapping.
 *
 * The master maps the region before the first fork; every worker inherits
 * the mapping and updates it with relaxed atomics. Nothing here takes a
 * lock, so a reader (/metrics, /admin/overview) may see a snapshot that is
 * a few requests out of step between two counters; that is accepted.
 *
 * Layout decisions readers rely on:
 * - Unrouted requests (route_index -1, or not an index into route_table)
 *   are counted in row route_count of requests[][], as shm.h says.
 * - latency_buckets[] holds per-bucket counts (not cumulative): a request
 *   is counted once, in the first bucket whose bound it does not exceed.
 *   A Prometheus exporter sums them into cumulative "le" buckets.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "router.h"
#include "shm.h"

static const int shm_status_codes[SHM_STATUS__MAX] = {
#define X(code) [SHM_STATUS_##code] = code,
	SHM_STATUS_LIST
#undef X
	[SHM_STATUS_OTHER] = 0,
};

static const uint32_t shm_bucket_bounds_us[SHM_BUCKET_INF] = {
#define X(us) [SHM_BUCKET_##us] = us,
	SHM_LATENCY_BUCKETS_US
#undef X
};

/*
 * Map a zeroed region of sizeof(struct shm_region) bytes, shared with every
 * process forked afterwards. Returns NULL with errno set when mmap fails.
 * The caller releases it with shm_destroy().
 */
struct shm_region *shm_create(void)
{
	void *p;

	/* Anonymous mappings start zero-filled, which is every counter's start. */
	p = mmap(NULL, sizeof(struct shm_region), PROT_READ | PROT_WRITE,
	         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	return p;
}

void shm_destroy(struct shm_region *r)
{
	if (r != NULL)
		(void)munmap(r, sizeof(*r));
}

enum shm_status shm_status_index(int status)
{
	switch (status) {
#define X(code) case code: return SHM_STATUS_##code;
	SHM_STATUS_LIST
#undef X
	default:
		return SHM_STATUS_OTHER;
	}
}

int shm_status_code(enum shm_status s)
{
	if ((int)s < 0 || s >= SHM_STATUS__MAX)
		return 0;
	return shm_status_codes[s];
}

static enum shm_bucket shm_bucket_index(uint32_t latency_us)
{
	int i;

	for (i = 0; i < SHM_BUCKET_INF; i++)
		if (latency_us <= shm_bucket_bounds_us[i])
			return (enum shm_bucket)i;
	return SHM_BUCKET_INF;
}

/*
 * Count one finished request: its route x status cell, its latency bucket,
 * the latency sum and count, and one slot of the latency ring. Safe to call
 * from any process sharing r; r NULL is a no-op (tests, tools).
 */
void shm_record(struct shm_region *r, int route_index, int status,
                uint32_t latency_us)
{
	size_t routes = route_count < SHM_MAX_ROUTES ? route_count : SHM_MAX_ROUTES;
	size_t row;
	uint64_t slot;

	if (r == NULL)
		return;
	row = (route_index >= 0 && (size_t)route_index < routes) ?
	      (size_t)route_index : routes;

	atomic_fetch_add_explicit(&r->requests[row][shm_status_index(status)], 1,
	                          memory_order_relaxed);
	atomic_fetch_add_explicit(&r->latency_buckets[shm_bucket_index(latency_us)],
	                          1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->latency_sum_us, latency_us,
	                          memory_order_relaxed);
	atomic_fetch_add_explicit(&r->latency_count, 1, memory_order_relaxed);

	/* Claiming the slot with one fetch_add keeps two writers off one slot. */
	slot = atomic_fetch_add_explicit(&r->ring_next, 1, memory_order_relaxed);
	atomic_store_explicit(&r->ring_us[slot % SHM_LATENCY_RING], latency_us,
	                      memory_order_relaxed);
}

static int shm_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/*
 * Nearest-rank percentile over the ring: the smallest latency such that at
 * least p% of the sampled requests took no longer. p is clamped to 0..100
 * (0 gives the minimum, 100 the maximum). Returns 0 with *n = 0 when nothing
 * was recorded yet. n may be NULL.
 */
uint32_t shm_latency_percentile(const struct shm_region *r, double p, size_t *n)
{
	uint32_t sorted[SHM_LATENCY_RING];
	uint64_t written;
	size_t count, i, rank;
	double want;

	if (n != NULL)
		*n = 0;
	if (r == NULL)
		return 0;
	written = atomic_load_explicit(&r->ring_next, memory_order_relaxed);
	count = written < SHM_LATENCY_RING ? (size_t)written : SHM_LATENCY_RING;
	if (count == 0)
		return 0;

	/* Until the ring has wrapped, only slots [0, count) hold samples. */
	for (i = 0; i < count; i++)
		sorted[i] = atomic_load_explicit(&r->ring_us[i], memory_order_relaxed);
	qsort(sorted, count, sizeof(sorted[0]), shm_cmp_u32);

	if (!(p > 0.0))             /* also catches NaN */
		p = 0.0;
	if (p > 100.0)
		p = 100.0;
	want = p * (double)count / 100.0; /* exact for whole-number p */
	rank = (size_t)want;
	if ((double)rank < want)
		rank++;                 /* ceil without libm */
	if (rank == 0)
		rank = 1;
	if (n != NULL)
		*n = count;
	return sorted[rank - 1];
}

void shm_worker_gone(struct shm_region *r, int slot)
{
	struct shm_worker *w = &r->workers[slot];

	atomic_store_explicit(&w->pid, 0, memory_order_relaxed);
	atomic_store_explicit(&w->busy, 0, memory_order_relaxed);
	if (atomic_exchange(&w->hashing, 0) != 0)
		atomic_fetch_sub(&r->pwhash_inflight, 1);
	if (atomic_exchange(&w->waiting_proved, 0) != 0)
		atomic_fetch_sub(&r->pwhash_waiting_proved, 1);
}
