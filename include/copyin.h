/*
 * copyin.h — bulk loading with `COPY ... FROM STDIN` in text format
 * (`sotto bench-data`): fields are appended to a buffer that goes to the
 * server in pieces of about COPYIN_FLUSH_BYTES, one COPY at a time per
 * writer. Text format: fields separated by the sep each call is given
 * (tab, or newline at the end of a row), NULL as \N, bytea as "\\x" hex.
 *
 * Failures are reported on stderr by SQLSTATE only: libpq's message text
 * can quote the values being loaded.
 */
#ifndef SOTTO_COPYIN_H
#define SOTTO_COPYIN_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#define COPYIN_FLUSH_BYTES (1u << 20)

struct copyin {
	PGconn *conn;         /* of the COPY in progress */
	const char *what;     /* names it in messages, e.g. "bench-data: COPY posts" */
	char *p;              /* the buffer, kept from one COPY to the next */
	size_t len, cap;
	bool failed;          /* out of memory: the COPY must be abandoned */
};

/* "<what> failed: SQLSTATE <state>" (or "connection lost" when res is NULL). */
void copyin_report(const char *what, const PGresult *res);

/*
 * Start sql (a constant `COPY ... FROM STDIN`) on conn; what names it in
 * messages and must outlive the COPY. 0, or -1 (reported).
 */
int copyin_begin(struct copyin *c, PGconn *conn, const char *sql, const char *what)
    __attribute__((warn_unused_result));

/* Append one field followed by sep. Out of memory sets c->failed. */
void copyin_int(struct copyin *c, long long v, char sep);
void copyin_null(struct copyin *c, char sep);
void copyin_bytea(struct copyin *c, const unsigned char *bin, size_t len, char sep);
void copyin_text(struct copyin *c, const char *s, char sep);   /* escapes \ tab LF CR */

/* After a row: send the buffer once it is full. 0, or -1 (reported). */
int copyin_row_done(struct copyin *c) __attribute__((warn_unused_result));

/*
 * Finish the COPY: with ok, send the rest and end it; without, abort it
 * (its transaction then fails). The connection leaves the COPY state
 * either way. 0 when the COPY succeeded, else -1 (reported unless !ok).
 */
int copyin_end(struct copyin *c, bool ok);

/* Free the buffer. Safe on a zeroed struct. */
void copyin_free(struct copyin *c);

#endif
