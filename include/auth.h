/*
 * auth.h — who is asking: bearer tokens checked once in dispatch, and the
 * account record handlers get.
 *
 * A request on a ROUTE_AUTH route (or a ROUTE_AUTH_OPT route that sends
 * Authorization) passes only with a valid token (token.h) that has not
 * been revoked (Redis "rv:<jti>", set by logout until the token's expiry)
 * for an account that still exists. Every failure is 401 unauthorized;
 * Redis or PostgreSQL down is 503.
 *
 * Accounts are found by keyed hashes, never by stored identifiers: the
 * database holds BLAKE2b(lookup key, "acct:" + account_id) and, for key
 * accounts, BLAKE2b(lookup key, "ed25519:" + public key), so a leaked
 * database neither lists login ids nor links an Ed25519 key to an account.
 */
#ifndef SOTTO_AUTH_H
#define SOTTO_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "token.h"

struct request;
struct worker;

#define AUTH_HASH_BYTES 32
#define AUTH_ID_BYTES 16            /* random account id: 128 bits, 22 chars base64url */
#define AUTH_ID_CHARS 22

enum account_auth {
	ACCOUNT_PASSWORD = 1,
	ACCOUNT_KEY = 2,
};

struct account {
	int64_t pk;                     /* internal; never leaves the server */
	char id[TOKEN_SUB_MAX + 1];     /* public account id (from the token) */
	int64_t day_joined;
	double trust;                   /* 0..1 */
	enum account_auth auth;
	uint32_t wrap_version;          /* master key version of wrapped_key */
	unsigned char wrapped_key[CRYPTO_WRAPPED_BYTES];
	const unsigned char *x25519_sealed; /* sealed X25519 public key or NULL (arena) */
	size_t x25519_sealed_len;
	struct token_claims token;      /* the token this request came with */
};

/* Lookup hash of a public account id (22 base64url characters). */
void auth_id_hash(const struct worker *w, const char *account_id,
                  unsigned char out[AUTH_HASH_BYTES]);

/* Lookup hash of an Ed25519 public key. */
void auth_key_hash(const struct worker *w, const unsigned char pk[32],
                   unsigned char out[AUTH_HASH_BYTES]);

/*
 * The shared check (dispatch.c). Sets req->account, req->account_id and
 * req->account_pk when a valid token is present. Returns 0 to go on or the
 * error status it set (401 unauthorized, 503 unavailable).
 */
int auth_or_reply(struct request *req);

/*
 * The data key of the request's account, unwrapped into key (caller wipes
 * it with sodium_memzero). 0, or -1 when it cannot be unwrapped (its master
 * key version is no longer configured).
 */
int auth_data_key(const struct request *req, unsigned char key[CRYPTO_KEY_BYTES])
    __attribute__((warn_unused_result));

/*
 * Revoke one token until its expiry (Redis SET rv:<jti> NX EX). 0, or -1
 * when Redis is unavailable.
 */
int auth_revoke(struct request *req, const struct token_claims *t)
    __attribute__((warn_unused_result));

#endif
