/*
 * cmd_rotate_keys.c — `sotto rotate-keys`: move every account's data key
 * under the newest CONTENT_KEYS version (crypto.h: wrapped keys), online
 * and resumable. Exit 0 when every data key is under the newest master
 * key, 1 when some are not (counted and reported), 2 when it could not run.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "cmd.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "util.h"

#define ROTATE_BATCH 500   /* rows per rotate-keys transaction */

/* "\x" + two hex digits per byte + NUL: a bytea in PostgreSQL's hex input format. */
#define ROTATE_HEX_BYTES (2 + 2 * CRYPTO_WRAPPED_BYTES + 1)

/*
 * encode(..., 'hex') rather than the bytea column itself, so the text we
 * decode does not depend on the server's bytea_output setting.
 */
static struct db_stmt rotate_select = {
	.name = "crypto_rotate_select",
	.sql = "SELECT account_pk, version, encode(wrapped, 'hex') FROM account_keys"
	       " WHERE version <> $1 AND account_pk > $2"
	       " ORDER BY account_pk LIMIT $3 FOR UPDATE SKIP LOCKED",
	.n_params = 3,
};

/* version = $4 as well: never overwrite a row that is not what we unwrapped. */
static struct db_stmt rotate_update = {
	.name = "crypto_rotate_update",
	.sql = "UPDATE account_keys SET version = $1, wrapped = $2"
	       " WHERE account_pk = $3 AND version = $4",
	.n_params = 4,
};

static struct db_stmt rotate_left = {
	.name = "crypto_rotate_left",
	.sql = "SELECT count(*) FROM account_keys WHERE version <> $1",
	.n_params = 1,
};

struct rotate_stats {
	unsigned long long rewrapped;    /* now under the newest version */
	unsigned long long unconfigured; /* under a master version not in CONTENT_KEYS */
	unsigned long long damaged;      /* did not unwrap: tampered, wrong key, bad length */
	unsigned long long changed;      /* the row changed under us (not updated) */
};

/* One row to rewrap: the texts are as the database returned them. */
struct rotate_row {
	const char *pk;
	const char *version;
	const char *wrapped_hex;
};

static void rotate_stats_add(struct rotate_stats *to, const struct rotate_stats *from)
{
	to->rewrapped += from->rewrapped;
	to->unconfigured += from->unconfigured;
	to->damaged += from->damaged;
	to->changed += from->changed;
}

/* A failed database step; sqlstate NULL = unknown, "" = the connection was lost. */
static void rotate_db_error(const char *what, const char *sqlstate)
{
	if (sqlstate == NULL)
		fprintf(stderr, "rotate-keys: %s failed\n", what);
	else if (sqlstate[0] == '\0')
		fprintf(stderr, "rotate-keys: %s failed: connection lost\n", what);
	else
		fprintf(stderr, "rotate-keys: %s failed: SQLSTATE %s\n", what, sqlstate);
}

/*
 * Decode and unwrap one row's data key into dk. 0, or -1 after counting
 * why not in *st (dk is then wiped). Never reports the key or the row.
 */
static int rotate_unwrap(const struct config *cfg, int64_t pk, const struct rotate_row *r,
                         struct rotate_stats *st, unsigned char dk[CRYPTO_KEY_BYTES])
{
	unsigned char wrapped[CRYPTO_WRAPPED_BYTES];
	const char *end = NULL;
	size_t bin_len = 0;
	int64_t version;

	sodium_memzero(dk, CRYPTO_KEY_BYTES);
	if (util_parse_int64(r->version, 1, UINT32_MAX, &version) != 0) {
		st->damaged++;
		return -1;
	}
	if (config_content_key_find(cfg, (uint32_t)version) == NULL) {
		st->unconfigured++;
		return -1;
	}
	if (sodium_hex2bin(wrapped, sizeof(wrapped), r->wrapped_hex, strlen(r->wrapped_hex),
	                   NULL, &bin_len, &end) != 0 || bin_len != sizeof(wrapped) ||
	    *end != '\0' ||
	    crypto_unwrap_key(cfg, pk, (uint32_t)version, wrapped, bin_len, dk) != 0) {
		st->damaged++;
		return -1;
	}
	return 0;
}

