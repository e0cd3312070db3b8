/*
 * handlers_posts.c — POST /posts, GET /posts/{id}, POST /posts/{id}/reply,
 * DELETE /posts/{id}, POST /posts/{id}/vote.
 *
 * A body is checked by the guardrails, sealed with its author's data key
 * (row = the post's random public id, owner = the author) and stored only
 * so. Scores, reply counts, community counts, ranks and the trust that
 * votes earn are kept by the triggers of sql/003_posts.sql, so every path
 * (a cascade from a deleted account included) keeps them right.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "auth.h"
#include "community.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "events.h"
#include "feed_cache.h"
#include "guard.h"
#include "export.h"
#include "handlers.h"
#include "json.h"
#include "log.h"
#include "page.h"
#include "post_view.h"
#include "trust.h"
#include "util.h"
#include "context.h"

#define POST_ID_BYTES 16
#define REPLIES_KIND "replies"

static struct db_stmt stmt_parent = {
	"post_parent",
	"SELECT p.pk, p.community_pk, c.slug, p.author_pk, EXISTS (SELECT 1 FROM blocks b "
	"WHERE b.blocker_pk = p.author_pk AND b.author_pk = $2) FROM posts p "
	"LEFT JOIN communities c ON c.pk = p.community_pk WHERE p.id = $1 AND p.status = 0", 2, 0
};
static struct db_stmt stmt_insert = {
	"post_insert",
	"INSERT INTO posts (id, author_pk, parent_pk, community_pk, body_sealed, day) "
	"VALUES ($1, $2, $3, $4, $5, $6)", 6, 0
};
static struct db_stmt stmt_one = {
	"post_one", "SELECT " POST_VIEW_COLUMNS POST_VIEW_FROM
	"WHERE p.id = $2 AND p.status = 0 AND " POST_VIEW_UNBLOCKED, 2, 0
};
static struct db_stmt stmt_replies = {
	"post_replies",
	"SELECT " POST_VIEW_COLUMNS POST_VIEW_FROM
	"WHERE p.parent_pk = $2 AND p.status = 0 AND p.pk > $3 AND " POST_VIEW_UNBLOCKED
	"ORDER BY p.pk LIMIT $4", 4, 0
};
static struct db_stmt stmt_delete = {
	"post_delete", "DELETE FROM posts WHERE id = $1 AND author_pk = $2", 2, 0
};
static struct db_stmt stmt_vote_target = {
	"post_vote_target",
	"SELECT p.pk, a.id_hash, p.author_pk FROM posts p JOIN accounts a ON a.pk = p.author_pk "
	"WHERE p.id = $1 AND p.status = 0", 1, 0
};
static struct db_stmt stmt_vote_set = {
	"post_vote_set",
	"INSERT INTO votes (post_pk, voter_pk, value, moves_trust) "
	"SELECT $1, a.pk, $3, sotto_established(a.day_joined, a.trust, $4) "
	"FROM accounts a WHERE a.pk = $2 ON CONFLICT (post_pk, voter_pk) DO UPDATE SET value = EXCLUDED.value, "
	"moves_trust = EXCLUDED.moves_trust WHERE votes.value <> EXCLUDED.value", 4, 0
};
static struct db_stmt stmt_vote_clear = {
	"post_vote_clear", "DELETE FROM votes WHERE post_pk = $1 AND voter_pk = $2", 2, 0
};
static struct db_stmt stmt_score = {
	"post_score", "SELECT score FROM posts WHERE pk = $1", 1, 0
};

/* What a new post is: its text and, for a reply, its parent. */
struct new_post {
	const char *body;
	size_t body_len;
	const char *parent_pk;      /* NULL for a top-level post */
	const char *parent_id;
	const char *community_pk;   /* NULL for none */
	const char *community;      /* its slug */
	const char *parent_author;  /* the parent's author_pk, for its post.reply event */
	bool parent_blocks_me;      /* that author blocked the replier: no event */
	const char *id;             /* set by insert_or_reply */
};

static int body_or_reply(struct request *req, struct new_post *np)
{
	if (json_get_string(req->json, "body", &np->body, &np->body_len) != 1)
		return http_error(req, 422, "invalid_field", "body must be a string");
	return guard_text_or_reply(req, "post", np->body, np->body_len,
	                           (size_t)req->ctx->cfg->post_max_chars);
}

