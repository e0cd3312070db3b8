/*
 * handlers_pow.c — POST /pow/challenge: issue a proof-of-work challenge.
 *
 * A challenge is POW_CHALLENGE_BYTES random bytes (base64url), stored in
 * Redis under "pow:<challenge>" with the action and the difficulty it was
 * issued at, sealed under that key name (cachemac.h) and expiring after
 * POW_CHALLENGE_TTL seconds. Whoever verifies it
 * later (pow_verify_or_reply) consumes the key atomically (GETDEL), so a
 * challenge works once, for its own action, at the difficulty stated here.
 *
 * The difficulty is the action's current one (pow_difficulty: the floor
 * plus what the load of the last minute adds). Issuing a challenge costs
 * the client nothing, so it never counts towards that load: only a proof
 * verified does (pow_verify_or_reply); challenges have their own rate
 * class, CHALLENGE. An action whose floor is 0 (SOTTO_POW_<ACTION>=0)
 * still gets a challenge, at difficulty 0, so clients need not
 * special-case it; its routes do not ask for X-PoW anyway.
 */
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "cache.h"
#include "cachemac.h"
#include "config.h"
#include "context.h"
#include "handlers.h"
#include "json.h"
#include "pow.h"
#include "util.h"


int handle_pow_challenge(struct request *req)
{
	struct context *ctx = req->ctx;
	const char *name;
	enum pow_action action;
	int difficulty;
	uint64_t now_s;
	char *challenge, *key, *value;
	json_object *o;

	if (json_get_string(req->json, "action", &name, NULL) != 1 ||
	    (action = pow_action_parse(name)) == POW_NONE)
		return http_error(req, 422, "invalid_field",
		                  "action must be one of register, login, post, reply, "
		                  "vote, flag, dm, community");
	now_s = util_wall_us() / 1000000;
	difficulty = pow_difficulty(ctx->shm, ctx->cfg, action, now_s);
	challenge = util_random_id(req->arena, POW_CHALLENGE_BYTES);
	key = arena_printf(req->arena, "pow:%s", challenge);
	value = arena_printf(req->arena, "%s:%d", config_pow_name(action), difficulty);
	value = key != NULL && value != NULL ?
	        cachemac_seal(req->arena, ctx->keys.redis, key, "", (int64_t)now_s + POW_CHALLENGE_TTL,
	                      value) : NULL;
	if (challenge == NULL || key == NULL || value == NULL)
		return http_oom(req);
	if (!cache_put_new(ctx->cache, req->arena, key, value, POW_CHALLENGE_TTL))
		return http_unavailable(req, "challenges are unavailable", HTTP_RETRY_AFTER_DOWN);
	o = json_object_new_object();
	if (o == NULL)
		return http_oom(req);
	json_object_object_add(o, "challenge", json_object_new_string(challenge));
	json_object_object_add(o, "action", json_object_new_string(name));
	json_object_object_add(o, "difficulty", json_object_new_int(difficulty));
	json_object_object_add(o, "algorithm", json_object_new_string("sha256"));
	json_object_object_add(o, "expires_in", json_object_new_int(POW_CHALLENGE_TTL));
	return http_reply(req, 200, o);
}
