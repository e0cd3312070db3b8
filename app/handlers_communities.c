/*
 * handlers_communities.c — GET /communities, POST /communities,
 * GET /communities/{slug}, PUT /communities/{slug}/rules (a moderator),
 * POST and DELETE /communities/{slug}/mute.
 *
 * The slug is public and stored as is (it is how a community is found);
 * title and description are user text, checked by the guardrails and
 * sealed with the creator's data key, like post bodies. A community goes
 * with its creator's account; its posts then stay, without a community.
 */
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "auth.h"
#include "crypto.h"
#include "db.h"
#include "guard.h"
#include "export.h"
#include "feed_cache.h"
#include "handlers.h"
#include "json.h"
#include "log.h"
#include "page.h"
#include "util.h"
#include "community.h"
#include "context.h"

#define TITLE_MAX_CHARS 100
#define DESCRIPTION_MAX_CHARS 2000
#define RULES_MAX_CHARS 2000
#define COMMUNITIES_KIND "communities"

#define COMMUNITY_COLUMNS \
	"SELECT c.pk, c.slug, c.title_sealed, c.description_sealed, c.day, c.post_count, " \
	"c.creator_pk, k.version, k.wrapped, " \
	"(SELECT count(*) FROM community_moderators m WHERE m.community_pk = c.pk), " \
	"c.rules_sealed " \
	"FROM communities c " \
	"JOIN account_keys k ON k.account_pk = c.creator_pk "

/* The creator is the community's first moderator (sql/027), in the same statement. */
static struct db_stmt stmt_insert = {
	"community_insert",
	"WITH c AS (INSERT INTO communities (slug, creator_pk, title_sealed, description_sealed, day) "
	"VALUES ($1, $2, $3, $4, $5) RETURNING pk) "
	"INSERT INTO community_moderators (id, community_pk, account_pk, day_joined) "
	"SELECT $6, c.pk, $2, $5 FROM c", 6, 0
};
static struct db_stmt stmt_one = {
	"community_one", COMMUNITY_COLUMNS "WHERE c.slug = $1", 1, 0
};
static struct db_stmt stmt_list = {
	"community_list", COMMUNITY_COLUMNS "WHERE c.slug > $1 ORDER BY c.slug LIMIT $2", 2, 0
};

enum { COL_PK, COL_SLUG, COL_TITLE, COL_DESCRIPTION, COL_DAY, COL_POSTS, COL_CREATOR,
       COL_KEY_VERSION, COL_KEY_WRAPPED, COL_MODERATORS, COL_RULES };

/* Where a community's text is sealed: row = slug, owner = creator. */
static void community_field(struct crypto_field *f, const char *column, const char *slug,
                            int64_t creator)
{
	f->table = "communities";
	f->column = column;
	f->row = slug;
	f->owner = creator;
}

/* The texts of a community, opened. */
struct community_texts {
	const char *title;
	const char *description;
	const char *rules;          /* "" when none were set */
};

static json_object *community_json(const char *slug, const struct community_texts *t,
                                   int64_t day, int64_t post_count, int64_t moderators)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "slug", json_object_new_string(slug));
	json_object_object_add(o, "title", json_object_new_string(t->title));
	json_object_object_add(o, "description", json_object_new_string(t->description));
	json_object_object_add(o, "rules", json_object_new_string(t->rules));
	json_object_object_add(o, "day", json_object_new_int64(day));
	json_object_object_add(o, "post_count", json_object_new_int64(post_count));
	json_object_object_add(o, "moderator_count", json_object_new_int64(moderators));
	return o;
}

/* The creator's data key of row into key, and the creator into *creator; 0 or -1. */
static int row_key(struct request *req, const PGresult *res, int row, int64_t *creator,
                   unsigned char key[CRYPTO_KEY_BYTES])
{
	const unsigned char *wrapped;
	size_t wl = 0;
	int64_t version;

	wrapped = db_bytea_value(req->arena, res, row, COL_KEY_WRAPPED, &wl);
	if (wrapped == NULL ||
	    util_parse_int64(PQgetvalue(res, row, COL_CREATOR), 1, INT64_MAX - 1, creator) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, COL_KEY_VERSION), 1, UINT32_MAX, &version) != 0)
		return -1;
	return crypto_unwrap_key(req->ctx->cfg, *creator, (uint32_t)version, wrapped, wl, key);
}

