/*
 * cleanup.h — `sotto cleanup`: delete what has expired.
 *
 * Unacknowledged events older than SOTTO_EVENT_TTL_DAYS (day < today -
 * ttl) and IP bans whose expires_day has passed; then account_keys is
 * rewritten (VACUUM FULL), so that the wrapped data keys of deleted
 * accounts no longer sit in its heap pages. Challenges, tickets and
 * revocations live in Redis with their own TTL and need nothing. Run daily
 * by sotto-cleanup.timer, and by the development stack at `up` and hourly.
 * Idempotent and safe to run at any time, in batches so that no
 * transaction holds many rows.
 */
#ifndef SOTTO_CLEANUP_H
#define SOTTO_CLEANUP_H

#include <stdint.h>

struct config;

#define CLEANUP_BATCH 5000   /* rows per DELETE transaction */

/*
 * Run one cleanup as of day today (util_today() outside tests). Prints one
 * summary line to stdout. 0 done, -1 failed (message on stderr).
 */
int cleanup_run(const struct config *cfg, int64_t today) __attribute__((warn_unused_result));

#endif
