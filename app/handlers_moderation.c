/*
 * handlers_moderation.c — POST /moderation/flag, GET /moderation/queue,
 * POST /moderation/queue/{id}/decision, GET /moderation/log, and a
 * community's own: GET /communities/{slug}/queue, POST
 * /communities/{slug}/queue/{item_id}/decision, GET /communities/{slug}/log.
 *
 * A flag weighs trust x reliability of its flagger (docs/moderation.md),
 * or nothing when the flagger is not established (trust.h): it still opens
 * or joins the review item.
 * The first flag on a post opens a pending review item (or joins the one
 * the classifier opened); when the weights of the item's flags reach
 * SOTTO_FLAG_HOLD_WEIGHT, the post is held (status 1) in the same
 * transaction. A decision removes (status 2, author's trust lowered,
 * flags upheld, a moderation.decision event) or keeps (a held post shown
 * again, flags not upheld), and writes one public log row. Lock order: see
 * sql/006_moderation.sql.
 *
 * A community's moderators (sql/027) see and decide the items on that
 * community's posts, with the same effects; anyone else gets 404 there.
 * The instance decides any item still pending, and may decide again an
 * item a community decided: its decision overrides (the flip undoes the
 * first decision's effects on the post, the author's trust (what the
 * removal took, as its appeal recorded), the flags and the flaggers' record).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "appeal.h"
#include "arena.h"
#include "auth.h"
#include "community.h"
#include "config.h"
#include "context.h"
#include "crypto.h"
#include "db.h"
#include "events.h"
#include "feed_cache.h"
#include "handlers.h"
#include "json.h"
#include "log.h"
#include "moderation.h"
#include "page.h"
#include "post_view.h"
#include "trust.h"
#include "util.h"

#define FLAG_ID_BYTES 16
#define ITEM_ID_BYTES 16
#define PUBLIC_ID_MAX 64            /* longer ids are unknown without a query */
#define HOLD_EPSILON 1e-6           /* real sums of exact thresholds */
#define QUEUE_PENDING_KIND "modq-pending"
#define QUEUE_DECIDED_KIND "modq-decided"
#define MODLOG_KIND "modlog"

enum { ITEM_PENDING = 0, ITEM_KEPT = 1, ITEM_REMOVED = 2 };
enum { DECIDER_COMMUNITY = 1, DECIDER_INSTANCE = 2 };
/* 4 and 5 are the appeals' (app/handlers_appeals.c). */
enum { MODLOG_REMOVE = 1, MODLOG_KEEP = 2, MODLOG_BAN = 3, MODLOG_APPEAL_REVERSED = 5 };

/* ---- POST /moderation/flag --------------------------------------------- */

static struct db_stmt stmt_flag_post = {
	"mod_flag_post",
	"SELECT pk, author_pk FROM posts WHERE id = $1 AND status IN (0, 1) FOR UPDATE", 1, 0
};
static struct db_stmt stmt_flag_existing = {
	"mod_flag_existing", "SELECT id FROM flags WHERE post_pk = $1 AND flagger_pk = $2", 2, 0
};
/* The pending item of the post, opened when there is none (one row either way). */
static struct db_stmt stmt_flag_item = {
	"mod_flag_item",
	"WITH ins AS (INSERT INTO mod_items (id, post_pk, source, day) VALUES ($1, $2, 1, $3) "
	"ON CONFLICT (post_pk) WHERE status = 0 DO NOTHING RETURNING pk) "
	"SELECT pk FROM ins UNION ALL SELECT pk FROM mod_items WHERE post_pk = $2 AND status = 0",
	3, 0
};
static struct db_stmt stmt_flag_insert = {
	"mod_flag_insert",
	"INSERT INTO flags (id, post_pk, item_pk, flagger_pk, reason, note_sealed, weight, day) "
	"SELECT $1, $2, $3, a.pk, $5, $6, CASE WHEN sotto_established(a.day_joined, a.trust, $8) "
	"THEN a.trust * COALESCE("
	"(SELECT (s.upheld + 1)::real / (s.upheld + s.not_upheld + 1) FROM flagger_stats s "
	"WHERE s.account_pk = a.pk), 1) ELSE 0 END, $7 "
	"FROM accounts a WHERE a.pk = $4", 8, 0
};
static struct db_stmt stmt_flag_hold = {
	"mod_flag_hold",
	"UPDATE posts SET status = 1 WHERE pk = $1 AND status = 0 AND "
	"(SELECT sum(weight::double precision) FROM flags WHERE item_pk = $2) >= $3::double precision",
	3, 0
};