/*
 * Rewrap one row under the newest master key (inside the caller's
 * transaction). 0 when the row was handled (rewrapped, or counted in *st
 * as unreadable or changed), -1 on a database or internal failure.
 */
static int rotate_one(const struct config *cfg, struct db *db, struct arena *a,
                      int64_t pk, const struct rotate_row *r, struct rotate_stats *st)
{
	unsigned char dk[CRYPTO_KEY_BYTES], wrapped[CRYPTO_WRAPPED_BYTES];
	char hex[ROTATE_HEX_BYTES], version_text[16];
	const char *params[4], *sqlstate = NULL;
	uint32_t version;
	PGresult *res;
	int rc = -1;

	if (rotate_unwrap(cfg, pk, r, st, dk) != 0) {
		rc = 0;   /* counted; the row stays as it is */
		goto out;
	}
	if (crypto_wrap_key(cfg, pk, dk, wrapped, &version) != 0) {
		fprintf(stderr, "rotate-keys: wrapping failed\n");
		goto out;
	}
	hex[0] = '\\';
	hex[1] = 'x';
	sodium_bin2hex(hex + 2, sizeof(hex) - 2, wrapped, sizeof(wrapped));
	snprintf(version_text, sizeof(version_text), "%" PRIu32, version);
	params[0] = version_text;
	params[1] = hex;
	params[2] = r->pk;
	params[3] = r->version;
	if ((res = db_exec(db, a, &rotate_update, params, &sqlstate)) == NULL) {
		rotate_db_error("update", sqlstate);
		goto out;
	}
	/* Cannot happen while we hold the row lock; counted rather than trusted. */
	if (strcmp(PQcmdTuples(res), "1") == 0)
		st->rewrapped++;
	else
		st->changed++;
	rc = 0;
out:
	sodium_memzero(dk, sizeof(dk));
	return rc;
}

/*
 * One batch in its own transaction: lock up to `batch` rows after *last
 * not under version newest, rewrap them, commit. *n_rows gets the number
 * of rows taken (0 = done) and *last the highest pk seen. The counts are
 * added to *total only once committed. 0 or -1 (rolled back, reported).
 */
static int rotate_batch(const struct config *cfg, struct db *db, struct arena *a,
                        uint32_t newest, int batch, int64_t *last,
                        struct rotate_stats *total, int *n_rows)
{
	struct rotate_stats st = { 0 };
	char newest_text[16], last_text[24], batch_text[16];
	const char *params[3] = { newest_text, last_text, batch_text }, *sqlstate = NULL;
	PGresult *res;
	int n, rc = -1;
	int64_t pk = *last;

	snprintf(newest_text, sizeof(newest_text), "%" PRIu32, newest);
	snprintf(last_text, sizeof(last_text), "%" PRId64, *last);
	snprintf(batch_text, sizeof(batch_text), "%d", batch);
	if (db_begin(db) != 0) {
		rotate_db_error("BEGIN", NULL);
		goto out;
	}
	if ((res = db_exec(db, a, &rotate_select, params, &sqlstate)) == NULL) {
		rotate_db_error("select", sqlstate);
		goto out;
	}
	n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		struct rotate_row r = {
			PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
		};

		if (util_parse_int64(r.pk, INT64_MIN, INT64_MAX, &pk) != 0) {
			fprintf(stderr, "rotate-keys: unexpected account_pk from the database\n");
			goto out;
		}
		if (rotate_one(cfg, db, a, pk, &r, &st) != 0)
			goto out;
	}
	if (db_commit(db) != 0) {
		rotate_db_error("COMMIT", NULL);
		goto out;
	}
	rotate_stats_add(total, &st);
	*last = pk;
	*n_rows = n;
	if (st.rewrapped > 0) {
		printf("rotate-keys: rewrapped %llu keys to version %" PRIu32 "\n",
		       st.rewrapped, newest);
		fflush(stdout);
	}
	rc = 0;
out:
	if (rc != 0)
		db_rollback(db);
	arena_reset(a);
	return rc;
}

