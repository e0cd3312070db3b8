/*
 * context.c — the subkeys of a context, derived from the configured
 * master secrets. A worker opens the rest of its context (worker.c).
 */
#include <sodium.h>

#include "config.h"
#include "context.h"
#include "keys.h"

int context_keys_derive(const struct config *cfg, struct context_keys *keys)
{
	if (keys_derive(keys->ratelimit, cfg->ip_hmac_key, cfg->ip_hmac_key_len,
	                "ratelimt", 1) != 0 ||
	    keys_derive(keys->lookup, cfg->ip_hmac_key, cfg->ip_hmac_key_len,
	                "acctlkup", 1) != 0 ||
	    keys_derive(keys->jwt, cfg->jwt_secret, cfg->jwt_secret_len, "jwtsessn", 1) != 0 ||
	    keys_derive(keys->refresh, cfg->jwt_secret, cfg->jwt_secret_len, "rfrshtkn", 1) != 0 ||
	    keys_derive(keys->guard, cfg->ip_hmac_key, cfg->ip_hmac_key_len,
	                "guardrep", 1) != 0 ||
	    keys_derive(keys->cursor, cfg->ip_hmac_key, cfg->ip_hmac_key_len,
	                "cursorky", 1) != 0 ||
	    keys_derive(keys->events, cfg->ip_hmac_key, cfg->ip_hmac_key_len,
	                "evchanid", 1) != 0 ||
	    keys_derive(keys->invites, cfg->ip_hmac_key, cfg->ip_hmac_key_len,
	                "grpinvit", 1) != 0 ||
	    keys_derive(keys->redis, cfg->ip_hmac_key, cfg->ip_hmac_key_len,
	                "redismac", 1) != 0) {
		sodium_memzero(keys, sizeof(*keys));
		return -1;
	}
	return 0;
}