/* What a flag request asks, checked. */
struct flag_req {
	const char *post_id;
	int reason;
	const char *note;           /* NULL when none */
	size_t note_len;
	const char *id;             /* the new flag's id */
	const char *note_sealed;    /* bytea text, NULL when no note */
};

static int flag_parse_or_reply(struct request *req, struct flag_req *fr)
{
	const char *reason;
	size_t len = 0;

	if (json_get_string(req->json, "post_id", &fr->post_id, &len) != 1 || len == 0)
		return http_error(req, 422, "invalid_field", "post_id must be a post id");
	if (json_get_string(req->json, "reason", &reason, NULL) != 1 ||
	    (fr->reason = moderation_reason_code(reason)) < 0)
		return http_error(req, 422, "invalid_field",
		                  "reason must be one of spam, harassment, hate, sexual, violence, "
		                  "self_harm, illegal, other");
	if (len > PUBLIC_ID_MAX)
		return http_error(req, 404, "not_found", "no such post");
	return moderation_note_or_reply(req, &fr->note, &fr->note_len);
}

/* The note sealed with the flagger's data key (row = the flag id). */
static int flag_seal_note_or_reply(struct request *req, struct flag_req *fr)
{
	unsigned char key[CRYPTO_KEY_BYTES];
	const unsigned char *sealed;
	struct crypto_field f;
	size_t sealed_len = 0;
	int status = 0;

	if (fr->note == NULL)
		return 0;
	if (auth_data_key(req, req->account, key) != 0)
		return http_db_failure(req);
	moderation_note_field(&f, fr->id, req->account_pk);
	sealed = crypto_seal(req->arena, key, CRYPTO_DATA_KEY_VERSION, &f, fr->note, fr->note_len,
	                     &sealed_len);
	if (sealed == NULL ||
	    (fr->note_sealed = db_bytea_text(req->arena, sealed, sealed_len)) == NULL)
		status = http_oom(req);
	sodium_memzero(key, sizeof(key));
	return status;
}

/*
 * Inside the open transaction, with the post locked: the caller's flag
 * on post_pk. Sets *flag_id (the existing one on a repeat) and *held.
 * Returns 0 or the status it set (the caller rolls back).
 */
static int flag_store_or_reply(struct request *req, const struct flag_req *fr,
                               const char *post_pk, const char **flag_id, bool *held)
{
	struct db *db = req->ctx->db;
	const char *me = arena_i64(req->arena, req->account_pk);
	const char *today = arena_i64(req->arena, util_today());
	const char *item_id = util_random_id(req->arena, ITEM_ID_BYTES);
	const char *p[8];
	PGresult *res;

	if (me == NULL || today == NULL || item_id == NULL)
		return http_oom(req);
	p[0] = post_pk;
	p[1] = me;
	if ((res = db_exec(db, req->arena, &stmt_flag_existing, p, NULL)) == NULL)
		return http_db_failure(req);
	if (PQntuples(res) == 1) {
		*flag_id = PQgetvalue(res, 0, 0);
		return 0;
	}
	p[0] = item_id;
	p[1] = post_pk;
	p[2] = today;
	res = db_exec(db, req->arena, &stmt_flag_item, p, NULL);
	if (res == NULL || PQntuples(res) != 1)
		return http_db_failure(req);
	p[0] = fr->id;
	p[1] = post_pk;
	p[2] = PQgetvalue(res, 0, 0);
	p[3] = me;
	p[4] = arena_printf(req->arena, "%d", fr->reason);
	p[5] = fr->note_sealed;
	p[6] = today;
	p[7] = trust_established_day(req);
	if (p[4] == NULL || p[7] == NULL)
		return http_oom(req);
	if ((res = db_exec(db, req->arena, &stmt_flag_insert, p, NULL)) == NULL)
		return http_db_failure(req);
	if (strcmp(PQcmdTuples(res), "1") != 0)   /* the account was deleted meanwhile */
		return http_error(req, 401, "unauthorized", "no such account");
	*flag_id = fr->id;
	p[0] = post_pk;
	p[1] = p[2];
	p[2] = arena_printf(req->arena, "%.6f", req->ctx->cfg->flag_hold_weight - HOLD_EPSILON);
	if (p[2] == NULL)
		return http_oom(req);
	if ((res = db_exec(db, req->arena, &stmt_flag_hold, p, NULL)) == NULL)
		return http_db_failure(req);
	*held = strcmp(PQcmdTuples(res), "1") == 0;
	return 0;
}

