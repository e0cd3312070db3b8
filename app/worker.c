/*
 * worker.c — one FastCGI worker: connections opened after fork, keys
 * derived and locked in memory, and the accept loop.
 *
 * The loop stops when worker_stop is set by SIGTERM/SIGQUIT, which are
 * only deliverable between requests (see stop_window()); the master gives
 * the listening socket a receive timeout, so an idle accept() returns at
 * least once a second and notices. A request already accepted is always
 * finished first.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <sodium.h>

#include "arena.h"
#include "cache.h"
#include "config.h"
#include "db.h"
#include "dispatch.h"
#include "feed.h"
#include "feed_cache.h"
#include "guard.h"
#include "keys.h"
#include "log.h"
#include "revocation.h"
#include "shm.h"
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

int worker_keys_derive(const struct config *cfg, struct worker_keys *keys)
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

static int derive_keys(struct worker *w)
{
	if (worker_keys_derive(w->cfg, &w->keys) != 0)
		return -1;
	/* Keys must never reach swap; failure (RLIMIT_MEMLOCK) is not fatal. */
	if (mlock(&w->keys, sizeof(w->keys)) != 0)
		log_msg(LOG_WARN, "mlock of worker keys failed");
	return 0;
}

static void worker_close(struct worker *w)
{
	sodium_memzero(&w->keys, sizeof(w->keys));
	arena_free(w->arena);
	db_free(w->db);
	cache_free(w->cache);
	feed_cache_free(w->feed_cache);
}

static int worker_open(struct worker *w, const struct config *cfg,
                       struct shm_region *shm, int slot)
{
	memset(w, 0, sizeof(*w));
	w->cfg = cfg;
	w->shm = shm;
	w->slot = slot;
	w->arena = arena_new();
	w->db = db_new(cfg->database_url, cfg->db_statement_timeout_ms);
	w->cache = cfg->redis_sentinels[0] != '\0'
	           ? cache_new_sentinel(cfg->redis_sentinels, cfg->redis_master_name,
	                                cfg->redis_timeout_ms)
	           : cache_new(cfg->redis_url, cfg->redis_timeout_ms);
	w->feed_cache = feed_cache_new();
	if (w->arena == NULL || w->db == NULL || w->cache == NULL || w->feed_cache == NULL)
		return -1;
	db_listen(w->db, FEED_CHANNEL);
	cache_on_connect(w->cache, revocation_restore, w->db);
	/* The blocklist is read once per worker; an unreadable one stops the worker (logged). */
	if (guard_load_blocklist(cfg) != 0)
		return -1;
	return derive_keys(w);
}

int worker_main(const struct config *cfg, struct shm_region *shm, int slot,
                int listen_fd)
{
	struct worker w;
	FCGX_Request fr;
	int rc = 1;

	log_set_component("worker");
	if (install_signals() != 0 || sodium_init() < 0 || FCGX_Init() != 0) {
		log_msg(LOG_ERROR, "worker setup failed");
		return 1;
	}
	if (worker_open(&w, cfg, shm, slot) != 0) {
		log_msg(LOG_ERROR, "worker setup failed: out of memory, bad key or blocklist");
		goto out;
	}
	/* Connect eagerly so the first request does not pay for it; failure is fine. */
	(void)db_ready(w.db);
	(void)cache_ready(w.cache);
	if (FCGX_InitRequest(&fr, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0)
		goto out;
	while (stop_window(), !worker_stop) {
		if (FCGX_Accept_r(&fr) < 0) {
			/* EAGAIN (receive timeout) or a failed connection. */
			continue;
		}
		atomic_store_explicit(&shm->workers[slot].busy, 1, memory_order_relaxed);
		dispatch_request(&w, &fr);
		FCGX_Finish_r(&fr);
		/* A handler that failed mid-transaction must not leak it into the next request. */
		db_rollback(w.db);
		arena_reset(w.arena);
		atomic_fetch_add_explicit(&shm->workers[slot].requests, 1,
		                          memory_order_relaxed);
		atomic_store_explicit(&shm->workers[slot].busy, 0, memory_order_relaxed);
	}
	FCGX_Free(&fr, 0);
	rc = 0;
out:
	worker_close(&w);
	return rc;
}