/* Seal the body and insert the row; 201 {"post": Post}. */
static int insert_or_reply(struct request *req, struct new_post *np)
{
	struct account *acc = req->account;
	unsigned char key[CRYPTO_KEY_BYTES];
	struct crypto_field f;
	const unsigned char *sealed = NULL;
	size_t sealed_len = 0;
	const char *params[6];
	char *id = util_random_id(req->arena, POST_ID_BYTES);
	int64_t today = util_today();
	int status;

	if (id == NULL)
		return http_oom(req);
	np->id = id;
	if (auth_data_key(req, acc, key) != 0) {
		status = http_db_failure(req);
		goto out;
	}
	post_body_field(&f, id, acc->pk);
	sealed = crypto_seal(req->arena, key, CRYPTO_DATA_KEY_VERSION, &f, np->body,
	                     np->body_len, &sealed_len);
	params[0] = id;
	params[1] = arena_i64(req->arena, acc->pk);
	params[2] = np->parent_pk;
	params[3] = np->community_pk;
	params[4] = sealed != NULL ? db_bytea_text(req->arena, sealed, sealed_len) : NULL;
	params[5] = arena_i64(req->arena, today);
	if (params[1] == NULL || params[4] == NULL || params[5] == NULL) {
		status = http_oom(req);
		goto out;
	}
	if (db_exec(req->ctx->db, req->arena, &stmt_insert, params, NULL) == NULL) {
		status = http_db_failure(req);
		goto out;
	}
	if (np->parent_pk == NULL)
		feed_content_changed(req);   /* sort=new shows it at once */
	status = http_reply_member(req, 201, "post",
	                           post_json(id, np->body, today, 0, 0, np->community,
	                                     np->parent_id, true, 0));
out:
	sodium_memzero(key, sizeof(key));
	return status;
}

/* The optional "community" of a new post, by slug; 422 when unknown. */
static int community_or_reply(struct request *req, struct new_post *np)
{
	const char *slug;
	int rc = json_get_string(req->json, "community", &slug, NULL);

	if (rc == 0)
		return 0;
	if (rc < 0)
		return http_error(req, 422, "invalid_field", "community must be a slug");
	switch (community_pk(req, slug, &np->community_pk)) {
	case 1:
		np->community = slug;
		return 0;
	case 0:
		return http_error(req, 422, "invalid_field", "community: no such community");
	default:
		return http_db_failure(req);
	}
}

int handle_post_create(struct request *req)
{
	struct new_post np = { 0 };
	int status;

	if ((status = community_or_reply(req, &np)) != 0 ||
	    (status = body_or_reply(req, &np)) != 0)
		return status;
	return insert_or_reply(req, &np);
}

/*
 * A post.reply event to the parent's author, unless replying to oneself
 * or to someone who blocked the replier (docs/blocks.md: the reply is
 * hidden from them, so is its notice),
 * inside the reply's transaction after its insert (event_heads is the last
 * lock). 201 (still the reply's status) or the error status it set.
 */
static int reply_event_or_reply(struct request *req, const struct new_post *np)
{
	json_object *data;
	int64_t author, seq;

	if (util_parse_int64(np->parent_author, 1, INT64_MAX, &author) != 0)
		return http_error(req, 500, "internal", "internal error");
	if (author == req->account_pk || np->parent_blocks_me)
		return 201;
	data = json_object_new_object();
	if (data == NULL ||
	    json_object_object_add(data, "post_id", json_object_new_string(np->parent_id)) != 0 ||
	    json_object_object_add(data, "reply_id", json_object_new_string(np->id)) != 0) {
		json_object_put(data);
		return http_oom(req);
	}
	seq = events_push(req, author, EVENT_POST_REPLY, data);
	json_object_put(data);
	return seq < 0 ? http_db_failure(req) : 201;
}

