/*
 * handlers_group_messages.c — POST and GET /groups/{id}/keys,
 * POST /groups/{id}/send, GET /groups/{id}/messages, and the "groups"
 * section of GET /me/export.
 *
 * Key sets and messages are stored as sent: the server checks shape,
 * epoch and coverage, never content (it cannot read it). A key set is
 * accepted once per epoch, for the current epoch only, and must hold one
 * box for each current member; a message only for the current epoch once
 * its key set is complete. Both take the group row lock, so a membership
 * change and a key post or send are ordered and the loser gets 409.
 */
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "config.h"
#include "context.h"
#include "db.h"
#include "events.h"
#include "export.h"
#include "group.h"
#include "group_access.h"
#include "handlers.h"
#include "json.h"
#include "log.h"
#include "page.h"
#include "util.h"

#define MESSAGES_KIND "group-messages"

static struct db_stmt stmt_member_ids = {
	"group_member_ids", "SELECT id FROM group_members WHERE group_pk = $1", 1, 0
};
/* The boxes come as one JSON array of {member_id, box, nonce} (hex). */
static struct db_stmt stmt_keys_insert = {
	"group_keys_insert",
	"INSERT INTO group_keys (group_pk, epoch, member_pk, from_member, box, nonce) "
	"SELECT $1, $2, m.pk, $3, decode(b.box, 'hex'), decode(b.nonce, 'hex') "
	"FROM jsonb_to_recordset($4::jsonb) AS b(member_id text, box text, nonce text) "
	"JOIN group_members m ON m.id = b.member_id AND m.group_pk = $1", 4, 0
};
static struct db_stmt stmt_key_epoch = {
	"group_key_epoch",
	"UPDATE groups SET key_epoch = epoch WHERE pk = $1 AND epoch = $2 AND key_epoch < $2", 2, 0
};
static struct db_stmt stmt_key_get = {
	"group_key_get",
	"SELECT from_member, box, nonce FROM group_keys WHERE member_pk = $1 AND epoch = $2", 2, 0
};
/*
 * Store a message (sql/038): the first row's code says 0 stored and fanned
 * out (the rows after it: account, seq, data of the events to publish), 3
 * stored, fan it out (a group of more than GROUP_INLINE_FANOUT members),
 * 404, 1 or 2 refused.
 */
static struct db_stmt stmt_send = {
	"group_send",
	"SELECT account, seq, data, code, from_member, group_pk "
	"FROM sotto_group_send($1, $2, $3, $4, $5, $6, $7, $8)", 8, 0
};
enum { SD_SEQ = 1, SD_CODE = 3, SD_FROM, SD_GROUP };
/*
 * The largest group whose send fans out in its own statement: at most 7
 * event heads and 7 events under the group row lock the send holds
 * anyway, one commit instead of two. Larger groups fan out in a
 * transaction of their own, one fan-out for every message committed
 * meanwhile (docs/groups.md, "Events").
 */
#define GROUP_INLINE_FANOUT 8
/* The same number, as sotto_group_send's inline_max parameter takes it
 * (text): GROUP_INLINE_FANOUT must stay a plain decimal literal. */
#define GROUP_INLINE_FANOUT_TEXT UTIL_STR(GROUP_INLINE_FANOUT)
/*
 * A fan-out of the group's messages (sql/033): the first row's code says 0
 * nothing left, 1 another one runs, 2 done (the rows after it: account,
 * seq, data of the events to publish; call again).
 */
static struct db_stmt stmt_fanout = {
	"group_fanout", "SELECT account, seq, data, code FROM sotto_group_fanout($1)", 1, 0
};
enum { FO_CODE = 3 };
/*
 * Fan-outs one send runs at most: while messages keep coming, each fan-out
 * finds new ones; past this the next send's fan-out takes them over.
 */
#define FANOUT_ROUNDS 16

static struct db_stmt stmt_messages = {
	"group_messages",
	"SELECT id, seq, epoch, sender, day, ciphertext, nonce FROM group_messages "
	"WHERE group_pk = $1 AND epoch >= $2 AND seq > $3 ORDER BY seq LIMIT $4", 4, 0
};
enum { MS_ID, MS_SEQ, MS_EPOCH, MS_SENDER, MS_DAY, MS_CIPHERTEXT, MS_NONCE };

static struct db_stmt stmt_read = {
	"group_read",
	"UPDATE group_members SET read_seq = $2 WHERE pk = $1 AND read_seq < $2", 2, 0
};

