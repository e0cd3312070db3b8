/*
 * password.c — Argon2id hashing and verification under a pool-wide cap.
 *
 * Each hash takes about 67 ms of one core and 64 MiB, so an unbounded
 * number of them would let a few clients stall every worker and exhaust
 * memory. A counter in shared memory admits at most
 * cfg->pwhash_concurrency at a time; the rest get 503 at once.
 */
#include <stdatomic.h>
#include <string.h>

#include <sodium.h>

#include "config.h"
#include "context.h"
#include "http.h"
#include "log.h"
#include "password.h"
#include "shm.h"


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

/* Take a hash slot; false when all are busy. */
static bool slot_take(struct context *ctx)
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

/* Hash under a slot: 0, 1 when every slot is busy, -1 when hashing failed. */
static int hash_in_slot(struct context *ctx, const char *pw, size_t len,
                        char out[PASSWORD_HASH_MAX])
{
	int rc;

	if (!slot_take(ctx))
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
	return hash_in_slot(ctx, pw, len, out) == 0 ? 0 : -1;
}

int password_hash_or_reply(struct request *req, const char *pw, size_t len,
                           char out[PASSWORD_HASH_MAX])
{
	switch (hash_in_slot(req->ctx, pw, len, out)) {
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
	if (!slot_take(ctx))
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
