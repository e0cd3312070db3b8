/*
 * password.c — Argon2id hashing and verification under a pool-wide cap.
 *
 * Each hash takes about 67 ms of one core and 64 MiB, so an unbounded
 * number of them would let a few clients stall every worker and exhaust
 * memory. A counter in shared memory admits at most
 * cfg->pwhash_concurrency at a time; the rest wait for a slot up to
 * cfg->pwhash_wait_ms (polling, so never longer), requests that solved a
 * proof of work first, and then get 503. Each check that finds every slot
 * busy is counted (pow_note_hash_busy): that count is what raises the
 * login and register difficulty, so a flood soon meets 428 before it can
 * reach a slot.
 */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "config.h"
#include "context.h"
#include "http.h"
#include "log.h"
#include "password.h"
#include "pow.h"
#include "shm.h"
#include "util.h"

#define SLOT_POLL_US 5000   /* how often a waiting check looks for a free slot */

/*
 * A hash of a random 32-byte password nobody knows, at the INTERACTIVE
 * parameters (m=65536 KiB, t=2, p=1). Verifying against it costs what
 * verifying a real hash costs, so a login for an unknown account takes
 * as long as one with a wrong password. test_password.c checks that the
 * parameters still match libsodium's preset.
 */
const char password_dummy_hash[] =
	"$argon2id$v=19$m=65536,t=2,p=1$2u1510J3DW27/gCabcreyQ$"
	"0K/O8Ln6cc6F/7V5TP5y41Ox1t8YiBJ+AchtQe311Rs";

/* Take a hash slot if one is free now; false when all are busy. */
static bool slot_try(struct context *ctx)
{
	_Atomic int *inflight = &ctx->shm->pwhash_inflight;
	int n = atomic_load(inflight);

	while (n < ctx->cfg->pwhash_concurrency) {
		if (atomic_compare_exchange_weak(inflight, &n, n + 1)) {
			/* Marked so the master returns the slot if this worker dies. */
			atomic_store(&ctx->shm->workers[ctx->slot].hashing, 1);
			return true;
		}
	}
	return false;
}

/* A free slot for this waiter: the proved first, the others when none of those waits. */
static bool slot_try_waiting(struct context *ctx, bool proved)
{
	return (proved || atomic_load(&ctx->shm->pwhash_waiting_proved) == 0) && slot_try(ctx);
}

/* Mark (or unmark) this worker as a proved waiter, pool-wide. */
static void waiting_proved_set(struct context *ctx, bool on)
{
	struct shm_region *shm = ctx->shm;

	if (on) {
		atomic_store(&shm->workers[ctx->slot].waiting_proved, 1);
		atomic_fetch_add(&shm->pwhash_waiting_proved, 1);
	} else if (atomic_exchange(&shm->workers[ctx->slot].waiting_proved, 0) != 0) {
		atomic_fetch_sub(&shm->pwhash_waiting_proved, 1);
	}
}

/*
 * Take a hash slot, waiting up to cfg->pwhash_wait_ms for one; proved
 * (the request solved a proof of work) goes before those that did not.
 * False when none came free in time.
 */
static bool slot_take(struct context *ctx, bool proved)
{
	uint64_t deadline, now;
	bool got;

	if (slot_try_waiting(ctx, proved))
		return true;
	pow_note_hash_busy(ctx->shm, util_wall_us() / 1000000);
	deadline = util_now_us() + (uint64_t)ctx->cfg->pwhash_wait_ms * 1000;
	if (proved)
		waiting_proved_set(ctx, true);
	for (got = false; !got && (now = util_now_us()) < deadline; ) {
		uint64_t nap = deadline - now < SLOT_POLL_US ? deadline - now : SLOT_POLL_US;
		struct timespec ts = { 0, (long)nap * 1000 };

		nanosleep(&ts, NULL);
		got = slot_try_waiting(ctx, proved);
	}
	if (proved)
		waiting_proved_set(ctx, false);
	return got;
}

static void slot_give(struct context *ctx)
{
	if (atomic_exchange(&ctx->shm->workers[ctx->slot].hashing, 0) != 0)
		atomic_fetch_sub(&ctx->shm->pwhash_inflight, 1);
}

static int busy_reply(struct request *req)
{
	return http_unavailable(req, "too many password checks at once, retry shortly",
	                            HTTP_RETRY_AFTER_BUSY);
}

/*
 * Hash under a slot (waiting for one unless only_if_free): 0, 1 when no
 * slot came free, -1 when hashing failed.
 */
static int hash_in_slot(struct context *ctx, bool only_if_free, bool proved, const char *pw,
                        size_t len, char out[PASSWORD_HASH_MAX])
{
	int rc;

	if (!(only_if_free ? slot_try(ctx) : slot_take(ctx, proved)))
		return 1;
	rc = crypto_pwhash_str(out, pw, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
	                       crypto_pwhash_MEMLIMIT_INTERACTIVE);
	slot_give(ctx);
	if (rc != 0) {
		log_msg(LOG_ERROR, "password hashing failed (out of memory?)");
		return -1;
	}
	return 0;
}

int password_hash_if_free(struct context *ctx, const char *pw, size_t len,
                          char out[PASSWORD_HASH_MAX])
{
	return hash_in_slot(ctx, true, false, pw, len, out) == 0 ? 0 : -1;
}

int password_hash_or_reply(struct request *req, const char *pw, size_t len,
                           char out[PASSWORD_HASH_MAX])
{
	switch (hash_in_slot(req->ctx, false, req->pow_bits > 0, pw, len, out)) {
	case 0:
		return 0;
	case 1:
		return busy_reply(req);
	default:
		return http_error(req, 500, "internal", "internal error");
	}
}

int password_verify_or_reply(struct request *req, const char *stored,
                             const char *pw, size_t len, bool *ok, bool *rehash)
{
	struct context *ctx = req->ctx;
	const char *against = stored != NULL ? stored : password_dummy_hash;
	bool match;

	*ok = false;
	*rehash = false;
	if (!slot_take(ctx, req->pow_bits > 0))
		return busy_reply(req);
	match = crypto_pwhash_str_verify(against, pw, len) == 0;
	slot_give(ctx);
	if (stored == NULL)
		return 0;
	*ok = match;
	*rehash = match && crypto_pwhash_str_needs_rehash(stored,
	                                                  crypto_pwhash_OPSLIMIT_INTERACTIVE,
	                                                  crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0;
	return 0;
}
