/*
 * oauth_code.c — authorization codes (oauth_code.h): issued to the
 * consent page, exchanged once by the client.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "cache.h"
#include "cachemac.h"
#include "context.h"
#include "http.h"
#include "oauth.h"
#include "oauth_code.h"
#include "util.h"

#define CODE_HASH_BYTES 32
#define CODE_DOMAIN "sotto-oauth-code:"
#define CODE_TAKEN "taken"           /* a code's value between its take and its use */

/*
 * Take a code: its value is returned and replaced by a placeholder that
 * opens as nothing, keeping the expiry, in one step: of two concurrent
 * exchanges only one reads the grant.
 */
static const char take_script[] =
	"local v = redis.call('GET', KEYS[1]) "
	"if v then redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL') end "
	"return v";
static struct cache_script take_eval = CACHE_SCRIPT(take_script);

/* The Redis key of a code: "oc:" + hex of its keyed hash. NULL when out of memory. */
static char *code_key(struct request *req, const char *code)
{
	unsigned char h[CODE_HASH_BYTES];
	char hex[2 * CODE_HASH_BYTES + 1];
	crypto_generichash_state st;

	crypto_generichash_init(&st, req->ctx->keys.lookup, sizeof(req->ctx->keys.lookup),
	                        sizeof(h));
	crypto_generichash_update(&st, (const unsigned char *)CODE_DOMAIN, sizeof(CODE_DOMAIN) - 1);
	crypto_generichash_update(&st, (const unsigned char *)code, strlen(code));
	crypto_generichash_final(&st, h, sizeof(h));
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	return arena_printf(req->arena, "oc:%s", hex);
}

/* What a code is bound to without storing it: its client and redirect URI. */
static char *code_bind(struct request *req, const char *client_id, const char *redirect_uri)
{
	return arena_printf(req->arena, "%s %s", client_id, redirect_uri);
}

static int64_t now_s(void)
{
	return (int64_t)(util_wall_us() / 1000000);
}

const char *oauth_code_issue(struct request *req, const char *client_id,
                             const char *redirect_uri, const struct oauth_grant *g)
{
	const char *code = util_random_id(req->arena, OAUTH_CODE_BYTES);
	const char *key, *bind, *payload, *value;

	if (code == NULL)
		return NULL;
	key = code_key(req, code);
	bind = code_bind(req, client_id, redirect_uri);
	payload = arena_printf(req->arena, "g %lld %lld %u %s", (long long)g->account_pk,
	                       (long long)g->client_pk, g->scope, g->challenge);
	if (key == NULL || bind == NULL || payload == NULL)
		return NULL;
	value = cachemac_seal(req->arena, req->ctx->keys.redis, key, bind,
	                      now_s() + OAUTH_CODE_TTL, payload);
	if (value == NULL || !cache_put_new(req->ctx->cache, req->arena, key, value, OAUTH_CODE_TTL))
		return NULL;
	return code;
}

/* Read a fresh code's payload into *g: 0, or -1 when it is not one. */
static int grant_parse(const char *payload, struct oauth_grant *g)
{
	long long account_pk, client_pk;
	unsigned scope;
	int end = 0;

	if (sscanf(payload, "g %lld %lld %u %43[A-Za-z0-9_-]%n", &account_pk, &client_pk, &scope,
	           g->challenge, &end) != 4 || payload[end] != '\0' ||
	    account_pk <= 0 || client_pk <= 0 || !oauth_challenge_valid(g->challenge))
		return -1;
	g->account_pk = account_pk;
	g->client_pk = client_pk;
	g->scope = scope;
	return 0;
}

/* Read a used code's payload: the session it opened. 0, or -1. */
static int used_parse(const char *payload, char *session_id)
{
	if (strncmp(payload, "u ", 2) != 0 || !session_id_valid(payload + 2))
		return -1;
	memcpy(session_id, payload + 2, SESSION_ID_CHARS + 1);
	return 0;
}

enum oauth_code_state oauth_code_take(struct request *req, const char *code,
                                      const char *client_id, const char *redirect_uri,
                                      struct oauth_grant *g, char *session_id)
{
	const char *argv[5] = { NULL, NULL, "1", NULL, CODE_TAKEN };
	const char *bind, *payload;
	redisReply *r;

	if (code == NULL || !oauth_b64url_chars(code, OAUTH_CODE_CHARS) || !oauth_client_id_valid(client_id))
		return OAUTH_CODE_INVALID;
	argv[3] = code_key(req, code);
	bind = code_bind(req, client_id, redirect_uri);
	if (argv[3] == NULL || bind == NULL)
		return OAUTH_CODE_FAILED;
	r = cache_eval(req->ctx->cache, req->arena, &take_eval, 5, argv, NULL);
	if (r == NULL || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL))
		return OAUTH_CODE_FAILED;
	if (r->type == REDIS_REPLY_NIL)
		return OAUTH_CODE_INVALID;
	payload = cachemac_open(req->ctx->keys.redis, argv[3], bind, r->str, r->len, now_s());
	if (payload == NULL)
		return OAUTH_CODE_INVALID;
	if (grant_parse(payload, g) == 0)
		return OAUTH_CODE_FRESH;
	if (used_parse(payload, session_id) == 0)
		return OAUTH_CODE_REUSED;
	return OAUTH_CODE_INVALID;
}

int oauth_code_used(struct request *req, const char *code, const char *client_id,
                    const char *redirect_uri, const char *session_id)
{
	const char *argv[6] = { "SET", NULL, NULL, "EX", NULL, "XX" };
	const char *bind = code_bind(req, client_id, redirect_uri);
	const char *payload = arena_printf(req->arena, "u %s", session_id);
	redisReply *r;

	argv[1] = code_key(req, code);
	argv[4] = arena_i64(req->arena, OAUTH_CODE_USED_TTL);
	if (argv[1] == NULL || bind == NULL || payload == NULL || argv[4] == NULL)
		return -1;
	argv[2] = cachemac_seal(req->arena, req->ctx->keys.redis, argv[1], bind,
	                        now_s() + OAUTH_CODE_USED_TTL, payload);
	if (argv[2] == NULL)
		return -1;
	r = cache_command(req->ctx->cache, req->arena, 6, argv, NULL);
	return r != NULL && r->type != REDIS_REPLY_ERROR ? 0 : -1;
}
