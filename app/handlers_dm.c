/*
 * handlers_dm.c — POST /dm/start_from_post, GET /dm/list,
 * GET /dm/{id}/messages, POST /dm/{id}/send and PUT /dm/{id}/key (the
 * caller's conversation, its messages and the export: dm_conv.h).
 *
 * A conversation joins the account that started it and the author of the
 * post it was started from, one per (starter, post) (sql/008_dm.sql,
 * sql/016_dm_per_post.sql): nothing ties two conversations together, so
 * neither side learns who the other is nor whether two conversations have
 * the same person on the other side. Anyone else gets 404 on every route
 * of it. Server-readable bodies are sealed with the conversation key
 * (include/dm.h); once both sides have set an X25519 key for the
 * conversation (each once) it is end to end and only {ciphertext, nonce}
 * is accepted and stored as sent. docs/dm.md has the rules.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "auth.h"
#include "config.h"
#include "context.h"
#include "crypto.h"
#include "db.h"
#include "dm.h"
#include "dm_conv.h"
#include "events.h"
#include "guard.h"
#include "handlers.h"
#include "json.h"
#include "log.h"
#include "page.h"
#include "util.h"

#define LIST_KIND "dm-list"
#define MESSAGES_KIND "dm-messages"

/* ---- statements ------------------------------------------------------------ */

static struct db_stmt stmt_post = {
	"dm_post",
	"SELECT p.pk, p.author_pk, k.version, k.wrapped FROM posts p "
	"JOIN account_keys k ON k.account_pk = p.author_pk WHERE p.id = $1 AND p.status = 0", 1, 0
};
static struct db_stmt stmt_started = {
	"dm_started",
	"SELECT id FROM dm_conversations WHERE starter_pk = $1 AND origin_post_pk = $2", 2, 0
};
static struct db_stmt stmt_conv_insert = {
	"dm_conv_insert",
	"INSERT INTO dm_conversations (id, starter_pk, origin_post_pk, day_last) "
	"VALUES ($1, $2, $3, $4) ON CONFLICT (starter_pk, origin_post_pk) DO NOTHING "
	"RETURNING pk", 4, 0
};
/* side 0 the starter (with its X25519 key when it gave one), side 1 the author */
static struct db_stmt stmt_part_insert = {
	"dm_part_insert",
	"INSERT INTO dm_participants (conversation_pk, side, account_pk, key_sealed, x25519_sealed) "
	"VALUES ($1, 0, $2, $3, $4), ($1, 1, $5, $6, NULL)", 6, 0
};


/* One conversation as GET /dm/list shows it to participant $1. */
#define LIST_SELECT \
	"SELECT c.id, op.id, c.day_last, c.activity, " \
	"(SELECT count(*) FROM dm_messages m WHERE m.conversation_pk = c.pk " \
	" AND m.seq > me.read_seq AND m.sender <> me.side), c.e2e, " \
	"me.x25519_sealed, me.x25519_legacy, mk.version, mk.wrapped, " \
	"peer.account_pk, peer.x25519_sealed, peer.x25519_legacy, pk.version, pk.wrapped " \
	DM_CONV_FROM \
	"LEFT JOIN account_keys pk ON pk.account_pk = peer.account_pk " \
	"LEFT JOIN posts op ON op.pk = c.origin_post_pk AND op.status = 0 " \
	"WHERE me.account_pk = $1 AND NOT " DM_BLOCKED_BY("me.account_pk") " "

static struct db_stmt stmt_list = {
	"dm_list", LIST_SELECT "AND c.activity < $2 ORDER BY c.activity DESC LIMIT $3", 3, 0
};
static struct db_stmt stmt_list_one = {
	"dm_list_one", LIST_SELECT "AND c.pk = $2", 2, 0
};
enum { LS_ID, LS_ORIGIN, LS_DAY, LS_ACTIVITY, LS_UNREAD, LS_E2E,
       LS_MY_X25519, LS_MY_LEGACY, LS_MY_KEY_VERSION, LS_MY_KEY_WRAPPED,
       LS_PEER, LS_PEER_X25519, LS_PEER_LEGACY, LS_PEER_KEY_VERSION, LS_PEER_KEY_WRAPPED };