int handle_post_reply(struct request *req)
{
	struct new_post np = { 0 };
	const char *params[2] = { http_param(req, 0), arena_i64(req->arena, req->account_pk) };
	PGresult *res;
	int status;

	if (params[1] == NULL)
		return http_oom(req);
	res = db_exec(req->ctx->db, req->arena, &stmt_parent, params, NULL);
	if (res == NULL)
		return http_db_failure(req);
	if (PQntuples(res) != 1)
		return http_error(req, 404, "not_found", "no such post");
	np.parent_pk = PQgetvalue(res, 0, 0);
	np.parent_id = params[0];
	np.community_pk = PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1);
	np.community = PQgetisnull(res, 0, 2) ? NULL : PQgetvalue(res, 0, 2);
	np.parent_author = PQgetvalue(res, 0, 3);
	np.parent_blocks_me = PQgetvalue(res, 0, 4)[0] == 't';
	if ((status = body_or_reply(req, &np)) != 0)
		return status;
	/* One transaction: the reply and its event commit together or not at all. */
	if (db_begin(req->ctx->db) != 0)
		return http_db_failure(req);
	status = insert_or_reply(req, &np);
	if (status == 201)
		status = reply_event_or_reply(req, &np);
	if (status == 201 && db_commit(req->ctx->db) != 0)
		status = http_db_failure(req);
	if (status != 201)
		db_rollback(req->ctx->db);  /* and an error status: events.h */
	return status;
}

/* The replies page after the post: oldest first, by pk. */
static int replies_or_reply(struct request *req, json_object *o, const char *viewer,
                            const char *post_pk, struct post_keys *keys)
{
	struct page page;
	struct page_rows rows;
	struct cursor next;
	const struct cursor *more;
	const char *params[4];
	char *text = NULL;
	int status;

	if ((status = page_or_reply(req, REPLIES_KIND, &page)) != 0)
		return status;
	params[0] = viewer;
	params[1] = post_pk;
	params[2] = arena_i64(req->arena, page.has_cursor ? page.cursor.v[0] : 0);
	if (params[2] == NULL)
		return http_oom(req);
	if ((status = page_fetch_or_reply(req, &page, &stmt_replies, params, post_view_item, keys,
	                                  &rows)) != 0)
		return status;
	json_object_object_add(o, "replies", rows.items);
	if ((more = page_next_key(&rows, POST_VIEW_PK, &next)) != NULL &&
	    (text = cursor_seal(req->arena, req->ctx->keys.cursor, REPLIES_KIND, more)) == NULL)
		return http_oom(req);
	json_object_object_add(o, "next_cursor", text != NULL ? json_object_new_string(text) : NULL);
	return 0;
}

int handle_post_get(struct request *req)
{
	struct post_keys keys = { 0 };
	const char *params[2] = { post_viewer(req), http_param(req, 0) };
	json_object *o, *post;
	PGresult *res;
	int status;

	if (params[0] == NULL)
		return http_oom(req);
	res = db_exec(req->db, req->arena, &stmt_one, params, NULL);
	if (res == NULL)
		return http_db_failure(req);
	if (PQntuples(res) != 1)
		return http_error(req, 404, "not_found", "no such post");
	if ((o = json_new_object(req->arena)) == NULL) {
		status = http_oom(req);
		goto out;
	}
	if ((post = post_view_item(req, res, 0, &keys)) == NULL) {
		status = http_error(req, 404, "not_found", "no such post");  /* its body is lost */
		goto out;
	}
	json_object_object_add(o, "post", post);
	status = replies_or_reply(req, o, params[0], PQgetvalue(res, 0, POST_VIEW_PK), &keys);
	if (status == 0) {
		req->reply = o;
		status = 200;
	}
out:
	post_keys_wipe(&keys);
	return status;
}

int handle_post_delete(struct request *req)
{
	const char *params[2] = {
		http_param(req, 0), arena_i64(req->arena, req->account_pk)
	};
	PGresult *res;

	if (params[1] == NULL)
		return http_oom(req);
	res = db_exec(req->ctx->db, req->arena, &stmt_delete, params, NULL);
	if (res == NULL)
		return http_db_failure(req);
	/* Someone else's post is as absent as no post: 404 either way. */
	if (strcmp(PQcmdTuples(res), "1") != 0)
		return http_error(req, 404, "not_found", "no such post");
	feed_content_changed(req);
	return 204;
}

/*
 * Record value (-1, 0, 1) of the caller on post pk; 0 or the status it set.
 * An up-vote moves the author's trust only when the caller is established
 * (trust.h); the vote row keeps that answer, so withdrawing it later takes
 * back exactly what it gave.
 */
