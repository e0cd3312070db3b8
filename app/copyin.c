/*
 * copyin.c — COPY FROM STDIN in text format, buffered (see copyin.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "copyin.h"

void copyin_report(const char *what, const PGresult *res)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (state != NULL)
		fprintf(stderr, "%s failed: SQLSTATE %s\n", what, state);
	else
		fprintf(stderr, "%s failed: connection lost\n", what);
}

int copyin_begin(struct copyin *c, PGconn *conn, const char *sql, const char *what)
{
	PGresult *res = conn != NULL ? PQexec(conn, sql) : NULL;
	int rc = res != NULL && PQresultStatus(res) == PGRES_COPY_IN ? 0 : -1;

	if (rc != 0)
		copyin_report(what, res);
	PQclear(res);
	c->conn = rc == 0 ? conn : NULL;
	c->what = what;
	c->len = 0;
	c->failed = false;
	return rc;
}

/* n writable bytes at the end of the buffer, or NULL (c->failed) when out of memory. */
static char *room(struct copyin *c, size_t n)
{
	char *p;
	size_t cap;

	if (c->failed)
		return NULL;
	if (c->len + n > c->cap) {
		for (cap = c->cap > 0 ? c->cap : 2 * COPYIN_FLUSH_BYTES; cap < c->len + n; cap *= 2)
			;
		if ((p = realloc(c->p, cap)) == NULL) {
			c->failed = true;
			return NULL;
		}
		c->p = p;
		c->cap = cap;
	}
	return c->p + c->len;
}

void copyin_int(struct copyin *c, long long v, char sep)
{
	char *p = room(c, 22);   /* "-9223372036854775808", sep, NUL */

	if (p != NULL)
		c->len += (size_t)snprintf(p, 22, "%lld%c", v, sep);
}

void copyin_null(struct copyin *c, char sep)
{
	char *p = room(c, 3);

	if (p == NULL)
		return;
	memcpy(p, "\\N", 2);
	p[2] = sep;
	c->len += 3;
}

/* "\\x<hex>": COPY turns the doubled backslash into the one bytea input expects. */
void copyin_bytea(struct copyin *c, const unsigned char *bin, size_t len, char sep)
{
	static const char hex[] = "0123456789abcdef";
	char *p = room(c, 3 + 2 * len + 1);

	if (p == NULL)
		return;
	*p++ = '\\';
	*p++ = '\\';
	*p++ = 'x';
	for (size_t i = 0; i < len; i++) {
		*p++ = hex[bin[i] >> 4];
		*p++ = hex[bin[i] & 15];
	}
	*p = sep;
	c->len += 3 + 2 * len + 1;
}

void copyin_text(struct copyin *c, const char *s, char sep)
{
	char *p = room(c, 2 * strlen(s) + 1);

	if (p == NULL)
		return;
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '\\': *p++ = '\\'; *p++ = '\\'; break;
		case '\t': *p++ = '\\'; *p++ = 't'; break;
		case '\n': *p++ = '\\'; *p++ = 'n'; break;
		case '\r': *p++ = '\\'; *p++ = 'r'; break;
		default: *p++ = *s; break;
		}
	}
	*p++ = sep;
	c->len = (size_t)(p - c->p);
}

/* Send the buffer (all of it when force, else once full). 0 or -1 (reported). */
static int flush(struct copyin *c, bool force)
{
	if (c->failed) {
		fprintf(stderr, "%s failed: out of memory\n", c->what);
		return -1;
	}
	if (c->len == 0 || (!force && c->len < COPYIN_FLUSH_BYTES))
		return 0;
	if (c->conn == NULL || PQputCopyData(c->conn, c->p, (int)c->len) != 1) {
		copyin_report(c->what, NULL);
		return -1;
	}
	c->len = 0;
	return 0;
}

int copyin_row_done(struct copyin *c)
{
	return flush(c, false);
}

int copyin_end(struct copyin *c, bool ok)
{
	PGresult *res;
	int rc = 0;

	if (c->conn == NULL)
		return -1;
	if (ok && flush(c, true) != 0)
		ok = false;
	if (PQputCopyEnd(c->conn, ok ? NULL : "stopped by the client") != 1) {
		copyin_report(c->what, NULL);
		rc = -1;
	}
	while ((res = PQgetResult(c->conn)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			if (ok && rc == 0)
				copyin_report(c->what, res);
			rc = -1;
		}
		PQclear(res);
	}
	c->conn = NULL;
	c->len = 0;
	return ok ? rc : -1;
}

void copyin_free(struct copyin *c)
{
	free(c->p);
	memset(c, 0, sizeof(*c));
}