static struct db_stmt stmt_read = {
	"dm_read",
	"UPDATE dm_participants SET read_seq = $3 "
	"WHERE conversation_pk = $1 AND side = $2 AND read_seq < $3", 3, 0
};

/*
 * A message, in one statement committed on its own: the next seq under the
 * conversation's row lock (c), the message (m), then the peer's dm.message
 * event ($9: the peer's pk, NULL for none; events.h: the last lock), in
 * that order, as a transaction of three statements took them. The row lock
 * is held from the UPDATE to the commit, so no round trip to the worker
 * falls inside it: with a BEGIN, each statement and the COMMIT, three of
 * them did, and every other send into the conversation queued behind them.
 * A conversation already end to end refuses a server-readable message ($2
 * false) that raced with the switch: no row comes back and nothing is
 * written. Returns the seq, the event's seq (NULL: none) and the event
 * data as jsonb text (what GET /events reads).
 */
static struct db_stmt stmt_message_send = {
	"dm_message_send",
	"WITH c AS (UPDATE dm_conversations SET last_seq = last_seq + 1, day_last = $3, "
	"activity = nextval('dm_activity'), e2e = e2e OR $2 "
	"WHERE pk = $1 AND (NOT e2e OR $2) RETURNING last_seq), "
	"m AS (INSERT INTO dm_messages (conversation_pk, seq, id, sender, day, body_sealed, "
	"ciphertext, nonce) SELECT $1, c.last_seq, $4, $5, $3, $6, $7, $8 FROM c RETURNING seq) "
	"SELECT m.seq, CASE WHEN $9::bigint IS NOT NULL "
	"THEN sotto_event_push($9, 'dm.message', $3, $10::jsonb) END, $10::jsonb::text FROM m",
	10, 0
};

/* Setting a side's key: the conversation row first (sql/016's lock order). */
static struct db_stmt stmt_conv_lock = {
	"dm_conv_lock", "SELECT 1 FROM dm_conversations WHERE pk = $1 FOR UPDATE", 1, 0
};
static struct db_stmt stmt_key_set = {
	"dm_key_set",
	"UPDATE dm_participants SET x25519_sealed = $3 "
	"WHERE conversation_pk = $1 AND side = $2 AND x25519_sealed IS NULL RETURNING 1", 3, 0
};
static struct db_stmt stmt_key_get = {
	"dm_key_get",
	"SELECT x25519_sealed, x25519_legacy FROM dm_participants "
	"WHERE conversation_pk = $1 AND side = $2 AND x25519_sealed IS NOT NULL", 2, 0
};
/* End to end from now on once the other side has a key too: a row when it is. */
static struct db_stmt stmt_e2e_on = {
	"dm_e2e_on",
	"UPDATE dm_conversations SET e2e = true WHERE pk = $1 AND EXISTS "
	"(SELECT 1 FROM dm_participants WHERE conversation_pk = $1 AND side <> $2 "
	" AND x25519_sealed IS NOT NULL) RETURNING 1", 2, 0
};

/* ---- the caller's conversation ------------------------------------------------ */

/* The conversation of path parameter 0, as conv_load_or_reply. */
static int conv_or_reply(struct request *req, struct conv *cv)
{
	return dm_conv_load_or_reply(req, http_param(req, 0), cv);
}

/*
 * Announce something of cv to the peer (events.h: the last lock): data
 * (taken over; NULL means out of memory) plus "conversation_id". Nothing
 * when the peer is gone or blocked the caller here: the caller must see
 * the same answer either way (docs/blocks.md). 0 or -1.
 */
static int notify_peer(struct request *req, const struct conv *cv, const char *type,
                       json_object *data)
{
	int64_t seq = 0;

	if (data == NULL)
		return -1;
	json_object_object_add(data, "conversation_id", json_object_new_string(cv->id));
	if (cv->peer_pk != 0 && !cv->peer_blocked)
		seq = events_push(req, cv->peer_pk, type, data);
	json_object_put(data);
	return seq < 0 ? -1 : 0;
}

/* ---- the caller's X25519 key for a conversation ------------------------------- */

/*
 * The caller's side of cv already has a key: 0 when it is pk (setting it
 * again changes nothing), 409 when it is another one, or the status it set.
 */
