/*
 * handlers_feed.c — GET /feed?sort=ranked|new&community=&cursor=&limit=
 *
 * sort=new walks top-level visible posts by their internal sequence, newest
 * first, with the last seen pk sealed in the cursor: new arrivals sort
 * before the walk's position, so they never push an item twice.
 *
 * sort=ranked (the default) orders by the kindness rank (sql/003_posts.sql,
 * docs/posts.md). Ranks move while a client pages, so the walk
 * reads a snapshot taken at its first page: the pks of the best
 * FEED_SNAPSHOT_MAX posts, in rank order, kept in Redis for
 * FEED_SNAPSHOT_TTL seconds; the cursor names the snapshot and an offset.
 * Past a full snapshot the walk goes on newest first among the posts that
 * existed at the snapshot and are not in it. So every post visible at the
 * first page appears exactly once, whatever votes do meanwhile. Posts
 * removed mid-walk drop out; posts made after the first page belong to
 * the next walk. A snapshot is sealed under its Redis key name
 * (cachemac.h): a Redis writer can neither choose which posts a walk shows
 * nor learn creation order by having pks of its choice listed. First pages within SOTTO_FEED_SNAPSHOT_SHARE seconds
 * share one snapshot, so a busy feed does not rank on every request.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "auth.h"
#include "community.h"
#include "cache.h"
#include "cachemac.h"
#include "config.h"
#include "cursor.h"
#include "db.h"
#include "feed_cache.h"
#include "json.h"
#include "handlers.h"
#include "page.h"
#include "post_view.h"
#include "shm.h"
#include "standby.h"
#include "util.h"
#include "context.h"

#define FEED_SNAPSHOT_MAX 1000
#define FEED_SNAPSHOT_TTL 1800
#define FEED_NEW_KIND "feed-new"
#define FEED_RANKED_KIND "feed-ranked"

#define TOP_LEVEL "p.parent_pk IS NULL AND p.status = 0 "

static struct db_stmt stmt_new = {
	"feed_new", "SELECT " POST_VIEW_SHARED_COLUMNS POST_VIEW_FROM "WHERE " TOP_LEVEL
	"AND p.pk < $1 AND NOT (p.pk = ANY ($3::bigint[])) ORDER BY p.pk DESC LIMIT $2", 3, 0
};
static struct db_stmt stmt_new_in = {
	"feed_new_in", "SELECT " POST_VIEW_SHARED_COLUMNS POST_VIEW_FROM "WHERE " TOP_LEVEL
	"AND p.community_pk = $4 AND p.pk < $1 AND NOT (p.pk = ANY ($3::bigint[])) "
	"ORDER BY p.community_pk, p.pk DESC LIMIT $2", 4, 0
};
/*
 * A ranking in one statement: the newest pk now, the best
 * FEED_SNAPSHOT_MAX pks in rank order as one text "pk,pk,..." (one value
 * to read instead of a row per pk, and already the snapshot's stored
 * form) and how many they are. OFFSET 0 keeps the array one subquery
 * result: flattened, the planner ran the ranking once per use of it.
 */
#define RANKED_PKS(where, order) \
	"SELECT (SELECT COALESCE(max(pk), 0) FROM posts), array_to_string(r.pks, ','), " \
	"cardinality(r.pks) FROM (SELECT ARRAY(SELECT p.pk FROM posts p WHERE " TOP_LEVEL where \
	"ORDER BY " order " LIMIT $1) AS pks OFFSET 0) r"
static struct db_stmt stmt_ranked = {
	"feed_ranked_pks", RANKED_PKS("", "p.rank DESC, p.pk DESC"), 1, 0
};
static struct db_stmt stmt_ranked_in = {
	"feed_ranked_pks_in", RANKED_PKS("AND p.community_pk = $2 ",
	                                 "p.community_pk, p.rank DESC, p.pk DESC"), 2, 0
};
/*
 * The viewer's part of a page, in one query whatever the viewer blocked or
 * muted: each post's my_vote, and whether it stays out (the blocked post
 * itself; with $3, a post of a muted community). The page itself is shared
 * by every viewer (the page cache), so this is where a viewer's filter goes.
 */
