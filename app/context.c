/*
 * context.c — a worker's context: connections opened after fork, caches,
 * and subkeys derived and locked in memory.
 */
#include <string.h>
#include <sys/mman.h>

#include <sodium.h>

#include "arena.h"
#include "cache.h"
#include "config.h"
#include "context.h"
#include "db.h"
#include "feed_cache.h"
#include "guard.h"
#include "keys.h"
#include "log.h"

int context_keys_derive(const struct config *cfg, struct context_keys *keys)
{
	if (keys_derive(keys->ratelimit, cfg->ip_hmac_key, cfg->ip_hmac_key_len,
	                "ratelimt", 1) != 0 ||
	    keys_derive(keys->lookup, cfg->ip_hmac_key, cfg->ip_hmac_key_len,
	                "acctlkup", 1) != 0 ||
	    keys_derive(keys->jwt, cfg->jwt_secret, cfg->jwt_secret_len, "jwtsessn", 1) != 0 ||
	    keys_derive(keys->guard, cfg->ip_hmac_key, cfg->ip_hmac_key_len,
	                "guardrep", 1) != 0 ||
	    keys_derive(keys->cursor, cfg->ip_hmac_key, cfg->ip_hmac_key_len,
	                "cursorky", 1) != 0 ||
	    keys_derive(keys->events, cfg->ip_hmac_key, cfg->ip_hmac_key_len,
	                "evchanid", 1) != 0) {
		sodium_memzero(keys, sizeof(*keys));
		return -1;
	}
	return 0;
}

static int derive_keys(struct context *ctx)
{
	if (context_keys_derive(ctx->cfg, &ctx->keys) != 0)
		return -1;
	/* Keys must never reach swap; failure (RLIMIT_MEMLOCK) is not fatal. */
	if (mlock(&ctx->keys, sizeof(ctx->keys)) != 0)
		log_msg(LOG_WARN, "mlock of worker keys failed");
	return 0;
}

void context_close(struct context *ctx)
{
	sodium_memzero(&ctx->keys, sizeof(ctx->keys));
	arena_free(ctx->arena);
	db_free(ctx->db);
	cache_free(ctx->cache);
	feed_cache_free(ctx->feed_cache);
}

int context_open(struct context *ctx, const struct config *cfg,
                 struct shm_region *shm, int slot)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->cfg = cfg;
	ctx->shm = shm;
	ctx->slot = slot;
	ctx->arena = arena_new();
	ctx->db = db_new(cfg->database_url, cfg->db_statement_timeout_ms);
	ctx->cache = cache_new(cfg->redis_url, cfg->redis_timeout_ms);
	ctx->feed_cache = feed_cache_new();
	if (ctx->arena == NULL || ctx->db == NULL || ctx->cache == NULL || ctx->feed_cache == NULL)
		return -1;
	db_listen(ctx->db, FEED_CHANNEL);
	/* The blocklist is read once per worker; an unreadable one stops the worker (logged). */
	if (guard_load_blocklist(cfg) != 0)
		return -1;
	return derive_keys(ctx);
}
