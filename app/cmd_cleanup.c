/*
 * cmd_cleanup.c — `sotto cleanup`: delete what has expired.
 *
 * Unacknowledged events older than SOTTO_EVENT_TTL_DAYS (day < today -
 * ttl), IP bans whose expires_day has passed, expired group and
 * moderator invites, and sessions idle too long for their refresh token
 * to work (session.h: day_last_used <= today - SOTTO_REFRESH_LIFETIME /
 * 86400), which nothing else would delete; then account_keys is rewritten
 * (VACUUM FULL), so that the wrapped data keys of deleted accounts no
 * longer sit in its heap pages. Challenges, tickets and Redis's own
 * ended-session markers have their own TTL and need nothing. Removed
 * posts lose their ciphertext once their appeal window has passed. Group
 * messages whose fan-out a crash cut short (sql/033) get it. Run daily
 * by sotto-cleanup.timer, and by the development stack at `up` and hourly.
 * Idempotent and safe to run at any time, on every host at once (one run
 * holds an advisory lock, the others see it and stop), in batches so that
 * no transaction holds many rows.
 */
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "cmd.h"
#include "config.h"
#include "db.h"
#include "util.h"

#define CLEANUP_BATCH 5000   /* rows per DELETE transaction */
/* Fan-outs of one group at most: more means its members are sending, and sends fan out. */
#define CLEANUP_FANOUT_ROUNDS 16
/* Session advisory lock of a cleanup run: "sotto-c" in ASCII. */
#define CLEANUP_LOCK_KEY "32492168282058083"

/*
 * An expired event another transaction holds (a group fan-out moving a
 * member's pending event, an acknowledgement) is left to a later run:
 * waiting for it while holding the batch's other rows could close a cycle
 * with a fan-out that holds one of those and waits for this one.
 */
static struct db_stmt stmt_events = {
	"cleanup_events",
	"DELETE FROM events WHERE ctid = ANY (ARRAY("
	"SELECT ctid FROM events WHERE day < $1 LIMIT $2 FOR UPDATE SKIP LOCKED))", 2, 0
};
static struct db_stmt stmt_sessions = {
	"cleanup_sessions",
	"DELETE FROM sessions WHERE pk = ANY (ARRAY("
	"SELECT pk FROM sessions WHERE day_last_used <= $1 LIMIT $2))", 2, 0
};
/* A ban applies while today < expires_day (sql/007): from that day on it is gone. */
static struct db_stmt stmt_bans = {
	"cleanup_bans", "DELETE FROM ip_bans WHERE expires_day <= $1", 1, 0
};
/* A group invite works through its expires_day (sql/018). */
static struct db_stmt stmt_invites = {
	"cleanup_invites", "DELETE FROM group_invites WHERE expires_day < $1", 1, 0
};
/* So does a community's moderator invite (sql/027). */
static struct db_stmt stmt_mod_invites = {
	"cleanup_mod_invites", "DELETE FROM community_mod_invites WHERE expires_day < $1", 1, 0
};

/*
 * A removed post's ciphertext is kept while an appeal could bring the post
 * back (sql/028): its window open (today <= last_day), or filed and not yet
 * decided. After that it is emptied (the row stays: replies, votes and the
 * log refer to it); removals from before appeals existed have no appeal
 * row and are emptied at the first run.
 */
static struct db_stmt stmt_removed = {
	"cleanup_removed",
	"UPDATE posts p SET body_sealed = '\\x'::bytea WHERE p.pk = ANY (ARRAY("
	"SELECT r.pk FROM posts r WHERE r.status = 2 AND length(r.body_sealed) > 0 "
	"AND NOT EXISTS (SELECT 1 FROM mod_appeals a WHERE a.post_pk = r.pk "
	"AND (a.status IN (1, 2) OR (a.status = 0 AND a.last_day >= $1))) LIMIT $2))", 2, 0
};

/*
 * Groups with messages no fan-out covered (a worker stopped between a send's
 * commit and its fan-out, sql/033): each is fanned out in a transaction of
 * its own, as a send does, so that no transaction holds the event heads of
 * two groups.
 */