static struct db_stmt stmt_viewer = {
	"feed_viewer", "SELECT p.pk, COALESCE(v.value, 0), "
	"b.pk IS NOT NULL OR m.account_pk IS NOT NULL FROM posts p "
	"LEFT JOIN votes v ON v.post_pk = p.pk AND v.voter_pk = $1 "
	"LEFT JOIN blocks b ON b.blocker_pk = $1 AND b.post_pk = p.pk "
	"LEFT JOIN community_mutes m ON $3 AND m.account_pk = $1 AND m.community_pk = p.community_pk "
	"WHERE p.pk = ANY ($2::bigint[])", 3, 0
};
static struct db_stmt stmt_by_pks = {
	"feed_by_pks", "SELECT " POST_VIEW_SHARED_COLUMNS POST_VIEW_FROM
	"WHERE p.pk = ANY ($1::bigint[]) AND p.status = 0 "
	"ORDER BY array_position($1::bigint[], p.pk)", 1, 0
};

/* What one feed request asks for. */
struct feed {
	const char *community_pk;   /* NULL: every community */
	struct page page;
	struct feed_page out;       /* the page being built (arena texts) */
	struct post_keys keys;
};

/*
 * A ranked snapshot: who it is, of which community, the newest pk then,
 * and the ranked pks as the ranking returned them, "pk,pk,..." ("" when
 * none): a page's slice of it is a bigint[] parameter as it stands, so
 * the pks are never parsed into numbers and printed again.
 */
struct snapshot {
	int64_t id[2];
	int64_t community;          /* community pk, 0 for all */
	int64_t max_pk;
	const char *pks;
	size_t n;
};

/* "{a,b,c}" for a bigint[] parameter; "{}" when n is 0. */
static char *pk_array(struct arena *a, const int64_t *pks, size_t n)
{
	char *out = arena_alloc(a, n * (UTIL_INT64_CHARS + 1) + 3), *p = out;

	if (out == NULL)
		return NULL;
	*p++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			*p++ = ',';
		p += util_put_int64(p, pks[i]);
	}
	*p++ = '}';
	*p = '\0';
	return out;
}

/* Append rows of res to f->out, at most want; *last gets the last pk taken. */
static int take_rows(struct request *req, struct feed *f, PGresult *res, int want,
                     int64_t *last)
{
	int rows = PQntuples(res) < want ? PQntuples(res) : want;
	struct feed_page *p = &f->out;

	for (int row = 0; row < rows && p->n < PAGE_LIMIT_MAX; row++) {
		p->post[p->n] = post_view_prefix(req, res, row, &f->keys, &p->pk[p->n],
		                                 &p->author[p->n], &p->post_len[p->n]);
		if (p->post[p->n] != NULL)
			p->n++;
	}
	if (rows > 0 && last != NULL &&
	    util_parse_int64(PQgetvalue(res, rows - 1, POST_VIEW_PK), 1, INT64_MAX - 1, last) != 0)
		return -1;
	return 0;
}

/* The next cursor of the page being built (none: the last page). 0 or the status set. */
static int next_or_reply(struct request *req, struct feed *f, const char *kind,
                         const struct cursor *next)
{
	if (next == NULL)
		return 0;
	f->out.next_cursor = cursor_seal(req->arena, req->ctx->keys.cursor, kind, next);
	return f->out.next_cursor != NULL ? 0 : http_oom(req);
}

/*
 * Newest first below before (exclusive), skipping the pks in skip; up to
 * want posts appended. *more says whether there were further ones, *last
 * gets the last pk appended. 0 or the status it set.
 */
