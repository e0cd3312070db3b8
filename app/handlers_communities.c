/*
 * handlers_communities.c — GET /communities, POST /communities,
 * GET /communities/{slug}.
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
#include "handlers.h"
#include "json.h"
#include "log.h"
#include "page.h"
#include "util.h"
#include "community.h"
#include "context.h"

#define TITLE_MAX_CHARS 100
#define DESCRIPTION_MAX_CHARS 2000
#define COMMUNITIES_KIND "communities"

#define COMMUNITY_COLUMNS \
	"SELECT c.pk, c.slug, c.title_sealed, c.description_sealed, c.day, c.post_count, " \
	"c.creator_pk, k.version, k.wrapped FROM communities c " \
	"JOIN account_keys k ON k.account_pk = c.creator_pk "

static struct db_stmt stmt_insert = {
	"community_insert",
	"INSERT INTO communities (slug, creator_pk, title_sealed, description_sealed, day) "
	"VALUES ($1, $2, $3, $4, $5)", 5, 0
};
static struct db_stmt stmt_one = {
	"community_one", COMMUNITY_COLUMNS "WHERE c.slug = $1", 1, 0
};
static struct db_stmt stmt_list = {
	"community_list", COMMUNITY_COLUMNS "WHERE c.slug > $1 ORDER BY c.slug LIMIT $2", 2, 0
};

enum { COL_PK, COL_SLUG, COL_TITLE, COL_DESCRIPTION, COL_DAY, COL_POSTS, COL_CREATOR,
       COL_KEY_VERSION, COL_KEY_WRAPPED };

/* Where a community's text is sealed: row = slug, owner = creator. */
static void community_field(struct crypto_field *f, const char *column, const char *slug,
                            int64_t creator)
{
	f->table = "communities";
	f->column = column;
	f->row = slug;
	f->owner = creator;
}

static json_object *community_json(const char *slug, const char *title, const char *description,
                                   int64_t day, int64_t post_count)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "slug", json_object_new_string(slug));
	json_object_object_add(o, "title", json_object_new_string(title));
	json_object_object_add(o, "description", json_object_new_string(description));
	json_object_object_add(o, "day", json_object_new_int64(day));
	json_object_object_add(o, "post_count", json_object_new_int64(post_count));
	return o;
}

/* Row of COMMUNITY_COLUMNS as JSON, its text opened; NULL when it cannot be. */
static json_object *row_json(struct request *req, const PGresult *res, int row, void *unused)
{
	unsigned char key[CRYPTO_KEY_BYTES];
	const char *slug = PQgetvalue(res, row, COL_SLUG);
	const unsigned char *wrapped, *title_s, *desc_s;
	unsigned char *title = NULL, *desc = NULL;
	size_t wl = 0, tl = 0, dl = 0, n;
	int64_t creator, version, day, posts;
	struct crypto_field f;
	json_object *o = NULL;

	(void)unused;
	wrapped = db_bytea_value(req->arena, res, row, COL_KEY_WRAPPED, &wl);
	title_s = db_bytea_value(req->arena, res, row, COL_TITLE, &tl);
	desc_s = db_bytea_value(req->arena, res, row, COL_DESCRIPTION, &dl);
	if (wrapped == NULL || title_s == NULL || desc_s == NULL ||
	    util_parse_int64(PQgetvalue(res, row, COL_CREATOR), 1, INT64_MAX - 1, &creator) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, COL_KEY_VERSION), 1, UINT32_MAX, &version) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, COL_DAY), 0, INT32_MAX, &day) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, COL_POSTS), 0, INT32_MAX, &posts) != 0 ||
	    crypto_unwrap_key(req->ctx->cfg, creator, (uint32_t)version, wrapped, wl, key) != 0)
		goto out;
	community_field(&f, "title", slug, creator);
	if (crypto_open(req->arena, key, &f, title_s, tl, &title, &n) != 0)
		goto out;
	community_field(&f, "description", slug, creator);
	if (crypto_open(req->arena, key, &f, desc_s, dl, &desc, &n) != 0)
		goto out;
	o = community_json(slug, (const char *)title, (const char *)desc, day, posts);
out:
	sodium_memzero(key, sizeof(key));
	if (o == NULL)
		log_msg(LOG_WARN, "a community's text could not be opened; left out");
	return o;
}

/* Seal a text of the new community; NULL on failure. */
static const char *sealed_param(struct request *req, const unsigned char *key,
                                const char *column, const char *slug, const char *text,
                                size_t len)
{
	struct crypto_field f;
	const unsigned char *sealed;
	size_t sealed_len;

	community_field(&f, column, slug, req->account_pk);
	sealed = crypto_seal(req->arena, key, CRYPTO_DATA_KEY_VERSION, &f, text, len, &sealed_len);
	return sealed != NULL ? db_bytea_text(req->arena, sealed, sealed_len) : NULL;
}

static int insert_or_reply(struct request *req, const char *slug, const char *title,
                           size_t title_len, const char *desc, size_t desc_len)
{
	unsigned char key[CRYPTO_KEY_BYTES];
	const char *params[5], *sqlstate = NULL;
	int64_t today = util_today();
	int status;

	if (auth_data_key(req, req->account, key) != 0) {
		status = http_db_failure(req);
		goto out;
	}
	params[0] = slug;
	params[1] = arena_i64(req->arena, req->account_pk);
	params[2] = sealed_param(req, key, "title", slug, title, title_len);
	params[3] = sealed_param(req, key, "description", slug, desc, desc_len);
	params[4] = arena_i64(req->arena, today);
	if (params[1] == NULL || params[2] == NULL || params[3] == NULL || params[4] == NULL) {
		status = http_oom(req);
		goto out;
	}
	if (db_exec(req->ctx->db, req->arena, &stmt_insert, params, &sqlstate) == NULL) {
		status = sqlstate != NULL && strcmp(sqlstate, "23505") == 0
		         ? http_error(req, 409, "conflict", "this slug is taken")
		         : http_db_failure(req);
		goto out;
	}
	status = http_reply_member(req, 201, "community",
	                           community_json(slug, title, desc, today, 0));
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
	PGresult *res = db_exec(req->ctx->db, req->arena, &stmt_one, params, NULL);
	json_object *o;

	if (res == NULL)
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
