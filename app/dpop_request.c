/*
 * dpop_request.c — a request's DPoP proof: found, verified for the
 * request, remembered (dpop_request.h).
 */
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "cache.h"
#include "context.h"
#include "dpop_request.h"
#include "http.h"

#define REPLAY_HASH_BYTES 16
#define REPLAY_DOMAIN "dpop-jti:"

/*
 * The URI the request was sent to: this server's origin (as nginx says
 * the client reached it) and the path; NULL when the origin is unknown
 * or out of memory. dpop_verify normalises it before comparing.
 */
static const char *request_uri(struct request *req)
{
	const char *origin = http_self_origin(req);

	if (origin == NULL || req->path == NULL)
		return NULL;
	return arena_printf(req->arena, "%s%s", origin, req->path);
}

enum dpop_found dpop_request_proof(struct request *req, const char *access_token, int64_t now,
                                   struct dpop_proof *out)
{
	size_t n = http_env_count(req, "HTTP_DPOP");
	const char *uri;

	if (n == 0)
		return DPOP_NONE;
	if (n != 1 || (uri = request_uri(req)) == NULL)
		return DPOP_INVALID;
	if (dpop_verify(req->arena, http_env(req, "HTTP_DPOP"), http_method_name(req->method),
	                uri, now, access_token, out) != 0)
		return DPOP_INVALID;
	return DPOP_VALID;
}

const char *dpop_replay_key(struct request *req, const struct dpop_proof *p, int64_t now,
                            int *ttl_s)
{
	const unsigned char *key = req->ctx->keys.lookup;
	unsigned char h[REPLAY_HASH_BYTES];
	char hex[2 * REPLAY_HASH_BYTES + 1];
	crypto_generichash_state st;
	int64_t left = p->iat + DPOP_IAT_WINDOW_S - now + 1;

	crypto_generichash_init(&st, key, sizeof(req->ctx->keys.lookup), sizeof(h));
	crypto_generichash_update(&st, (const unsigned char *)REPLAY_DOMAIN,
	                          sizeof(REPLAY_DOMAIN) - 1);
	/* the thumbprint has a fixed length, so (jkt, jti) pairs cannot run into each other */
	crypto_generichash_update(&st, (const unsigned char *)p->jkt, DPOP_JKT_CHARS);
	crypto_generichash_update(&st, (const unsigned char *)p->jti, strlen(p->jti));
	crypto_generichash_final(&st, h, sizeof(h));
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	/* iat is within DPOP_IAT_WINDOW_S of now: 1..2 * DPOP_IAT_WINDOW_S + 1 */
	*ttl_s = left < 1 ? 1 : (int)left;
	return arena_printf(req->arena, "dj:%s", hex);
}

int dpop_unauthorized(struct request *req)
{
	http_header_add(req, "WWW-Authenticate",
	                "DPoP error=\"invalid_dpop_proof\", algs=\"" DPOP_ALGS_HEADER "\"");
	return http_error(req, 401, "unauthorized", "missing or invalid DPoP proof");
}

int dpop_request_key_or_reply(struct request *req, int64_t now, char jkt[DPOP_JKT_CHARS + 1])
{
	struct dpop_proof p;
	const char *name;
	int ttl;

	jkt[0] = '\0';
	switch (dpop_request_proof(req, NULL, now, &p)) {
	case DPOP_NONE:
		return 0;
	case DPOP_INVALID:
		return dpop_unauthorized(req);
	case DPOP_VALID:
		break;
	}
	name = dpop_replay_key(req, &p, now, &ttl);
	if (name == NULL)
		return http_oom(req);
	if (!cache_put_new(req->ctx->cache, req->arena, name, "1", ttl))
		return cache_down(req->ctx->cache)
		       ? http_unavailable(req, "proofs cannot be checked", HTTP_RETRY_AFTER_DOWN)
		       : dpop_unauthorized(req);   /* seen before: a replay */
	memcpy(jkt, p.jkt, sizeof(p.jkt));
	return 0;
}
