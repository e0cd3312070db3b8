/*
 * cmd_moderate.c — `sotto moderate`: the automatic classifier, a long-running
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
 *   take up to SOTTO_MODERATION_BATCH pending rows, oldest first: their
 *     posts FOR KEY SHARE, then the rows FOR UPDATE, both SKIP LOCKED
 *     (several moderators share the list, each row goes to exactly one
 *     of them),
 *   open each body with its author's data key, score it (classify.h,
 *     and max() with the external command of classify_exec.h when set),
 *   write mod_scan.score, and at or above SOTTO_MODERATION_THRESHOLD
 *     hold the post (status 0 -> 1) and queue a pending mod_items row
 *     (source 2 "auto"; ON CONFLICT on mod_items_pending: at most one),
 *   NOTIFY sotto_content when a post was held (feed caches), COMMIT.
 *
 * A committed score is final, so no post is scored twice; a batch that
 * does not commit (PostgreSQL went away, SIGTERM) is taken again later
 * and the external command may then see its posts again.
 *
 * Lock order: the post row, then its mod_scan row, as a deletion takes
 * them (DELETE /posts/{id}, DELETE /me: the post, then its mod_scan row by
 * ON DELETE CASCADE); accounts are never locked. The take never waits:
 * a post being deleted (or decided, or flagged: FOR UPDATE) is skipped
 * until the next sweep, a row another moderator holds too. FOR KEY SHARE
 * lets votes and re-ranking update the post meanwhile (FOR NO KEY UPDATE
 * does not conflict with it) and makes a deletion wait for the batch;
 * holding the post later needs no lock the batch does not hold already,
 * bar a voter's brief one (a voter waits for nothing of the batch's).
 * Taken the other way round (the row, then the post when holding it), a
 * deletion that came between waited for the row while holding the post:
 * a deadlock, and PostgreSQL aborted one side (tests/e2e/test_moderate.py).
 * A second moderator finds the head of the list taken by the first (KEY
 * SHARE does not exclude it, the rows' SKIP LOCKED does) and comes back
 * after MODERATE_IDLE_MS.
 *
 * A body that cannot be opened (its author's master key version is no
 * longer configured) is scored 0 and logged, so it cannot block the list.
 *
 * The loop: make sure the connection is up, take batches until the list
 * is empty, then sleep MODERATE_IDLE_MS (in poll() on the signal pipe). A
 * database failure anywhere rolls the batch back and retries after a
 * backoff (MODERATE_RETRY_MIN_MS doubling to MODERATE_RETRY_MAX_MS); db.c
 * reconnects.
 *
 * Signal handlers only set a flag and write a byte to a pipe that every
 * wait polls, the external command's included, so SIGTERM is acted on
 * at once: the batch in progress is rolled back.
 *
 * Logs carry counts and reasons, never a text, a post id or an account.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "arena.h"
#include "classify.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "log.h"
#include "classify_exec.h"
#include "cmd.h"
#include "post_view.h"
#include "util.h"

#define MODERATE_IDLE_MS 200           /* look for work this often while there is none */
#define MODERATE_SWEEP_MS 1000         /* take from the list's beginning again (take_after) */
#define MODERATE_RETRY_MIN_MS 250      /* database retry backoff, doubling */
#define MODERATE_RETRY_MAX_MS 4000
#define MOD_ITEM_ID_BYTES 16   /* public id: 22 characters of base64url, as posts */
#define MOD_SOURCE_AUTO "2"

static volatile sig_atomic_t stop_flag;
static int sig_pipe[2] = { -1, -1 };

struct moderator {
	const struct config *cfg;
	struct classify_rules *rules;
	struct classify_exec *cmd;          /* NULL without SOTTO_MODERATION_CMD */
	struct db *db;
	struct arena *a;             /* one batch's results and bodies */
	int64_t after;               /* the last pk taken: the next take starts past it */
	uint64_t swept_us;           /* when a take last started from the beginning */
	int retry_ms;
};

/* Columns of take_stmt. */
enum { COL_PK, COL_ID, COL_AUTHOR, COL_BODY, COL_KEY_VERSION, COL_KEY_WRAPPED };

/*
 * The candidates (c, no lock), their posts FOR KEY SHARE (l), then their
 * mod_scan rows FOR UPDATE (s), each materialized in that order: the lock
 * order of the header. From after $1: the index entries of rows scored
 * since the last vacuum are never walked again (struct moderator's after).
 * s checks score again: another moderator may have scored a row since c
 * read it.
 *
 * The candidates are found first (a materialized CTE, with the batch size
 * written into its LIMIT once at start: moderator_init) and only then
 * joined to their posts, one index lookup each. A generic plan cannot see
 * a LIMIT parameter's value, and as one join it merge-joined the pending
 * rows with every post from the first on, for each batch: 54-93 ms a
 * batch at a million posts, against 0.5 ms.
 */
