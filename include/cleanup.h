/*
 * cleanup.h — `sotto cleanup`: delete what has expired.
 *
 * Unacknowledged events older than SOTTO_EVENT_TTL_DAYS (day < today -
 * ttl), IP bans whose expires_day has passed and the PostgreSQL copies of
 * revocations whose token has expired. Challenges and tickets live in
 * Redis with their own TTL and need nothing. Run daily by
 * sotto-cleanup.timer, and by the development stack at `up` and hourly.
 * Idempotent and safe to run at any time, on every host at once (one run
 * holds an advisory lock, the others see it and stop), in batches so that
 * no transaction holds many rows.
 */
#ifndef SOTTO_CLEANUP_H
#define SOTTO_CLEANUP_H

#include <stdint.h>

struct config;

#define CLEANUP_BATCH 5000   /* rows per DELETE transaction */
/* Session advisory lock of a cleanup run: "sotto-c" in ASCII. */
#define CLEANUP_LOCK_KEY "32492168282058083"

/*
 * Run one cleanup as of day today (util_today() outside tests). Prints one
 * summary line to stdout. 0 done, -1 failed (message on stderr).
 */
int cleanup_run(const struct config *cfg, int64_t today) __attribute__((warn_unused_result));

#endif
