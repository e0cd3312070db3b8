/*
 * db.c — one PostgreSQL connection per worker (libpq), named prepared
 * statements, statement_timeout, and fail-fast reconnection.
 *
 * Connection life cycle
 *   - db_ready() connects lazily. After a failed attempt the next one waits
 *     DB_RETRY_MS (longer after a slow failure, see db_retry_at()), so
 *     while PostgreSQL is down requests fail at once (503) instead of
 *     queueing on connect(); a connection that worked and then died is
 *     replaced at once.
 *   - Before a connection is reused it is probed without blocking: a
 *     server that restarted or stopped has closed its end (and sent a
 *     FATAL 57P01), which a zero-timeout poll() plus PQconsumeInput()
 *     notices. The dead connection is dropped and a fresh one opened in
 *     the same call, so the first request after PostgreSQL comes back
 *     succeeds without ever sending a query into a dead socket.
 *   - If a connection still dies under a statement, the statement is
 *     retried once on a fresh connection only when it provably never
 *     reached the server (libpq failed to send it) and no transaction is
 *     open. A statement that was sent is never retried: it may have been
 *     committed before the connection broke.
 *   - A connection lost inside db_begin()..db_commit() poisons the
 *     transaction: later db_exec() calls and db_commit() fail (503) until
 *     db_rollback() or the next db_begin(), so no statement of a broken
 *     transaction silently runs in autocommit on the new connection.
 *
 * Prepared statements are per connection: every connection gets a new
 * generation number, and a statement counts as prepared only when its
 * slot was prepared under the current generation.
 *
 * Several hosts (libpq's own failover): DATABASE_URL may list every node
 * (postgresql://a,b,c/sotto?target_session_attrs=read-write); libpq tries
 * them in turn and keeps the one that accepts writes, so after a failover
 * the next connection (and its LISTEN) reaches the new primary. A
 * connection still open on a node that became a standby answers 25006
 * (read-only transaction): it is dropped so that the next request
 * reconnects, and the request gets 503.
 *
 * Synchronous replication: a commit on a primary cut off from its
 * synchronous standby waits for it, and statement_timeout does not end
 * that wait (PostgreSQL disables it before committing). The client
 * gives up DB_GRACE_MS after the statement timeout instead (db_collect):
 * the connection is dropped and the statement fails as 40003
 * (statement_completion_unknown). When something cancels the wait on the
 * server (pg_cancel_backend, an operator), PostgreSQL answers the COMMIT
 * (or autocommit statement) with success plus a WARNING: committed on
 * this node only, which a failover may take back. Any WARNING during a
 * statement is therefore a failure as 40003 too. Either way the request
 * gets 503, never a 2xx for a write a failover could take back.
 *
 * Logging: only statement names and SQLSTATEs, never libpq's message
 * text, which may quote parameter values.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "arena.h"
#include "db.h"
#include "log.h"
#include "util.h"

/*
 * How long past its statement_timeout the client waits for a statement
 * (a commit waiting for the synchronous standby) before giving up.
 */
#define DB_GRACE_MS 1000

struct db {
	char *url;
	int statement_timeout_ms;
	PGconn *conn;
	uint32_t generation;           /* of conn; 0 = never connected */
	uint32_t prepared_gen[DB_MAX_STMTS + 1]; /* by slot: generation it was prepared in */
	uint64_t retry_at_us;          /* monotonic; no connect attempt before this */
	bool down;                     /* last failure was the connection */
	bool in_tx;                    /* between db_begin() and commit/rollback */
	bool tx_lost;                  /* the connection died inside that transaction */
	char sqlstate[6];              /* of the last failure, "" = connection */
	const char *listen;            /* channel to LISTEN on after each connect, or NULL */
	bool warned;                   /* the server sent a WARNING since the last statement began */
};

/* Slots are process-wide, so one struct db_stmt works with any struct db. */
static int db_next_slot;

static void db_pqclear(void *p)
{
	PQclear(p);
}