/*
 * POST /moderation/flag {"post_id", "reason", "note"?} -> 202 {"flag_id"}.
 * A repeat returns the first flag's id and changes nothing; a removed or
 * deleted post is 404; one's own post is 422 (nothing to report: delete it).
 */
int handle_flag_create(struct request *req)
{
	struct db *db = req->ctx->db;
	struct flag_req fr = { 0 };
	const char *flag_id = NULL;
	bool held = false;
	int64_t author;
	PGresult *res;
	int status;

	if ((status = flag_parse_or_reply(req, &fr)) != 0)
		return status;
	if ((fr.id = util_random_id(req->arena, FLAG_ID_BYTES)) == NULL)
		return http_oom(req);
	if ((status = flag_seal_note_or_reply(req, &fr)) != 0)
		return status;
	if (db_begin(db) != 0)
		return http_db_failure(req);
	res = db_exec(db, req->arena, &stmt_flag_post, &fr.post_id, NULL);
	if (res == NULL) {
		status = http_db_failure(req);
		goto out;
	}
	if (PQntuples(res) != 1) {
		status = http_error(req, 404, "not_found", "no such post");
		goto out;
	}
	if (util_parse_int64(PQgetvalue(res, 0, 1), 1, INT64_MAX - 1, &author) != 0) {
		status = http_error(req, 500, "internal", "internal error");
		goto out;
	}
	if (author == req->account_pk) {
		status = http_error(req, 422, "invalid_field", "post_id: you cannot flag your own post");
		goto out;
	}
	if ((status = flag_store_or_reply(req, &fr, PQgetvalue(res, 0, 0), &flag_id, &held)) != 0)
		goto out;
	if (db_commit(db) != 0)
		return http_db_failure(req);
	if (held)
		feed_content_changed(req);
	return http_reply_member(req, 202, "flag_id", json_object_new_string(flag_id));
out:
	db_rollback(db);
	return status;
}

/* ---- GET /moderation/queue --------------------------------------------- */

#define REASON_COUNTS \
	"count(*) FILTER (WHERE reason = 0), count(*) FILTER (WHERE reason = 1), " \
	"count(*) FILTER (WHERE reason = 2), count(*) FILTER (WHERE reason = 3), " \
	"count(*) FILTER (WHERE reason = 4), count(*) FILTER (WHERE reason = 5), " \
	"count(*) FILTER (WHERE reason = 6), count(*) FILTER (WHERE reason = 7) "
#define QUEUE_SELECT \
	"SELECT " POST_VIEW_COLUMNS ", m.pk, m.id, m.source, m.status, m.day, s.score, " \
	"m.note_sealed, m.note_version, fc.* " \
	POST_VIEW_FROM "JOIN mod_items m ON m.post_pk = p.pk " \
	"LEFT JOIN mod_scan s ON s.post_pk = p.pk " \
	"CROSS JOIN LATERAL (SELECT count(*), " REASON_COUNTS \
	"FROM flags f WHERE f.item_pk = m.pk) fc "

/* Columns after POST_VIEW_COLUMNS (12 of them). */
enum { Q_PK = 12, Q_ID, Q_SOURCE, Q_STATUS, Q_DAY, Q_SCORE, Q_NOTE, Q_NOTE_VERSION, Q_COUNT,
       Q_REASONS };

