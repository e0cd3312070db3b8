/*
 * password.h — Argon2id password hashes (crypto_pwhash_str, INTERACTIVE
 * preset: about 67 ms and 64 MiB each on the reference machine).
 *
 * Hashing is the most expensive thing a request can ask for, so at most
 * SOTTO_PWHASH_CONCURRENCY hashes (default: one per core) run at once
 * across the whole pool; the counter lives in shared memory and a worker
 * that dies holding a slot gives it back (shm_worker_gone). A request
 * that finds every slot busy waits for one up to SOTTO_PWHASH_WAIT_MS
 * (default 500 ms; one that solved a proof of work is served first), then
 * gets 503 with Retry-After. Checks that find every slot busy raise the
 * login and register difficulty (pow.h).
 */
#ifndef SOTTO_PASSWORD_H
#define SOTTO_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#include <sodium.h>

struct request;
struct context;

#define PASSWORD_MIN_BYTES 10
#define PASSWORD_MAX_BYTES 1024
#define PASSWORD_HASH_MAX crypto_pwhash_STRBYTES

/* The hash an unknown account is verified against (exported for the unit test). */
extern const char password_dummy_hash[];

/*
 * Hash pw[0..len) into out (a NUL-terminated "$argon2id$..." string).
 * Returns 0, or the error status it set: 503 when no hash slot came free
 * within the wait, 500 when hashing fails (out of memory).
 */
int password_hash_or_reply(struct request *req, const char *pw, size_t len,
                           char out[PASSWORD_HASH_MAX]);

/*
 * Hash like password_hash_or_reply() but without replying or waiting: 0 on
 * success, -1 when no slot is free now or hashing failed.
 */
int password_hash_if_free(struct context *ctx, const char *pw, size_t len,
                          char out[PASSWORD_HASH_MAX]) __attribute__((warn_unused_result));

/*
 * Verify pw against stored (NULL: an unknown account; a dummy hash is
 * verified instead, so the answer takes as long). *ok gets the outcome and
 * *rehash whether the stored hash uses other parameters than today's.
 * Returns 0, or the error status it set (503 when no slot came free).
 */
int password_verify_or_reply(struct request *req, const char *stored,
                             const char *pw, size_t len, bool *ok, bool *rehash);

#endif