static int same_key_or_reply(struct request *req, const struct conv *cv,
                             const unsigned char dk[CRYPTO_KEY_BYTES],
                             const unsigned char pk[DM_X25519_BYTES])
{
	const char *params[2] = { arena_i64(req->arena, cv->pk),
	                          arena_i64(req->arena, cv->side) };
	unsigned char have[DM_X25519_BYTES];
	const unsigned char *sealed;
	size_t len = 0;
	PGresult *res;

	if (params[0] == NULL || params[1] == NULL)
		return http_oom(req);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_key_get, params, NULL)) == NULL)
		return http_db_failure(req);
	if (PQntuples(res) != 1 ||
	    (sealed = db_bytea_value(req->arena, res, 0, 0, &len)) == NULL ||
	    dm_x25519_open(req->arena, dk, cv->id, req->account_pk,
	                   PQgetvalue(res, 0, 1)[0] == 't', sealed, len, have) != 0) {
		log_msg(LOG_ERROR, "a conversation's X25519 key does not open");
		return http_error(req, 500, "internal", "the key cannot be read");
	}
	if (sodium_memcmp(have, pk, DM_X25519_BYTES) != 0)
		return http_error(req, 409, "conflict",
		                  "x25519_public: this conversation already has another key of yours");
	return 0;
}

/*
 * Store sealed (the caller's key, bytea text) for the caller's side of cv
 * unless that side has one, turn cv end to end when the other side has a
 * key too, and tell the peer (dm.key), in one transaction that takes the
 * conversation row first. 1 stored, 0 the side already had a key (nothing
 * changed), -1 the database failed (rolled back).
 */
static int key_store(struct request *req, const struct conv *cv, const char *sealed)
{
	const char *params[3] = { arena_i64(req->arena, cv->pk),
	                          arena_i64(req->arena, cv->side), sealed };
	json_object *data;
	PGresult *res;

	if (params[0] == NULL || params[1] == NULL || db_begin(req->ctx->db) != 0)
		return -1;
	if (db_exec(req->ctx->db, req->arena, &stmt_conv_lock, params, NULL) == NULL ||
	    (res = db_exec(req->ctx->db, req->arena, &stmt_key_set, params, NULL)) == NULL)
		goto fail;
	if (PQntuples(res) != 1) {
		db_rollback(req->ctx->db);
		return 0;
	}
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_e2e_on, params, NULL)) == NULL ||
	    (data = json_object_new_object()) == NULL)
		goto fail;
	json_object_object_add(data, "e2e", json_object_new_boolean(PQntuples(res) == 1));
	if (notify_peer(req, cv, EVENT_DM_KEY, data) != 0 || db_commit(req->ctx->db) != 0)
		goto fail;
	return 1;
fail:
	db_rollback(req->ctx->db);
	return -1;
}

/*
 * Set the caller's X25519 key pk for cv, once: the same key again is 0
 * (nothing changes), another one 409. 0 or the status it set.
 */
static int key_set_or_reply(struct request *req, const struct conv *cv,
                            const unsigned char pk[DM_X25519_BYTES])
{
	unsigned char dk[CRYPTO_KEY_BYTES];
	const unsigned char *sealed;
	const char *text;
	size_t len = 0;
	int status = 0, stored;

	if (dm_data_key(req, cv->res, cv->row, CV_KEY_VERSION, req->account_pk, dk) != 0) {
		status = http_error(req, 500, "internal", "a data key cannot be read");
		goto out;
	}
	sealed = dm_x25519_seal(req->arena, dk, cv->id, req->account_pk, pk, &len);
	if (sealed == NULL || (text = db_bytea_text(req->arena, sealed, len)) == NULL) {
		status = http_oom(req);
		goto out;
	}
	stored = key_store(req, cv, text);
	if (stored < 0)
		status = http_db_failure(req);
	else if (stored == 0)
		status = same_key_or_reply(req, cv, dk, pk);
out:
	sodium_memzero(dk, sizeof(dk));
	return status;
}

/*
 * "x25519_public" of the body into pk, *present telling whether there is
 * one (absent or null: false, a 422 unless optional). 0 or the status it set.
 */
