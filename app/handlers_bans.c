/*
 * handlers_bans.c — POST /moderation/ban/ip, GET /moderation/bans,
 * DELETE /moderation/bans/{id} (review token; dispatch checks it).
 *
 * A ban stores the prefix's keyed lookup token and its text sealed for
 * this listing (ipban.h, sql/007_bans.sql), never the address or the
 * prefix in clear. A new ban also goes into the public moderation log,
 * with its reason only. Every change bumps the pool's ban generation, so
 * each worker reloads its cached list at its next request.
 */
#include <string.h>

#include "arena.h"
#include "context.h"
#include "db.h"
#include "guard.h"
#include "handlers.h"
#include "ipban.h"
#include "page.h"
#include "util.h"

#define BANS_KIND "bans"
#define REASON_MAX_CHARS 200       /* mod_log.reason's bound */
#define REASON_MAX_BYTES (4 * REASON_MAX_CHARS)
#define DAYS_MAX 3650
#define BAN_ID_BYTES 16            /* 22 base64url characters */
#define BAN_ID_CHARS 22
#define MOD_LOG_BAN "3"            /* mod_log.action: ban (sql/006) */

static struct db_stmt stmt_insert = {
	"ipban_insert",
	"INSERT INTO ip_bans (id, token, key_version, prefix_sealed, seal_version, reason, "
	"day, expires_day, prefix_bits) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", 9, 0
};
static struct db_stmt stmt_log = {
	"ipban_log",
	"INSERT INTO mod_log (day, action, reason, post_id) VALUES ($1, " MOD_LOG_BAN ", $2, NULL)",
	2, 0
};
static struct db_stmt stmt_list = {
	"ipban_list",
	"SELECT " IPBAN_ROW_COLUMNS ", b.pk FROM ip_bans b "
	"WHERE (b.expires_day IS NULL OR b.expires_day > $1) AND b.pk < $2 "
	"ORDER BY b.pk DESC LIMIT $3", 3, 0
};
static struct db_stmt stmt_delete = {
	"ipban_delete", "DELETE FROM ip_bans WHERE id = $1", 1, 0
};

enum { COL_PK = 6 };   /* after IPBAN_ROW_COLUMNS */

/* What a new ban is made of, checked. */
struct new_ban {
	struct ipban_prefix prefix;
	char text[IPBAN_TEXT_MAX];     /* "1.2.3.0/24", "2001:db8:1::/48" */
	const char *reason;
	bool permanent;
	int64_t days;
};

/* True when s holds the address part of the prefix text or the address as given. */
static bool reason_names_address(const char *reason, const char *ip, const char *text)
{
	char addr[IPBAN_TEXT_MAX];
	char *slash;

	memcpy(addr, text, sizeof(addr));
	slash = strchr(addr, '/');
	if (slash != NULL)
		*slash = '\0';
	return strstr(reason, ip) != NULL || strstr(reason, addr) != NULL;
}

/*
 * ?ip= and ?prefix= into nb->prefix and nb->text, or 422 invalid_field
 * naming the field. An IPv4 ban is the /24 (prefix absent or 24); an IPv6
 * one the /64, or with prefix=48..64 that prefix.
 */
static int prefix_or_reply(struct request *req, struct new_ban *nb)
{
	const char *bits = http_query(req, "prefix");
	int64_t n;

	if (ipban_prefix_parse(http_query(req, "ip"), &nb->prefix) != 0)
		return http_error(req, 422, "invalid_field",
		                  "ip must be one IPv4 or IPv6 address");
	if (bits != NULL && nb->prefix.family == IPBAN_V4 &&
	    util_parse_int64(bits, IPBAN_V4_BITS, IPBAN_V4_BITS, &n) != 0)
		return http_error(req, 422, "invalid_field",
		                  "prefix must be 24 or absent for an IPv4 address (its /24 is banned)");
	if (bits != NULL && nb->prefix.family == IPBAN_V6 &&
	    (util_parse_int64(bits, IPBAN_V6_BITS_MIN, IPBAN_V6_BITS, &n) != 0 ||
	     ipban_prefix_widen(&nb->prefix, (unsigned)n) != 0))
		return http_error(req, 422, "invalid_field",
		                  "prefix must be an integer from 48 to 64 for an IPv6 address "
		                  "(absent: 64)");
	if (ipban_prefix_text(&nb->prefix, nb->text) != 0)
		return http_error(req, 500, "internal", "internal error");
	return 0;
}

