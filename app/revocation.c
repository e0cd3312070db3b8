/*
 * revocation.c — see revocation.h.
 */
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "arena.h"
#include "auth.h"
#include "cache.h"
#include "db.h"
#include "log.h"
#include "revocation.h"
#include "util.h"

#define REVOCATION_ORIGIN_KEY "rv-origin"
#define REVOCATION_RUN_ID_MAX 64

static struct db_stmt stmt_live = {
	"revocation_live",
	"SELECT jti, (expires_day + 1)::bigint * 86400 - $1 FROM token_revocations "
	"WHERE expires_day >= $1 / 86400", 1, 0
};

/*
 * One SCAN step over the cached account records (auth.h "ac:<h>:<j>"),
 * deleting what it finds; returns the next cursor ("0" at the end).
 */
static const char forget_script[] =
	"local r = redis.call('SCAN', ARGV[1], 'MATCH', 'ac:*', 'COUNT', 1000) "
	"for _, k in ipairs(r[2]) do redis.call('DEL', k) end "
	"return r[1]";

/*
 * KEYS: the revocation markers (auth_revoked_key); ARGV: the seconds each
 * lives (until the end of the day its token expires: the row keeps no
 * finer time, and a marker that outlives its token costs nothing). NX: a
 * key that is there already stays.
 */
static const char restore_script[] =
	"for i = 1, #KEYS do "
	"redis.call('SET', KEYS[i], '1', 'EX', ARGV[i], 'NX') end "
	"return #KEYS";

/*
 * The run_id of the server c is connected to, from INFO server, copied
 * into out (capacity REVOCATION_RUN_ID_MAX + 1). 0 or -1.
 */
static int server_run_id(struct cache *c, struct arena *a, char *out)
{
	const char *argv[2] = { "INFO", "server" };
	redisReply *r = cache_command(c, a, 2, argv, NULL);
	const char *p;
	size_t n;

	if (!cache_reply_is(r, REDIS_REPLY_STRING))
		return -1;
	p = strstr(r->str, "\nrun_id:");
	if (p == NULL)
		return -1;
	p += strlen("\nrun_id:");
	n = strcspn(p, "\r\n");
	if (n == 0 || n > REVOCATION_RUN_ID_MAX)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/*
 * Write rows [from, to) of res (jti hash, seconds) back to Redis in one
 * EVAL, under the key the auth check reads. 0 or -1.
 */
static int restore_batch(struct cache *c, struct arena *a, const PGresult *res, int from, int to)
{
	const char *argv[3 + 2 * REVOCATION_RESTORE_BATCH] = {
		"EVAL", restore_script, arena_i64(a, to - from)
	};
	int n = to - from;
	redisReply *r;

	if (argv[2] == NULL)
		return -1;
	for (int i = 0; i < n; i++) {
		argv[3 + i] = auth_revoked_key(a, PQgetvalue(res, from + i, 0));
		argv[3 + n + i] = PQgetvalue(res, from + i, 1);
		if (argv[3 + i] == NULL)
			return -1;
	}
	r = cache_command(c, a, 3 + 2 * n, argv, NULL);
	return cache_reply_is(r, REDIS_REPLY_INTEGER) ? 0 : -1;
}

/* Every live revocation from PostgreSQL into Redis. Count or -1. */
static int restore_all(struct cache *c, struct db *db, struct arena *a)
{
	const char *params[1] = { arena_i64(a, (int64_t)(util_wall_us() / 1000000)) };
	PGresult *res;
	int n;

	if (params[0] == NULL || (res = db_exec(db, a, &stmt_live, params, NULL)) == NULL)
		return -1;
	n = PQntuples(res);
	for (int i = 0; i < n; i += REVOCATION_RESTORE_BATCH) {
		int to = n - i > REVOCATION_RESTORE_BATCH ? i + REVOCATION_RESTORE_BATCH : n;

		if (restore_batch(c, a, res, i, to) != 0)
			return -1;
	}
	return n;
}

/*
 * Drop every cached account record: one that outlived a lost deletion
 * marker or a lost change would otherwise keep answering for the account
 * until it expires. They are only a cache; the next request reads the
 * account from PostgreSQL. 0 or -1.
 */
static int forget_records(struct cache *c, struct arena *a)
{
	char cursor[32] = "0";
	const char *argv[4] = { "EVAL", forget_script, "0", cursor };
	redisReply *r;

	do {
		r = cache_command(c, a, 4, argv, NULL);
		if (!cache_reply_is(r, REDIS_REPLY_STRING) || r->len >= sizeof(cursor))
			return -1;
		memcpy(cursor, r->str, r->len + 1);
	} while (strcmp(cursor, "0") != 0);
	return 0;
}

int revocation_restore(struct cache *c, void *db)
{
	char run_id[REVOCATION_RUN_ID_MAX + 1];
	const char *get[2] = { "GET", REVOCATION_ORIGIN_KEY };
	const char *set[3] = { "SET", REVOCATION_ORIGIN_KEY, run_id };
	struct arena *a = arena_new();
	redisReply *r;
	int rc = -1, n;

	if (a == NULL || server_run_id(c, a, run_id) != 0)
		goto out;
	r = cache_command(c, a, 2, get, NULL);
	if (cache_reply_is(r, REDIS_REPLY_STRING) && strcmp(r->str, run_id) == 0) {
		rc = 0;
		goto out;
	}
	if (!cache_reply_is(r, REDIS_REPLY_STRING) && !cache_reply_is(r, REDIS_REPLY_NIL))
		goto out;
	if ((n = restore_all(c, db, a)) < 0 || forget_records(c, a) != 0)
		goto out;
	r = cache_command(c, a, 3, set, NULL);
	if (!cache_reply_is(r, REDIS_REPLY_STATUS))
		goto out;
	log_msg(LOG_INFO, "revocation: %d live revocations written to a new Redis server, "
	        "cached account records dropped", n);
	rc = 0;
out:
	if (rc != 0)
		log_msg(LOG_WARN, "revocation: restoring the revocations failed");
	arena_free(a);
	return rc;
}