static struct db_stmt stmt_queue_pending = {
	"mod_queue_pending",
	QUEUE_SELECT "WHERE m.status = 0 AND m.pk > $2 ORDER BY m.pk LIMIT $3", 3, 0
};
static struct db_stmt stmt_queue_decided = {
	"mod_queue_decided",
	QUEUE_SELECT "WHERE m.status <> 0 AND m.pk < $2 ORDER BY m.pk DESC LIMIT $3", 3, 0
};
/* The same for one community's posts ($3). */
static struct db_stmt stmt_cqueue_pending = {
	"mod_cqueue_pending",
	QUEUE_SELECT "WHERE m.status = 0 AND p.community_pk = $3 AND m.pk > $2 "
	"ORDER BY m.pk LIMIT $4", 4, 0
};
static struct db_stmt stmt_cqueue_decided = {
	"mod_cqueue_decided",
	QUEUE_SELECT "WHERE m.status <> 0 AND p.community_pk = $3 AND m.pk < $2 "
	"ORDER BY m.pk DESC LIMIT $4", 4, 0
};

static const char *item_status_name(int64_t status)
{
	return status == ITEM_KEPT ? "kept" : status == ITEM_REMOVED ? "removed" : "pending";
}

/* {"spam": 2, ...}: the reasons of the item's flags that occur, with counts. */
static json_object *reasons_json(const PGresult *res, int row)
{
	json_object *o = json_object_new_object();
	int64_t n;

	if (o == NULL)
		return NULL;
	for (int r = 0; r < MOD_REASON_COUNT; r++)
		if (util_parse_int64(PQgetvalue(res, row, Q_REASONS + r), 0, INT32_MAX, &n) == 0 &&
		    n > 0)
			json_object_object_add(o, moderation_reason_name(r), json_object_new_int64(n));
	return o;
}

/*
 * One queue item of row, its post rendered with keys (a struct post_keys);
 * NULL to leave it out.
 */
static json_object *queue_item_json(struct request *req, const PGresult *res, int row,
                                    void *keys)
{
	json_object *post = NULL, *o = NULL;
	int64_t source, status, day, count;

	if (util_parse_int64(PQgetvalue(res, row, Q_SOURCE), 1, 2, &source) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, Q_STATUS), 0, 2, &status) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, Q_DAY), 0, INT32_MAX, &day) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, Q_COUNT), 0, INT32_MAX, &count) != 0 ||
	    (post = post_view_item(req, res, row, keys)) == NULL ||
	    (o = json_object_new_object()) == NULL) {
		json_object_put(post);
		log_msg(LOG_WARN, "a review item could not be rendered; left out");
		return NULL;
	}
	json_object_object_add(o, "id", json_object_new_string(PQgetvalue(res, row, Q_ID)));
	json_object_object_add(o, "post", post);
	json_object_object_add(o, "source", json_object_new_string(source == 1 ? "flag" : "auto"));
	json_object_object_add(o, "flag_count", json_object_new_int64(count));
	json_object_object_add(o, "reasons", reasons_json(res, row));
	json_object_object_add(o, "auto_score", PQgetisnull(res, row, Q_SCORE) ? NULL :
	                       json_object_new_double_s(strtod(PQgetvalue(res, row, Q_SCORE), NULL),
	                                                PQgetvalue(res, row, Q_SCORE)));
	json_object_object_add(o, "status", json_object_new_string(item_status_name(status)));
	json_object_object_add(o, "day", json_object_new_int64(day));
	json_object_object_add(o, "note", moderation_decision_note_json(req, PQgetvalue(res, row, Q_ID),
	                                                               res, row, Q_NOTE));
	return o;
}

static const struct mod_listing queue_listing = {
	{ QUEUE_PENDING_KIND, QUEUE_DECIDED_KIND },
	{ { &stmt_queue_pending, &stmt_queue_decided }, { &stmt_cqueue_pending, &stmt_cqueue_decided } },
	queue_item_json, Q_PK
};

/* GET /moderation/queue (review token): every item, community posts too. */
int handle_queue_list(struct request *req)
{
	return moderation_list(req, NULL, &queue_listing);
}

/* GET /communities/{slug}/queue (a moderator of it): the items on its posts. */
int handle_community_queue_list(struct request *req)
{
	const char *community = NULL;
	int status;

	if ((status = community_moderated_or_reply(req, http_param(req, 0), &community)) != 0)
		return status;
	return moderation_list(req, community, &queue_listing);
}