static int key_field_or_reply(struct request *req, bool optional, bool *present,
                              unsigned char pk[DM_X25519_BYTES])
{
	const char *text;
	size_t len;
	int got = json_get_string(req->json, "x25519_public", &text, &len);

	*present = got == 1;
	if (got == 0 && optional)
		return 0;
	if (got != 1 || dm_x25519_parse(text, len, pk) != 0)
		return http_error(req, 422, "invalid_field",
		                  "x25519_public must be a usable X25519 public key: 32 bytes, base64url");
	return 0;
}

/* ---- POST /dm/start_from_post -------------------------------------------------- */

/* A start: the origin post, its author and the starter's key when it gave one. */
struct start {
	const char *post_pk;
	int64_t author;
	const PGresult *res;            /* row 0: the author's wrapped data key */
	bool has_key;
	unsigned char x25519[DM_X25519_BYTES];
};

/*
 * 200 {"conversation_id"} with the conversation the caller started from
 * this post, if there is one (its key set as key_set_or_reply does when
 * the start carries one); 0 when there is none.
 */
static int existing_or_reply(struct request *req, const struct start *s)
{
	const char *params[2] = { arena_i64(req->arena, req->account_pk), s->post_pk };
	struct conv cv;
	PGresult *res;
	int status;

	if (params[0] == NULL)
		return http_oom(req);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_started, params, NULL)) == NULL)
		return http_db_failure(req);
	if (PQntuples(res) != 1)
		return 0;
	if (s->has_key &&
	    ((status = dm_conv_load_or_reply(req, PQgetvalue(res, 0, 0), &cv)) != 0 ||
	     (status = key_set_or_reply(req, &cv, s->x25519)) != 0))
		return status;
	return http_reply_member(req, 200, "conversation_id",
	                         json_object_new_string(PQgetvalue(res, 0, 0)));
}

/*
 * The conversation key sealed for both sides (sealed[0] the starter's
 * copy, sealed[1] the author's) and the starter's X25519 key, if any,
 * sealed for this conversation (*x, else NULL). 0 or the status it set.
 */
static int seal_keys_or_reply(struct request *req, const struct start *s, const char *id,
                              const char *sealed[2], const char **x)
{
	unsigned char ck[DM_KEY_BYTES], mine[CRYPTO_KEY_BYTES], theirs[CRYPTO_KEY_BYTES];
	const unsigned char *m = NULL, *t = NULL, *xs = NULL;
	size_t m_len = 0, t_len = 0, x_len = 0;
	int status = 0;

	dm_key_new(ck);
	*x = NULL;
	if (auth_data_key(req, req->account, mine) != 0) {
		status = http_db_failure(req);
		goto out;
	}
	if (dm_data_key(req, s->res, 0, 2, s->author, theirs) != 0) {
		status = http_error(req, 500, "internal", "a data key cannot be read");
		goto out;
	}
	m = dm_key_seal(req->arena, mine, id, req->account_pk, ck, &m_len);
	t = dm_key_seal(req->arena, theirs, id, s->author, ck, &t_len);
	sealed[0] = m != NULL ? db_bytea_text(req->arena, m, m_len) : NULL;
	sealed[1] = t != NULL ? db_bytea_text(req->arena, t, t_len) : NULL;
	if (s->has_key) {
		xs = dm_x25519_seal(req->arena, mine, id, req->account_pk, s->x25519, &x_len);
		*x = xs != NULL ? db_bytea_text(req->arena, xs, x_len) : NULL;
	}
	if (sealed[0] == NULL || sealed[1] == NULL || (s->has_key && *x == NULL))
		status = http_oom(req);
out:
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(mine, sizeof(mine));
	sodium_memzero(theirs, sizeof(theirs));
	return status;
}

/*
 * Insert the conversation and both participants in one transaction.
 * 201 {"conversation_id"}; when a concurrent start by the same caller
 * from the same post made it first, 200 with that one.
 */