/* libpq prints notices (and async FATALs) to stderr by default; they may carry data. */
void db_quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/*
 * Notices of a worker connection: printed nowhere (as above), but a
 * WARNING is remembered, since one answers a commit whose wait for the
 * synchronous standby was cancelled (see the top of this file).
 */
static void db_notice(void *arg, const PGresult *res)
{
	struct db *db = arg;
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);

	if (severity != NULL && strcmp(severity, "WARNING") == 0)
		db->warned = true;
}

struct db *db_new(const char *url, int statement_timeout_ms)
{
	struct db *db = calloc(1, sizeof(*db));

	if (db == NULL)
		return NULL;
	db->url = strdup(url != NULL ? url : "");
	if (db->url == NULL) {
		free(db);
		return NULL;
	}
	db->statement_timeout_ms = statement_timeout_ms > 0 ? statement_timeout_ms : 0;
	return db;
}

void db_free(struct db *db)
{
	if (db == NULL)
		return;
	if (db->conn != NULL)
		PQfinish(db->conn);
	free(db->url);
	free(db);
}

PGconn *db_open(const char *url, const char *app_name, int timeout_ms)
{
	char options[192];
	const char *keys[5] = { "dbname", "connect_timeout", "application_name", "options", NULL };
	const char *vals[5] = { url, "2", app_name, options, NULL };

	/*
	 * Generic plans: every statement is prepared once per connection, and
	 * PostgreSQL would otherwise plan the feed's five-table joins anew for
	 * each request (about 2 ms of planning for 0.2 ms of execution). A
	 * generic plan cannot see a LIMIT parameter's value and assumes a
	 * tenth of the table: at a million posts that bought a feed page
	 * parallel workers and JIT compilation, 10-30 ms for rows an index
	 * returns in 0.3 ms. Requests here read a page at a time, so neither.
	 */
	snprintf(options, sizeof(options), "-c plan_cache_mode=force_generic_plan "
	         "-c max_parallel_workers_per_gather=0 -c jit=off");
	if (timeout_ms > 0)
		snprintf(options + strlen(options), sizeof(options) - strlen(options),
		         " -c statement_timeout=%d", timeout_ms);
	return PQconnectdbParams(keys, vals, 1);
}

/* Forget the connection; a transaction in progress is now lost. */
static void db_drop(struct db *db)
{
	if (db->conn != NULL) {
		PQfinish(db->conn);
		db->conn = NULL;
	}
	if (db->in_tx)
		db->tx_lost = true;
	db->down = true;
	db->sqlstate[0] = '\0';
}

/*
 * True when the idle connection is still alive. Never blocks: a dead
 * server has closed the socket (after sending a FATAL), so it polls
 * readable and PQconsumeInput() reaches EOF and marks the connection
 * bad. Anything the server sent meanwhile (notices, NOTIFYs) is
 * buffered for the caller as usual.
 */
static bool db_alive(PGconn *conn)
{
	if (PQstatus(conn) != CONNECTION_OK)
		return false;
	/* A few rounds: the FATAL message and the EOF may arrive in separate reads. */
	for (int i = 0; i < 4; i++) {
		struct pollfd p = { .fd = PQsocket(conn), .events = POLLIN };

		if (p.fd < 0)
			return false;
		if (poll(&p, 1, 0) <= 0)
			break;
		if (PQconsumeInput(conn) == 0)
			return false;
	}
	return PQstatus(conn) == CONNECTION_OK;
}

/*
 * When to try again after a connect that started at `started` failed:
 * DB_RETRY_MS after it ended, or four times as long as it took when it
 * was slow (a timeout), so that against an unreachable server a worker
 * spends at most a fifth of its time blocked in connect().
 */
static uint64_t db_retry_at(uint64_t started)
{
	uint64_t end = util_now_us(), wait = 4 * (end - started);

	if (wait < (uint64_t)DB_RETRY_MS * 1000)
		wait = (uint64_t)DB_RETRY_MS * 1000;
	return end + wait;
}

