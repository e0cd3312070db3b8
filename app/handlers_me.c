/*
 * handlers_me.c — GET /me, POST /me/password, GET /me/export, DELETE /me.
 *
 * The account record comes from the auth check (req->account). There is
 * no account-wide public key: end-to-end keys are per conversation
 * (PUT /dm/{id}/key), since one key shown in every conversation of an
 * account would tie them together.
 *
 * Changing the password and deleting the account ask for the credentials
 * again (credentials.h): a stolen access token alone can do neither.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "auth.h"
#include "context.h"
#include "credentials.h"
#include "crypto.h"
#include "db.h"
#include "dm.h"
#include "events.h"
#include "export.h"
#include "feed_cache.h"
#include "group_access.h"
#include "handlers.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "password.h"
#include "util.h"

static struct db_stmt stmt_set_password = {
	/* a new token generation ends every other token; the caller's is kept */
	"account_password_change",
	"UPDATE accounts SET password_hash = $2, token_gen = token_gen + 1, token_keep = $3 "
	"WHERE pk = $1 AND auth = 1", 3, 0
};
static struct db_stmt stmt_end_other_sessions = {
	/* their refresh tokens die with the rows; their access tokens with the generation */
	"account_end_other_sessions", "DELETE FROM sessions WHERE account_pk = $1 AND id <> $2", 2, 0
};
/*
 * Before the cascade, the account rows it will lock, in pk order: its own
 * and those of the authors whose posts it voted on or replied to (deleting
 * a vote or a reply locks that author's account, then the post). Two
 * accounts deleted at once, one having voted on or replied to the other,
 * otherwise lock each other's rows in opposite orders (the cascade of one
 * reaches the other's votes while the other's trigger waits for its
 * account): a deadlock, answered 503. Taken in one order, the later
 * deletion waits at its first lock, holding nothing the earlier one needs.
 */
static struct db_stmt stmt_delete_lock = {
	"account_delete_lock",
	"SELECT 1 FROM accounts WHERE pk = $1 OR pk IN ("
	"SELECT p.author_pk FROM votes v JOIN posts p ON p.pk = v.post_pk WHERE v.voter_pk = $1 "
	"UNION SELECT p.author_pk FROM posts r JOIN posts p ON p.pk = r.parent_pk "
	"WHERE r.author_pk = $1) ORDER BY pk FOR UPDATE", 1, 0
};
/*
 * First of all, the account leaves every group (sql/018, sql/032): each
 * group gets a new epoch and its members the events, in the deletion's
 * transaction; the events come back to be published after the commit. It
 * locks group rows before any account row, the order a group send takes.
 */
static struct db_stmt stmt_delete_groups = {
	"account_delete_groups",
	"SELECT account, seq, kind, payload::text FROM sotto_account_leave_groups($1)", 1, 0
};
/*
 * An account with more than ACCOUNT_DELETE_BATCH posts or votes first
 * loses them in batches of that many, each committed on its own (sql/040),
 * so that no statement of the deletion grows with the account; the final
 * transaction deletes the rest whole. A batch of posts takes about 0.3 s
 * on a quiet machine, well within the statement timeout.
 */
#define ACCOUNT_DELETE_BATCH 1000
/*
 * How long one request deletes batches before it answers 503 (the batches
 * done stay done; asking again goes on): well within the proxy's 30 s
 * fastcgi_read_timeout, so the client hears how it went.
 */
#define ACCOUNT_DELETE_BUDGET_MS 15000
static struct db_stmt stmt_delete_batch = {
	"account_delete_batch", "SELECT sotto_account_delete_batch($1, $2)", 2, 0
};
static struct db_stmt stmt_delete = {
	/* account_keys goes with it (ON DELETE CASCADE) */
	"account_delete", "DELETE FROM accounts WHERE pk = $1", 1, 0
};

/* Trust with four significant digits: it is stored as a 4-byte float. */
static json_object *trust_json(double trust)
{
	char text[32];

	snprintf(text, sizeof(text), "%.4g", trust);
	return json_object_new_double_s(trust, text);
}

/* The account as GET /me shows it; NULL when out of memory. */
static json_object *me_object(const struct account *acc)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "account_id", json_object_new_string(acc->id));
	json_object_object_add(o, "day_joined", json_object_new_int64(acc->day_joined));
	json_object_object_add(o, "trust", trust_json(acc->trust));
	json_object_object_add(o, "auth", json_object_new_string(
	                       acc->auth == ACCOUNT_KEY ? "key" : "password"));
	return o;
}

