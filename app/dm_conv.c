/*
 * dm_conv.c — a participant's conversation, its key and its messages, and
 * the "conversations" section of the export (dm_conv.h).
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "context.h"
#include "crypto.h"
#include "db.h"
#include "dm.h"
#include "dm_conv.h"
#include "export.h"
#include "http.h"
#include "log.h"
#include "util.h"

static struct db_stmt stmt_conv = {
	"dm_conv",
	"SELECT c.pk, c.id, me.side, me.key_sealed, mk.version, mk.wrapped, c.e2e, "
	"peer.account_pk, " DM_BLOCKED_BY("peer.account_pk") " " DM_CONV_FROM
	"WHERE c.id = $1 AND me.account_pk = $2 AND NOT " DM_BLOCKED_BY("me.account_pk"), 2, 0
};
static struct db_stmt stmt_messages = {
	"dm_messages",
	"SELECT id, seq, sender, day, body_sealed, ciphertext, nonce FROM dm_messages "
	"WHERE conversation_pk = $1 AND seq > $2 ORDER BY seq LIMIT $3", 3, 0
};

/*
 * The conversation id when the caller takes part in it and did not block
 * its other side. 0, or the status it set (404 for anyone else, as for no
 * conversation).
 */
int dm_conv_load_or_reply(struct request *req, const char *id, struct conv *cv)
{
	const char *params[2] = { id, arena_i64(req->arena, req->account_pk) };
	int64_t side;
	PGresult *res;

	if (params[1] == NULL)
		return http_oom(req);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_conv, params, NULL)) == NULL)
		return http_db_failure(req);
	if (PQntuples(res) != 1)
		return http_error(req, 404, "not_found", "no such conversation");
	cv->peer_pk = 0;
	if (util_parse_int64(PQgetvalue(res, 0, CV_PK), 1, INT64_MAX - 1, &cv->pk) != 0 ||
	    util_parse_int64(PQgetvalue(res, 0, CV_SIDE), 0, 1, &side) != 0 ||
	    (!PQgetisnull(res, 0, CV_PEER) &&
	     util_parse_int64(PQgetvalue(res, 0, CV_PEER), 1, INT64_MAX - 1, &cv->peer_pk) != 0))
		return http_error(req, 500, "internal", "internal error");
	cv->id = PQgetvalue(res, 0, CV_ID);
	cv->side = (int)side;
	cv->e2e = PQgetvalue(res, 0, CV_E2E)[0] == 't';
	cv->peer_blocked = PQgetvalue(res, 0, CV_PEER_BLOCKED)[0] == 't';
	cv->res = res;
	cv->row = 0;
	return 0;
}

/*
 * The conversation key of the caller's copy into ck (the caller wipes
 * it). 0 or the status it set.
 */
int dm_conv_key_or_reply(struct request *req, const struct conv *cv,
                             unsigned char ck[DM_KEY_BYTES])
{
	unsigned char dk[CRYPTO_KEY_BYTES];
	const unsigned char *sealed;
	size_t len = 0;
	int status = 0;

	sealed = db_bytea_value(req->arena, cv->res, cv->row, CV_KEY, &len);
	if (sealed == NULL ||
	    dm_data_key(req, cv->res, cv->row, CV_KEY_VERSION, req->account_pk, dk) != 0 ||
	    dm_key_open(req->arena, dk, cv->id, req->account_pk, sealed, len, ck) != 0) {
		log_msg(LOG_ERROR, "a conversation key does not open");
		status = http_error(req, 500, "internal", "the conversation key cannot be read");
	}
	sodium_memzero(dk, sizeof(dk));
	return status;
}

/*
 * Rows [0, rows) of a stmt_messages result as message objects for the
 * participant on side, bodies opened with ck (NULL: none to open). A
 * body that does not open is left out and logged. NULL on OOM.
 */
static json_object *messages_json(struct request *req, const PGresult *res, int rows,
                                  const char *conv_id, int side, const unsigned char *ck)
{
	json_object *items = json_object_new_array();

	for (int i = 0; items != NULL && i < rows; i++) {
		const unsigned char *sealed, *ct = NULL, *nonce = NULL;
		size_t sealed_len = 0, ct_len = 0, nonce_len = 0;
		int64_t seq = 0, sender = 0, day = 0;
		const char *id = PQgetvalue(res, i, MS_ID);
		char *body = NULL;
		json_object *m;

		if (util_parse_int64(PQgetvalue(res, i, MS_SEQ), 1, INT64_MAX - 1, &seq) != 0 ||
		    util_parse_int64(PQgetvalue(res, i, MS_SENDER), 0, 1, &sender) != 0 ||
		    util_parse_int64(PQgetvalue(res, i, MS_DAY), 0, INT32_MAX, &day) != 0)
			goto skip;
		if (!PQgetisnull(res, i, MS_BODY)) {
			sealed = db_bytea_value(req->arena, res, i, MS_BODY, &sealed_len);
			if (ck == NULL || sealed == NULL ||
			    dm_body_open(req->arena, ck, conv_id, id, sealed, sealed_len, &body) != 0)
				goto skip;
		} else {
			ct = db_bytea_value(req->arena, res, i, MS_CIPHERTEXT, &ct_len);
			nonce = db_bytea_value(req->arena, res, i, MS_NONCE, &nonce_len);
			if (ct == NULL || nonce == NULL || nonce_len != DM_NONCE_BYTES)
				goto skip;
		}
		m = dm_message_json(req, id, seq, sender == side, day, body, ct, ct_len, nonce);
		if (m == NULL) {
			json_object_put(items);
			return NULL;
		}
		json_object_array_add(items, m);
		continue;
skip:
		log_msg(LOG_WARN, "a direct message cannot be read; left out");
	}
	return items;
}

