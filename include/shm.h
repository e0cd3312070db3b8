/*
 * shm.h — pool-wide figures in shared memory.
 *
 * The master maps one region (MAP_SHARED | MAP_ANONYMOUS) before forking,
 * so every worker writes into the same counters and /metrics and
 * /admin/overview describe the whole pool. Counters are updated with
 * relaxed atomics; readers accept a slightly torn snapshot.
 */
#ifndef SOTTO_SHM_H
#define SOTTO_SHM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

#define SHM_LATENCY_RING 500
#define SHM_MAX_ROUTES 80      /* route table size must not exceed this */
#define SHM_MAX_WORKERS 256

/* Status codes counted individually; anything else lands in "other". */
#define SHM_STATUS_LIST \
	X(200) X(201) X(202) X(204) X(301) X(302) X(304) X(400) X(401) X(403) \
	X(404) X(405) X(409) X(410) X(413) X(415) X(422) X(428) X(429) X(500) \
	X(502) X(503) X(504)

enum shm_status {
#define X(code) SHM_STATUS_##code,
	SHM_STATUS_LIST
#undef X
	SHM_STATUS_OTHER,
	SHM_STATUS__MAX
};

/* Latency histogram bucket upper bounds, in microseconds (Prometheus "le"). */
#define SHM_LATENCY_BUCKETS_US \
	X(250) X(500) X(1000) X(2500) X(5000) X(10000) X(25000) X(50000) \
	X(100000) X(250000) X(500000) X(1000000) X(2500000)

enum shm_bucket {
#define X(us) SHM_BUCKET_##us,
	SHM_LATENCY_BUCKETS_US
#undef X
	SHM_BUCKET_INF,
	SHM_BUCKET__MAX
};

struct shm_worker {
	_Atomic pid_t pid;          /* 0 = slot free */
	_Atomic uint64_t requests;
	_Atomic int busy;           /* inside a request now */
	_Atomic int hashing;        /* holds a password-hash slot (see password.h) */
	_Atomic int waiting_proved; /* waits for a hash slot with a solved proof of work */
	_Atomic int64_t ipban_loaded; /* bans in its cached list (ipban.h); -1 before its first load */
	_Atomic uint64_t heap_used;   /* malloc'ed bytes in use (mallinfo2), updated once a second */
	_Atomic uint64_t heap_free;   /* bytes malloc holds but has not handed out */
};

/*
 * Proof-of-work load: proofs verified per action, one counter per
 * minute in a ring (see pow.h). A slot whose minute is not the one
 * asked for counts as zero.
 */
#define SHM_POW_MINUTES 64

struct shm_pow_minute {
	_Atomic uint64_t minute;    /* minutes since the epoch this slot counts */
	_Atomic uint32_t count;
};

/* Slots of viewers' vote generations: viewers sharing one only refetch more often. */
#define SHM_VOTE_SLOTS 4096

struct shm_region {
	/* route index (route_count = unrouted: 404/405/OPTIONS/early errors) x status */
	_Atomic uint64_t requests[SHM_MAX_ROUTES + 1][SHM_STATUS__MAX];
	_Atomic uint64_t latency_buckets[SHM_BUCKET__MAX];
	_Atomic uint64_t latency_sum_us;
	_Atomic uint64_t latency_count;

	/* ring of the last SHM_LATENCY_RING request latencies, microseconds */
	_Atomic uint64_t ring_next;                 /* total ever written */
	_Atomic uint32_t ring_us[SHM_LATENCY_RING];

	_Atomic int workers_configured;
	_Atomic int workers_alive;
	_Atomic uint64_t worker_restarts;
	_Atomic uint64_t ratelimit_fail_open;       /* reads let through with Redis down */
	_Atomic uint64_t events_publish_failed;     /* nchan publishes that failed (events.c) */
	_Atomic uint64_t reloads;

	_Atomic uint64_t content_gen;               /* bumped when posts vanish or appear (feed_cache.h) */
	/* bumped when a viewer in slot (account pk % SHM_VOTE_SLOTS) votes (feed_cache.h) */
	_Atomic uint64_t vote_gen[SHM_VOTE_SLOTS];
	_Atomic int pwhash_inflight;                /* password hashes running now, pool-wide */
	_Atomic int pwhash_waiting_proved;          /* waiters served first (password.h) */
	struct shm_pow_minute pow_load[POW__MAX][SHM_POW_MINUTES];
	/* password checks that found every hash slot busy, per minute (pow.h) */
	struct shm_pow_minute pwhash_busy[SHM_POW_MINUTES];

	/* IP bans (ipban.h): bumped after every committed change, so each
	 * worker reloads its cached list at its next request */
	_Atomic uint64_t ipban_generation;
	_Atomic uint64_t ipban_load_failures;       /* ban list loads that failed */

	struct shm_worker workers[SHM_MAX_WORKERS];
};

/* Map a zeroed region shared across fork. NULL on failure (errno set). */
struct shm_region *shm_create(void);
void shm_destroy(struct shm_region *r);

/*
 * Free the slot of a reaped worker: no pid, not busy, and a password-hash
 * slot it held (or its place among the first-served waiters) when it died
 * goes back to the pool.
 */
void shm_worker_gone(struct shm_region *r, int slot);

/* Index for a status code (SHM_STATUS_OTHER when not listed), and back. */
enum shm_status shm_status_index(int status);
int shm_status_code(enum shm_status s); /* 0 for OTHER */

/* Record one finished request. route_index may be -1 (unrouted). */
void shm_record(struct shm_region *r, int route_index, int status,
                uint32_t latency_us);

/*
 * Percentile p (0..100) of the latencies in the ring, in microseconds, over
 * at most SHM_LATENCY_RING most recent requests; *n gets how many were used.
 */
uint32_t shm_latency_percentile(const struct shm_region *r, double p, size_t *n);

#endif