static int newest_or_reply(struct request *req, struct feed *f, int64_t before,
                           const char *skip, int want, bool *more, int64_t *last)
{
	const char *params[4] = {
		arena_printf(req->arena, "%" PRId64, before),
		arena_printf(req->arena, "%d", want + 1), skip, f->community_pk
	};
	PGresult *res;

	if (params[0] == NULL || params[1] == NULL)
		return http_oom(req);
	res = db_exec(req->db, req->arena, f->community_pk != NULL ? &stmt_new_in : &stmt_new,
	              params, NULL);
	if (res == NULL)
		return http_db_failure(req);
	*more = PQntuples(res) > want;
	if (take_rows(req, f, res, want, last) != 0)
		return http_oom(req);
	return 0;
}

static int feed_new(struct request *req, struct feed *f)
{
	struct cursor next = { .n = 1 };
	int64_t before = f->page.has_cursor ? f->page.cursor.v[0] : INT64_MAX - 1;
	bool more;
	int status;

	if ((status = newest_or_reply(req, f, before, "{}", f->page.limit, &more, &next.v[0])) != 0)
		return status;
	return next_or_reply(req, f, FEED_NEW_KIND, more ? &next : NULL);
}

/* ---- ranked snapshots ----------------------------------------------------- */

static char *snapshot_key(struct arena *a, const int64_t id[2])
{
	return arena_printf(a, "fs:%016" PRIx64 "%016" PRIx64, (uint64_t)id[0], (uint64_t)id[1]);
}

/*
 * How many pks the list "pk,pk,..." holds (0 for ""), or -1 when it is
 * not such a list of at most FEED_SNAPSHOT_MAX whole numbers of 1 to 19
 * digits.
 */
static int pk_list_count(const char *list)
{
	size_t n = 0, digits = 0;

	if (*list == '\0')
		return 0;
	for (const char *p = list;; p++) {
		if (*p >= '0' && *p <= '9') {
			if (++digits > 19)
				return -1;
			continue;
		}
		if (digits == 0 || (*p != ',' && *p != '\0') || ++n > FEED_SNAPSHOT_MAX)
			return -1;
		if (*p == '\0')
			return (int)n;
		digits = 0;
	}
}

/* The start of the i-th pk (0-based) of a checked list; NULL past its last. */
static const char *pk_list_at(const char *list, size_t i)
{
	for (; i > 0; i--) {
		list = strchr(list, ',');
		if (list == NULL)
			return NULL;
		list++;
	}
	return list;
}

/* The snapshot's pks [from, from + n) as a bigint[] parameter "{...}" (n >= 1). */
static char *snapshot_slice(struct arena *a, const struct snapshot *s, size_t from, size_t n)
{
	const char *start = pk_list_at(s->pks, from);
	const char *end = from + n < s->n ? pk_list_at(start, n) : NULL;
	size_t len;
	char *out;

	if (start == NULL)
		return NULL;
	len = end != NULL ? (size_t)(end - start) - 1 : strlen(start);  /* no trailing ',' */
	if ((out = arena_alloc(a, len + 3)) == NULL)
		return NULL;
	out[0] = '{';
	memcpy(out + 1, start, len);
	out[len + 1] = '}';
	out[len + 2] = '\0';
	return out;
}

/* "<id0>.<id1>.<community>.<max_pk>:<pk>,<pk>..." <-> struct snapshot */
static char *snapshot_format(struct arena *a, const struct snapshot *s)
{
	size_t len = strlen(s->pks);
	char *out = arena_alloc(a, 4 * (UTIL_INT64_CHARS + 1) + len + 1), *p = out;

	if (out == NULL)
		return NULL;
	p += util_put_int64(p, s->id[0]);
	*p++ = '.';
	p += util_put_int64(p, s->id[1]);
	*p++ = '.';
	p += util_put_int64(p, s->community);
	*p++ = '.';
	p += util_put_int64(p, s->max_pk);
	*p++ = ':';
	memcpy(p, s->pks, len + 1);
	return out;
}