/* ---- POST /moderation/queue/{id}/decision ------------------------------ */

static struct db_stmt stmt_item = {
	"mod_item",
	"SELECT m.pk, m.status, p.pk, p.author_pk, p.id, a.id_hash, p.community_pk, m.decider, "
	"length(p.body_sealed) = 0, "
	"(SELECT t.trust_taken FROM mod_appeals t WHERE t.item_pk = m.pk AND t.status IN (0, 1, 2)) "
	"FROM mod_items m JOIN posts p ON p.pk = m.post_pk JOIN accounts a ON a.pk = p.author_pk "
	"WHERE m.id = $1", 1, 0
};
/* Only from the status the decision was checked against ($4), and never over the instance. */
static struct db_stmt stmt_item_decide = {
	"mod_item_decide",
	"UPDATE mod_items SET status = $2, note_sealed = $3, note_version = $4, decider = $5 "
	"WHERE pk = $1 AND status = $6 AND (status = 0 OR decider = 1)", 6, 0
};
static struct db_stmt stmt_post_remove = {
	"mod_post_remove", "UPDATE posts SET status = 2 WHERE pk = $1", 1, 0
};
static struct db_stmt stmt_post_restore = {
	"mod_post_restore", "UPDATE posts SET status = 0 WHERE pk = $1 AND status = 1", 1, 0
};
/* The instance keeps a post its community removed. */
static struct db_stmt stmt_post_unremove = {
	"mod_post_unremove", "UPDATE posts SET status = 0 WHERE pk = $1 AND status = 2", 1, 0
};
static struct db_stmt stmt_item_reason = {
	"mod_item_reason",
	"SELECT reason FROM flags WHERE item_pk = $1 GROUP BY reason "
	"ORDER BY count(*) DESC, reason LIMIT 1", 1, 0
};
static struct db_stmt stmt_log_insert = {
	"mod_log_insert",
	"INSERT INTO mod_log (day, action, reason, post_id, community_pk) "
	"SELECT $1, $2, $3, $4, community_pk FROM posts WHERE pk = $5", 5, 0
};

/* The item a decision is about. */
struct decision {
	const char *id;             /* the item's public id */
	const char *community;      /* the deciding community's pk; NULL: the instance */
	int64_t prev;               /* ITEM_PENDING, or the community decision overridden */
	bool remove;
	const char *item_pk;
	const char *post_pk;
	const char *post_id;
	int64_t author;
	unsigned char author_hash[AUTH_HASH_BYTES];
	const char *reason;         /* public category, set inside the transaction */
	const char *note_sealed;    /* bytea text, NULL when no note */
	const char *note_version;   /* its content key version, NULL when no note */
	bool changed;               /* the post's status changed */
	double trust_taken;         /* what a removal took from the author's trust (>= 0) */
	double trust_back;          /* what undoing the removal decided before gives back */
};

/* Look the item up; 0 (pending), or the status it set (404, 409). */
static int decision_item_or_reply(struct request *req, struct decision *d)
{
	const char *params[1] = { d->id };
	const unsigned char *hash;
	size_t len = 0;
	int64_t status, decider = 0;
	PGresult *res;

	if (strlen(params[0]) > PUBLIC_ID_MAX)
		return http_error(req, 404, "not_found", "no such review item");
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_item, params, NULL)) == NULL)
		return http_db_failure(req);
	/* A community's moderator sees only the items on its posts. */
	if (PQntuples(res) != 1 ||
	    (d->community != NULL && (PQgetisnull(res, 0, 6) ||
	                              strcmp(PQgetvalue(res, 0, 6), d->community) != 0)))
		return http_error(req, 404, "not_found", "no such review item");
	hash = db_bytea_value(req->arena, res, 0, 5, &len);
	if (util_parse_int64(PQgetvalue(res, 0, 1), 0, 2, &status) != 0 ||
	    util_parse_int64(PQgetvalue(res, 0, 3), 1, INT64_MAX - 1, &d->author) != 0 ||
	    (!PQgetisnull(res, 0, 7) &&
	     util_parse_int64(PQgetvalue(res, 0, 7), 1, 2, &decider) != 0) ||
	    hash == NULL || len != AUTH_HASH_BYTES)
		return http_error(req, 500, "internal", "internal error");
	if (status != ITEM_PENDING && (d->community != NULL || decider != DECIDER_COMMUNITY))
		return http_error(req, 409, "conflict", "this item was already decided");
	/* Past its appeal window `sotto cleanup` emptied the post: nothing to show again. */
	if (status == ITEM_REMOVED && !d->remove && strcmp(PQgetvalue(res, 0, 8), "t") == 0)
		return http_error(req, 409, "conflict",
		                  "the removed post's text is gone (its appeal window has passed)");
	d->prev = status;
	/* The removal's appeal recorded what it took (sql/028); older ones took the full step. */
	d->trust_back = PQgetisnull(res, 0, 9) ? -TRUST_REMOVED_POST :
	                strtod(PQgetvalue(res, 0, 9), NULL);
	d->item_pk = PQgetvalue(res, 0, 0);
	d->post_pk = PQgetvalue(res, 0, 2);
	d->post_id = PQgetvalue(res, 0, 4);
	memcpy(d->author_hash, hash, AUTH_HASH_BYTES);
	return 0;
}

