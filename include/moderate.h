/*
 * moderate.h — `sotto moderate`: the automatic classifier, a long-running
 * process of its own (systemd/sotto-moderate.service), off the request
 * path.
 *
 * Work list: sql/006's mod_scan, a row per new post and reply with score
 * NULL. The moderator looks every MODERATE_IDLE_MS while the list is
 * empty and takes batches back to back while it is not. (No NOTIFY: a
 * notifying transaction holds a database-wide lock through its commit,
 * so every post would commit, and wait for its WAL flush, one at a time;
 * sql/011.) Each batch is one transaction:
 *
 *   take up to SOTTO_MODERATION_BATCH pending rows, oldest first
 *     (FOR UPDATE OF mod_scan SKIP LOCKED: several moderators share the
 *     list, each row goes to exactly one of them),
 *   open each body with its author's data key, score it (classify.h,
 *     and max() with the external command of modcmd.h when set),
 *   write mod_scan.score, and at or above SOTTO_MODERATION_THRESHOLD
 *     hold the post (status 0 -> 1) and queue a pending mod_items row
 *     (source 2 "auto"; ON CONFLICT on mod_items_pending: at most one),
 *   NOTIFY sotto_content when a post was held (feed caches), COMMIT.
 *
 * A committed score is final, so no post is scored twice; a batch that
 * does not commit (PostgreSQL went away, SIGTERM) is taken again later
 * and the external command may then see its posts again. Lock order:
 * the mod_scan row, then the post row; accounts are never locked. A post
 * deleted meanwhile disappears with its mod_scan row (ON DELETE CASCADE).
 *
 * A body that cannot be opened (its author's master key version is no
 * longer configured) is scored 0 and logged, so it cannot block the list.
 */
#ifndef SOTTO_MODERATE_H
#define SOTTO_MODERATE_H

#define MODERATE_IDLE_MS 200           /* look for work this often while there is none */
#define MODERATE_SWEEP_MS 1000         /* take from the list's beginning again (moderate.c) */
#define MODERATE_RETRY_MIN_MS 250      /* database retry backoff, doubling */
#define MODERATE_RETRY_MAX_MS 4000

/*
 * The whole subcommand: load and validate the configuration and the
 * rules file, then work until SIGTERM or SIGINT (the batch in progress
 * is rolled back). Returns the exit status: 0 after a signal, 1 when it
 * cannot start (configuration, rules file, out of memory).
 */
int moderate_run(void);

#endif