/* The text sealed in column col ("" when NULL) into *out (arena); 0 or -1. */
static int open_text(struct request *req, const unsigned char *key, const PGresult *res,
                     int row, int col, const char *column, int64_t creator, const char **out)
{
	const unsigned char *sealed;
	unsigned char *text = NULL;
	size_t sl = 0, n;
	struct crypto_field f;

	if (PQgetisnull(res, row, col)) {
		*out = "";
		return 0;
	}
	if ((sealed = db_bytea_value(req->arena, res, row, col, &sl)) == NULL)
		return -1;
	community_field(&f, column, PQgetvalue(res, row, COL_SLUG), creator);
	if (crypto_open(req->arena, key, &f, sealed, sl, &text, &n) != 0)
		return -1;
	*out = (const char *)text;
	return 0;
}

/* Row of COMMUNITY_COLUMNS as JSON, its text opened; NULL when it cannot be. */
static json_object *row_json(struct request *req, const PGresult *res, int row, void *unused)
{
	unsigned char key[CRYPTO_KEY_BYTES];
	struct community_texts t;
	int64_t creator, day, posts, moderators;
	json_object *o = NULL;

	(void)unused;
	if (util_parse_int64(PQgetvalue(res, row, COL_DAY), 0, INT32_MAX, &day) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, COL_POSTS), 0, INT32_MAX, &posts) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, COL_MODERATORS), 0, INT32_MAX, &moderators) != 0 ||
	    row_key(req, res, row, &creator, key) != 0)
		goto out;
	if (open_text(req, key, res, row, COL_TITLE, "title", creator, &t.title) != 0 ||
	    open_text(req, key, res, row, COL_DESCRIPTION, "description", creator,
	              &t.description) != 0 ||
	    open_text(req, key, res, row, COL_RULES, "rules", creator, &t.rules) != 0)
		goto out;
	o = community_json(PQgetvalue(res, row, COL_SLUG), &t, day, posts, moderators);
out:
	sodium_memzero(key, sizeof(key));
	if (o == NULL)
		log_msg(LOG_WARN, "a community's text could not be opened; left out");
	return o;
}

/* Seal a text of the new community; NULL on failure. */
static const char *sealed_param(struct request *req, const unsigned char *key, int64_t owner,
                                const char *column, const char *slug, const char *text,
                                size_t len)
{
	struct crypto_field f;
	const unsigned char *sealed;
	size_t sealed_len;

	community_field(&f, column, slug, owner);
	sealed = crypto_seal(req->arena, key, CRYPTO_DATA_KEY_VERSION, &f, text, len, &sealed_len);
	return sealed != NULL ? db_bytea_text(req->arena, sealed, sealed_len) : NULL;
}

static int insert_or_reply(struct request *req, const char *slug, const char *title,
                           size_t title_len, const char *desc, size_t desc_len)
{
	unsigned char key[CRYPTO_KEY_BYTES];
	const char *params[6], *sqlstate = NULL;
	const struct community_texts t = { title, desc, "" };
	int64_t today = util_today();
	int status;

	if (auth_data_key(req, req->account, key) != 0) {
		status = http_db_failure(req);
		goto out;
	}
	params[0] = slug;
	params[1] = arena_i64(req->arena, req->account_pk);
	params[2] = sealed_param(req, key, req->account_pk, "title", slug, title, title_len);
	params[3] = sealed_param(req, key, req->account_pk, "description", slug, desc, desc_len);
	params[4] = arena_i64(req->arena, today);
	params[5] = util_random_id(req->arena, UTIL_PUBLIC_ID_BYTES);
	if (params[1] == NULL || params[2] == NULL || params[3] == NULL || params[4] == NULL ||
	    params[5] == NULL) {
		status = http_oom(req);
		goto out;
	}
	if (db_exec(req->ctx->db, req->arena, &stmt_insert, params, &sqlstate) == NULL) {
		status = sqlstate != NULL && strcmp(sqlstate, "23505") == 0
		         ? http_error(req, 409, "conflict", "this slug is taken")
		         : http_db_failure(req);
		goto out;
	}
	status = http_reply_member(req, 201, "community", community_json(slug, &t, today, 0, 1));
out:
	sodium_memzero(key, sizeof(key));
	return status;
}