#define TAKE_SQL \
	"WITH c AS MATERIALIZED (SELECT post_pk FROM mod_scan " \
	"WHERE score IS NULL AND post_pk > $1 ORDER BY post_pk LIMIT %d), " \
	"l AS MATERIALIZED (SELECT p.pk FROM c JOIN posts p ON p.pk = c.post_pk " \
	"ORDER BY p.pk FOR KEY SHARE OF p SKIP LOCKED), " \
	"s AS MATERIALIZED (SELECT m.post_pk FROM l JOIN mod_scan m ON m.post_pk = l.pk " \
	"WHERE m.score IS NULL ORDER BY m.post_pk FOR UPDATE OF m SKIP LOCKED) " \
	"SELECT s.post_pk, p.id, p.author_pk, p.body_sealed, k.version, k.wrapped " \
	"FROM s JOIN posts p ON p.pk = s.post_pk " \
	"JOIN account_keys k ON k.account_pk = p.author_pk ORDER BY s.post_pk"
static char take_sql[sizeof(TAKE_SQL) + 16];
static struct db_stmt take_stmt = { "moderate_take", take_sql, 1, 0 };
/* The whole batch's scores in one statement: arrays of pks and scores. */
static struct db_stmt score_stmt = {
	"moderate_score",
	"UPDATE mod_scan s SET score = v.score "
	"FROM unnest($1::bigint[], $2::real[]) AS v (pk, score) WHERE s.post_pk = v.pk", 2, 0
};
static struct db_stmt hold_stmt = {
	"moderate_hold", "UPDATE posts SET status = 1 WHERE pk = $1 AND status = 0", 1, 0
};
/* Only for a held post (not a removed one); at most one pending item per post. */
static struct db_stmt item_stmt = {
	"moderate_item",
	"INSERT INTO mod_items (id, post_pk, source, day) "
	"SELECT $2::text, pk, " MOD_SOURCE_AUTO ", $3::integer FROM posts "
	"WHERE pk = $1 AND status = 1 "
	"ON CONFLICT (post_pk) WHERE status = 0 DO NOTHING", 3, 0
};
static struct db_stmt notify_stmt = {
	"moderate_notify", "SELECT pg_notify('sotto_content', '')", 0, 0
};

/* ---- signals ------------------------------------------------------------ */

static void on_stop_signal(int sig)
{
	int saved = errno;

	(void)sig;
	stop_flag = 1;
	if (write(sig_pipe[1], "x", 1) < 0) {
		/* full pipe: a wake-up is already pending */
	}
	errno = saved;
}

static int signals_setup(void)
{
	struct sigaction sa;

	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
		return -1;
	/* A dead classifier command must fail a write, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* Sleep up to ms, or less when a stop signal arrives. */
static void nap(int ms)
{
	struct pollfd p = { .fd = sig_pipe[0], .events = POLLIN };

	if (!stop_flag)
		(void)poll(&p, 1, ms);
}

/* ---- one post ----------------------------------------------------------- */

/*
 * Open the body of row into *body (on m->a) with its author's data key;
 * the key is wiped before returning. 0 or -1 (logged, no identifiers).
 */
static int open_body(struct moderator *m, const PGresult *res, int row,
                     unsigned char **body, size_t *body_len)
{
	unsigned char key[CRYPTO_KEY_BYTES];
	const unsigned char *wrapped, *sealed;
	size_t wrapped_len = 0, sealed_len = 0;
	int64_t author, version;
	struct crypto_field f;
	int rc = -1;

	wrapped = db_bytea_value(m->a, res, row, COL_KEY_WRAPPED, &wrapped_len);
	sealed = db_bytea_value(m->a, res, row, COL_BODY, &sealed_len);
	if (wrapped == NULL || sealed == NULL ||
	    util_parse_int64(PQgetvalue(res, row, COL_AUTHOR), 1, INT64_MAX, &author) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, COL_KEY_VERSION), 1, UINT32_MAX, &version) != 0 ||
	    crypto_unwrap_key(m->cfg, author, (uint32_t)version, wrapped, wrapped_len, key) != 0)
		goto out;
	post_body_field(&f, PQgetvalue(res, row, COL_ID), author);
	rc = crypto_open(m->a, key, &f, sealed, sealed_len, body, body_len);
out:
	sodium_memzero(key, sizeof(key));
	if (rc != 0)
		log_msg(LOG_WARN, "a post body could not be opened; scored 0");
	return rc;
}