static int create_or_reply(struct request *req, const struct start *s)
{
	const char *id = util_random_id(req->arena, DM_ID_BYTES);
	const char *sealed[2] = { NULL, NULL }, *x = NULL;
	const char *params[6];
	PGresult *res;
	int status;

	if (id == NULL)
		return http_oom(req);
	if ((status = seal_keys_or_reply(req, s, id, sealed, &x)) != 0)
		return status;
	params[0] = id;
	params[1] = arena_i64(req->arena, req->account_pk);
	params[2] = s->post_pk;
	params[3] = arena_i64(req->arena, util_today());
	if (params[1] == NULL || params[3] == NULL)
		return http_oom(req);
	if (db_begin(req->ctx->db) != 0)
		return http_db_failure(req);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_conv_insert, params, NULL)) == NULL)
		goto fail;
	if (PQntuples(res) != 1) {
		db_rollback(req->ctx->db);
		status = existing_or_reply(req, s);
		return status != 0 ? status : http_error(req, 409, "conflict", "try again");
	}
	params[0] = PQgetvalue(res, 0, 0);
	params[1] = arena_i64(req->arena, req->account_pk);
	params[2] = sealed[0];
	params[3] = x;
	params[4] = arena_i64(req->arena, s->author);
	params[5] = sealed[1];
	if (params[1] == NULL || params[4] == NULL ||
	    db_exec(req->ctx->db, req->arena, &stmt_part_insert, params, NULL) == NULL ||
	    db_commit(req->ctx->db) != 0)
		goto fail;
	return http_reply_member(req, 201, "conversation_id", json_object_new_string(id));
fail:
	db_rollback(req->ctx->db);
	return http_db_failure(req);
}

/*
 * POST /dm/start_from_post. A conversation belongs to (caller, post): what
 * comes back depends on nothing but the caller and this very post (only
 * the caller's own post is refused), so no answer tells whether two posts
 * have the same author.
 */
int handle_dm_start(struct request *req)
{
	struct start s = { 0 };
	const char *post_id;
	size_t len;
	PGresult *res;
	int status;

	if (json_get_string(req->json, "post_id", &post_id, &len) != 1)
		return http_error(req, 422, "invalid_field", "post_id must be a post id");
	if ((status = key_field_or_reply(req, true, &s.has_key, s.x25519)) != 0)
		return status;
	if (len != 22)
		return http_error(req, 404, "not_found", "no such post");
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_post, &post_id, NULL)) == NULL)
		return http_db_failure(req);
	if (PQntuples(res) != 1)
		return http_error(req, 404, "not_found", "no such post");
	s.post_pk = PQgetvalue(res, 0, 0);
	s.res = res;
	if (util_parse_int64(PQgetvalue(res, 0, 1), 1, INT64_MAX - 1, &s.author) != 0)
		return http_error(req, 500, "internal", "internal error");
	if (s.author == req->account_pk)
		return http_error(req, 422, "invalid_field", "post_id: that post is your own");
	if ((status = existing_or_reply(req, &s)) != 0)
		return status;
	return create_or_reply(req, &s);
}

/* ---- GET /dm/list ------------------------------------------------------------ */

/* A side's key of conversation `row` of a LIST_SELECT result, or NULL. */
static const char *list_key(struct request *req, const PGresult *res, int row, int xcol,
                            int vcol, int64_t owner)
{
	return dm_x25519_text(req, res, row, xcol, vcol, PQgetvalue(res, row, LS_ID), owner);
}

/* One conversation of the list; NULL on OOM. */
static json_object *list_item(struct request *req, const PGresult *res, int row, void *unused)
{
	json_object *o = json_object_new_object();
	int64_t day = 0, unread = 0, peer = 0;
	const char *mine, *theirs = NULL;

	(void)unused;
	if (o == NULL)
		return NULL;
	if (util_parse_int64(PQgetvalue(res, row, LS_DAY), 0, INT32_MAX, &day) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, LS_UNREAD), 0, INT64_MAX - 1, &unread) != 0)
		log_msg(LOG_WARN, "a conversation row is malformed");
	mine = list_key(req, res, row, LS_MY_X25519, LS_MY_KEY_VERSION, req->account_pk);
	if (!PQgetisnull(res, row, LS_PEER) &&
	    util_parse_int64(PQgetvalue(res, row, LS_PEER), 1, INT64_MAX - 1, &peer) == 0)
		theirs = list_key(req, res, row, LS_PEER_X25519, LS_PEER_KEY_VERSION, peer);
	json_object_object_add(o, "id", json_object_new_string(PQgetvalue(res, row, LS_ID)));
	json_object_object_add(o, "origin_post_id", PQgetisnull(res, row, LS_ORIGIN) ? NULL :
	                       json_object_new_string(PQgetvalue(res, row, LS_ORIGIN)));
	json_object_object_add(o, "day_last", json_object_new_int64(day));
	json_object_object_add(o, "unread", json_object_new_int64(unread));
	json_object_object_add(o, "e2e",
	                       json_object_new_boolean(PQgetvalue(res, row, LS_E2E)[0] == 't'));
	json_object_object_add(o, "my_x25519", mine != NULL ? json_object_new_string(mine) : NULL);
	json_object_object_add(o, "peer_x25519",
	                       theirs != NULL ? json_object_new_string(theirs) : NULL);
	return o;
}