/* ---- POST /groups/{id}/keys ------------------------------------------------------ */

/* The boxes as the JSON text stmt_keys_insert reads (arena), NULL on OOM. */
static const char *boxes_json(struct request *req, const struct group_box *boxes, size_t n)
{
	json_object *a = json_object_new_array();
	const char *text = NULL;
	size_t len = 0;

	for (size_t i = 0; a != NULL && i < n; i++) {
		char box[2 * GROUP_BOX_MAX_BYTES + 1], nonce[2 * GROUP_NONCE_BYTES + 1];
		json_object *o = json_object_new_object();

		if (o == NULL)
			goto out;
		sodium_bin2hex(box, sizeof(box), boxes[i].box, boxes[i].box_len);
		sodium_bin2hex(nonce, sizeof(nonce), boxes[i].nonce, GROUP_NONCE_BYTES);
		json_object_object_add(o, "member_id", json_object_new_string(boxes[i].member_id));
		json_object_object_add(o, "box", json_object_new_string(box));
		json_object_object_add(o, "nonce", json_object_new_string(nonce));
		json_object_array_add(a, o);
	}
	if (a != NULL && (text = json_dump(a, &len)) != NULL)
		text = arena_strdup(req->arena, text);
out:
	json_object_put(a);
	return text;
}

/* Whether boxes[0..n) cover exactly the locked group's members. 0, 422 or status. */
static int coverage_or_reply(struct request *req, const struct group_access *g,
                             const struct group_box *boxes, size_t n)
{
	const char *params[1] = { arena_i64(req->arena, g->pk) };
	const char **ids;
	PGresult *res;
	size_t m;

	if (params[0] == NULL)
		return http_oom(req);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_member_ids, params, NULL)) == NULL)
		return http_db_failure(req);
	m = (size_t)PQntuples(res);
	if ((ids = arena_alloc(req->arena, (m + 1) * sizeof(*ids))) == NULL)
		return http_oom(req);
	for (size_t i = 0; i < m; i++)
		ids[i] = PQgetvalue(res, (int)i, 0);
	if (!group_keyset_covers(boxes, n, ids, m))
		return http_error(req, 422, "invalid_field",
		                  "keys must hold one box for each current member and no one else");
	return 0;
}

/* Store the key set of g's current epoch, under its lock. 0 or the status it set. */
static int keys_store_or_reply(struct request *req, const struct group_access *g,
                               int64_t epoch, const struct group_box *boxes, size_t n)
{
	const char *params[4];
	PGresult *res;
	int status;

	if (epoch != g->epoch)
		return http_error(req, 409, "conflict", "that is not the group's current epoch");
	if (g->key_epoch == g->epoch)
		return http_error(req, 409, "conflict", "this epoch's key set is posted already");
	if ((status = coverage_or_reply(req, g, boxes, n)) != 0)
		return status;
	params[0] = arena_i64(req->arena, g->pk);
	params[1] = arena_i64(req->arena, epoch);
	params[2] = g->member_id;
	params[3] = boxes_json(req, boxes, n);
	if (params[0] == NULL || params[1] == NULL || params[3] == NULL)
		return http_oom(req);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_keys_insert, params, NULL)) == NULL ||
	    strtol(PQcmdTuples(res), NULL, 10) != (long)n ||
	    (res = db_exec(req->ctx->db, req->arena, &stmt_key_epoch, params, NULL)) == NULL ||
	    strcmp(PQcmdTuples(res), "1") != 0)
		return http_db_failure(req);
	return 0;
}

/*
 * POST /groups/{id}/keys {"epoch", "keys": [{"member_id", "box", "nonce"}]}:
 * 201 {"epoch"}. The first complete set for the current epoch wins; any
 * later one, or one for another epoch, is 409.
 */
int handle_group_keys_post(struct request *req)
{
	const int max = req->ctx->cfg->group_max_members;
	struct group_box *boxes = arena_alloc(req->arena, (size_t)max * sizeof(*boxes));
	json_object *keys = NULL;
	struct group_access g;
	const char *why = NULL;
	int64_t epoch = 0;
	size_t n = 0;
	int status;

	if (boxes == NULL)
		return http_oom(req);
	json_object_object_get_ex(req->json, "keys", &keys);
	/* outsiders learn nothing, not even what a well-formed key set is: 404 first */
	if ((status = group_lock_or_reply(req, &g)) != 0)
		return status;
	if (group_keyset_parse(keys, boxes, (size_t)max, &n, &why) != 0)
		return group_rollback(req, http_error(req, 422, "invalid_field", why));
	if (json_get_int64(req->json, "epoch", 1, GROUP_EPOCH_MAX, &epoch) != 1)
		return group_rollback(req, http_error(req, 422, "invalid_field",
		                                      "epoch must be a whole number from 1"));
	if ((status = keys_store_or_reply(req, &g, epoch, boxes, n)) != 0)
		return group_rollback(req, status);
	if (db_commit(req->ctx->db) != 0)
		return group_rollback(req, http_db_failure(req));
	return http_reply_member(req, 201, "epoch", json_object_new_int64(epoch));
}

