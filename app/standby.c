/*
 * standby.c — see standby.h: which reads the standby may answer, how far
 * behind it is, and the read-your-writes marks.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "auth.h"
#include "cache.h"
#include "config.h"
#include "context.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "router.h"
#include "standby.h"
#include "util.h"

/*
 * The primary's position; the standby's replayed one (its own, when it is
 * no standby), whether it is one, and which server run each is (a node
 * that is no standby must be the primary itself).
 */
static struct db_stmt stmt_primary_lsn = {
	"standby_primary_lsn", "SELECT pg_current_wal_lsn()::text, pg_postmaster_start_time()::text",
	0, 0
};
static struct db_stmt stmt_replay_lsn = {
	"standby_replay_lsn", "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
	"ELSE pg_current_wal_lsn() END)::text, pg_is_in_recovery(), "
	"pg_postmaster_start_time()::text", 0, 0
};
/* Past the commit of everything this session wrote (the insert position). */
static struct db_stmt stmt_insert_lsn = {
	"standby_insert_lsn", "SELECT pg_current_wal_insert_lsn()::text", 0, 0
};

/* Keep the higher of the mark there and ARGV[1] (same-length hex compares as text). */
static const char mark_script[] =
	"local v = redis.call('GET', KEYS[1]) "
	"if v and string.len(v) == string.len(ARGV[1]) and v >= ARGV[1] then "
	"redis.call('EXPIRE', KEYS[1], ARGV[2]) return 0 end "
	"redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1";
static struct cache_script mark_eval = CACHE_SCRIPT(mark_script);

struct standby {
	struct db *db;              /* ctx->db_read */
	uint64_t checked_us;        /* last check (0: never) */
	uint64_t retry_us;          /* after a failure: no use before this */
	uint32_t db_gen;            /* the read connection the replay position is of */
	bool usable;                /* last check: answering, within the lag bound */
	uint64_t replay;            /* its replayed position at the last check */
	struct standby_sample sample[STANDBY_SAMPLES];
	size_t n, next;             /* samples held; where the next one goes */
};

/* ---- LSN text ------------------------------------------------------------ */

/* 1 to 8 hex digits at *p into *v, *p past them; -1 for none or too many. */
static int hex_group(const char **p, uint32_t *v)
{
	size_t n = 0;

	*v = 0;
	for (; n < 9; n++, (*p)++) {
		char c = **p;
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 :
		        c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (d < 0)
			break;
		*v = (*v << 4) | (uint32_t)d;
	}
	return n >= 1 && n <= 8 ? 0 : -1;
}

int standby_lsn_parse(const char *text, uint64_t *lsn)
{
	uint32_t hi, lo;

	if (text == NULL || hex_group(&text, &hi) != 0 || *text++ != '/' ||
	    hex_group(&text, &lo) != 0 || *text != '\0')
		return -1;
	*lsn = (uint64_t)hi << 32 | lo;
	return 0;
}

int standby_lsn_key_parse(const char *text, size_t len, uint64_t *lsn)
{
	uint64_t v = 0;

	if (text == NULL || len != STANDBY_LSN_HEX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return -1;
	}
	*lsn = v;
	return 0;
}

void standby_lsn_key_text(uint64_t lsn, char out[STANDBY_LSN_HEX + 1])
{
	snprintf(out, STANDBY_LSN_HEX + 1, "%016" PRIx64, lsn);
}

bool standby_within(const struct standby_sample *s, size_t n, uint64_t replay,
                    uint64_t now_us, uint64_t bound_us, uint64_t since_us)
{
	uint64_t oldest = now_us > bound_us ? now_us - bound_us : 0;

	if (since_us > oldest)
		oldest = since_us;
	for (size_t i = 0; i < n; i++)
		if (s[i].us >= oldest && s[i].us <= now_us && s[i].lsn <= replay)
			return true;
	return false;
}

/* ---- the worker's view ---------------------------------------------------- */

struct standby *standby_new(struct db *read)
{
	struct standby *s = calloc(1, sizeof(*s));

	if (s != NULL)
		s->db = read;
	return s;
}

void standby_free(struct standby *s)
{
	free(s);
}

/* The row of stmt, its first column a position into *lsn; NULL when failed, NULL or malformed. */
static PGresult *position_of(struct request *req, struct db *db, struct db_stmt *stmt,
                             uint64_t *lsn)
{
	PGresult *res = db_exec(db, req->arena, stmt, NULL, NULL);

	if (res == NULL || PQntuples(res) != 1 || PQgetisnull(res, 0, 0) ||
	    standby_lsn_parse(PQgetvalue(res, 0, 0), lsn) != 0)
		return NULL;
	return res;
}