static struct db_stmt stmt_fanout_behind = {
	"cleanup_fanout_behind",
	"SELECT * FROM sotto_group_fanout_behind($1, $2)", 2, 0
};
/* Its first row's code: 2 when it fanned out (then once more: more may have come). */
static struct db_stmt stmt_fanout = {
	"cleanup_fanout", "SELECT code FROM sotto_group_fanout($1) LIMIT 1", 1, 0
};

/*
 * Every host may run `sotto cleanup` (several app hosts, one timer each):
 * the DELETEs are safe to race, but one run at a time is enough. The lock
 * is the session's, so it goes with the connection whatever happens.
 */
static struct db_stmt stmt_lock = {
	"cleanup_lock", "SELECT pg_try_advisory_lock(" CLEANUP_LOCK_KEY ")", 0, 0
};

/*
 * Run stmt (a DELETE of at most $2 rows of day $1) in batches of
 * CLEANUP_BATCH until none is left; rows deleted or -1.
 */
static long long delete_batched(struct db *db, struct arena *a, struct db_stmt *stmt,
                                int64_t before)
{
	const char *params[2];
	long long total = 0;
	int64_t n;

	params[0] = arena_i64(a, before);
	params[1] = arena_i64(a, CLEANUP_BATCH);
	if (params[0] == NULL || params[1] == NULL)
		return -1;
	do {
		PGresult *res = db_exec(db, a, stmt, params, NULL);

		if (res == NULL || util_parse_int64(PQcmdTuples(res), 0, INT64_MAX - 1, &n) != 0)
			return -1;
		total += n;
	} while (n == CLEANUP_BATCH);
	return total;
}

/* Rows stmt deletes as of today (bans, invites); their number or -1. */
static long long delete_expired(struct db *db, struct arena *a, struct db_stmt *stmt,
                                int64_t today)
{
	const char *params[1] = { arena_i64(a, today) };
	PGresult *res;
	int64_t n;

	if (params[0] == NULL)
		return -1;
	res = db_exec(db, a, stmt, params, NULL);
	if (res == NULL || util_parse_int64(PQcmdTuples(res), 0, INT64_MAX - 1, &n) != 0)
		return -1;
	return n;
}

/* Fan out group until nothing is left of it, or another fan-out runs. 0 or -1. */
static int fanout_group(struct db *db, struct arena *a, const char *group)
{
	for (int round = 0; round < CLEANUP_FANOUT_ROUNDS; round++) {
		PGresult *res = db_exec(db, a, &stmt_fanout, &group, NULL);

		if (res == NULL || PQntuples(res) != 1)
			return -1;
		if (strcmp(PQgetvalue(res, 0, 0), "2") != 0)
			break;
	}
	return 0;
}

/*
 * Fan out every group left behind, in pk order, CLEANUP_BATCH groups a
 * round (a group a send fans out meanwhile is simply caught up). Groups
 * caught up, or -1.
 */
static long long fanout_behind(struct db *db, struct arena *a)
{
	const char *params[2] = { "0", arena_i64(a, CLEANUP_BATCH) };
	long long total = 0;
	int n;

	if (params[1] == NULL)
		return -1;
	do {
		PGresult *res = db_exec(db, a, &stmt_fanout_behind, params, NULL);

		if (res == NULL)
			return -1;
		n = PQntuples(res);
		for (int i = 0; i < n; i++)
			if (fanout_group(db, a, PQgetvalue(res, i, 0)) != 0)
				return -1;
		if (n > 0)
			params[0] = PQgetvalue(res, n - 1, 0);
		total += n;
	} while (n == CLEANUP_BATCH);
	return total;
}

/* 1 when this run holds the cleanup lock, 0 when another one does, -1 on failure. */
static int take_lock(struct db *db, struct arena *a)
{
	PGresult *res = db_exec(db, a, &stmt_lock, NULL, NULL);

	if (res == NULL || PQntuples(res) != 1)
		return -1;
	return strcmp(PQgetvalue(res, 0, 0), "t") == 0;
}