/* True when some row of res has a server-readable body. */
static bool any_body(const PGresult *res, int rows)
{
	for (int i = 0; i < rows; i++)
		if (!PQgetisnull(res, i, MS_BODY))
			return true;
	return false;
}

/*
 * Messages of cv after seq, at most limit (-1: all), as JSON (*items),
 * with the raw result (*res: up to limit + 1 rows, so the caller sees
 * whether more follow). 0 or the status it set.
 */
int dm_conv_messages_or_reply(struct request *req, const struct conv *cv, int64_t after,
                             int limit, PGresult **res, json_object **items)
{
	unsigned char ck[DM_KEY_BYTES];
	const char *params[3] = { arena_i64(req->arena, cv->pk), arena_i64(req->arena, after),
	                          limit < 0 ? NULL : arena_i64(req->arena, (int64_t)limit + 1) };
	bool need_key;
	int status = 0, rows;

	if (params[0] == NULL || params[1] == NULL || (limit >= 0 && params[2] == NULL))
		return http_oom(req);
	if ((*res = db_exec(req->ctx->db, req->arena, &stmt_messages, params, NULL)) == NULL)
		return http_db_failure(req);
	rows = limit >= 0 && PQntuples(*res) > limit ? limit : PQntuples(*res);
	need_key = any_body(*res, rows);
	if (need_key && (status = dm_conv_key_or_reply(req, cv, ck)) != 0)
		goto out;
	*items = messages_json(req, *res, rows, cv->id, cv->side, need_key ? ck : NULL);
	if (*items == NULL)
		status = http_oom(req);
out:
	sodium_memzero(ck, sizeof(ck));
	return status;
}

/* ---- export ------------------------------------------------------------------- */

static struct db_stmt stmt_export = {
	"dm_export",
	"SELECT c.pk, c.id, me.side, me.key_sealed, mk.version, mk.wrapped, c.e2e, "
	"peer.account_pk, op.id, c.day_last, me.read_seq, me.x25519_sealed, me.x25519_legacy "
	DM_CONV_FROM
	"LEFT JOIN posts op ON op.pk = c.origin_post_pk AND op.status = 0 "
	"WHERE me.account_pk = $1 ORDER BY c.pk", 1, 0
};
enum { EX_ORIGIN = CV_PEER + 1, EX_DAY, EX_READ, EX_X25519 };

/* One conversation of the export with all its messages; 0 or the status it set. */
static int export_one(struct request *req, PGresult *res, int row, json_object *items)
{
	struct conv cv = { .res = res, .row = row };
	json_object *o, *messages = NULL;
	PGresult *mres;
	const char *mine;
	int64_t side = 0, day = 0, read = 0;
	int status;

	if (util_parse_int64(PQgetvalue(res, row, CV_PK), 1, INT64_MAX - 1, &cv.pk) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, CV_SIDE), 0, 1, &side) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, EX_DAY), 0, INT32_MAX, &day) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, EX_READ), 0, INT64_MAX - 1, &read) != 0)
		return http_error(req, 500, "internal", "internal error");
	cv.id = PQgetvalue(res, row, CV_ID);
	cv.side = (int)side;
	cv.e2e = PQgetvalue(res, row, CV_E2E)[0] == 't';
	if ((status = dm_conv_messages_or_reply(req, &cv, 0, -1, &mres, &messages)) != 0)
		return status;
	if ((o = json_object_new_object()) == NULL) {
		json_object_put(messages);
		return http_oom(req);
	}
	json_object_object_add(o, "id", json_object_new_string(cv.id));
	json_object_object_add(o, "origin_post_id", PQgetisnull(res, row, EX_ORIGIN) ? NULL :
	                       json_object_new_string(PQgetvalue(res, row, EX_ORIGIN)));
	json_object_object_add(o, "day_last", json_object_new_int64(day));
	json_object_object_add(o, "e2e", json_object_new_boolean(cv.e2e));
	json_object_object_add(o, "peer_present",
	                       json_object_new_boolean(!PQgetisnull(res, row, CV_PEER)));
	json_object_object_add(o, "read_seq", json_object_new_int64(read));
	mine = dm_x25519_text(req, res, row, EX_X25519, CV_KEY_VERSION, cv.id, req->account_pk);
	json_object_object_add(o, "my_x25519", mine != NULL ? json_object_new_string(mine) : NULL);
	json_object_object_add(o, "messages", messages);
	json_object_array_add(items, o);
	return 0;
}

/*
 * Export: every conversation of the account with every message,
 * server-readable bodies decrypted, end-to-end ones as stored.
 */
int export_conversations(struct request *req, json_object *out, const char *section)
{
	const char *params[1] = { arena_i64(req->arena, req->account_pk) };
	json_object *items = json_object_new_array();
	PGresult *res;
	int status;

	if (params[0] == NULL || items == NULL) {
		json_object_put(items);
		return http_oom(req);
	}
	json_object_object_add(out, section, items);
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_export, params, NULL)) == NULL)
		return http_db_failure(req);
	for (int i = 0; i < PQntuples(res); i++)
		if ((status = export_one(req, res, i, items)) != 0)
			return status;
	return 0;
}