/* status with cv as one GET /dm/list item. */
static int conversation_reply(struct request *req, const struct conv *cv, int status)
{
	const char *params[2] = { arena_i64(req->arena, req->account_pk),
	                          arena_i64(req->arena, cv->pk) };
	json_object *o;
	PGresult *res;

	if (params[0] == NULL || params[1] == NULL)
		return http_oom(req);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_list_one, params, NULL)) == NULL)
		return http_db_failure(req);
	if (PQntuples(res) != 1)
		return http_error(req, 404, "not_found", "no such conversation");
	if ((o = list_item(req, res, 0, NULL)) == NULL)
		return http_oom(req);
	return http_reply(req, status, o);
}

/*
 * GET /dm/list: newest activity first (a start or a message), keyset on
 * the conversation's activity sequence (the cursor holds the last one).
 */
int handle_dm_list(struct request *req)
{
	static const struct page_keyed list = {
		LIST_KIND, &stmt_list, INT64_MAX, LS_ACTIVITY, list_item, NULL
	};

	return page_keyed_reply(req, &list, arena_i64(req->arena, req->account_pk));
}

/* ---- GET /dm/{id}/messages --------------------------------------------------- */

/* Move the caller's read position up to seq (never back). 0 or the status it set. */
static int mark_read_or_reply(struct request *req, const struct conv *cv, int64_t seq)
{
	const char *params[3] = { arena_i64(req->arena, cv->pk), arena_i64(req->arena, cv->side),
	                          arena_i64(req->arena, seq) };

	if (params[0] == NULL || params[1] == NULL || params[2] == NULL)
		return http_oom(req);
	if (db_exec(req->ctx->db, req->arena, &stmt_read, params, NULL) == NULL)
		return http_db_failure(req);
	return 0;
}

/*
 * GET /dm/{id}/messages: oldest first, keyset on seq (the cursor holds the
 * conversation and the last seq). Reading a page marks its messages read.
 */
int handle_dm_messages(struct request *req)
{
	struct conv cv;
	struct page page;
	struct cursor next = { .n = 2 };
	json_object *items = NULL;
	PGresult *res;
	int64_t after = 0, last = 0;
	int status, rows;

	if ((status = conv_or_reply(req, &cv)) != 0 ||
	    (status = page_or_reply(req, MESSAGES_KIND, &page)) != 0)
		return status;
	if (page.has_cursor) {
		if (page.cursor.n != 2 || page.cursor.v[0] != cv.pk)
			return http_error(req, 400, "bad_request", "cursor is not valid for this list");
		after = page.cursor.v[1];
	}
	if ((status = dm_conv_messages_or_reply(req, &cv, after, page.limit, &res, &items)) != 0)
		return status;
	rows = PQntuples(res) > page.limit ? page.limit : PQntuples(res);
	if (rows > 0 &&
	    util_parse_int64(PQgetvalue(res, rows - 1, MS_SEQ), 1, INT64_MAX - 1, &last) == 0 &&
	    (status = mark_read_or_reply(req, &cv, last)) != 0) {
		json_object_put(items);
		return status;
	}
	if (PQntuples(res) > page.limit) {
		next.v[0] = cv.pk;
		next.v[1] = last;
		return page_reply(req, MESSAGES_KIND, items, &next);
	}
	return page_reply(req, MESSAGES_KIND, items, NULL);
}

/* ---- POST /dm/{id}/send ---------------------------------------------------- */

struct new_message {
	const char *id;
	const char *body;               /* server-readable; NULL when end to end */
	size_t body_len;
	unsigned char *ciphertext;      /* end to end, as sent */
	size_t ciphertext_len;
	unsigned char nonce[DM_NONCE_BYTES];
	int64_t seq, day;
};