static int snapshot_parse(const char *text, struct snapshot *s)
{
	char *end;
	int n;

	s->id[0] = strtoll(text, &end, 10);
	if (*end++ != '.')
		return -1;
	s->id[1] = strtoll(end, &end, 10);
	if (*end++ != '.')
		return -1;
	s->community = strtoll(end, &end, 10);
	if (*end++ != '.')
		return -1;
	s->max_pk = strtoll(end, &end, 10);
	if (*end++ != ':' || (n = pk_list_count(end)) < 0)
		return -1;
	s->pks = end;
	s->n = (size_t)n;
	return 0;
}

static redisReply *redis(struct request *req, int argc, const char **argv)
{
	return cache_command(req->ctx->cache, req->arena, argc, argv, NULL);
}

/* SET name to snapshot s, sealed, for ttl seconds; the reply or NULL. */
static redisReply *snapshot_store(struct request *req, const char *name,
                                  const struct snapshot *s, int ttl)
{
	int64_t now = (int64_t)(util_wall_us() / 1000000);
	const char *text = snapshot_format(req->arena, s);
	const char *argv[5] = { "SET", name, NULL, "EX", arena_printf(req->arena, "%d", ttl) };

	if (name == NULL || text == NULL || argv[4] == NULL)
		return NULL;
	argv[2] = cachemac_seal(req->arena, req->ctx->keys.redis, name, "", now + ttl, text);
	return argv[2] != NULL ? redis(req, 5, argv) : NULL;
}

/* The snapshot a GET of name answered, when it opens and parses: 0, else -1. */
static int snapshot_load(struct request *req, const char *name, const redisReply *r,
                         struct snapshot *s)
{
	const char *text;

	if (r == NULL || r->type != REDIS_REPLY_STRING)
		return -1;
	text = cachemac_open(req->ctx->keys.redis, name, "", r->str, r->len,
	                     (int64_t)(util_wall_us() / 1000000));
	return text != NULL ? snapshot_parse(text, s) : -1;
}

/* Rank the posts now and keep the result; 0 or -1 (database or Redis). */
static int snapshot_take(struct request *req, const struct feed *f, struct snapshot *s,
                         bool *db_failed)
{
	const char *params[2] = { arena_printf(req->arena, "%d", FEED_SNAPSHOT_MAX), f->community_pk };
	PGresult *res;
	redisReply *r;
	int64_t n;

	*db_failed = true;
	res = params[0] == NULL ? NULL :
	      db_exec(req->db, req->arena,
	              f->community_pk != NULL ? &stmt_ranked_in : &stmt_ranked, params, NULL);
	if (res == NULL || PQntuples(res) != 1 ||
	    util_parse_int64(PQgetvalue(res, 0, 0), 0, INT64_MAX - 2, &s->max_pk) != 0 ||
	    util_parse_int64(PQgetvalue(res, 0, 2), 0, FEED_SNAPSHOT_MAX, &n) != 0)
		return -1;
	*db_failed = false;
	s->community = f->community_pk != NULL ? strtoll(f->community_pk, NULL, 10) : 0;
	/* PostgreSQL's own text of a bigint[]: read as it stands (pk_list_at) */
	s->pks = PQgetvalue(res, 0, 1);
	s->n = (size_t)n;
	randombytes_buf(s->id, sizeof(s->id));
	r = snapshot_store(req, snapshot_key(req->arena, s->id), s, FEED_SNAPSHOT_TTL);
	return r != NULL && r->type == REDIS_REPLY_STATUS ? 0 : -1;
}

/*
 * The snapshot of a first page: the shared one when it is recent enough,
 * else a new one (then shared for SOTTO_FEED_SNAPSHOT_SHARE seconds).
 */
static int snapshot_first_or_reply(struct request *req, const struct feed *f,
                                   struct snapshot *s)
{
	int share = req->ctx->cfg->feed_snapshot_share_s;
	const char *shared_key = arena_printf(req->arena, "fsc:%s",
	                                      f->community_pk != NULL ? f->community_pk : "all");
	const char *argv[2];
	bool db_failed;