/* LISTEN channel on a new connection; 0 or -1. */
static int db_listen_now(PGconn *conn, const char *channel)
{
	char sql[80];
	PGresult *res;
	int rc;

	if ((size_t)snprintf(sql, sizeof(sql), "LISTEN %s", channel) >= sizeof(sql))
		return -1;
	res = PQexec(conn, sql);
	rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
	PQclear(res);
	return rc;
}

void db_listen(struct db *db, const char *channel)
{
	db->listen = channel;
}

unsigned db_notifications(struct db *db)
{
	PGnotify *n;
	unsigned count = 0;

	if (db->conn == NULL)
		return 0;
	while ((n = PQnotifies(db->conn)) != NULL) {
		PQfreemem(n);
		count++;
	}
	return count;
}

uint32_t db_generation(const struct db *db)
{
	return db->generation;
}

bool db_ready(struct db *db)
{
	uint64_t now;

	if (db->conn != NULL) {
		if (db_alive(db->conn))
			return true;
		log_msg(LOG_WARN, "db: connection lost");
		db_drop(db);
		/* Poisoned transaction: do not quietly continue on a new connection. */
		if (db->in_tx)
			return false;
	}
	if (db->in_tx && db->tx_lost)
		return false;

	now = util_now_us();
	/*
	 * Only failures are throttled: a connection that worked and then
	 * died gets one immediate reconnect, so the first request after a
	 * server restart does not fail.
	 */
	if (now < db->retry_at_us) {
		db->down = true;
		db->sqlstate[0] = '\0';
		return false;
	}

	db->conn = db_open(db->url, "sotto", db->statement_timeout_ms);
	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK) {
		/* PQerrorMessage() names hosts and paths; the operator sees them via `sotto migrate`. */
		log_msg(LOG_WARN, "db: connect failed");
		db_drop(db);
		db->retry_at_us = db_retry_at(now);
		return false;
	}
	PQsetNoticeReceiver(db->conn, db_notice, db);
	if (db->listen != NULL && db_listen_now(db->conn, db->listen) != 0) {
		log_msg(LOG_WARN, "db: LISTEN failed");
		db_drop(db);
		db->retry_at_us = db_retry_at(now);
		return false;
	}
	db->retry_at_us = 0;
	db->generation++;
	if (db->generation == 0)        /* 0 means "never prepared" */
		db->generation = 1;
	db->down = false;
	db->sqlstate[0] = '\0';
	log_msg(LOG_INFO, "db: connected");
	return true;
}

/* Record a failed result: its SQLSTATE, or "" when the connection broke. */
static void db_note_failure(struct db *db, const PGresult *res, const char *what)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (db->conn == NULL || PQstatus(db->conn) == CONNECTION_BAD) {
		log_msg(LOG_WARN, "db: %s failed: connection lost", what);
		db_drop(db);
		return;
	}
	snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state != NULL ? state : "XX000");
	db->down = false;
	log_msg(LOG_WARN, "db: %s failed sqlstate=%s", what, db->sqlstate);
	if (strcmp(db->sqlstate, "25006") == 0) {
		/* A standby now (failover): the next connection finds the primary. */
		PQfinish(db->conn);
		db->conn = NULL;
		if (db->in_tx)
			db->tx_lost = true;
	}
}

/*
 * A statement that succeeded while the server warned: its outcome is
 * unknown (see the top of this file), so it fails as 40003. True when
 * that happened.
 */
static bool db_outcome_unknown(struct db *db, const char *what)
{
	if (!db->warned)
		return false;
	db->warned = false;
	snprintf(db->sqlstate, sizeof(db->sqlstate), "40003");
	db->down = false;
	log_msg(LOG_WARN, "db: %s: the server warned, outcome unknown (sqlstate=40003)", what);
	return true;
}

