/*
 * benchdata.h — `sotto bench-data <n_posts> [n_accounts]`: synthetic
 * accounts, posts, replies and votes for benchmarks and scale checks,
 * stored exactly as the server stores its own.
 *
 * Accounts are password accounts (one shared Argon2id hash of a random
 * password nobody keeps, so none of them can log in), with random ids
 * found through auth_id_hash(), the id sealed and the data key wrapped as
 * POST /auth/register does. Post bodies (40..400 characters of words)
 * are sealed with the author's data key for the field
 * { "posts", "body", row = the post's public id, owner = author pk }.
 * Top-level posts spread evenly over the last 365 days in pk order (newest
 * last); about one in eleven rows is a reply to a recent post of the same
 * batch; one visible top-level post in five gets 1..5 votes. Accounts
 * start with trust 0.30..0.70; a fifth of them only ever get down-votes.
 * Rows are loaded with COPY in short transactions, so the schema's
 * triggers keep score, rank, reply_count and trust as they would for real
 * requests. Communities are not generated.
 *
 * The work is split between jobs (processes, one connection each), each
 * with its own share of the accounts, whose posts it writes and who vote
 * on them: jobs never wait for each other's row locks. Days still rise
 * with pk within each job; across jobs the pk ranges interleave.
 *
 * It writes into cfg->database_url and refuses to run unless SOTTO_DEV=1
 * (a development or bench stack): it is not meant for a real database.
 */
#ifndef SOTTO_BENCHDATA_H
#define SOTTO_BENCHDATA_H

struct config;

#define BENCHDATA_DEFAULT_ACCOUNTS 100
#define BENCHDATA_MAX_POSTS 100000000L
#define BENCHDATA_MAX_ACCOUNTS 1000000L
#define BENCHDATA_MAX_JOBS 64

/*
 * Add n_accounts new accounts and n_posts new top-level posts (plus
 * replies and votes) to the database of cfg, then VACUUM (ANALYZE) the
 * tables it wrote. jobs processes share the work, each with its own
 * connection, accounts and posts (0: one per core; never more than
 * accounts or posts). Prints progress, figures and the elapsed time to
 * stdout; errors (SQLSTATEs only, never values) to stderr. Batches
 * already committed stay when a later one fails. Returns 0, or -1.
 */
int benchdata_run(const struct config *cfg, long n_posts, long n_accounts, int jobs)
    __attribute__((warn_unused_result));

#endif
