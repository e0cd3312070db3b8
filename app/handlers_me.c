/*
 * handlers_me.c — GET /me, GET /me/export, DELETE /me.
 *
 * The account record comes from the auth check (req->account). There is
 * no account-wide public key: end-to-end keys are per conversation
 * (PUT /dm/{id}/key), since one key shown in every conversation of an
 * account would tie them together.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "auth.h"
#include "context.h"
#include "crypto.h"
#include "db.h"
#include "dm.h"
#include "export.h"
#include "feed_cache.h"
#include "handlers.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "util.h"

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

int handle_me_export(struct request *req)
{
	json_object *o = json_new_object(req->arena);  /* the arena owns it */
	int status;

	if (o == NULL)
		return http_oom(req);
	json_object_object_add(o, "format", json_object_new_string("sotto-export/1"));
	for (size_t i = 0; i < export_hook_count; i++)
		if ((status = export_hooks[i].fn(req, o, export_hooks[i].section)) != 0)
			return status;
	http_header_add(req, "Content-Disposition", "attachment; filename=\"sotto-export.json\"");
	req->reply = o;
	return 200;
}

/*
 * Delete the account's rows in one transaction, its conversations locked
 * first: a message into one of them takes the conversation row and then
 * the account's event_heads row, which the deletion's cascade takes too
 * (include/dm.h dm_lock_conversations). 0 or -1 (rolled back).
 */
static int delete_rows(struct request *req, const char *pk)
{
	if (db_begin(req->ctx->db) != 0)
		return -1;
	if (dm_lock_conversations(req, pk) != 0 ||
	    db_exec(req->ctx->db, req->arena, &stmt_delete, &pk, NULL) == NULL ||
	    db_commit(req->ctx->db) != 0) {
		db_rollback(req->ctx->db);
		return -1;
	}
	return 0;
}

/*
 * DELETE /me. The account is marked deleted in Redis first, so from that
 * moment no token of it passes on any worker; then one statement deletes
 * its rows, the wrapped data key among them (ON DELETE CASCADE), which
 * makes everything sealed with that key unreadable. If the deletion fails
 * the mark is taken back.
 */
int handle_me_delete(struct request *req)
{
	struct account *acc = req->account;
	const char *params[1];

	params[0] = arena_i64(req->arena, acc->pk);
	if (params[0] == NULL)
		return http_oom(req);
	if (auth_mark_deleted(req, acc) != 0)
		return http_unavailable(req, "sessions are unavailable", HTTP_RETRY_AFTER_DOWN);
	if (delete_rows(req, params[0]) != 0) {
		auth_undelete(req, acc);
		return http_db_failure(req);
	}
	feed_content_changed(req);   /* the account's posts vanish from every feed */
	if (auth_forget(req, acc->id_hash) != 0)
		log_msg(LOG_WARN, "account record not dropped after deletion; it expires by itself");
	return 204;
}