bool db_result_ok(const PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* Outcome of one attempt at running a statement. */
enum db_try { DB_TRY_OK, DB_TRY_FAILED, DB_TRY_RETRY };

/*
 * Prepare stmt on the current connection unless this generation already
 * has it. DB_TRY_RETRY when the connection broke (preparing has no side
 * effects, so running it again on a new connection is always safe).
 */
static enum db_try db_prepare(struct db *db, const struct db_stmt *stmt)
{
	PGresult *res;
	const char *state;

	if (db->prepared_gen[stmt->slot] == db->generation)
		return DB_TRY_OK;
	res = PQprepare(db->conn, stmt->name, stmt->sql, stmt->n_params, NULL);
	if (res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK) {
		PQclear(res);
		db->prepared_gen[stmt->slot] = db->generation;
		return DB_TRY_OK;
	}
	state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (state != NULL && strcmp(state, "42P05") == 0) {
		/* duplicate_prepared_statement: it exists on this connection already. */
		PQclear(res);
		db->prepared_gen[stmt->slot] = db->generation;
		return DB_TRY_OK;
	}
	db_note_failure(db, res, stmt->name);
	PQclear(res);
	return db->conn == NULL ? DB_TRY_RETRY : DB_TRY_FAILED;
}

/*
 * True once a result can be read without blocking, false when
 * deadline_us (monotonic; 0 = none) passes first. A broken connection
 * counts as readable: PQgetResult() then reports it.
 */
static bool db_wait(PGconn *conn, uint64_t deadline_us)
{
	if (deadline_us == 0)
		return true;
	while (PQisBusy(conn)) {
		uint64_t now = util_now_us();
		struct pollfd p = { .fd = PQsocket(conn), .events = POLLIN };

		if (now >= deadline_us)
			return false;
		if (poll(&p, 1, (int)((deadline_us - now + 999) / 1000)) < 0 && errno != EINTR)
			return true;
		if (p.revents != 0 && PQconsumeInput(conn) == 0)
			return true;
	}
	return true;
}

/*
 * Collect the results of the statement just sent into *last, keeping the
 * last one (an error wins) as PQexec() does; NULL when there is none.
 * The server bounds a statement with statement_timeout but not a
 * commit's wait for the synchronous standby (it disables the timeout
 * before committing), so the client gives up DB_GRACE_MS after the
 * statement timeout: the connection is dropped and the outcome is
 * unknown (40003; the server may still commit it on this node). 0, or -1
 * when it gave up. Unbounded (db_exec_plain: maintenance that sets its own
 * timeouts, such as a VACUUM FULL), it waits as long as the server does.
 */
static int db_collect(struct db *db, const char *what, PGresult **last, bool bounded)
{
	uint64_t deadline = 0;
	PGresult *res;

	if (bounded && db->statement_timeout_ms > 0)
		deadline = util_now_us() + ((uint64_t)db->statement_timeout_ms + DB_GRACE_MS) * 1000;
	*last = NULL;
	for (;;) {
		if (!db_wait(db->conn, deadline)) {
			PQclear(*last);
			*last = NULL;
			log_msg(LOG_WARN, "db: %s: no answer in time, outcome unknown (sqlstate=40003)",
			        what);
			db_drop(db);
			db->down = false;
			snprintf(db->sqlstate, sizeof(db->sqlstate), "40003");
			return -1;
		}
		if ((res = PQgetResult(db->conn)) == NULL)
			return 0;
		if (*last != NULL && !db_result_ok(*last)) {
			PQclear(res);
			continue;
		}
		PQclear(*last);
		*last = res;
	}
}

/*
 * Send and wait for one execution. *out gets the result on success.
 * DB_TRY_RETRY only when the statement could not even be sent.
 */
static enum db_try db_try_exec(struct db *db, const struct db_stmt *stmt,
                               const char *const *params, PGresult **out)
{
	PGresult *last = NULL;
	enum db_try t;

	if ((t = db_prepare(db, stmt)) != DB_TRY_OK)
		return t;
	db->warned = false;
	if (!PQsendQueryPrepared(db->conn, stmt->name, stmt->n_params, params,
	                         NULL, NULL, 0)) {
		if (PQstatus(db->conn) == CONNECTION_BAD) {
			log_msg(LOG_WARN, "db: %s not sent: connection lost", stmt->name);
			db_drop(db);
			return DB_TRY_RETRY;
		}
		db_note_failure(db, NULL, stmt->name);
		return DB_TRY_FAILED;
	}
	if (db_collect(db, stmt->name, &last, true) != 0)
		return DB_TRY_FAILED;
	if (last != NULL && db_result_ok(last) && PQstatus(db->conn) == CONNECTION_OK) {
		if (!db_outcome_unknown(db, stmt->name)) {
			*out = last;
			return DB_TRY_OK;
		}
		PQclear(last);
		return DB_TRY_FAILED;
	}
	db_note_failure(db, last, stmt->name);
	PQclear(last);
	return DB_TRY_FAILED;
}

PGresult *db_exec(struct db *db, struct arena *a, struct db_stmt *stmt,
                  const char *const *params, const char **sqlstate)
{
	PGresult *res = NULL;
	enum db_try t = DB_TRY_FAILED;

	if (stmt->slot == 0) {
		if (db_next_slot >= DB_MAX_STMTS) {
			log_msg(LOG_ERROR, "db: more than %d prepared statements", DB_MAX_STMTS);
			snprintf(db->sqlstate, sizeof(db->sqlstate), "XX000");
			db->down = false;
			goto out;
		}
		stmt->slot = ++db_next_slot;
	}
	if (db->in_tx && db->tx_lost) {
		db->down = true;
		db->sqlstate[0] = '\0';
		goto out;
	}
	/* Two rounds at most: the second only after an unsent statement, outside a transaction. */
	for (int round = 0; round < 2; round++) {
		if (!db_ready(db))
			goto out;
		t = db_try_exec(db, stmt, params, &res);
		if (t != DB_TRY_RETRY || db->in_tx)
			break;
	}
	if (t != DB_TRY_OK)
		goto out;
	db->down = false;
	db->sqlstate[0] = '\0';
	if (arena_defer(a, db_pqclear, res) != 0) {
		/* arena_defer() already freed res. */
		res = NULL;
		snprintf(db->sqlstate, sizeof(db->sqlstate), "53200"); /* out_of_memory */
	}
out:
	if (res == NULL && sqlstate != NULL)
		*sqlstate = db->sqlstate;
	return t == DB_TRY_OK ? res : NULL;
}

/*
 * Run one transaction-control statement. expect_tag, when not NULL, must
 * equal the command tag (COMMIT of an aborted transaction answers
 * COMMAND_OK with the tag "ROLLBACK"). 0 or -1.
 */
static int db_simple(struct db *db, const char *sql, const char *expect_tag, bool bounded)
{
	PGresult *res = NULL;
	int rc = -1;

	if (db->conn == NULL)
		return -1;
	db->warned = false;
	if (!PQsendQuery(db->conn, sql)) {
		db_note_failure(db, NULL, sql);
		return -1;
	}
	if (db_collect(db, sql, &res, bounded) != 0)
		return -1;
	if (res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK &&
	    PQstatus(db->conn) == CONNECTION_OK) {
		if (expect_tag != NULL && strcmp(PQcmdStatus(res), expect_tag) != 0) {
			snprintf(db->sqlstate, sizeof(db->sqlstate), "40000");
			db->down = false;
			log_msg(LOG_WARN, "db: %s answered %s", sql, PQcmdStatus(res));
		} else if (!db_outcome_unknown(db, sql)) {
			rc = 0;
		}
	} else {
		db_note_failure(db, res, sql);
	}
	PQclear(res);
	return rc;
}

/* True when the live connection has a transaction open (whoever opened it). */
static bool db_tx_open(const struct db *db)
{
	PGTransactionStatusType ts;

	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK)
		return false;
	ts = PQtransactionStatus(db->conn);
	return ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR;
}