	if (shared_key == NULL)
		return http_oom(req);
	if (share > 0) {
		argv[0] = "GET";
		argv[1] = shared_key;
		if (snapshot_load(req, shared_key, redis(req, 2, argv), s) == 0)
			return 0;
	}
	if (snapshot_take(req, f, s, &db_failed) != 0)
		return db_failed ? http_db_failure(req)
		       : http_unavailable(req, "the ranked feed is unavailable",
		                          HTTP_RETRY_AFTER_DOWN);
	if (share > 0)
		(void)snapshot_store(req, shared_key, s, share);
	return 0;
}

static int snapshot_again_or_reply(struct request *req, const struct feed *f,
                                   const struct cursor *c, struct snapshot *s)
{
	int64_t community = f->community_pk != NULL ? strtoll(f->community_pk, NULL, 10) : 0;
	const char *argv[2] = { "GET", snapshot_key(req->arena, c->v) };
	redisReply *r;

	if (argv[1] == NULL)
		return http_oom(req);
	r = redis(req, 2, argv);
	if (r == NULL || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL))
		return http_unavailable(req, "the ranked feed is unavailable",
		                        HTTP_RETRY_AFTER_DOWN);
	if (snapshot_load(req, argv[1], r, s) != 0 ||
	    s->id[0] != c->v[0] || s->id[1] != c->v[1])
		return http_error(req, 400, "bad_request", "this cursor has expired; start again");
	if (s->community != community)
		return http_error(req, 400, "bad_request", "this cursor belongs to another listing");
	return 0;
}

/* The snapshot's posts [offset, offset + want), in rank order. */
static int ranked_slice_or_reply(struct request *req, struct feed *f,
                                 const struct snapshot *s, size_t offset, size_t want)
{
	const char *params[1] = { snapshot_slice(req->arena, s, offset, want) };
	PGresult *res;

	if (params[0] == NULL)
		return http_oom(req);
	res = db_exec(req->db, req->arena, &stmt_by_pks, params, NULL);
	if (res == NULL)
		return http_db_failure(req);
	if (take_rows(req, f, res, (int)want, NULL) != 0)
		return http_oom(req);
	return 0;
}

/*
 * Cursor of a ranked walk: v[0], v[1] the snapshot, v[2] the offset in it,
 * v[3] once past a full snapshot the last pk of the newest-first tail.
 */
static int feed_ranked(struct request *req, struct feed *f)
{
	struct snapshot s;
	struct cursor next = { .n = 4 };
	size_t offset = 0, want;
	int64_t last;
	bool more = false, tail;
	int status;

	if (f->page.has_cursor)
		status = snapshot_again_or_reply(req, f, &f->page.cursor, &s);
	else
		status = snapshot_first_or_reply(req, f, &s);
	if (status != 0)
		return status;
	if (f->page.has_cursor) {
		if (f->page.cursor.n != 4 || f->page.cursor.v[2] < 0 ||
		    (size_t)f->page.cursor.v[2] > s.n)
			return http_error(req, 400, "bad_request", "cursor is not valid for this list");
		offset = (size_t)f->page.cursor.v[2];
	}
	tail = s.n == FEED_SNAPSHOT_MAX && offset == s.n;
	last = tail && f->page.cursor.v[3] > 0 ? f->page.cursor.v[3] : s.max_pk + 1;
	want = s.n - offset < (size_t)f->page.limit ? s.n - offset : (size_t)f->page.limit;
	if (want > 0 && (status = ranked_slice_or_reply(req, f, &s, offset, want)) != 0)
		return status;
	offset += want;
	if (want < (size_t)f->page.limit && s.n == FEED_SNAPSHOT_MAX) {
		const char *skip = snapshot_slice(req->arena, &s, 0, s.n);

		if (skip == NULL)
			return http_oom(req);
		status = newest_or_reply(req, f, last, skip, f->page.limit - (int)want, &more, &last);
		if (status != 0)
			return status;
	} else {
		more = offset < s.n || (s.n == FEED_SNAPSHOT_MAX);
	}
	next.v[0] = s.id[0];
	next.v[1] = s.id[1];
	next.v[2] = (int64_t)offset;
	next.v[3] = offset == s.n && s.n == FEED_SNAPSHOT_MAX ? last : 0;
	return next_or_reply(req, f, FEED_RANKED_KIND, more ? &next : NULL);
}