static int vote_store_or_reply(struct request *req, const char *post_pk, int64_t value)
{
	const char *params[4] = {
		post_pk, arena_i64(req->arena, req->account_pk),
		arena_i64(req->arena, value), trust_established_day(req)
	};

	if (params[1] == NULL || params[2] == NULL || params[3] == NULL)
		return http_oom(req);
	if (db_exec(req->ctx->db, req->arena, value == 0 ? &stmt_vote_clear : &stmt_vote_set,
	            params, NULL) == NULL)
		return http_db_failure(req);
	return 0;
}

/*
 * POST /posts/{id}/vote. An up-vote moves the author's trust (the votes
 * trigger), so the author's cached record is dropped for GET /me.
 */
int handle_post_vote(struct request *req)
{
	const char *params[1] = { http_param(req, 0) };
	unsigned char author_hash[AUTH_HASH_BYTES];
	const unsigned char *hash;
	size_t hash_len = 0;
	int64_t value, score, author;
	json_object *o;
	PGresult *res;
	int status;

	if (json_get_int64(req->json, "value", -1, 1, &value) != 1)
		return http_error(req, 422, "invalid_field", "value must be 1, -1 or 0");
	res = db_exec(req->ctx->db, req->arena, &stmt_vote_target, params, NULL);
	if (res == NULL)
		return http_db_failure(req);
	if (PQntuples(res) != 1)
		return http_error(req, 404, "not_found", "no such post");
	hash = db_bytea_value(req->arena, res, 0, 1, &hash_len);
	if (hash == NULL || hash_len != AUTH_HASH_BYTES ||
	    util_parse_int64(PQgetvalue(res, 0, 2), 1, INT64_MAX - 1, &author) != 0)
		return http_error(req, 500, "internal", "internal error");
	memcpy(author_hash, hash, sizeof(author_hash));
	params[0] = PQgetvalue(res, 0, 0);
	if ((status = vote_store_or_reply(req, params[0], value)) != 0)
		return status;
	feed_votes_changed(req);
	if (author != req->account_pk && auth_forget(req, author_hash) != 0)
		log_msg(LOG_WARN, "account record not dropped after a trust change; it expires by itself");
	res = db_exec(req->ctx->db, req->arena, &stmt_score, params, NULL);
	if (res == NULL || PQntuples(res) != 1 ||
	    util_parse_int64(PQgetvalue(res, 0, 0), INT32_MIN, INT32_MAX, &score) != 0)
		return http_db_failure(req);
	if ((o = json_object_new_object()) == NULL)
		return http_oom(req);
	json_object_object_add(o, "score", json_object_new_int64(score));
	json_object_object_add(o, "my_vote", json_object_new_int64(value));
	return http_reply(req, 200, o);
}

static struct db_stmt stmt_export_posts = {
	"post_export", "SELECT " POST_VIEW_COLUMNS POST_VIEW_FROM
	"WHERE p.author_pk = $1 ORDER BY p.pk", 1, 0
};
static struct db_stmt stmt_export_votes = {
	"vote_export",
	"SELECT p.id, v.value FROM votes v JOIN posts p ON p.pk = v.post_pk "
	"WHERE v.voter_pk = $1 ORDER BY p.pk", 1, 0
};

/* Export: every post and reply of the account, held or removed ones too. */
int export_posts(struct request *req, json_object *out, const char *section)
{
	struct post_keys keys = { 0 };
	int status = export_rows(req, out, section, &stmt_export_posts, post_view_item, &keys);

	post_keys_wipe(&keys);
	return status;
}

/* One vote of the export: {"post_id", "value"}. */
static json_object *vote_row(struct request *req, const PGresult *res, int row, void *unused)
{
	json_object *v = json_object_new_object();

	(void)req;
	(void)unused;
	if (v == NULL)
		return NULL;
	json_object_object_add(v, "post_id", json_object_new_string(PQgetvalue(res, row, 0)));
	json_object_object_add(v, "value", json_object_new_int(atoi(PQgetvalue(res, row, 1))));
	return v;
}

/* Export: the account's votes. */
int export_votes(struct request *req, json_object *out, const char *section)
{
	return export_rows(req, out, section, &stmt_export_votes, vote_row, NULL);
}