/*
 * Rewrite account_keys so that the wrapped keys of deleted accounts leave
 * its files: a plain VACUUM only marks their space free, the bytes stay in
 * the heap pages (and so in every file-level backup) until overwritten.
 * VACUUM FULL takes the table's exclusive lock for the rewrite (a table of
 * 80-byte rows: a second or so per million accounts); lock_timeout keeps
 * it from queueing every login behind a long transaction: it gives up and
 * the next run tries again. 0 or -1.
 */
static int rewrite_account_keys(struct db *db)
{
	return db_exec_plain(db, "SET lock_timeout = '2s'") != 0 ||
	       db_exec_plain(db, "SET statement_timeout = 0") != 0 ||
	       db_exec_plain(db, "VACUUM (FULL, ANALYZE) account_keys") != 0 ? -1 : 0;
}

/*
 * One cleanup as of day today. Prints one summary line to stdout. 0 done
 * (also when another run holds the lock), -1 failed (message on stderr).
 */
static int cleanup_run(const struct config *cfg, int64_t today)
{
	struct db *db = db_new(cfg->database_url, cfg->db_statement_timeout_ms);
	struct arena *a = arena_new();
	int64_t before = today - cfg->event_ttl_days;
	int64_t idle = today - cfg->refresh_lifetime_s / 86400;
	long long events = -1, bans = -1, invites = -1, mod_invites = -1, sessions = -1;
	long long removed = -1, fanned = -1;
	int rc = -1, locked;

	if (db == NULL || a == NULL) {
		fprintf(stderr, "cleanup: out of memory\n");
		goto out;
	}
	if (!db_ready(db)) {
		fprintf(stderr, "cleanup: cannot connect to the database (DATABASE_URL)\n");
		goto out;
	}
	if ((locked = take_lock(db, a)) <= 0) {
		if (locked == 0)
			printf("cleanup: another sotto cleanup is running; nothing to do\n");
		else
			fprintf(stderr, "cleanup: cannot take the cleanup lock; run again\n");
		rc = locked == 0 ? 0 : -1;
		goto out;
	}
	if ((events = delete_batched(db, a, &stmt_events, before)) < 0 ||
	    (bans = delete_expired(db, a, &stmt_bans, today)) < 0 ||
	    (invites = delete_expired(db, a, &stmt_invites, today)) < 0 ||
	    (mod_invites = delete_expired(db, a, &stmt_mod_invites, today)) < 0 ||
	    (sessions = delete_batched(db, a, &stmt_sessions, idle)) < 0 ||
	    (removed = delete_batched(db, a, &stmt_removed, today)) < 0 ||
	    (fanned = fanout_behind(db, a)) < 0) {
		fprintf(stderr, "cleanup: a DELETE or a fan-out failed; run again "
		        "(what is done stays done)\n");
		goto out;
	}
	printf("cleanup: deleted %lld events from before day %lld (SOTTO_EVENT_TTL_DAYS=%d), "
	       "%lld expired bans, %lld expired group invites, %lld expired moderator invites, "
	       "%lld idle sessions, %lld removed posts' ciphertext past their appeal window; "
	       "fanned out the messages of %lld groups left behind\n",
	       events, (long long)before, cfg->event_ttl_days, bans, invites, mod_invites,
	       sessions, removed, fanned);
	if (rewrite_account_keys(db) != 0) {
		fprintf(stderr, "cleanup: rewriting account_keys failed (busy table?); run again\n");
		goto out;
	}
	printf("cleanup: rewrote account_keys (deleted accounts' wrapped keys left its files)\n");
	rc = 0;
out:
	arena_free(a);
	db_free(db);
	return rc;
}

int cmd_cleanup(int argc, char **argv, const struct config *cfg)
{
	(void)argc;
	(void)argv;
	return cleanup_run(cfg, util_today()) == 0 ? 0 : 1;
}
