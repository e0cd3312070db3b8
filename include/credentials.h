/*
 * credentials.h — proving who you are: the Ed25519 challenge proof of a
 * key account and the password of a password account, for logins and for
 * the actions that ask for the credentials again (deleting the account,
 * changing the password), so that a stolen access token alone cannot do
 * them.
 *
 * A challenge (POST /auth/challenge) lives in Redis as
 * "authch:<challenge>" -> the base64url public key it was issued for, for
 * CREDENTIALS_CHALLENGE_TTL seconds, and is consumed (GETDEL) by the
 * first proof that names it, whatever the outcome. The client signs the
 * bytes "sotto-auth:" + challenge.
 */
#ifndef SOTTO_CREDENTIALS_H
#define SOTTO_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

struct request;

#define CREDENTIALS_CHALLENGE_TTL 120
#define CREDENTIALS_CHALLENGE_BYTES 32
#define CREDENTIALS_CHALLENGE_MAX_CHARS 64
#define CREDENTIALS_SIGN_PREFIX "sotto-auth:"

/* 401 invalid_credentials, the one answer to every failed proof. */
int credentials_invalid(struct request *req);

/*
 * The Ed25519 proof in body: public_key, signature (else 422 naming the
 * field), a challenge issued for that key and consumed now, and a
 * signature over "sotto-auth:" + challenge that verifies (else 401).
 * Returns 0 with pk filled, or the status it set (also 503 while Redis
 * is down, 500 when out of memory).
 */
int credentials_key_proof_or_reply(struct request *req, json_object *body,
                                   unsigned char pk[32]);

/*
 * The credentials of req->account again, from the request body: for a
 * password account {"password"} (checked against its stored hash under
 * the pool's hash-slot cap), for a key account {"public_key",
 * "challenge", "signature"} whose key is the account's own. Missing or
 * wrong: 401 invalid_credentials; a field of the wrong type: 422.
 * Returns 0 when proven, or the status it set (503 when the database,
 * Redis or every hash slot is busy).
 */
int credentials_again_or_reply(struct request *req);

#endif