/* ---- GET /groups/{id}/keys ---------------------------------------------------------- */

/* ?epoch=N, the current one when absent. 0 or the status it set (400). */
static int epoch_query_or_reply(struct request *req, const struct group_access *g,
                                int64_t *epoch)
{
	const char *q = http_query(req, "epoch");

	*epoch = g->epoch;
	if (q != NULL && util_parse_int64(q, 1, GROUP_EPOCH_MAX, epoch) != 0)
		return http_error(req, 400, "bad_request", "epoch must be a whole number from 1");
	return 0;
}

/*
 * GET /groups/{id}/keys?epoch=N: the caller's own box, 200 {"epoch",
 * "from_member_id", "box", "nonce"}. An epoch from before the caller
 * joined, or one with no key set yet, is 404.
 */
int handle_group_keys_get(struct request *req)
{
	const unsigned char *box, *nonce;
	size_t box_len = 0, nonce_len = 0;
	struct group_access g;
	const char *params[2];
	int64_t epoch;
	json_object *o;
	PGresult *res;
	int status;

	if ((status = group_member_or_reply(req, &g)) != 0 ||
	    (status = epoch_query_or_reply(req, &g, &epoch)) != 0)
		return status;
	if (epoch < g.joined_epoch)
		return http_error(req, 404, "not_found", "no key of that epoch for you");
	params[0] = arena_i64(req->arena, g.member_pk);
	params[1] = arena_i64(req->arena, epoch);
	if (params[0] == NULL || params[1] == NULL)
		return http_oom(req);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_key_get, params, NULL)) == NULL)
		return http_db_failure(req);
	if (PQntuples(res) != 1)
		return http_error(req, 404, "not_found", "no key of that epoch for you");
	box = db_bytea_value(req->arena, res, 0, 1, &box_len);
	nonce = db_bytea_value(req->arena, res, 0, 2, &nonce_len);
	if (box == NULL || nonce == NULL || (o = json_object_new_object()) == NULL)
		return http_oom(req);
	json_object_object_add(o, "epoch", json_object_new_int64(epoch));
	json_object_object_add(o, "from_member_id",
	                       json_object_new_string(PQgetvalue(res, 0, 0)));
	json_object_object_add(o, "box", json_object_new_string(
	                       util_b64url_encode(req->arena, box, box_len)));
	json_object_object_add(o, "nonce", json_object_new_string(
	                       util_b64url_encode(req->arena, nonce, nonce_len)));
	return http_reply(req, 200, o);
}

/* ---- messages ---------------------------------------------------------------------- */

struct group_message {
	const char *id;
	int64_t seq, epoch, day;
	const char *sender;
	const unsigned char *ciphertext;
	size_t ciphertext_len;
	const unsigned char *nonce;
};

/* A message as the contract shows it; mine_id NULL leaves "mine" out. NULL on OOM. */
static json_object *message_json(struct request *req, const struct group_message *m,
                                 const char *mine_id, bool with_content)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "id", json_object_new_string(m->id));
	json_object_object_add(o, "seq", json_object_new_int64(m->seq));
	json_object_object_add(o, "epoch", json_object_new_int64(m->epoch));
	json_object_object_add(o, "member_id", json_object_new_string(m->sender));
	if (mine_id != NULL)
		json_object_object_add(o, "mine",
		                       json_object_new_boolean(strcmp(m->sender, mine_id) == 0));
	if (with_content) {
		json_object_object_add(o, "ciphertext", json_object_new_string(
		    util_b64url_encode(req->arena, m->ciphertext, m->ciphertext_len)));
		json_object_object_add(o, "nonce", json_object_new_string(
		    util_b64url_encode(req->arena, m->nonce, GROUP_NONCE_BYTES)));
	}
	json_object_object_add(o, "day", json_object_new_int64(m->day));
	return o;
}