int handle_me_get(struct request *req)
{
	json_object *o = me_object(req->account);

	if (o == NULL)
		return http_oom(req);
	return http_reply(req, 200, o);
}

int export_account(struct request *req, json_object *out, const char *section)
{
	json_object *o = me_object(req->account);

	if (o == NULL)
		return http_oom(req);
	json_object_object_add(out, section, o);
	return 0;
}

/*
 * One export section, built and written out on its own, so the export
 * holds at most one section in memory: ,"<section>":<value>. 0 or -1.
 */
static int export_section(struct request *req, const struct export_hook *hook)
{
	json_object *o = json_object_new_object(), *v;
	const char *text;
	char *name;
	size_t len = 0;
	int rc = -1;

	/* Section names are constant lower-case words: no escaping needed. */
	if (o == NULL || hook->fn(req, o, hook->section) != 0 ||
	    !json_object_object_get_ex(o, hook->section, &v) ||
	    (name = arena_printf(req->arena, ",\"%s\":", hook->section)) == NULL ||
	    (text = json_dump(v, &len)) == NULL)
		goto out;
	if (http_stream_write(req, name, strlen(name)) != 0 || http_stream_write(req, text, len) != 0)
		goto out;
	rc = 0;
out:
	json_object_put(o);
	return rc;
}

/*
 * The export body, streamed after the headers: {"format":..., then one
 * section at a time}. A section that fails stops the stream, leaving
 * invalid JSON: a client cannot take a cut-short export for a whole one.
 */
static int export_stream(struct request *req)
{
	static const char head[] = "{\"format\":\"sotto-export/1\"";

	if (http_stream_write(req, head, sizeof(head) - 1) != 0)
		return -1;
	for (size_t i = 0; i < export_hook_count; i++)
		if (export_section(req, &export_hooks[i]) != 0)
			return -1;
	return http_stream_write(req, "}", 1);
}

/* GET /me/export: rate class EXPORT; the body is streamed (export_stream). */
int handle_me_export(struct request *req)
{
	http_header_add(req, "Content-Disposition", "attachment; filename=\"sotto-export.json\"");
	req->reply_stream = export_stream;
	return 200;
}

/*
 * The change itself, in one transaction: the new hash and token
 * generation (params: pk, hash, the caller's jti), and the end of every
 * other session of the account. 0, or the status it set.
 */
static int password_change_or_reply(struct request *req, const char **params)
{
	const char *others[2] = { params[0], req->account->token.sid };
	PGresult *res;

	if (db_begin(req->ctx->db) != 0)
		return http_db_failure(req);
	res = db_exec(req->ctx->db, req->arena, &stmt_set_password, params, NULL);
	if (res == NULL || strcmp(PQcmdTuples(res), "1") != 0 ||
	    db_exec(req->ctx->db, req->arena, &stmt_end_other_sessions, others, NULL) == NULL ||
	    db_commit(req->ctx->db) != 0) {
		db_rollback(req->ctx->db);
		/* no row: deleted meanwhile */
		return res != NULL && strcmp(PQcmdTuples(res), "1") != 0 ? credentials_invalid(req)
		       : http_db_failure(req);
	}
	return 0;
}

/*
 * POST /me/password {"password", "new_password"}. The new password's
 * shape is checked before the current one (the cheaper check first), the
 * new hash is made before anything changes, and the cached account record
 * is dropped before the update (if Redis cannot do that, nothing changes:
 * 503) and again after it. From the commit on, only the calling token and
 * tokens issued later work (auth.h), every other session has ended (its
 * refresh token with it), and the account's open event streams end.
 */
int handle_me_password(struct request *req)
{
	struct account *acc = req->account;
	const char *params[3], *pw;
	char *hash;
	size_t len;
	int status;

	if (acc->auth != ACCOUNT_PASSWORD)
		return http_error(req, 422, "invalid_field",
		                  "this account signs in with a key: it has no password");
	if (json_get_string(req->json, "new_password", &pw, &len) != 1 ||
	    len < PASSWORD_MIN_BYTES || len > PASSWORD_MAX_BYTES)
		return http_error(req, 422, "invalid_field", "new_password must be 10 to 1024 bytes");
	if ((status = credentials_again_or_reply(req)) != 0)
		return status;
	hash = arena_alloc(req->arena, PASSWORD_HASH_MAX);
	params[0] = arena_i64(req->arena, acc->pk);
	if (hash == NULL || params[0] == NULL)
		return http_oom(req);
	if ((status = password_hash_or_reply(req, pw, len, hash)) != 0)
		return status;
	params[1] = hash;
	params[2] = acc->token.jti;
	if (auth_forget(req, acc->id_hash) != 0)
		return http_unavailable(req, "sessions are unavailable", HTTP_RETRY_AFTER_DOWN);
	if ((status = password_change_or_reply(req, params)) != 0)
		return status;
	if (auth_forget(req, acc->id_hash) != 0)
		log_msg(LOG_WARN, "account record not dropped after a password change; "
		        "it expires by itself");
	events_close(req, acc->pk);
	return 204;
}