/* ?community=<slug> as a pk, or NULL for every community; 404 when unknown. */
static int community_or_reply(struct request *req, struct feed *f)
{
	const char *slug = http_query(req, "community");

	if (slug == NULL)
		return 0;
	switch (community_pk(req, slug, &f->community_pk)) {
	case 1:
		return 0;
	case 0:
		return http_error(req, 404, "not_found", "no such community");
	default:
		return http_db_failure(req);
	}
}

/* ---- rendering and the page cache ----------------------------------------- */

/*
 * The viewer's votes on the page's posts into my_vote[], FEED_HIDDEN for
 * a post the viewer's block or (with muted) mute leaves out; 0 or the
 * status set. With the page cache on, a viewer's repeat of a page is
 * answered from this worker's memory until the viewer votes, blocks or
 * mutes (feed_votes_changed) or the cache's lifetime ends; the generation
 * is read before the query, so a change committed meanwhile always forces
 * the next read. The generation is doubled plus muted, so a page read with
 * mutes and the same page read without never share an entry.
 */
static int my_votes_or_reply(struct request *req, const struct feed_page *p, bool muted,
                             int *my_vote)
{
	struct context *ctx = req->ctx;
	bool cached = ctx->cfg->feed_snapshot_share_s > 0 && ctx->feed_cache != NULL;
	const char *params[3];
	uint64_t gen = 0, now = 0;
	PGresult *res;

	memset(my_vote, 0, p->n * sizeof(*my_vote));
	if (req->account == NULL || p->n == 0)
		return 0;
	if (cached) {
		gen = atomic_load_explicit(&ctx->shm->vote_gen[(uint64_t)req->account->pk %
		                                             SHM_VOTE_SLOTS], memory_order_acquire);
		gen = gen * 2 + (muted ? 1 : 0);
		now = util_now_us();
		if (feed_cache_votes_get(ctx->feed_cache, req->account->pk, gen, p, now, my_vote))
			return 0;
	}
	params[0] = post_viewer(req);
	params[1] = pk_array(req->arena, p->pk, p->n);
	params[2] = muted ? "true" : "false";
	if (params[0] == NULL || params[1] == NULL)
		return http_oom(req);
	res = db_exec(req->db, req->arena, &stmt_viewer, params, NULL);
	if (res == NULL)
		return http_db_failure(req);
	for (int row = 0; row < PQntuples(res); row++) {
		int64_t pk = strtoll(PQgetvalue(res, row, 0), NULL, 10);
		int v = PQgetvalue(res, row, 2)[0] == 't' ? FEED_HIDDEN
		        : (int)strtol(PQgetvalue(res, row, 1), NULL, 10);

		for (size_t i = 0; i < p->n; i++)
			if (p->pk[i] == pk)
				my_vote[i] = v;
	}
	if (cached)
		feed_cache_votes_put(ctx->feed_cache, req->account->pk, gen, p, my_vote,
		                     now + (uint64_t)ctx->cfg->feed_snapshot_share_s * 1000000);
	return 0;
}

/*
 * {"items": [...], "next_cursor": ...} from the page, with the viewer's
 * mine and my_vote, leaving out what the viewer's blocks (and, when muted,
 * mutes) hide: such a page may hold fewer than limit items.
 */
