/*
 * worker.c — one FastCGI worker: its context (connections opened after
 * fork, caches, keys derived and locked in memory) and the accept loop.
 *
 * The loop stops when worker_stop is set by SIGTERM/SIGQUIT, which are
 * only deliverable between requests (see stop_window()); the master gives
 * the listening socket a receive timeout, so an idle accept() returns at
 * least once a second and notices. A request already accepted is always
 * finished first.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <sodium.h>

#include "arena.h"
#include "auth.h"
#include "cache.h"
#include "config.h"
#include "context.h"
#include "db.h"
#include "dispatch.h"
#include "feed_cache.h"
#include "guard.h"
#include "ipban.h"
#include "log.h"
#include "revocation.h"
#include "shm.h"
#include "standby.h"
#include "util.h"
#include "worker.h"

volatile sig_atomic_t worker_stop;

static void on_stop(int sig)
{
	(void)sig;
	worker_stop = 1;
}

static sigset_t stop_signals;

/*
 * The stop signals stay blocked except in stop_window(): libfcgi's
 * OS_Accept() waits in select() for the first bytes of a just-accepted
 * unix connection and closes the connection when that select() fails,
 * and select() fails with EINTR on any handled signal, SA_RESTART or not.
 * A stop signal delivered there would drop a request. Blocked, it stays
 * pending; the master's SO_RCVTIMEO makes an idle accept() return at
 * least once a second, so the loop still notices it promptly.
 */
static int install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGQUIT, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0)
		return -1;
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0 || sigaction(SIGHUP, &sa, NULL) != 0)
		return -1;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGQUIT);
	sigaddset(&stop_signals, SIGINT);
	return sigprocmask(SIG_SETMASK, &stop_signals, NULL);
}

/* Let a pending stop signal run its handler, between two requests only. */
static void stop_window(void)
{
	(void)sigprocmask(SIG_UNBLOCK, &stop_signals, NULL);
	(void)sigprocmask(SIG_BLOCK, &stop_signals, NULL);
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

static void worker_close(struct context *ctx)
{
	sodium_memzero(&ctx->keys, sizeof(ctx->keys));
	arena_free(ctx->arena);
	db_free(ctx->db);
	standby_free(ctx->standby);
	db_free(ctx->db_read);
	cache_free(ctx->cache);
	feed_cache_free(ctx->feed_cache);
	ipban_cache_free(ctx->ipban);
	auth_token_cache_free(ctx->tokens);
}

static int worker_open(struct context *ctx, const struct config *cfg,
                       struct shm_region *shm, int slot)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->cfg = cfg;
	ctx->shm = shm;
	ctx->slot = slot;
	ctx->arena = arena_new();
	ctx->db = db_new(cfg->database_url, cfg->db_statement_timeout_ms);
	ctx->cache = cfg->redis_sentinels[0] != '\0'
	             ? cache_new_sentinel(cfg->redis_sentinels, cfg->redis_master_name,
	                                  cfg->redis_master_user, cfg->redis_master_password,
	                                  cfg->redis_timeout_ms)
	             : cache_new(cfg->redis_url, cfg->redis_timeout_ms);
	ctx->feed_cache = feed_cache_new();
	ctx->ipban = ipban_cache_new();
	ctx->tokens = auth_token_cache_new();
	if (ctx->arena == NULL || ctx->db == NULL || ctx->cache == NULL ||
	    ctx->feed_cache == NULL || ctx->ipban == NULL || ctx->tokens == NULL)
		return -1;
	if (cfg->database_read_url[0] != '\0' &&
	    ((ctx->db_read = db_new(cfg->database_read_url, cfg->db_statement_timeout_ms)) == NULL ||
	     (ctx->standby = standby_new(ctx->db_read)) == NULL))
		return -1;
	db_listen(ctx->db, FEED_CHANNEL);
	cache_on_connect(ctx->cache, revocation_restore, NULL);
	/* The blocklist is read once per worker; an unreadable one stops the worker (logged). */
	if (guard_load_blocklist(cfg) != 0)
		return -1;
	return derive_keys(ctx);
}

/*
 * Publish the worker's heap as glibc's allocator counts it (mallinfo2) in
 * its shared-memory slot for /metrics: the bytes in use (mmapped blocks
 * included), and the bytes malloc holds without handing them out (freed
 * chunks it keeps: fragmentation, and the top it has not trimmed). At most
 * once a second: mallinfo2 walks every free list.
 */
static void heap_report(struct shm_worker *w, uint64_t *next_us)
{
	uint64_t now = util_now_us();
	struct mallinfo2 mi;

	if (now < *next_us)
		return;
	*next_us = now + 1000000;
	mi = mallinfo2();
	atomic_store_explicit(&w->heap_used, mi.uordblks + mi.hblkhd, memory_order_relaxed);
	atomic_store_explicit(&w->heap_free, mi.fordblks, memory_order_relaxed);
}

int worker_main(const struct config *cfg, struct shm_region *shm, int slot,
                int listen_fd)
{
	struct context ctx;
	FCGX_Request fr;
	uint64_t heap_next_us = 0;
	int rc = 1;

	log_set_component("worker");
	if (install_signals() != 0 || sodium_init() < 0 || FCGX_Init() != 0) {
		log_msg(LOG_ERROR, "worker setup failed");
		return 1;
	}
	if (worker_open(&ctx, cfg, shm, slot) != 0) {
		log_msg(LOG_ERROR, "worker setup failed: out of memory, bad key or blocklist");
		goto out;
	}
	/* Connect eagerly so the first request does not pay for it; failure is fine. */
	(void)db_ready(ctx.db);
	(void)cache_ready(ctx.cache);
	if (FCGX_InitRequest(&fr, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0)
		goto out;
	while (stop_window(), !worker_stop) {
		if (FCGX_Accept_r(&fr) < 0) {
			/* EAGAIN (receive timeout) or a failed connection. */
			continue;
		}
		atomic_store_explicit(&shm->workers[slot].busy, 1, memory_order_relaxed);
		dispatch_request(&ctx, &fr);
		FCGX_Finish_r(&fr);
		/* A handler that failed mid-transaction must not leak it into the next request. */
		db_rollback(ctx.db);
		arena_reset(ctx.arena);
		atomic_fetch_add_explicit(&shm->workers[slot].requests, 1,
		                          memory_order_relaxed);
		heap_report(&shm->workers[slot], &heap_next_us);
		atomic_store_explicit(&shm->workers[slot].busy, 0, memory_order_relaxed);
	}
	FCGX_Free(&fr, 0);
	rc = 0;
out:
	worker_close(&ctx);
	return rc;
}