/*
 * The account's posts, then votes, beyond the last ACCOUNT_DELETE_BATCH of
 * each, a batch per transaction, for at most ACCOUNT_DELETE_BUDGET_MS: 0
 * once at most a batch of each is left, 1 when the time is up first, -1 on
 * a database failure.
 * Nothing new arrives meanwhile: every token of the account is refused.
 */
static int delete_beyond_batch(struct request *req, const char *pk)
{
	const char *params[2] = { pk, UTIL_STR(ACCOUNT_DELETE_BATCH) };
	uint64_t until = util_now_us() + (uint64_t)ACCOUNT_DELETE_BUDGET_MS * 1000;
	PGresult *res;
	int64_t n;

	for (;;) {
		res = db_exec(req->ctx->db, req->arena, &stmt_delete_batch, params, NULL);
		if (res == NULL || PQntuples(res) != 1 ||
		    util_parse_int64(PQgetvalue(res, 0, 0), 0, ACCOUNT_DELETE_BATCH, &n) != 0)
			return -1;
		if (n == 0)
			return 0;
		if (util_now_us() >= until)
			return 1;
	}
}

/*
 * The account's rows, in one transaction: its groups left first (their
 * members' events noted for publishing, which happens only when the
 * request answers 2xx, so only after this commits), its conversations
 * locked next (a message into one takes the conversation row, then the
 * account's event_heads row, which the cascade takes too:
 * dm_lock_conversations), then the account rows the cascade needs
 * (stmt_delete_lock). 0 or -1.
 */
static int delete_rows(struct request *req, const char *const params[1])
{
	struct db *db = req->ctx->db;
	PGresult *left;

	if (db_begin(db) != 0 ||
	    (left = db_exec(db, req->arena, &stmt_delete_groups, params, NULL)) == NULL)
		goto fail;
	group_note_events(req, left, 0, NULL);
	if (dm_lock_conversations(req, params[0]) != 0 ||
	    db_exec(db, req->arena, &stmt_delete_lock, params, NULL) == NULL ||
	    db_exec(db, req->arena, &stmt_delete, params, NULL) == NULL ||
	    db_commit(db) != 0)
		goto fail;
	return 0;
fail:
	db_rollback(db);
	return -1;
}

/*
 * DELETE /me with the credentials again in the body. The account is
 * marked deleted in Redis first, so from that moment no token of it
 * passes on any worker; then a large account's posts and votes go in
 * batches (delete_beyond_batch), and one transaction locks the account rows
 * the cascade needs (stmt_delete_lock) and deletes its rows, the wrapped
 * data key among them (ON DELETE CASCADE), which makes everything sealed
 * with that key unreadable. If the deletion fails the mark is taken back;
 * batches committed before stay deleted, and asking again goes on.
 * The row's absence is what PostgreSQL answers every later token check
 * with, so the mark only needs to outlive the cached record. Open event
 * streams of the account end.
 */
int handle_me_delete(struct request *req)
{
	struct account *acc = req->account;
	const char *params[1];
	int status;

	if ((status = credentials_again_or_reply(req)) != 0)
		return status;
	params[0] = arena_i64(req->arena, acc->pk);
	if (params[0] == NULL)
		return http_oom(req);
	if (auth_mark_deleted(req, acc) != 0)
		return http_unavailable(req, "sessions are unavailable", HTTP_RETRY_AFTER_DOWN);
	if ((status = delete_beyond_batch(req, params[0])) != 0 ||
	    delete_rows(req, params) != 0) {
		auth_undelete(req, acc);
		return status == 1 ? http_unavailable(req, "the account has many posts or votes "
		                                      "and is being deleted in parts; ask again",
		                                      HTTP_RETRY_AFTER_BUSY)
		       : http_db_failure(req);
	}
	feed_content_changed(req);   /* the account's posts vanish from every feed */
	if (auth_forget(req, acc->id_hash) != 0)
		log_msg(LOG_WARN, "account record not dropped after deletion; it expires by itself");
	events_close(req, acc->pk);
	return 204;
}