/* The score of row: built-in rules, and max() with the external command when it answers. */
static double score_row(struct moderator *m, const PGresult *res, int row)
{
	unsigned char *body;
	size_t len;
	double score, ext;

	if (open_body(m, res, row, &body, &len) != 0)
		return 0;
	score = classify_score(m->rules, (const char *)body, len, NULL);
	if (m->cmd != NULL && !stop_flag &&
	    classify_exec_score(m->cmd, PQgetvalue(res, row, COL_ID), (const char *)body, len,
	                        &ext) == 0 && ext > score)
		score = ext;
	sodium_memzero(body, len);
	return score;
}

/*
 * The batch's pks (column COL_PK of res) and scores as two array literals
 * for score_stmt, in m->a. -1 when out of memory.
 */
static int score_arrays(struct moderator *m, const PGresult *res, const double *scores,
                        int n, const char **pks, const char **values)
{
	size_t pk_cap = (size_t)n * 21 + 3, value_cap = (size_t)n * 10 + 3, pl = 0, vl = 0;
	char *pk_text = arena_alloc(m->a, pk_cap), *value_text = arena_alloc(m->a, value_cap);

	if (pk_text == NULL || value_text == NULL)
		return -1;
	pk_text[pl++] = '{';
	value_text[vl++] = '{';
	for (int i = 0; i < n; i++) {
		/* In 0..1 (NaN: 0) whatever the scorers said, so each fits in 9 characters. */
		double v = scores[i] >= 0 ? (scores[i] <= 1 ? scores[i] : 1) : 0;

		pl += (size_t)snprintf(pk_text + pl, pk_cap - pl, "%s%.20s", i > 0 ? "," : "",
		                       PQgetvalue(res, i, COL_PK));
		vl += (size_t)snprintf(value_text + vl, value_cap - vl, "%s%.6f", i > 0 ? "," : "", v);
	}
	snprintf(pk_text + pl, pk_cap - pl, "}");
	snprintf(value_text + vl, value_cap - vl, "}");
	*pks = pk_text;
	*values = value_text;
	return 0;
}

/* Hold the post pk and queue its review item; *held when it was visible. 0, or -1 (database). */
static int hold_post(struct moderator *m, const char *pk, bool *held)
{
	char day_text[24];
	const char *params[3] = { pk, NULL, day_text };
	PGresult *res;

	*held = false;
	if ((res = db_exec(m->db, m->a, &hold_stmt, params, NULL)) == NULL)
		return -1;
	*held = strcmp(PQcmdTuples(res), "1") == 0;
	snprintf(day_text, sizeof(day_text), "%" PRId64, util_today());
	params[1] = util_random_id(m->a, MOD_ITEM_ID_BYTES);
	if (params[1] == NULL || db_exec(m->db, m->a, &item_stmt, params, NULL) == NULL)
		return -1;
	return 0;
}

/* ---- batches ------------------------------------------------------------ */

/* Record the batch's scores and hold the posts at or above the threshold. 0, or -1. */
static int write_scores(struct moderator *m, const PGresult *res, const double *scores,
                        int n, int *held)
{
	const char *params[2];

	*held = 0;
	if (score_arrays(m, res, scores, n, &params[0], &params[1]) != 0 ||
	    db_exec(m->db, m->a, &score_stmt, params, NULL) == NULL)
		return -1;
	for (int i = 0; m->cfg->moderation_hold && i < n; i++) {
		bool h;

		if (scores[i] < m->cfg->moderation_threshold)
			continue;
		if (hold_post(m, PQgetvalue(res, i, COL_PK), &h) != 0)
			return -1;
		*held += h;
	}
	return 0;
}

/*
 * Where the next take starts: past the last pk taken, and from the
 * beginning every MODERATE_SWEEP_MS, for the rows it passed: posts that
 * committed after a later one was taken, and rows a rolled-back batch
 * (ours or another moderator's) left behind.
 */
static const char *take_after(struct moderator *m)
{
	uint64_t now = util_now_us();

	if (now - m->swept_us >= (uint64_t)MODERATE_SWEEP_MS * 1000) {
		m->after = 0;
		m->swept_us = now;
	}
	return arena_printf(m->a, "%" PRId64, m->after);
}

/*
 * One transaction: take, score, write, commit. *taken gets the number
 * of rows scored (0 when the list is empty). 0, or -1 when rolled back
 * (database failure, or a stop signal).
 */
