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
	    ((uint32_t)version != keys->wrapping.version &&
	     crypto_wrapping_key(req->ctx->cfg, (uint32_t)version, &keys->wrapping) != 0) ||
	    crypto_unwrap_key_with(&keys->wrapping, author, wrapped, len, keys->e[i].key) != 0) {
		keys->n = i;         /* not cached */
		return NULL;
	}
	keys->e[i].owner = author;
	return keys->e[i].key;
}

/* A row's fields, its body opened. */
struct post_row {
	int64_t pk, author, day, score, replies, my_vote;
	const char *id, *community, *parent_id;   /* community, parent_id may be NULL */
	const char *body;
};

/* Row into *p, its body opened with its author's key; -1 when left out (logged) or OOM. */
static int row_open(struct request *req, const PGresult *res, int row, struct post_keys *keys,
                    struct post_row *p)
{
	const unsigned char *key, *sealed;
	unsigned char *body;
	size_t sealed_len = 0, body_len;
	struct crypto_field f;

	if (util_parse_int64(PQgetvalue(res, row, COL_PK), 1, INT64_MAX - 1, &p->pk) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, COL_AUTHOR), 1, INT64_MAX - 1, &p->author) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, COL_DAY), 0, INT32_MAX, &p->day) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, COL_SCORE), INT32_MIN, INT32_MAX, &p->score) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, COL_REPLIES), 0, INT32_MAX, &p->replies) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, COL_MY_VOTE), -1, 1, &p->my_vote) != 0)
		return -1;
	p->id = PQgetvalue(res, row, COL_ID);
	p->community = PQgetisnull(res, row, COL_SLUG) ? NULL : PQgetvalue(res, row, COL_SLUG);
	p->parent_id = PQgetisnull(res, row, COL_PARENT) ? NULL : PQgetvalue(res, row, COL_PARENT);
	key = author_key(req, res, row, p->author, keys);
	sealed = db_bytea_value(req->arena, res, row, COL_BODY, &sealed_len);
	post_body_field(&f, p->id, p->author);
	if (key == NULL || sealed == NULL ||
	    crypto_open(req->arena, key, &f, sealed, sealed_len, &body, &body_len) != 0) {
		log_msg(LOG_WARN, "a post body could not be opened; left out");
		return -1;
	}
	p->body = (const char *)body;
	return 0;
}

json_object *post_view_item(struct request *req, const PGresult *res, int row, void *keys)
{
	struct post_row p;

	if (row_open(req, res, row, keys, &p) != 0)
		return NULL;
	return post_json(p.id, p.body, p.day, p.score, p.replies, p.community, p.parent_id,
	                 req->account != NULL && req->account->pk == p.author, (int)p.my_vote);
}

/* name (a literal with its quotes and colon) then s as a JSON string, or null. */
static char *put_string(char *out, const char *name, size_t name_len, const char *s)
{
	memcpy(out, name, name_len);
	out += name_len;
	if (s == NULL) {
		memcpy(out, "null", 4);
		return out + 4;
	}
	return out + json_quote(out, s, strlen(s));
}

static char *put_number(char *out, const char *name, size_t name_len, int64_t v)
{
	memcpy(out, name, name_len);
	return out + name_len + util_put_int64(out + name_len, v);
}

#define PUT_STRING(out, name, s) put_string(out, name, sizeof(name) - 1, s)
#define PUT_NUMBER(out, name, v) put_number(out, name, sizeof(name) - 1, v)

/* A prefix's size but for its strings: the names, three numbers, a null for each string that may be one. */
#define PREFIX_FIXED (sizeof("{\"id\":,\"body\":,\"day\":,\"score\":,\"reply_count\":," \
                             "\"community\":,\"parent_id\":") + 3 * UTIL_INT64_CHARS + \
                      2 * (sizeof("null") - 1))

/*
 * Written as text, in the order and escaping post_json and json_dump give
 * (the same bytes), without json-c's object, hash table and print buffer:
 * at 20 posts a page those were most of a feed page's cost.
 */
char *post_view_prefix(struct request *req, const PGresult *res, int row,
                       struct post_keys *keys, int64_t *pk, int64_t *author, size_t *len)
{
	struct post_row p;
	size_t id_len, body_len, community_len, parent_len;
	char *out, *q;

	if (row_open(req, res, row, keys, &p) != 0)
		return NULL;
	id_len = strlen(p.id);
	body_len = strlen(p.body);
	community_len = p.community != NULL ? strlen(p.community) : 0;
	parent_len = p.parent_id != NULL ? strlen(p.parent_id) : 0;
	out = arena_alloc(req->arena, PREFIX_FIXED + JSON_QUOTED_MAX(id_len) +
	                  JSON_QUOTED_MAX(body_len) + JSON_QUOTED_MAX(community_len) +
	                  JSON_QUOTED_MAX(parent_len));
	if (out == NULL)
		return NULL;
	q = PUT_STRING(out, "{\"id\":", p.id);
	q = PUT_STRING(q, ",\"body\":", p.body);
	q = PUT_NUMBER(q, ",\"day\":", p.day);
	q = PUT_NUMBER(q, ",\"score\":", p.score);
	q = PUT_NUMBER(q, ",\"reply_count\":", p.replies);
	q = PUT_STRING(q, ",\"community\":", p.community);
	q = PUT_STRING(q, ",\"parent_id\":", p.parent_id);
	*pk = p.pk;
	*author = p.author;
	*len = (size_t)(q - out);
	return out;
}
