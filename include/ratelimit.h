/*
 * ratelimit.h — GCRA rate limiting in one Redis Lua script.
 *
 * Keys are keyed hashes (never raw IPs or ids): the client's IP prefix
 * (IPv4 address; IPv6 nested /64, /56, /48 buckets with 1x, 4x, 16x the
 * limit) and, when the route has an account, the account. All keys of a
 * decision are checked and updated atomically in one EVALSHA call
 * (reloaded on NOSCRIPT).
 *
 * A worker that keeps seeing the same keys does not ask Redis for every
 * request: an allowed EVALSHA may also reserve up to 32 more requests for
 * the calling worker, which it then admits locally for up to a second.
 * Reserved requests are charged in Redis before they are admitted, so the
 * limit holds across workers; see ratelimit.c for the invariant and its
 * bounds.
 */
#ifndef SOTTO_RATELIMIT_H
#define SOTTO_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct cache;
struct arena;

struct ratelimit_result {
	bool allowed;
	uint32_t limit;        /* RateLimit-Limit */
	uint32_t remaining;    /* RateLimit-Remaining */
	uint32_t reset_s;      /* RateLimit-Reset: seconds until fully replenished */
	uint32_t retry_after_s;/* Retry-After when !allowed, >= 1 */
};

/*
 * GCRA arithmetic, pure (also used to interpret the script's answer).
 * tat_us: theoretical arrival time stored for the key (0 = none), now_us:
 * current time. On allow, *new_tat_us is what to store. Times in microseconds.
 */
void ratelimit_gcra(const struct rate_limit *lim, uint64_t tat_us,
                    uint64_t now_us, uint64_t *new_tat_us,
                    struct ratelimit_result *out);

/*
 * Bucket key suffixes for an IP address (textual, as nginx gives it):
 * writes up to 3 binary prefixes (with a domain tag, e.g. "v4/32" + 4 bytes,
 * "v6/64" + 8 bytes) into out. IPv4-mapped IPv6 counts as IPv4.
 * Returns how many buckets (1 for IPv4, 3 for IPv6), or -1 if unparsable.
 * multiplier[i] gets each bucket's limit multiplier (1, 4, 16).
 */
struct ip_bucket {
	unsigned char bytes[24];
	size_t len;
	uint32_t multiplier;
};
int ratelimit_ip_buckets(const char *ip, struct ip_bucket out[3]);

/*
 * Take one token of class cls for this request's IP (and account when
 * account_id != NULL). hmac_key hashes the bucket ids. workers: the pool's
 * worker count; each local allowance is at most 1/(2 * workers) of what
 * the most limited key has left (workers < 1: no local allowance, every
 * call asks Redis). Returns 0 with *out filled, or -1 when Redis is
 * unavailable (the caller chooses fail open or closed). A class with
 * count 0 is always allowed without a Redis call. The local allowances
 * live in the calling process (one table per worker, emptied in a forked
 * child); not thread-safe.
 */
int ratelimit_take(struct cache *c, struct arena *a, enum rate_class cls,
                   const struct rate_limit *lim, const unsigned char *hmac_key,
                   const char *ip, const char *account_id, int workers,
                   struct ratelimit_result *out) __attribute__((warn_unused_result));

#endif
