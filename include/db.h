/*
 * db.h — one PostgreSQL connection per worker, named prepared statements.
 *
 * Statements are declared once as `static struct db_stmt` next to the code
 * that uses them; db_exec() prepares each lazily on first use per
 * connection. A failed connection is retried at most once per
 * DB_RETRY_MS, so while PostgreSQL is down requests fail fast with
 * 503 instead of hanging. SQL is never built from input.
 */
#ifndef SOTTO_DB_H
#define SOTTO_DB_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include <libpq-fe.h>

struct arena;

#define DB_RETRY_MS 250
#define DB_MAX_STMTS 256

struct db_stmt {
	const char *name;   /* unique, e.g. "post_insert" */
	const char *sql;    /* $1..$n parameters only */
	int n_params;
	int slot;           /* assigned on first use; 0 = not yet */
};

struct db;

/* A handle for url, not yet connected. NULL when out of memory. Caller owns it. */
struct db *db_new(const char *url, int statement_timeout_ms);
void db_free(struct db *db);

/*
 * Connect if needed (at most one attempt per DB_RETRY_MS). Returns true
 * when the connection is usable. Never blocks longer than the connect
 * timeout (2 s); a refused connection returns at once.
 */
bool db_ready(struct db *db);

/*
 * Execute stmt with text parameters (NULL = SQL NULL). The result is
 * registered on arena a. Returns NULL on any failure (connection lost,
 * timeout, constraint violation...); *sqlstate (may be NULL) then gets
 * the five-character SQLSTATE or "" when the connection itself failed.
 * A lost connection is reset so the next call reconnects.
 */
PGresult *db_exec(struct db *db, struct arena *a, struct db_stmt *stmt,
                  const char *const *params, const char **sqlstate);

/*
 * bytea in text form, since statements take and return text: bin[0..len)
 * as bytea hex input ("\\x0a1b..."), on arena a (NULL on OOM), and back
 * from a result field in hex output format (NULL when SQL NULL or
 * malformed; *len gets the byte count).
 */
char *db_bytea_text(struct arena *a, const unsigned char *bin, size_t len);
unsigned char *db_bytea_value(struct arena *a, const PGresult *res, int row, int col,
                              size_t *len);

/* BEGIN / COMMIT / ROLLBACK. 0 or -1. */
int db_begin(struct db *db) __attribute__((warn_unused_result));
/*
 * Run one constant statement that cannot be prepared or run inside a
 * transaction (SET, VACUUM), outside any transaction. Never pass text
 * built from input. 0, or -1 (db_down() tells a lost connection).
 */
int db_exec_plain(struct db *db, const char *sql) __attribute__((warn_unused_result));
int db_commit(struct db *db) __attribute__((warn_unused_result));
void db_rollback(struct db *db);

/* True when the last failure was the connection (503), not the query (500). */
bool db_down(const struct db *db);

/*
 * True when the last failure was the server being busy, not the query
 * being wrong: a statement timeout, a deadlock or serialization failure,
 * a lock not available, resources exhausted, a shutdown, a node that
 * became a standby (25006; the connection is dropped). Nothing was
 * acknowledged; the same request may succeed when sent again (503).
 * 40003 is a statement the server answered with a WARNING (a commit
 * whose wait for the synchronous standby was cancelled): it may be
 * written on this node, but a failover may take it back.
 */
bool db_busy(const struct db *db);

/* True when the last failure was that 40003: written here, not acknowledged. */
bool db_unconfirmed(const struct db *db);

/* The raw connection, for LISTEN/NOTIFY users. NULL when not connected. */
PGconn *db_conn(struct db *db);

/*
 * LISTEN on channel (a plain identifier, a constant) on every connection
 * db makes from now on, so notifications survive reconnects. Call before
 * the first db_ready().
 */
void db_listen(struct db *db, const char *channel);

/*
 * The notifications received so far (db_ready() reads what has arrived)
 * are dropped and counted. A caller that must not miss one also watches
 * db_generation(): a new connection may have missed some.
 */
unsigned db_notifications(struct db *db);

/* Changes whenever db makes a new connection; 0 before the first. */
uint32_t db_generation(const struct db *db);

/*
 * A connection of its own for url, outside struct db (`sotto migrate`).
 * The URL comes first so that the settings after it win: connect_timeout
 * bounds the wait, options sets statement_timeout for the whole session
 * without an extra round trip (timeout_ms 0 = leave the server default).
 * NULL only on OOM; check PQstatus() otherwise. The caller owns the result.
 */
PGconn *db_open(const char *url, const char *app_name, int timeout_ms);

/* A notice processor that drops libpq's notices (they may carry data). */
void db_quiet_notice(void *arg, const char *message);

/* True when res holds a successful command or rows. */
bool db_result_ok(const PGresult *res);

#endif