/*
 * Measure: the primary's position first, then the standby's, so a standby
 * at or past the position just read is current. Sets s->usable.
 */
static void standby_check(struct request *req, struct standby *s, uint64_t now)
{
	uint64_t primary, bound = (uint64_t)req->ctx->cfg->read_max_lag_ms * 1000;
	PGresult *p, *r;

	s->checked_us = now;
	s->usable = false;
	if ((p = position_of(req, req->ctx->db, &stmt_primary_lsn, &primary)) == NULL)
		return;
	s->sample[s->next] = (struct standby_sample){ util_now_us(), primary };
	s->next = (s->next + 1) % STANDBY_SAMPLES;
	if (s->n < STANDBY_SAMPLES)
		s->n++;
	if (!db_ready(s->db) || (r = position_of(req, s->db, &stmt_replay_lsn, &s->replay)) == NULL) {
		s->retry_us = util_now_us() + STANDBY_RETRY_MS * 1000;
		return;
	}
	s->db_gen = db_generation(s->db);
	/*
	 * A primary that is not ours (one cut off by a failover, its WAL on
	 * another timeline) is never current, whatever its position says.
	 */
	if (PQgetvalue(r, 0, 1)[0] != 't' && strcmp(PQgetvalue(r, 0, 2), PQgetvalue(p, 0, 1)) != 0)
		return;
	s->usable = standby_within(s->sample, s->n, s->replay, util_now_us(), bound, 0);
}

void standby_route(struct request *req)
{
	struct standby *s = req->ctx->standby;
	const struct account *acc = req->account;
	uint64_t now, wrote = 0;

	if (s == NULL || !(req->route->flags & ROUTE_STANDBY))
		return;
	/* a token the route does not check names no account whose writes we could wait for */
	if (acc == NULL && http_env(req, "HTTP_AUTHORIZATION") != NULL)
		return;
	/* a mark that is no position says nothing: the primary */
	if (acc != NULL && acc->written_mark != NULL &&
	    standby_lsn_key_parse(acc->written_mark, acc->written_mark_len, &wrote) != 0)
		return;
	now = util_now_us();
	if (now < s->retry_us)
		return;
	if (s->checked_us == 0 || now - s->checked_us >= STANDBY_CHECK_MS * 1000 ||
	    db_generation(s->db) != s->db_gen)
		standby_check(req, s, now);
	/* the check above read this connection: it answers for what it said */
	if (s->usable && s->replay >= wrote && db_generation(s->db) == s->db_gen)
		req->db = s->db;
}

bool standby_failed(struct request *req, int status)
{
	struct standby *s = req->ctx->standby;

	if (s == NULL || req->db != s->db || status != 503 ||
	    !(db_down(s->db) || db_busy(s->db)))
		return false;
	s->usable = false;
	s->retry_us = util_now_us() + STANDBY_RETRY_MS * 1000;
	req->db = req->ctx->db;
	return true;
}

bool standby_covers(const struct request *req, uint64_t since_us)
{
	const struct standby *s = req->ctx->standby;

	if (s == NULL || req->db != s->db)
		return true;
	return standby_within(s->sample, s->n, s->replay, util_now_us(), UINT64_MAX, since_us);
}

void standby_note_write(struct request *req, int status)
{
	const struct context *ctx = req->ctx;
	char lsn_text[STANDBY_LSN_HEX + 1], ttl[16];
	const char *argv[6] = { NULL, NULL, "1", NULL, lsn_text, ttl };
	uint64_t lsn;
	redisReply *r;

	if (ctx->standby == NULL || req->route == NULL || !(req->route->flags & ROUTE_WRITE) ||
	    req->account == NULL || status < 200 || status > 299)
		return;
	if (position_of(req, ctx->db, &stmt_insert_lsn, &lsn) == NULL) {
		log_msg(LOG_WARN, "read-your-writes: the primary's WAL position is unreadable");
		return;
	}
	standby_lsn_key_text(lsn, lsn_text);
	snprintf(ttl, sizeof(ttl), "%d", ctx->cfg->read_your_writes_s);
	if ((argv[3] = auth_written_key(req->arena, req->account->id_hash)) == NULL)
		return;
	r = cache_eval(ctx->cache, req->arena, &mark_eval, 6, argv, NULL);
	if (!cache_reply_is(r, REDIS_REPLY_INTEGER))
		log_msg(LOG_WARN, "read-your-writes: the mark could not be kept in Redis");
}