/* Row of a stmt_messages result into *m. 0 or -1 (malformed). */
static int message_row(struct request *req, const PGresult *res, int row, struct group_message *m)
{
	size_t nonce_len = 0;

	m->id = PQgetvalue(res, row, MS_ID);
	m->sender = PQgetvalue(res, row, MS_SENDER);
	m->ciphertext = db_bytea_value(req->arena, res, row, MS_CIPHERTEXT, &m->ciphertext_len);
	m->nonce = db_bytea_value(req->arena, res, row, MS_NONCE, &nonce_len);
	return util_parse_int64(PQgetvalue(res, row, MS_SEQ), 1, INT64_MAX - 1, &m->seq) != 0 ||
	       util_parse_int64(PQgetvalue(res, row, MS_EPOCH), 1, GROUP_EPOCH_MAX, &m->epoch) != 0 ||
	       util_parse_int64(PQgetvalue(res, row, MS_DAY), 0, INT32_MAX, &m->day) != 0 ||
	       m->ciphertext == NULL || m->nonce == NULL || nonce_len != GROUP_NONCE_BYTES
	       ? -1 : 0;
}

/* One message of GET /groups/{id}/messages; NULL leaves it out (logged) or OOM. */
static json_object *message_item(struct request *req, const PGresult *res, int row, void *ctx)
{
	const struct group_access *g = ctx;
	struct group_message m;

	if (message_row(req, res, row, &m) != 0) {
		log_msg(LOG_WARN, "a group message row is malformed; left out");
		return NULL;
	}
	return message_json(req, &m, g->member_id, true);
}

/* Move the caller's read position up to seq (never back). 0 or the status it set. */
static int mark_read_or_reply(struct request *req, const struct group_access *g, int64_t seq)
{
	const char *params[2] = { arena_i64(req->arena, g->member_pk), arena_i64(req->arena, seq) };

	if (params[0] == NULL || params[1] == NULL)
		return http_oom(req);
	if (db_exec(req->ctx->db, req->arena, &stmt_read, params, NULL) == NULL)
		return http_db_failure(req);
	return 0;
}

/*
 * GET /groups/{id}/messages: oldest first, only epochs the caller has been
 * a member in (keyset on seq; the cursor holds the group and the last
 * seq). Reading a page marks it read.
 */
int handle_group_messages(struct request *req)
{
	struct group_access g;
	struct page page;
	struct page_rows rows;
	struct cursor next = { .n = 2 };
	const char *params[4];
	int64_t after = 0, last = 0;
	int status, shown;

	if ((status = group_member_or_reply(req, &g)) != 0 ||
	    (status = page_or_reply(req, MESSAGES_KIND, &page)) != 0)
		return status;
	if (page.has_cursor) {
		if (page.cursor.n != 2 || page.cursor.v[0] != g.pk)
			return http_error(req, 400, "bad_request", "cursor is not valid for this list");
		after = page.cursor.v[1];
	}
	params[0] = arena_i64(req->arena, g.pk);
	params[1] = arena_i64(req->arena, g.joined_epoch);
	params[2] = arena_i64(req->arena, after);
	if (params[0] == NULL || params[1] == NULL || params[2] == NULL)
		return http_oom(req);
	if ((status = page_fetch_or_reply(req, &page, &stmt_messages, params, message_item, &g,
	                                  &rows)) != 0)
		return status;
	shown = PQntuples(rows.res) > page.limit ? page.limit : PQntuples(rows.res);
	if (shown > 0 &&
	    util_parse_int64(PQgetvalue(rows.res, shown - 1, MS_SEQ), 1, INT64_MAX - 1, &last) == 0 &&
	    (status = mark_read_or_reply(req, &g, last)) != 0) {
		json_object_put(rows.items);
		return status;
	}
	if (rows.last < 0)
		return page_reply(req, MESSAGES_KIND, rows.items, NULL);
	next.v[0] = g.pk;
	next.v[1] = last;
	return page_reply(req, MESSAGES_KIND, rows.items, &next);
}

/* ---- POST /groups/{id}/send ----------------------------------------------------- */

/* The largest ciphertext: a MAC and post_max_chars of 4-byte UTF-8 (as for DMs). */
static size_t ciphertext_max(const struct request *req)
{
	return GROUP_MAC_BYTES + 4 * (size_t)req->ctx->cfg->post_max_chars;
}