/* The largest end-to-end ciphertext: a crypto_box MAC and post_max_chars of 4-byte UTF-8. */
static size_t ciphertext_max(const struct request *req)
{
	return DM_BOX_MAC_BYTES + 4 * (size_t)req->ctx->cfg->post_max_chars;
}

/* {ciphertext, nonce} of an end-to-end message, checked. 0 or the status it set. */
static int e2e_fields_or_reply(struct request *req, struct new_message *nm)
{
	const char *ct, *nonce;
	size_t ct_chars, nonce_chars, got = 0, cap = ciphertext_max(req);

	if (json_object_object_get_ex(req->json, "body", NULL))
		return http_error(req, 422, "invalid_field",
		                  "body: this conversation is end to end; send ciphertext and nonce");
	if (json_get_string(req->json, "nonce", &nonce, &nonce_chars) != 1 ||
	    util_b64url_decode(nonce, nonce_chars, nm->nonce, sizeof(nm->nonce), &got) != 0 ||
	    got != DM_NONCE_BYTES)
		return http_error(req, 422, "invalid_field", "nonce must be 24 bytes, base64url");
	if (json_get_string(req->json, "ciphertext", &ct, &ct_chars) != 1 || ct_chars == 0 ||
	    ct_chars > (cap + 2) / 3 * 4 ||
	    (nm->ciphertext = arena_alloc(req->arena, cap)) == NULL ||
	    util_b64url_decode(ct, ct_chars, nm->ciphertext, cap, &nm->ciphertext_len) != 0 ||
	    nm->ciphertext_len <= DM_BOX_MAC_BYTES)
		return http_error(req, 422, "invalid_field",
		                  "ciphertext must be base64url, more than 16 and at most "
		                  "16 + 4 x post_max_chars bytes");
	return 0;
}

/* {body} of a server-readable message, through the guardrails. 0 or the status it set. */
static int body_field_or_reply(struct request *req, struct new_message *nm)
{
	if (json_object_object_get_ex(req->json, "ciphertext", NULL) ||
	    json_object_object_get_ex(req->json, "nonce", NULL))
		return http_error(req, 422, "invalid_field",
		                  "ciphertext: this conversation is not end to end; send body");
	if (json_get_string(req->json, "body", &nm->body, &nm->body_len) != 1)
		return http_error(req, 422, "invalid_field", "body must be a string");
	return guard_text_or_reply(req, "dm", nm->body, nm->body_len,
	                           (size_t)req->ctx->cfg->post_max_chars);
}

/* The stored form of the message: sealed body or ciphertext and nonce (bytea text). */
static int stored_or_reply(struct request *req, const struct conv *cv,
                           const struct new_message *nm, const char **body,
                           const char **ct, const char **nonce)
{
	unsigned char ck[DM_KEY_BYTES];
	const unsigned char *sealed;
	size_t sealed_len = 0;
	int status;

	*body = *ct = *nonce = NULL;
	if (nm->body == NULL) {
		*ct = db_bytea_text(req->arena, nm->ciphertext, nm->ciphertext_len);
		*nonce = db_bytea_text(req->arena, nm->nonce, DM_NONCE_BYTES);
		return *ct != NULL && *nonce != NULL ? 0
		       : http_oom(req);
	}
	if ((status = dm_conv_key_or_reply(req, cv, ck)) != 0)
		goto out;
	sealed = dm_body_seal(req->arena, ck, cv->id, nm->id, nm->body, nm->body_len, &sealed_len);
	if (sealed == NULL || (*body = db_bytea_text(req->arena, sealed, sealed_len)) == NULL)
		status = http_oom(req);
out:
	sodium_memzero(ck, sizeof(ck));
	return status;
}

/*
 * The data of the peer's dm.message event for nm in cv, as JSON text on
 * the arena; "" when the peer gets none (gone, or blocked the caller here:
 * the caller sees the same answer either way, docs/blocks.md). NULL on OOM.
 */
static const char *message_event_data(struct request *req, const struct conv *cv,
                                      const struct new_message *nm)
{
	json_object *data;

	if (cv->peer_pk == 0 || cv->peer_blocked)
		return "";
	if ((data = json_new_object(req->arena)) == NULL ||
	    json_object_object_add(data, "message_id", json_object_new_string(nm->id)) != 0 ||
	    json_object_object_add(data, "conversation_id", json_object_new_string(cv->id)) != 0)
		return NULL;
	return json_dump(data, NULL);   /* valid while data is, until the arena's reset */
}