int handle_community_create(struct request *req)
{
	const char *slug, *title, *desc;
	size_t slug_len, title_len, desc_len;
	int status;

	if (json_get_string(req->json, "slug", &slug, &slug_len) != 1 ||
	    !community_slug_valid(slug, slug_len))
		return http_error(req, 422, "invalid_field",
		                  "slug must be 3 to 32 characters of a-z, 0-9 and -");
	if (json_get_string(req->json, "title", &title, &title_len) != 1)
		return http_error(req, 422, "invalid_field", "title must be a string");
	switch (json_get_string(req->json, "description", &desc, &desc_len)) {
	case 1:
		break;
	case 0:
		desc = "";
		desc_len = 0;
		break;
	default:
		return http_error(req, 422, "invalid_field", "description must be a string");
	}
	{
		const struct guard_text texts[] = {
			{ title, title_len, TITLE_MAX_CHARS },
			{ desc, desc_len, DESCRIPTION_MAX_CHARS },
		};

		/* An empty description is allowed; the guardrails' "empty" is for the title. */
		if ((status = guard_texts_or_reply(req, "community", texts,
		                                   desc_len > 0 ? 2 : 1)) != 0)
			return status;
	}
	return insert_or_reply(req, slug, title, title_len, desc, desc_len);
}

int handle_community_get(struct request *req)
{
	const char *params[1] = { http_param(req, 0) };
	PGresult *res = db_exec(req->db, req->arena, &stmt_one, params, NULL);
	json_object *o;

	if (res == NULL)
		return http_db_failure(req);
	if (PQntuples(res) != 1 || (o = row_json(req, res, 0, NULL)) == NULL)
		return http_error(req, 404, "not_found", "no such community");
	return http_reply(req, 200, o);
}

static struct db_stmt stmt_rules = {
	"community_rules", "UPDATE communities SET rules_sealed = $2 WHERE pk = $1", 2, 0
};

/* Seal the rules (NULL when len is 0) with the creator's key of row and store them; 0 or status. */
static int rules_store_or_reply(struct request *req, const PGresult *res, const char *rules,
                                size_t len)
{
	unsigned char key[CRYPTO_KEY_BYTES];
	const char *params[2] = { PQgetvalue(res, 0, COL_PK), NULL };
	int64_t creator;
	int status = 0;

	if (row_key(req, res, 0, &creator, key) != 0) {
		status = http_error(req, 500, "internal", "internal error");
		goto out;
	}
	if (len > 0 && (params[1] = sealed_param(req, key, creator, "rules",
	                                         PQgetvalue(res, 0, COL_SLUG), rules, len)) == NULL) {
		status = http_oom(req);
		goto out;
	}
	if (db_exec(req->ctx->db, req->arena, &stmt_rules, params, NULL) == NULL)
		status = http_db_failure(req);
out:
	sodium_memzero(key, sizeof(key));
	return status;
}

/*
 * PUT /communities/{slug}/rules {"rules"} (a moderator of it): 200 with
 * the community. "" clears them. Anyone else: 404, as no such community.
 */
int handle_community_rules(struct request *req)
{
	const char *params[1] = { http_param(req, 0) }, *pk = NULL, *rules;
	size_t len = 0;
	PGresult *res;
	json_object *o;
	int status;

	if ((status = community_moderated_or_reply(req, params[0], &pk)) != 0)
		return status;
	if (json_get_string(req->json, "rules", &rules, &len) != 1)
		return http_error(req, 422, "invalid_field", "rules must be a string");
	if (len > 0) {
		const struct guard_text text = { rules, len, RULES_MAX_CHARS };

		if ((status = guard_texts_or_reply(req, "community", &text, 1)) != 0)
			return status;
	}
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_one, params, NULL)) == NULL)
		return http_db_failure(req);
	if (PQntuples(res) != 1)
		return http_error(req, 404, "not_found", "no such community");
	if ((status = rules_store_or_reply(req, res, rules, len)) != 0)
		return status;
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_one, params, NULL)) == NULL)
		return http_db_failure(req);
	if (PQntuples(res) != 1 || (o = row_json(req, res, 0, NULL)) == NULL)
		return http_error(req, 404, "not_found", "no such community");
	return http_reply(req, 200, o);
}

/*
 * GET /communities: by slug, so the order never changes under a walk; the
 * cursor holds the last slug's position as its bytes (at most 32).
 */