/* {"epoch", "ciphertext", "nonce"} into m. 0 or the status it set. */
static int send_fields_or_reply(struct request *req, struct group_message *m)
{
	const char *ct, *nonce;
	size_t ct_chars, nonce_chars, got = 0, cap = ciphertext_max(req);
	unsigned char *ct_buf, *nonce_buf;

	if (json_object_object_get_ex(req->json, "body", NULL))
		return http_error(req, 422, "invalid_field",
		                  "body: groups are end to end; send ciphertext and nonce");
	if (json_get_int64(req->json, "epoch", 1, GROUP_EPOCH_MAX, &m->epoch) != 1)
		return http_error(req, 422, "invalid_field", "epoch must be a whole number from 1");
	if ((nonce_buf = arena_alloc(req->arena, GROUP_NONCE_BYTES)) == NULL ||
	    (ct_buf = arena_alloc(req->arena, cap)) == NULL)
		return http_oom(req);
	if (json_get_string(req->json, "nonce", &nonce, &nonce_chars) != 1 ||
	    util_b64url_decode(nonce, nonce_chars, nonce_buf, GROUP_NONCE_BYTES, &got) != 0 ||
	    got != GROUP_NONCE_BYTES)
		return http_error(req, 422, "invalid_field", "nonce must be 24 bytes, base64url");
	if (json_get_string(req->json, "ciphertext", &ct, &ct_chars) != 1 || ct_chars == 0 ||
	    ct_chars > (cap + 2) / 3 * 4 ||
	    util_b64url_decode(ct, ct_chars, ct_buf, cap, &m->ciphertext_len) != 0 ||
	    m->ciphertext_len <= GROUP_MAC_BYTES)
		return http_error(req, 422, "invalid_field",
		                  "ciphertext must be base64url, more than 16 and at most "
		                  "16 + 4 x post_max_chars bytes");
	m->ciphertext = ct_buf;
	m->nonce = nonce_buf;
	return 0;
}

/*
 * Queue the other members' group.message events of the group's new
 * messages (sotto_group_fanout, sql/033), in transactions of their own
 * after the message's: fan out until nothing is left, or until another
 * fan-out of the group runs (it then takes this message over). Never fails
 * the send: the message is stored, and what a failure leaves behind the
 * group's next send or `sotto cleanup` fans out.
 */
static void message_fanout(struct request *req, const char *group_pk)
{
	int64_t code = 2;

	for (int round = 0; code == 2 && round < FANOUT_ROUNDS; round++) {
		PGresult *res = db_exec(req->ctx->db, req->arena, &stmt_fanout, &group_pk, NULL);

		if (res == NULL || PQntuples(res) < 1 ||
		    util_parse_int64(PQgetvalue(res, 0, FO_CODE), 0, 2, &code) != 0) {
			log_msg(LOG_WARN, "groups: a message's events are left to the next fan-out");
			return;
		}
		group_note_events(req, res, 1, EVENT_GROUP_MESSAGE);
	}
}

/*
 * Store m (sotto_group_send, sql/038): the group row is locked only while
 * that statement runs and commits; in a small group it fans out too,
 * otherwise fan out after it. 0 with m->seq and m->sender, or the status
 * it set (404, 409).
 */
static int message_store_or_reply(struct request *req, struct group_message *m)
{
	const char *params[8];
	int64_t code = -1;
	PGresult *res;

	params[0] = http_param(req, 0);
	params[1] = arena_i64(req->arena, req->account_pk);
	params[2] = arena_i64(req->arena, m->epoch);
	params[3] = m->id;
	params[4] = arena_i64(req->arena, m->day);
	params[5] = db_bytea_text(req->arena, m->ciphertext, m->ciphertext_len);
	params[6] = db_bytea_text(req->arena, m->nonce, GROUP_NONCE_BYTES);
	params[7] = GROUP_INLINE_FANOUT_TEXT;
	for (size_t i = 1; i < 8; i++)
		if (params[i] == NULL)
			return http_oom(req);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_send, params, NULL)) == NULL)
		return http_db_failure(req);
	if (PQntuples(res) < 1 || util_parse_int64(PQgetvalue(res, 0, SD_CODE), 0, 404, &code) != 0)
		return http_error(req, 500, "internal", "internal error");
	if (code == 404)
		return http_error(req, 404, "not_found", "no such group");
	if (code == 1)
		return http_error(req, 409, "conflict",
		                  "that is not the current epoch; fetch its key and encrypt again");
	if (code == 2)
		return http_error(req, 409, "conflict",
		                  "this epoch has no key set yet; post or fetch it and retry");
	if ((code != 0 && code != 3) ||
	    util_parse_int64(PQgetvalue(res, 0, SD_SEQ), 1, INT64_MAX - 1, &m->seq) != 0)
		return http_error(req, 500, "internal", "internal error");
	m->sender = PQgetvalue(res, 0, SD_FROM);
	if (code == 0)
		group_note_events(req, res, 1, EVENT_GROUP_MESSAGE);
	else
		message_fanout(req, PQgetvalue(res, 0, SD_GROUP));
	return 0;
}