/*
 * Take the next seq, insert the message and queue the peer's event, in one
 * statement (stmt_message_send), and note the event for publishing. 0 or
 * the status it set (409 when the conversation turned end to end since it
 * was read).
 */
static int store_or_reply(struct request *req, const struct conv *cv, struct new_message *nm)
{
	const char *params[10], *data;
	int64_t event_seq = 0;
	PGresult *res;
	int status;

	if ((status = stored_or_reply(req, cv, nm, &params[5], &params[6], &params[7])) != 0)
		return status;
	params[0] = arena_i64(req->arena, cv->pk);
	params[1] = nm->body == NULL ? "true" : "false";
	params[2] = arena_i64(req->arena, nm->day);
	params[3] = nm->id;
	params[4] = cv->side == 0 ? "0" : "1";
	data = message_event_data(req, cv, nm);
	params[8] = data != NULL && data[0] != '\0' ? arena_i64(req->arena, cv->peer_pk) : NULL;
	params[9] = data != NULL && data[0] != '\0' ? data : "{}";
	if (params[0] == NULL || params[2] == NULL || data == NULL ||
	    (data[0] != '\0' && params[8] == NULL))
		return http_oom(req);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_message_send, params, NULL)) == NULL)
		return http_db_failure(req);
	if (PQntuples(res) != 1)
		return http_error(req, 409, "conflict",
		                  "the conversation is now end to end; send ciphertext and nonce");
	if (util_parse_int64(PQgetvalue(res, 0, 0), 1, INT64_MAX - 1, &nm->seq) != 0 ||
	    (!PQgetisnull(res, 0, 1) &&
	     util_parse_int64(PQgetvalue(res, 0, 1), 1, INT64_MAX, &event_seq) != 0))
		return http_error(req, 500, "internal", "internal error");
	/* Without the note the event is still queued; only real time misses it. */
	if (event_seq > 0 && events_note(req, cv->peer_pk, event_seq, EVENT_DM_MESSAGE, nm->day,
	                                 PQgetvalue(res, 0, 2)) != 0)
		log_msg(LOG_WARN, "dm: an event is not published in real time");
	return 0;
}

/*
 * POST /dm/{id}/send. The mode decides the fields: a plaintext body in an
 * end-to-end conversation is refused, never stored, so a client cannot be
 * downgraded silently. A conversation whose peer deleted their account
 * takes no more messages: 410 gone.
 */
int handle_dm_send(struct request *req)
{
	struct new_message nm = { 0 };
	struct conv cv;
	int status;

	if ((status = conv_or_reply(req, &cv)) != 0)
		return status;
	if (cv.peer_pk == 0)
		return http_error(req, 410, "gone", "the other participant has left");
	status = cv.e2e ? e2e_fields_or_reply(req, &nm) : body_field_or_reply(req, &nm);
	if (status != 0)
		return status;
	if ((nm.id = util_random_id(req->arena, DM_ID_BYTES)) == NULL)
		return http_oom(req);
	nm.day = util_today();
	if ((status = store_or_reply(req, &cv, &nm)) != 0)
		return status;
	return http_reply_member(req, 201, "message",
	                         dm_message_json(req, nm.id, nm.seq, true, nm.day, nm.body,
	                                         nm.ciphertext, nm.ciphertext_len, nm.nonce));
}

/* ---- PUT /dm/{id}/key ------------------------------------------------------- */

/*
 * PUT /dm/{id}/key {"x25519_public"}: the caller's end-to-end key for this
 * conversation, set once (the same key again changes nothing, another one
 * is 409: a stolen token cannot swap a key in). 200 with the conversation
 * as GET /dm/list shows it; the peer gets a dm.key event when it is set.
 */
int handle_dm_key(struct request *req)
{
	unsigned char pk[DM_X25519_BYTES];
	struct conv cv;
	bool present;
	int status;

	if ((status = conv_or_reply(req, &cv)) != 0 ||
	    (status = key_field_or_reply(req, false, &present, pk)) != 0)
		return status;
	if ((status = key_set_or_reply(req, &cv, pk)) != 0)
		return status;
	return conversation_reply(req, &cv, 200);
}