int db_exec_plain(struct db *db, const char *sql)
{
	if (db_tx_open(db)) {
		log_msg(LOG_ERROR, "db: %s inside an open transaction; rolling it back", sql);
		db_rollback(db);
	}
	return db_simple(db, sql, NULL, false);
}

int db_begin(struct db *db)
{
	int rc = -1;

	/* Never nest into a transaction a caller left open: roll it back first. */
	if (db_tx_open(db)) {
		log_msg(LOG_ERROR, "db: BEGIN inside an open transaction; rolling it back");
		db_rollback(db);
	}
	/* A new transaction forgets a lost one the caller did not roll back. */
	db->in_tx = false;
	db->tx_lost = false;
	/* BEGIN has no effect of its own, so one retry on a fresh connection is safe. */
	for (int round = 0; round < 2 && rc != 0; round++) {
		if (!db_ready(db))
			return -1;
		rc = db_simple(db, "BEGIN", NULL, true);
		if (rc != 0 && db->conn != NULL)
			break;
	}
	if (rc == 0)
		db->in_tx = true;
	return rc;
}

int db_commit(struct db *db)
{
	int rc = -1;

	if (!db->in_tx) {
		log_msg(LOG_ERROR, "db: COMMIT without BEGIN");
		snprintf(db->sqlstate, sizeof(db->sqlstate), "25000");
		db->down = false;
	} else if (db->tx_lost || db->conn == NULL) {
		/* The connection died inside the transaction: nothing was committed. */
		db->down = true;
		db->sqlstate[0] = '\0';
	} else {
		rc = db_simple(db, "COMMIT", "COMMIT", true);
	}
	db->in_tx = false;
	db->tx_lost = false;
	return rc;
}

