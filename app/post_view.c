/*
 * post_view.c — render post rows (POST_VIEW_COLUMNS) as the contract's Post.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "auth.h"
#include "context.h"
#include "crypto.h"
#include "db.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "post_view.h"
#include "util.h"

enum {
	COL_PK, COL_ID, COL_BODY, COL_DAY, COL_SCORE, COL_REPLIES, COL_SLUG, COL_PARENT,
	COL_AUTHOR, COL_KEY_VERSION, COL_KEY_WRAPPED, COL_MY_VOTE
};

void post_keys_wipe(struct post_keys *keys)
{
	sodium_memzero(keys, sizeof(*keys));
}

const char *post_viewer(struct request *req)
{
	if (req->account == NULL)
		return "0";
	return arena_i64(req->arena, req->account->pk);
}

void post_body_field(struct crypto_field *f, const char *post_id, int64_t author_pk)
{
	f->table = "posts";
	f->column = "body";
	f->row = post_id;
	f->owner = author_pk;
}

json_object *post_json(const char *id, const char *body, int64_t day, int64_t score,
                       int64_t reply_count, const char *community, const char *parent_id,
                       bool mine, int my_vote)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "body", json_object_new_string(body));
	json_object_object_add(o, "day", json_object_new_int64(day));
	json_object_object_add(o, "score", json_object_new_int64(score));
	json_object_object_add(o, "reply_count", json_object_new_int64(reply_count));
	json_object_object_add(o, "community",
	                       community != NULL ? json_object_new_string(community) : NULL);
	json_object_object_add(o, "parent_id",
	                       parent_id != NULL ? json_object_new_string(parent_id) : NULL);
	json_object_object_add(o, "mine", json_object_new_boolean(mine));
	json_object_object_add(o, "my_vote", json_object_new_int(my_vote));
	return o;
}

/* The data key of author (unwrapped once per response), or NULL. */
static const unsigned char *author_key(struct request *req, const PGresult *res, int row,
                                       int64_t author, struct post_keys *keys)
{
	const unsigned char *wrapped;
	size_t len = 0, i;
	int64_t version;

	for (i = 0; i < keys->n; i++)
		if (keys->e[i].owner == author)
			return keys->e[i].key;
	if (keys->n == POST_KEYS_MAX)
		i = keys->n - 1;     /* full: reuse the last slot */
	else
		i = keys->n++;
	wrapped = db_bytea_value(req->arena, res, row, COL_KEY_WRAPPED, &len);
	if (wrapped == NULL ||
	    util_parse_int64(PQgetvalue(res, row, COL_KEY_VERSION), 1, UINT32_MAX, &version) != 0 ||
	    crypto_unwrap_key(req->ctx->cfg, author, (uint32_t)version, wrapped, len,
	                      keys->e[i].key) != 0) {
		keys->n = i;         /* not cached */
		return NULL;
	}
	keys->e[i].owner = author;
	return keys->e[i].key;
}

/* Row as a Post object; *author_out gets its author. NULL when left out or out of memory. */
static json_object *row_json(struct request *req, const PGresult *res, int row,
                             struct post_keys *keys, int64_t *author_out)
{
	const char *id = PQgetvalue(res, row, COL_ID);
	int64_t author, day, score, replies, my_vote;
	const unsigned char *key, *sealed;
	unsigned char *body;
	size_t sealed_len = 0, body_len;
	struct crypto_field f;

	if (util_parse_int64(PQgetvalue(res, row, COL_AUTHOR), 1, INT64_MAX - 1, &author) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, COL_DAY), 0, INT32_MAX, &day) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, COL_SCORE), INT32_MIN, INT32_MAX, &score) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, COL_REPLIES), 0, INT32_MAX, &replies) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, COL_MY_VOTE), -1, 1, &my_vote) != 0)
		return NULL;
	key = author_key(req, res, row, author, keys);
	sealed = db_bytea_value(req->arena, res, row, COL_BODY, &sealed_len);
	post_body_field(&f, id, author);
	if (key == NULL || sealed == NULL ||
	    crypto_open(req->arena, key, &f, sealed, sealed_len, &body, &body_len) != 0) {
		log_msg(LOG_WARN, "a post body could not be opened; left out");
		return NULL;
	}
	*author_out = author;
	return post_json(id, (const char *)body, day, score, replies,
	                 PQgetisnull(res, row, COL_SLUG) ? NULL : PQgetvalue(res, row, COL_SLUG),
	                 PQgetisnull(res, row, COL_PARENT) ? NULL : PQgetvalue(res, row, COL_PARENT),
	                 req->account != NULL && req->account->pk == author, (int)my_vote);
}

json_object *post_view_item(struct request *req, const PGresult *res, int row, void *keys)
{
	int64_t author;

	return row_json(req, res, row, keys, &author);
}

char *post_view_prefix(struct request *req, const PGresult *res, int row,
                       struct post_keys *keys, int64_t *pk, int64_t *author, size_t *len)
{
	json_object *o;
	const char *text;
	char *out = NULL;
	size_t n = 0;

	if (util_parse_int64(PQgetvalue(res, row, COL_PK), 1, INT64_MAX - 1, pk) != 0 ||
	    (o = row_json(req, res, row, keys, author)) == NULL)
		return NULL;
	json_object_object_del(o, "mine");
	json_object_object_del(o, "my_vote");
	text = json_dump(o, &n);
	if (text != NULL && n >= 2 && text[n - 1] == '}' &&
	    (out = arena_strndup(req->arena, text, n - 1)) != NULL)
		*len = n - 1;
	json_object_put(o);
	return out;
}