/* The instance confirms its community's decision: only the decider changes. */
static bool decision_same(const struct decision *d)
{
	return d->prev != ITEM_PENDING && (d->prev == ITEM_REMOVED) == d->remove;
}

/* What the decision does to the author's trust: a removal lowers it, undoing one restores it. */
static double decision_trust_delta(const struct decision *d)
{
	if (decision_same(d))
		return 0;
	if (d->remove)
		return TRUST_REMOVED_POST;
	return d->prev == ITEM_REMOVED ? d->trust_back : 0;
}

/*
 * First locks, in the order of sql/006: when trust moves, the author's
 * account and posts (trust_adjust re-ranks them); the post; then the
 * item itself, only from the status it was checked in. 0 or the status
 * it set.
 */
static int decision_lock_or_reply(struct request *req, struct decision *d)
{
	struct db *db = req->ctx->db;
	const char *params[6] = { d->post_pk, NULL, NULL, NULL, NULL, NULL };
	double delta = decision_trust_delta(d);
	PGresult *res;

	if (delta != 0) {
		double applied = 0;

		switch (trust_adjust_applied(req, d->author, delta, &applied)) {
		case 1:
			d->trust_taken = d->remove ? -applied : 0;
			break;
		case 0:
			return http_error(req, 404, "not_found", "no such review item");
		default:
			return http_db_failure(req);
		}
	}
	/* For a removal the post is locked already (re-ranked); it may have been deleted. */
	switch (moderation_lock_post(req, d->post_pk)) {
	case 1:
		break;
	case 0:
		return http_error(req, 404, "not_found", "no such review item");
	default:
		return http_db_failure(req);
	}
	params[0] = d->item_pk;
	params[1] = d->remove ? "2" : "1";
	params[2] = d->note_sealed;
	params[3] = d->note_version;
	params[4] = d->community != NULL ? "1" : "2";
	params[5] = arena_i64(req->arena, d->prev);
	if (params[5] == NULL)
		return http_oom(req);
	if ((res = db_exec(db, req->arena, &stmt_item_decide, params, NULL)) == NULL)
		return http_db_failure(req);
	if (strcmp(PQcmdTuples(res), "1") != 0)
		return http_error(req, 409, "conflict", "this item was already decided");
	return 0;
}

/* The post's status, the flags, the flaggers' record. 0 or the status it set. */
static int decision_apply_or_reply(struct request *req, struct decision *d)
{
	struct db *db = req->ctx->db;
	const char *params[2] = { d->post_pk, NULL };
	struct db_stmt *post_stmt = d->remove ? &stmt_post_remove :
	                            d->prev == ITEM_REMOVED ? &stmt_post_unremove : &stmt_post_restore;
	int64_t reason;
	PGresult *res;

	if (decision_same(d))
		return 0;
	if ((res = db_exec(db, req->arena, post_stmt, params, NULL)) == NULL)
		return http_db_failure(req);
	d->changed = strcmp(PQcmdTuples(res), "1") == 0;
	params[0] = d->item_pk;
	if ((res = db_exec(db, req->arena, &stmt_item_reason, params, NULL)) == NULL)
		return http_db_failure(req);
	d->reason = "auto";
	if (PQntuples(res) == 1 &&
	    util_parse_int64(PQgetvalue(res, 0, 0), 0, MOD_REASON_COUNT - 1, &reason) == 0)
		d->reason = moderation_reason_name((int)reason);
	if (moderation_flags_settle(req, d->item_pk, d->remove, d->prev == ITEM_PENDING) != 0)
		return http_db_failure(req);
	return 0;
}