/*
 * Safe to call at any time (e.g. after every request): it rolls back
 * whatever transaction the connection really has open, and forgets a
 * transaction lost with its connection.
 */
void db_rollback(struct db *db)
{
	if (db_tx_open(db))
		(void)db_simple(db, "ROLLBACK", NULL, true);
	db->in_tx = false;
	db->tx_lost = false;
}

bool db_down(const struct db *db)
{
	return db->down;
}

bool db_busy(const struct db *db)
{
	const char *s = db->sqlstate;

	return strncmp(s, "40", 2) == 0 || strncmp(s, "53", 2) == 0 ||
	       strcmp(s, "25006") == 0 || strcmp(s, "55P03") == 0 || strcmp(s, "57014") == 0 ||
	       strncmp(s, "57P", 3) == 0;
}

bool db_unconfirmed(const struct db *db)
{
	return strcmp(db->sqlstate, "40003") == 0;
}

PGconn *db_conn(struct db *db)
{
	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK)
		return NULL;
	return db->conn;
}

char *db_bytea_text(struct arena *a, const unsigned char *bin, size_t len)
{
	char *out = arena_alloc(a, 2 * len + 3);

	if (out == NULL)
		return NULL;
	out[0] = '\\';
	out[1] = 'x';
	sodium_bin2hex(out + 2, 2 * len + 1, bin, len);
	return out;
}

unsigned char *db_bytea_value(struct arena *a, const PGresult *res, int row, int col,
                              size_t *len)
{
	const char *text;
	size_t text_len;
	unsigned char *out;

	if (PQgetisnull(res, row, col))
		return NULL;
	text = PQgetvalue(res, row, col);
	text_len = (size_t)PQgetlength(res, row, col);
	if (text_len < 2 || text[0] != '\\' || text[1] != 'x' || text_len % 2 != 0)
		return NULL;
	out = arena_alloc(a, (text_len - 2) / 2 + 1);
	if (out == NULL)
		return NULL;
	/*
	 * Not sodium_hex2bin(): it is constant-time, and at a feed's 20 sealed
	 * bodies it was the worker's hottest function. Ciphertext is no secret.
	 */
	if (util_hex_decode(text + 2, (text_len - 2) / 2, out) != 0)
		return NULL;
	*len = (text_len - 2) / 2;
	return out;
}