/* Keys still not under version newest, into *left. 0 or -1 (reported). */
static int rotate_count_left(struct db *db, struct arena *a, uint32_t newest,
                             long long *left)
{
	char newest_text[16];
	const char *params[1] = { newest_text }, *sqlstate = NULL;
	PGresult *res;
	int64_t v;
	int rc = -1;

	snprintf(newest_text, sizeof(newest_text), "%" PRIu32, newest);
	if ((res = db_exec(db, a, &rotate_left, params, &sqlstate)) == NULL) {
		rotate_db_error("count", sqlstate);
		goto out;
	}
	if (PQntuples(res) != 1 || util_parse_int64(PQgetvalue(res, 0, 0), 0, INT64_MAX, &v) != 0) {
		fprintf(stderr, "rotate-keys: unexpected count from the database\n");
		goto out;
	}
	*left = v;
	rc = 0;
out:
	arena_reset(a);
	return rc;
}

/* The closing lines: counts only, never keys or account ids. */
static void rotate_report(const struct rotate_stats *st, uint32_t newest, long long left)
{
	printf("rotate-keys: done: %llu keys rewrapped to version %" PRIu32
	       ", %llu under a version not configured, %llu failed to unwrap, "
	       "%lld left under older versions\n",
	       st->rewrapped, newest, st->unconfigured, st->damaged, left);
	if (st->unconfigured > 0)
		printf("rotate-keys: add their master key versions to CONTENT_KEYS and run again\n");
	if (st->damaged > 0)
		printf("rotate-keys: keys that failed to unwrap are damaged or were wrapped "
		       "with another master key of the same version\n");
	if (left > (long long)(st->unconfigured + st->damaged) || st->changed > 0)
		printf("rotate-keys: some keys were locked by other transactions or written "
		       "meanwhile under an older version; run again\n");
	fflush(stdout);
}

/*
 * Rewrap every data key not under the newest master
 * key, in batches of `batch` (>= 1) rows in account_pk order, each batch
 * its own short transaction (FOR UPDATE SKIP LOCKED), so it runs online
 * and an interrupted run simply continues when started again (keys
 * already under the newest version are not selected). The data keys
 * themselves do not change, so sealed content stays readable. Connects
 * to cfg->database_url on its own connection.
 *
 * Prints progress and a summary to stdout, errors to stderr: counts
 * only, never key material or account ids. Returns 0 when every key is
 * under the newest version; 1 when some are not (master version not
 * configured, damaged, or locked by another transaction meanwhile;
 * counted, left as they are, and reported); -1 when it could not run
 * (database failure, no content key, batch < 1).
 */
static int rotate_keys(const struct config *cfg, int batch)
{
	const struct content_key *newest = config_content_key_newest(cfg);
	struct rotate_stats total = { 0 };
	struct db *db = NULL;
	struct arena *a = NULL;
	int64_t last = 0;   /* account pks are identity values, all > 0 */
	long long left = 0;
	int n_rows, rc = -1;

	if (newest == NULL || batch < 1) {
		fprintf(stderr, "rotate-keys: %s\n",
		        newest == NULL ? "no CONTENT_KEYS configured" : "batch size must be positive");
		goto out;
	}
	db = db_new(cfg->database_url, cfg->db_statement_timeout_ms);
	a = arena_new();
	if (db == NULL || a == NULL) {
		fprintf(stderr, "rotate-keys: out of memory\n");
		goto out;
	}
	if (!db_ready(db)) {
		fprintf(stderr, "rotate-keys: cannot connect to the database (DATABASE_URL)\n");
		goto out;
	}
	do {
		if (rotate_batch(cfg, db, a, newest->version, batch, &last, &total, &n_rows) != 0) {
			fprintf(stderr, "rotate-keys: stopped after rewrapping %llu keys; "
			        "run again to continue\n", total.rewrapped);
			goto out;
		}
	} while (n_rows > 0);
	if (rotate_count_left(db, a, newest->version, &left) != 0)
		goto out;
	rotate_report(&total, newest->version, left);
	rc = total.unconfigured + total.damaged + total.changed > 0 || left > 0 ? 1 : 0;
out:
	arena_free(a);
	db_free(db);
	return rc;
}

int cmd_rotate_keys(int argc, char **argv, const struct config *cfg)
{
	int rc = rotate_keys(cfg, ROTATE_BATCH);

	(void)argc;
	(void)argv;
	return rc == 0 || rc == 1 ? rc : 2;
}