/*
 * The public log row and, for a removal or a held post kept, the author's
 * moderation.decision event (event_heads: the last lock); a removal opens
 * its appeal (the event carries its id), a removal undone voids it. 0 or
 * the status.
 */
static int decision_announce_or_reply(struct request *req, const struct decision *d)
{
	const char *params[5] = {
		arena_i64(req->arena, util_today()),
		d->remove ? "1" : "2", d->reason, d->post_id, d->post_pk
	};
	const char *appeal_id = NULL;
	json_object *data;
	int64_t seq;

	if (decision_same(d))
		return 0;
	if (params[0] == NULL)
		return http_oom(req);
	if (db_exec(req->ctx->db, req->arena, &stmt_log_insert, params, NULL) == NULL)
		return http_db_failure(req);
	if (!d->remove && d->prev == ITEM_REMOVED && appeal_void(req, d->item_pk) != 0)
		return http_db_failure(req);
	if (!d->remove && !d->changed)
		return 0;
	if (d->remove && (appeal_id = appeal_open(req, d->item_pk, d->post_pk, d->community,
	                                          d->trust_taken)) == NULL)
		return http_db_failure(req);
	if ((data = json_object_new_object()) == NULL)
		return http_oom(req);
	json_object_object_add(data, "post_id", json_object_new_string(d->post_id));
	if (appeal_id != NULL)
		json_object_object_add(data, "appeal_id", json_object_new_string(appeal_id));
	json_object_object_add(data, "decision", json_object_new_string(d->remove ? "remove" : "keep"));
	json_object_object_add(data, "reason", json_object_new_string(d->reason));
	seq = events_push(req, d->author, EVENT_MODERATION_DECISION, data);
	json_object_put(data);
	return seq < 0 ? http_db_failure(req) : 0;
}

/* The checked note (NULL: none) sealed into d for its item; 0 or the status it set. */
static int decision_note_seal_or_reply(struct request *req, struct decision *d,
                                       const char *note, size_t note_len)
{
	uint32_t version = 0;

	if (note == NULL)
		return 0;
	d->note_sealed = moderation_decision_note_seal(req, d->id, note, note_len,
	                                               &version);
	if (d->note_sealed == NULL ||
	    (d->note_version = arena_printf(req->arena, "%u", version)) == NULL)
		return http_error(req, 500, "internal", "internal error");
	return 0;
}

/*
 * {"decision": "keep"|"remove", "note"?} on item d->id, by d->community
 * (NULL: the instance) -> 200 {"id", "status"}. The note is kept with the
 * decision, sealed, for the decided queue (docs/moderation.md); the
 * instance's overriding decision replaces the community's note. A second
 * decision is 409 whichever came first, except the instance's on a
 * community's decision.
 */
static int queue_decide(struct request *req, struct decision d)
{
	struct db *db = req->ctx->db;
	const char *what, *note;
	size_t note_len;
	json_object *o;
	int status;

	if (json_get_string(req->json, "decision", &what, NULL) != 1 ||
	    (strcmp(what, "remove") != 0 && strcmp(what, "keep") != 0))
		return http_error(req, 422, "invalid_field", "decision must be keep or remove");
	d.remove = strcmp(what, "remove") == 0;
	if ((status = moderation_note_or_reply(req, &note, &note_len)) != 0 ||
	    (status = decision_item_or_reply(req, &d)) != 0 ||
	    (status = decision_note_seal_or_reply(req, &d, note, note_len)) != 0)
		return status;
	if (db_begin(db) != 0)
		return http_db_failure(req);
	if ((status = decision_lock_or_reply(req, &d)) != 0 ||
	    (status = decision_apply_or_reply(req, &d)) != 0 ||
	    (status = decision_announce_or_reply(req, &d)) != 0) {
		db_rollback(db);
		return status;
	}
	if (db_commit(db) != 0)
		return http_db_failure(req);
	if (d.changed)
		feed_content_changed(req);
	/* trust_adjust dropped it already; again now that the new trust is committed. */
	if (decision_trust_delta(&d) != 0 && auth_forget(req, d.author_hash) != 0)
		log_msg(LOG_WARN, "account record not dropped after a trust change; it expires by itself");
	if ((o = json_object_new_object()) == NULL)
		return http_oom(req);
	json_object_object_add(o, "id", json_object_new_string(d.id));
	json_object_object_add(o, "status",
	                       json_object_new_string(item_status_name(d.remove ? ITEM_REMOVED : ITEM_KEPT)));
	return http_reply(req, 200, o);
}

