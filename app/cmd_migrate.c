/*
 * cmd_migrate.c — `sotto migrate`: apply the schema migrations of
 * SOTTO_MIGRATIONS_DIR (sql/NNN_*.sql) that are not yet recorded in
 * schema_migrations, in number order, each file in its own transaction
 * under an advisory lock, so concurrent runs take turns and an
 * interrupted run continues where it stopped. Exit 0 done (also when
 * there was nothing to do), 1 failed.
 *
 * Errors print the SQLSTATE and PostgreSQL's primary message, never a
 * DETAIL (it may quote rows).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libpq-fe.h>

#include "cmd.h"
#include "config.h"
#include "db.h"

/* Arbitrary constant held (transaction-scoped) by `sotto migrate`: "sotto" in ASCII. */
#define DB_MIGRATE_LOCK_KEY "495874815087"
#define DB_MIGRATION_MAX_BYTES (16u * 1024 * 1024)
#define DB_MIGRATIONS_MAX 4096

struct migration {
	char *name;          /* file name, e.g. "001_init.sql" */
	char *version;       /* its number as written, e.g. "001" */
	unsigned long long number;
};

/* "NNN_*.sql": three or more digits, '_', at least one more character, ".sql". */
static bool migration_name(const char *name, size_t *digits)
{
	size_t n = 0, len = strlen(name);

	while (name[n] >= '0' && name[n] <= '9')
		n++;
	if (n < 3 || n > 18 || name[n] != '_')
		return false;
	if (len < n + 1 + 1 + 4 || strcmp(name + len - 4, ".sql") != 0)
		return false;
	*digits = n;
	return true;
}

static int migration_cmp(const void *pa, const void *pb)
{
	const struct migration *a = pa, *b = pb;

	if (a->number != b->number)
		return a->number < b->number ? -1 : 1;
	return strcmp(a->name, b->name);
}

static void migrations_free(struct migration *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].name);
		free(m[i].version);
	}
	free(m);
}

/*
 * The migration files of dir, sorted by number. Two files with the same
 * number are an error (their order would be a guess). 0 or -1.
 */
static int migrations_list(const char *dir, struct migration **out, size_t *n_out)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct migration *m = NULL;
	size_t n = 0, cap = 0;
	int rc = -1;

	if (d == NULL) {
		fprintf(stderr, "migrate: cannot open %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		size_t digits;

		if (!migration_name(e->d_name, &digits))
			continue;
		if (n == cap) {
			struct migration *grown;

			if (cap >= DB_MIGRATIONS_MAX) {
				fprintf(stderr, "migrate: too many files in %s\n", dir);
				goto out;
			}
			cap = cap ? cap * 2 : 16;
			grown = realloc(m, cap * sizeof(*m));
			if (grown == NULL)
				goto oom;
			m = grown;
		}
		m[n].name = strdup(e->d_name);
		m[n].version = strndup(e->d_name, digits);
		m[n].number = strtoull(e->d_name, NULL, 10);
		n++;
		if (m[n - 1].name == NULL || m[n - 1].version == NULL)
			goto oom;
	}
	if (n > 0)
		qsort(m, n, sizeof(*m), migration_cmp);
	for (size_t i = 1; i < n; i++) {
		if (m[i].number == m[i - 1].number) {
			fprintf(stderr, "migrate: %s and %s share a number\n",
			        m[i - 1].name, m[i].name);
			goto out;
		}
	}
	rc = 0;
	goto out;
oom:
	fprintf(stderr, "migrate: out of memory\n");
out:
	closedir(d);
	if (rc == 0) {
		*out = m;
		*n_out = n;
	} else {
		migrations_free(m, n);
	}
	return rc;
}

/* The whole file as a NUL-terminated string (malloc'd), or NULL with a message. */
static char *migration_read(const char *dir, const char *name)
{
	char path[PATH_MAX];
	FILE *f = NULL;
	char *buf = NULL;
	struct stat st;
	size_t got;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
		fprintf(stderr, "migrate: path too long for %s\n", name);
		return NULL;
	}
	f = fopen(path, "rb");
	if (f == NULL || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "migrate: cannot read %s\n", path);
		goto fail;
	}
	if ((uint64_t)st.st_size > DB_MIGRATION_MAX_BYTES) {
		fprintf(stderr, "migrate: %s is too large\n", path);
		goto fail;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		fprintf(stderr, "migrate: out of memory\n");
		goto fail;
	}
	got = fread(buf, 1, (size_t)st.st_size, f);
	if (got != (size_t)st.st_size || memchr(buf, '\0', got) != NULL) {
		fprintf(stderr, "migrate: cannot read %s (short read or NUL byte)\n", path);
		goto fail;
	}
	buf[got] = '\0';
	fclose(f);
	return buf;
fail:
	free(buf);
	if (f != NULL)
		fclose(f);
	return NULL;
}