static int run_batch(struct moderator *m, int *taken)
{
	const char *params[1] = { take_after(m) };
	double *scores;
	PGresult *res;
	int n, held = 0, rc = -1;

	*taken = 0;
	if (params[0] == NULL || db_begin(m->db) != 0)
		goto out;
	if ((res = db_exec(m->db, m->a, &take_stmt, params, NULL)) == NULL)
		goto out;
	n = PQntuples(res);
	if (n == 0) {
		rc = db_commit(m->db);
		goto out;
	}
	if ((scores = arena_alloc(m->a, (size_t)n * sizeof(*scores))) == NULL)
		goto out;
	for (int i = 0; i < n && !stop_flag; i++)
		scores[i] = score_row(m, res, i);
	if (stop_flag || write_scores(m, res, scores, n, &held) != 0)
		goto out;
	if (held > 0 && db_exec(m->db, m->a, &notify_stmt, NULL, NULL) == NULL)
		goto out;
	if (db_commit(m->db) != 0)
		goto out;
	if (util_parse_int64(PQgetvalue(res, n - 1, COL_PK), 1, INT64_MAX, &m->after) != 0)
		m->after = 0;
	log_msg(LOG_INFO, "scored %d posts, held %d", n, held);
	*taken = n;
	rc = 0;
out:
	if (rc != 0) {
		db_rollback(m->db);
		m->after = 0;
	}
	arena_reset(m->a);
	return rc;
}

/* Batches until the list is empty. 0, or -1 after a failed batch. */
static int drain(struct moderator *m)
{
	int taken;

	do {
		if (run_batch(m, &taken) != 0)
			return -1;
	} while (taken == m->cfg->moderation_batch && !stop_flag);
	return 0;
}

/* ---- the process --------------------------------------------------------- */

static int moderator_init(struct moderator *m, const struct config *cfg)
{
	char err[256];

	m->cfg = cfg;
	if ((m->rules = classify_rules_load(m->cfg->moderation_rules, err, sizeof(err))) == NULL) {
		fprintf(stderr, "sotto: configuration error: SOTTO_MODERATION_RULES: %s\n", err);
		return -1;
	}
	if (signals_setup() != 0) {
		fprintf(stderr, "sotto: cannot set up signal handling: %s\n", strerror(errno));
		return -1;
	}
	snprintf(take_sql, sizeof(take_sql), TAKE_SQL, m->cfg->moderation_batch);
	m->db = db_new(m->cfg->database_url, m->cfg->db_statement_timeout_ms);
	m->a = arena_new();
	if (m->cfg->moderation_cmd[0] != '\0')
		m->cmd = classify_exec_new(m->cfg->moderation_cmd, m->cfg->moderation_cmd_timeout_ms,
		                    sig_pipe[0]);
	if (m->db == NULL || m->a == NULL || (m->cfg->moderation_cmd[0] != '\0' && m->cmd == NULL)) {
		fprintf(stderr, "sotto: out of memory\n");
		return -1;
	}
	m->retry_ms = MODERATE_RETRY_MIN_MS;
	return 0;
}

static void moderator_free(struct moderator *m)
{
	classify_exec_free(m->cmd);
	arena_free(m->a);
	db_free(m->db);
	classify_rules_free(m->rules);
	for (int i = 0; i < 2; i++)
		if (sig_pipe[i] >= 0)
			close(sig_pipe[i]);
	sig_pipe[0] = sig_pipe[1] = -1;
}

/*
 * Work until SIGTERM or SIGINT (the batch in progress is rolled back).
 * Exit status 0 after a signal, 1 when it cannot start (rules file, out
 * of memory). main.c keeps core dumps off: it unwraps data keys.
 */
int cmd_moderate(int argc, char **argv, const struct config *cfg)
{
	struct moderator m;
	bool connected = false;
	int rc = 1;

	(void)argc;
	(void)argv;
	memset(&m, 0, sizeof(m));
	if (moderator_init(&m, cfg) != 0)
		goto out;
	if (m.cfg->moderation_hold)
		log_msg(LOG_INFO, "started: %zu terms, %zu patterns, threshold %.3f, batch %d, "
		        "external command %s", classify_rules_terms(m.rules),
		        classify_rules_patterns(m.rules), m.cfg->moderation_threshold,
		        m.cfg->moderation_batch, m.cmd != NULL ? "on" : "off");
	else
		log_msg(LOG_INFO, "started: %zu terms, %zu patterns, threshold off (score only, "
		        "never hold), batch %d, external command %s", classify_rules_terms(m.rules),
		        classify_rules_patterns(m.rules), m.cfg->moderation_batch,
		        m.cmd != NULL ? "on" : "off");
	while (!stop_flag) {
		bool ready = db_ready(m.db);

		if (ready != connected)
			log_msg(ready ? LOG_INFO : LOG_WARN, ready ? "connected to the database"
			                                           : "no database; retrying");
		connected = ready;
		if (!ready || drain(&m) != 0) {
			if (stop_flag)
				break;
			nap(m.retry_ms);
			m.retry_ms = m.retry_ms * 2 > MODERATE_RETRY_MAX_MS ? MODERATE_RETRY_MAX_MS
			                                                    : m.retry_ms * 2;
			continue;
		}
		m.retry_ms = MODERATE_RETRY_MIN_MS;
		nap(MODERATE_IDLE_MS);
	}
	log_msg(LOG_INFO, "stopping");
	rc = 0;
out:
	moderator_free(&m);
	return rc;
}