/* ?ip=, ?prefix=, ?reason=, ?days= into *nb, or 422 invalid_field naming the field. */
static int new_ban_or_reply(struct request *req, struct new_ban *nb)
{
	const char *ip = http_query(req, "ip");
	const char *days = http_query(req, "days");
	const char *why;
	size_t len;
	int status;

	if ((status = prefix_or_reply(req, nb)) != 0)
		return status;
	nb->reason = http_query(req, "reason");
	if (nb->reason == NULL)
		return http_error(req, 422, "invalid_field",
		                  "reason is required (1 to 200 characters)");
	len = strnlen(nb->reason, REASON_MAX_BYTES + 1);
	why = len > REASON_MAX_BYTES ? "too_long"
	      : guard_check(nb->reason, len, REASON_MAX_CHARS, 1 << 20, NULL, 0);
	if (why != NULL)
		return http_error(req, 422, "invalid_field",
		                  arena_printf(req->arena, "reason is not acceptable (%s): 1 to 200 "
		                               "characters, no control characters", why));
	/* The reason is published in the moderation log: never the address. */
	if (reason_names_address(nb->reason, ip, nb->text))
		return http_error(req, 422, "invalid_field",
		                  "reason must not contain the address (it is published)");
	nb->permanent = days == NULL;
	if (!nb->permanent && util_parse_int64(days, 1, DAYS_MAX, &nb->days) != 0)
		return http_error(req, 422, "invalid_field",
		                  "days must be an integer from 1 to 3650 (absent: permanent)");
	return 0;
}

/* Both rows in one transaction. 0, or -1 (rolled back). */
static int insert_ban(struct request *req, const char *const *ban, const char *const *log)
{
	struct db *db = req->ctx->db;

	if (db_begin(db) != 0 ||
	    db_exec(db, req->arena, &stmt_insert, ban, NULL) == NULL ||
	    db_exec(db, req->arena, &stmt_log, log, NULL) == NULL ||
	    db_commit(db) != 0) {
		db_rollback(db);
		return -1;
	}
	return 0;
}

int handle_ban_create(struct request *req)
{
	struct arena *a = req->arena;
	unsigned char token[IPBAN_TOKEN_BYTES];
	const unsigned char *key, *sealed;
	struct new_ban nb;
	int64_t today = util_today();
	uint32_t seal_version = 0;
	size_t sealed_len = 0;
	const char *id;
	json_object *o;
	int status;

	if ((status = new_ban_or_reply(req, &nb)) != 0)
		return status;
	if ((key = ipban_token_key(req)) == NULL ||
	    (id = util_random_id(a, BAN_ID_BYTES)) == NULL ||
	    (sealed = ipban_seal_prefix(a, req->ctx->cfg, id, nb.text, &sealed_len,
	                                &seal_version)) == NULL)
		return http_error(req, 500, "internal", "internal error");
	ipban_token(key, &nb.prefix, token);
	{
		/* prefix_bits only for a wide IPv6 ban (sql/025_ban_widths_notes.sql) */
		bool wide = nb.prefix.family == IPBAN_V6 && nb.prefix.bits < IPBAN_V6_BITS;
		const char *ban[9] = {
			id, db_bytea_text(a, token, sizeof(token)),
			arena_printf(a, "%d", IPBAN_KEY_VERSION),
			db_bytea_text(a, sealed, sealed_len), arena_printf(a, "%u", seal_version),
			nb.reason, arena_i64(a, today),
			nb.permanent ? NULL : arena_i64(a, today + nb.days),
			wide ? arena_printf(a, "%u", nb.prefix.bits) : NULL,
		};
		const char *log[2] = { ban[6], nb.reason };

		for (size_t i = 0; i < 9; i++)
			if (ban[i] == NULL && !(i == 7 && nb.permanent) && !(i == 8 && !wide))
				return http_oom(req);
		if (insert_ban(req, ban, log) != 0)
			return http_db_failure(req);
	}
	ipban_changed(req->ctx->shm);
	if ((o = json_object_new_object()) == NULL)
		return http_oom(req);
	json_object_object_add(o, "ban_id", json_object_new_string(id));
	json_object_object_add(o, "prefix", json_object_new_string(nb.text));
	json_object_object_add(o, "expires_day",
	                       nb.permanent ? NULL : json_object_new_int64(today + nb.days));
	return http_reply(req, 201, o);
}

/*
 * GET /moderation/bans: the active bans, newest first; the cursor holds
 * the last row's internal key (sealed, so it never leaves in clear).
 */
int handle_ban_list(struct request *req)
{
	static const struct page_keyed list = {
		BANS_KIND, &stmt_list, INT64_MAX, COL_PK, ipban_row_json, NULL
	};

	return page_keyed_reply(req, &list, arena_i64(req->arena, util_today()));
}

static bool ban_id_valid(const char *id)
{
	return id != NULL && strlen(id) == BAN_ID_CHARS &&
	       strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
	       == BAN_ID_CHARS;
}

/* DELETE /moderation/bans/{id}: lifts the ban at once, expired or not. */
int handle_ban_delete(struct request *req)
{
	const char *params[1] = { http_param(req, 0) };
	PGresult *res;

	if (!ban_id_valid(params[0]))
		return http_error(req, 404, "not_found", "no such ban");
	res = db_exec(req->ctx->db, req->arena, &stmt_delete, params, NULL);
	if (res == NULL)
		return http_db_failure(req);
	if (strcmp(PQcmdTuples(res), "0") == 0)
		return http_error(req, 404, "not_found", "no such ban");
	ipban_changed(req->ctx->shm);
	return 204;
}