/* Print a failed migration step: SQLSTATE and primary message (no DETAIL: it may quote rows). */
static void migrate_report(const char *what, PGconn *conn, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *pos = res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;

	if (msg == NULL) {
		/* A client-side failure (connection lost...): libpq's own text, one line. */
		msg = PQerrorMessage(conn);
	}
	fprintf(stderr, "migrate: %s failed: SQLSTATE %s: %s", what,
	        state ? state : "-", msg);
	if (msg[0] == '\0' || msg[strlen(msg) - 1] != '\n')
		fputc('\n', stderr);
	if (pos != NULL)
		fprintf(stderr, "migrate: at character %s of %s\n", pos, what);
}

/* Run sql (possibly several statements); 0, or -1 after reporting. */
static int migrate_run(PGconn *conn, const char *what, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	int rc = 0;

	if (res == NULL || !db_result_ok(res)) {
		migrate_report(what, conn, res);
		rc = -1;
	}
	PQclear(res);
	return rc;
}

/*
 * Apply one migration in its own transaction, under the migration lock,
 * unless it is already recorded. *applied tells which. 0 or -1.
 */
static int migrate_one(PGconn *conn, const char *dir, const struct migration *m,
                       bool *applied)
{
	const char *params[1] = { m->version };
	PGresult *res = NULL;
	char *sql = NULL;
	int rc = -1;

	*applied = false;
	if (migrate_run(conn, "BEGIN", "BEGIN") != 0)
		return -1;
	if (migrate_run(conn, "lock", "SELECT pg_advisory_xact_lock(" DB_MIGRATE_LOCK_KEY ")") != 0)
		goto out;
	res = PQexecParams(conn, "SELECT 1 FROM schema_migrations WHERE version = $1",
	                   1, NULL, params, NULL, NULL, 0);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		migrate_report("lookup", conn, res);
		goto out;
	}
	if (PQntuples(res) > 0) {
		rc = migrate_run(conn, "COMMIT", "COMMIT");
		goto out;
	}
	PQclear(res);
	res = NULL;
	if ((sql = migration_read(dir, m->name)) == NULL)
		goto out;
	if (migrate_run(conn, m->name, sql) != 0)
		goto out;
	res = PQexecParams(conn,
	                   "INSERT INTO schema_migrations (version, applied_day) VALUES "
	                   "($1, (now() AT TIME ZONE 'UTC')::date - DATE '1970-01-01')",
	                   1, NULL, params, NULL, NULL, 0);
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
		migrate_report("record", conn, res);
		goto out;
	}
	if (migrate_run(conn, "COMMIT", "COMMIT") != 0)
		goto out;
	*applied = true;
	rc = 0;
out:
	if (rc != 0 && PQstatus(conn) == CONNECTION_OK &&
	    PQtransactionStatus(conn) != PQTRANS_IDLE)
		(void)migrate_run(conn, "ROLLBACK", "ROLLBACK");
	PQclear(res);
	free(sql);
	return rc;
}

/*
 * Apply the NNN_*.sql files of dir in order, each in its own transaction,
 * recording each in schema_migrations; already-applied files are skipped.
 * Prints one line per applied file to stdout. 0 or -1 (message on stderr).
 */
static int migrate(const char *url, const char *dir)
{
	PGconn *conn = NULL;
	struct migration *m = NULL;
	size_t n = 0, applied = 0;
	int rc = -1;

	if (migrations_list(dir, &m, &n) != 0)
		return -1;
	/* No statement_timeout: a migration may legitimately run long. */
	conn = db_open(url != NULL ? url : "", "sotto-migrate", 0);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "migrate: cannot connect: %s",
		        conn ? PQerrorMessage(conn) : "out of memory\n");
		goto out;
	}
	PQsetNoticeProcessor(conn, db_quiet_notice, NULL);
	/* The lock makes concurrent `sotto migrate` runs take turns, even for the CREATE. */
	if (migrate_run(conn, "BEGIN", "BEGIN") != 0)
		goto out;
	if (migrate_run(conn, "lock", "SELECT pg_advisory_xact_lock(" DB_MIGRATE_LOCK_KEY ")") != 0 ||
	    migrate_run(conn, "create schema_migrations",
	                "CREATE TABLE IF NOT EXISTS schema_migrations ("
	                " version text PRIMARY KEY,"
	                " applied_day integer NOT NULL)") != 0 ||
	    migrate_run(conn, "COMMIT", "COMMIT") != 0) {
		(void)migrate_run(conn, "ROLLBACK", "ROLLBACK");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		bool done;

		if (migrate_one(conn, dir, &m[i], &done) != 0)
			goto out;
		if (done) {
			printf("applied %s\n", m[i].name);
			fflush(stdout);
			applied++;
		}
	}
	if (applied == 0)
		printf("nothing to do\n");
	rc = 0;
out:
	if (conn != NULL)
		PQfinish(conn);
	migrations_free(m, n);
	return rc;
}

int cmd_migrate(int argc, char **argv, const struct config *cfg)
{
	(void)argc;
	(void)argv;
	return migrate(cfg->database_url, cfg->migrations_dir) == 0 ? 0 : 1;
}