/* POST /moderation/queue/{id}/decision (review token). */
int handle_queue_decide(struct request *req)
{
	struct decision d = { .id = http_param(req, 0) };

	return queue_decide(req, d);
}

/* POST /communities/{slug}/queue/{item_id}/decision (a moderator of it). */
int handle_community_queue_decide(struct request *req)
{
	struct decision d = { .id = http_param(req, 1) };
	int status;

	if ((status = community_moderated_or_reply(req, http_param(req, 0), &d.community)) != 0)
		return status;
	return queue_decide(req, d);
}

/* ---- GET /moderation/log ------------------------------------------------ */

static struct db_stmt stmt_log = {
	"mod_log_page",
	"SELECT pk, day, action, reason, post_id FROM mod_log WHERE pk < $1 ORDER BY pk DESC LIMIT $2",
	2, 0
};
static struct db_stmt stmt_clog = {
	"mod_clog_page",
	"SELECT pk, day, action, reason, post_id FROM mod_log WHERE community_pk = $2 AND pk < $1 "
	"ORDER BY pk DESC LIMIT $3", 3, 0
};

static json_object *log_item_json(struct request *req, const PGresult *res, int row,
                                  void *unused)
{
	static const char *const actions[] = {
		NULL, "remove", "keep", "ban", "appeal_upheld", "appeal_reversed"
	};
	int64_t day, action;
	json_object *o;

	(void)req;
	(void)unused;
	if (util_parse_int64(PQgetvalue(res, row, 1), 0, INT32_MAX, &day) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, 2), MODLOG_REMOVE, MODLOG_APPEAL_REVERSED,
	                    &action) != 0 ||
	    (o = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(o, "day", json_object_new_int64(day));
	json_object_object_add(o, "action", json_object_new_string(actions[action]));
	json_object_object_add(o, "reason", json_object_new_string(PQgetvalue(res, row, 3)));
	json_object_object_add(o, "post_id", PQgetisnull(res, row, 4) ? NULL :
	                       json_object_new_string(PQgetvalue(res, row, 4)));
	return o;
}

/* A public log, newest first (of community, a pk; NULL: all); cursor = the last row's pk. */
static int log_list(struct request *req, const char *community)
{
	struct page_rows rows;
	struct cursor next;
	struct page page;
	const char *params[3] = { NULL, community, NULL };
	int status;

	if ((status = page_or_reply(req, MODLOG_KIND, &page)) != 0)
		return status;
	params[0] = arena_i64(req->arena, page.has_cursor ? page.cursor.v[0] : INT64_MAX);
	if (params[0] == NULL)
		return http_oom(req);
	if ((status = page_fetch_or_reply(req, &page, community != NULL ? &stmt_clog : &stmt_log,
	                                  params, log_item_json, NULL, &rows)) != 0)
		return status;
	return page_reply(req, MODLOG_KIND, rows.items, page_next_key(&rows, 0, &next));
}

/* GET /moderation/log: public, every decision and ban. */
int handle_modlog_list(struct request *req)
{
	return log_list(req, NULL);
}

/* GET /communities/{slug}/log: public, the decisions on that community's posts. */
int handle_community_log(struct request *req)
{
	const char *community = NULL;
	int status;

	if ((status = community_pk_or_reply(req, http_param(req, 0), &community)) != 0)
		return status;
	return log_list(req, community);
}