static int feed_reply(struct request *req, const struct feed_page *p, bool muted)
{
	int my_vote[PAGE_LIMIT_MAX];
	size_t cap = 64 + (p->next_cursor != NULL ? strlen(p->next_cursor) : 0), len = 0;
	int64_t viewer = req->account != NULL ? req->account->pk : 0;
	bool first = true;
	char *buf;
	int status;

	if ((status = my_votes_or_reply(req, p, muted, my_vote)) != 0)
		return status;
	for (size_t i = 0; i < p->n; i++)
		cap += p->post_len[i] + 32;
	if ((buf = arena_alloc(req->arena, cap)) == NULL)
		return http_oom(req);
	len += util_put_text(buf + len, "{\"items\":[");
	for (size_t i = 0; i < p->n; i++) {
		if (my_vote[i] == FEED_HIDDEN)
			continue;
		if (!first)
			buf[len++] = ',';
		first = false;
		memcpy(buf + len, p->post[i], p->post_len[i]);
		len += p->post_len[i];
		len += util_put_text(buf + len, p->author[i] == viewer ? ",\"mine\":true,\"my_vote\":"
		                                                : ",\"mine\":false,\"my_vote\":");
		len += util_put_int64(buf + len, my_vote[i]);
		buf[len++] = '}';
	}
	if (p->next_cursor != NULL) {
		len += util_put_text(buf + len, "],\"next_cursor\":\"");
		len += util_put_text(buf + len, p->next_cursor);
		len += util_put_text(buf + len, "\"}");
	} else {
		len += util_put_text(buf + len, "],\"next_cursor\":null}");
	}
	req->reply_raw = buf;
	req->reply_raw_len = len;
	req->reply_type = "application/json";
	return 200;
}

/*
 * The cache key of this request, or NULL when it is not to be cached:
 * sort, community slug, limit and the cursor's contents (not its text,
 * which differs for every sealing of the same position).
 */
static const char *cache_key(struct request *req, bool ranked, const struct page *pg)
{
	const char *slug = http_query(req, "community");
	const struct cursor *c = &pg->cursor;

	if (req->ctx->cfg->feed_snapshot_share_s <= 0 || req->ctx->feed_cache == NULL ||
	    (slug != NULL && strlen(slug) > 64))
		return NULL;
	return arena_printf(req->arena, "%c|%s|%d|%zu|%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64,
	                    ranked ? 'r' : 'n', slug != NULL ? slug : "", pg->limit,
	                    pg->has_cursor ? c->n : 0, pg->has_cursor ? c->v[0] : 0,
	                    pg->has_cursor && c->n > 1 ? c->v[1] : 0,
	                    pg->has_cursor && c->n > 2 ? c->v[2] : 0,
	                    pg->has_cursor && c->n > 3 ? c->v[3] : 0);
}

int handle_feed(struct request *req)
{
	struct context *ctx = req->ctx;
	struct feed *f = arena_alloc(req->arena, sizeof(*f));
	const char *sort = http_query(req, "sort");
	bool ranked = sort == NULL || strcmp(sort, "ranked") == 0;
	const struct feed_page *hit;
	const char *key;
	bool muted;
	int status;

	if (f == NULL)
		return http_oom(req);
	if (!ranked && strcmp(sort, "new") != 0)
		return http_error(req, 422, "invalid_field", "sort must be ranked or new");
	memset(f, 0, sizeof(*f));
	if ((status = page_or_reply(req, ranked ? FEED_RANKED_KIND : FEED_NEW_KIND, &f->page)) != 0)
		return status;
	/* Mutes shape the account's own ranked feed, not a community's listing. */
	muted = ranked && http_query(req, "community") == NULL;
	key = cache_key(req, ranked, &f->page);
	if (key != NULL) {
		feed_cache_refresh(ctx);
		if ((hit = feed_cache_get(ctx->feed_cache, key, util_now_us())) != NULL)
			return feed_reply(req, hit, muted);
	}
	if ((status = community_or_reply(req, f)) != 0 ||
	    (status = ranked ? feed_ranked(req, f) : feed_new(req, f)) != 0)
		goto out;
	if (key != NULL && standby_covers(req, feed_cache_cleared_us(ctx->feed_cache))) {
		uint64_t now = util_now_us();

		feed_cache_put(ctx->feed_cache, key, &f->out, now,
		               now + (uint64_t)ctx->cfg->feed_snapshot_share_s * 1000000);
	}
	status = feed_reply(req, &f->out, muted);
out:
	post_keys_wipe(&f->keys);
	return status;
}