/*
 * POST /groups/{id}/send {"epoch", "ciphertext", "nonce"}: 201 {"message":
 * {"id", "seq", "epoch", "member_id", "day"}}. Only for the current epoch
 * once its key set is complete; otherwise 409 and the client encrypts
 * again under the new key.
 */
int handle_group_send(struct request *req)
{
	struct group_message m = { 0 };
	struct group_access g;
	int status;

	/* a malformed body: 422 to members, 404 to anyone else, as every route */
	if ((status = send_fields_or_reply(req, &m)) != 0) {
		int member = group_member_or_reply(req, &g);

		return member != 0 ? member : status;
	}
	if ((m.id = util_random_id(req->arena, GROUP_ID_BYTES)) == NULL)
		return http_oom(req);
	m.day = util_today();
	if ((status = message_store_or_reply(req, &m)) != 0)
		return status;
	return http_reply_member(req, 201, "message", message_json(req, &m, NULL, false));
}

/* ---- export ------------------------------------------------------------------------ */

static struct db_stmt stmt_export = {
	"group_export",
	"SELECT g.pk, g.id, m.id, m.admin, g.epoch, m.joined_epoch FROM group_members m "
	"JOIN groups g ON g.pk = m.group_pk WHERE m.account_pk = $1 ORDER BY m.pk", 1, 0
};
static struct db_stmt stmt_export_messages = {
	"group_export_messages",
	"SELECT id, seq, epoch, sender, day, ciphertext, nonce FROM group_messages "
	"WHERE group_pk = $1 AND sender = $2 ORDER BY seq", 2, 0
};

/* The caller's own messages in the group of row (as stored); NULL on failure. */
static json_object *export_messages(struct request *req, const PGresult *res, int row)
{
	const char *params[2] = { PQgetvalue(res, row, 0), PQgetvalue(res, row, 2) };
	json_object *items = json_object_new_array();
	PGresult *mres;

	if (items == NULL ||
	    (mres = db_exec(req->ctx->db, req->arena, &stmt_export_messages, params, NULL)) == NULL) {
		json_object_put(items);
		return NULL;
	}
	for (int i = 0; i < PQntuples(mres); i++) {
		struct group_message m;
		json_object *o;

		if (message_row(req, mres, i, &m) != 0 ||
		    (o = message_json(req, &m, NULL, true)) == NULL)
			continue;
		json_object_array_add(items, o);
	}
	return items;
}

/* One group of the export: membership and own messages; NULL on failure (logged). */
static json_object *export_item(struct request *req, const PGresult *res, int row, void *unused)
{
	json_object *o, *messages;
	int64_t epoch = 0, joined = 0;

	(void)unused;
	if (util_parse_int64(PQgetvalue(res, row, 4), 1, GROUP_EPOCH_MAX, &epoch) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, 5), 1, GROUP_EPOCH_MAX, &joined) != 0 ||
	    (messages = export_messages(req, res, row)) == NULL) {
		log_msg(LOG_WARN, "a group cannot be exported; left out");
		return NULL;
	}
	if ((o = json_object_new_object()) == NULL) {
		json_object_put(messages);
		return NULL;
	}
	json_object_object_add(o, "id", json_object_new_string(PQgetvalue(res, row, 1)));
	json_object_object_add(o, "member_id", json_object_new_string(PQgetvalue(res, row, 2)));
	json_object_object_add(o, "role", json_object_new_string(
	                       PQgetvalue(res, row, 3)[0] == 't' ? "admin" : "member"));
	json_object_object_add(o, "epoch", json_object_new_int64(epoch));
	json_object_object_add(o, "joined_epoch", json_object_new_int64(joined));
	json_object_object_add(o, "messages", messages);
	return o;
}

int export_groups(struct request *req, json_object *out, const char *section)
{
	return export_rows(req, out, section, &stmt_export, export_item, NULL);
}