int handle_community_list(struct request *req)
{
	struct page page;
	struct page_rows rows;
	struct cursor next = { .n = CURSOR_MAX_FIELDS };
	char after[COMMUNITY_SLUG_MAX + 1] = "";
	const char *params[2] = { after, NULL };
	const char *last;
	int status;

	if ((status = page_or_reply(req, COMMUNITIES_KIND, &page)) != 0)
		return status;
	if (page.has_cursor) {
		if (page.cursor.n != CURSOR_MAX_FIELDS)
			return http_error(req, 400, "bad_request", "cursor is not valid for this list");
		memcpy(after, page.cursor.v, COMMUNITY_SLUG_MAX);
		after[COMMUNITY_SLUG_MAX] = '\0';
	}
	if ((status = page_fetch_or_reply(req, &page, &stmt_list, params, row_json, NULL,
	                                  &rows)) != 0)
		return status;
	if (rows.last < 0)
		return page_reply(req, COMMUNITIES_KIND, rows.items, NULL);
	last = PQgetvalue(rows.res, rows.last, COL_SLUG);
	memset(next.v, 0, sizeof(next.v));
	memcpy(next.v, last, strnlen(last, COMMUNITY_SLUG_MAX));
	return page_reply(req, COMMUNITIES_KIND, rows.items, &next);
}

static struct db_stmt stmt_export = {
	"community_export", COMMUNITY_COLUMNS "WHERE c.creator_pk = $1 ORDER BY c.slug", 1, 0
};

/* Export: the communities the account created. */
int export_communities(struct request *req, json_object *out, const char *section)
{
	return export_rows(req, out, section, &stmt_export, row_json, NULL);
}

/* Mutes per account at most: each is a row the ranked feed's viewer query may join. */
#define MUTES_MAX_TEXT "1000"

static struct db_stmt stmt_mute = {
	"community_mute",
	"INSERT INTO community_mutes (account_pk, community_pk) SELECT $1, $2 "
	"WHERE (SELECT count(*) FROM community_mutes WHERE account_pk = $1) < " MUTES_MAX_TEXT " "
	"ON CONFLICT DO NOTHING RETURNING 1", 2, 0
};
static struct db_stmt stmt_muted = {
	"community_muted",
	"SELECT 1 FROM community_mutes WHERE account_pk = $1 AND community_pk = $2", 2, 0
};
static struct db_stmt stmt_unmute = {
	"community_unmute",
	"DELETE FROM community_mutes WHERE account_pk = $1 AND community_pk = $2", 2, 0
};
static struct db_stmt stmt_export_mutes = {
	"community_export_mutes",
	"SELECT c.slug FROM community_mutes m JOIN communities c ON c.pk = m.community_pk "
	"WHERE m.account_pk = $1 ORDER BY c.slug", 1, 0
};

/* The caller's pk and the path's community as statement parameters; 0 or the status set. */
static int mute_params_or_reply(struct request *req, const char *params[2])
{
	if ((params[0] = arena_i64(req->arena, req->account_pk)) == NULL)
		return http_oom(req);
	return community_pk_or_reply(req, http_param(req, 0), &params[1]);
}

/*
 * POST /communities/{slug}/mute: 204, leaving the community out of the
 * caller's ranked feed (muting it again changes nothing). At most
 * MUTES_MAX_TEXT communities: beyond, 422.
 */
int handle_community_mute(struct request *req)
{
	const char *params[2];
	PGresult *res;
	int status;

	if ((status = mute_params_or_reply(req, params)) != 0)
		return status;
	if ((res = db_exec(req->ctx->db, req->arena, &stmt_mute, params, NULL)) == NULL)
		return http_db_failure(req);
	if (PQntuples(res) == 0) {
		/* Already muted, or the account is at its bound. */
		if ((res = db_exec(req->ctx->db, req->arena, &stmt_muted, params, NULL)) == NULL)
			return http_db_failure(req);
		if (PQntuples(res) == 0)
			return http_error(req, 422, "invalid_field",
			                  "slug: at most " MUTES_MAX_TEXT " muted communities");
	}
	feed_votes_changed(req);
	return 204;
}

/* DELETE /communities/{slug}/mute: 204, muted or not. */
int handle_community_unmute(struct request *req)
{
	const char *params[2];
	int status;

	if ((status = mute_params_or_reply(req, params)) != 0)
		return status;
	if (db_exec(req->ctx->db, req->arena, &stmt_unmute, params, NULL) == NULL)
		return http_db_failure(req);
	feed_votes_changed(req);
	return 204;
}

/* One muted community of the export: {"community": "<slug>"}. */
static json_object *mute_json(struct request *req, const PGresult *res, int row, void *unused)
{
	json_object *o = json_object_new_object();

	(void)req;
	(void)unused;
	if (o != NULL)
		json_object_object_add(o, "community", json_object_new_string(PQgetvalue(res, row, 0)));
	return o;
}

/* Export: the communities the account muted. */
int export_mutes(struct request *req, json_object *out, const char *section)
{
	return export_rows(req, out, section, &stmt_export_mutes, mute_json, NULL);
}
