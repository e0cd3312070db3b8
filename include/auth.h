/*
 * auth.h — who is asking: bearer tokens checked once in dispatch, and the
 * account record handlers get.
 *
 * A request on a ROUTE_AUTH route (or a ROUTE_AUTH_OPT route that sends
 * Authorization) passes only with a valid token (token.h)
 * whose session has not ended (session.h: logout, DELETE /me/sessions/{id}
 * and a reused refresh token end one) for an account that still exists.
 * Every failure is 401 unauthorized; Redis or PostgreSQL down is 503.
 *
 * One Redis round trip answers all of it on the common path:
 *   MGET rs:<sid> gone:<h> ac:<h>:<j> ag:<h> [rw:<h>]
 * where h is the account's lookup hash (hex) and j the token's (hex of
 * BLAKE2b keyed with the lookup key over "jti:" + jti, so no key names a
 * token id): "rs" marks an ended session (until its last access token
 * expires), "gone" a deleted account (set before its rows go, until its
 * last token expires), "ac" caches the account record for this token for
 * AUTH_CACHE_TTL seconds, and "ag" is the account's generation, bumped by
 * every change; on a read the standby may answer, "rw" is the account's
 * last write (standby.h). A miss reads PostgreSQL, which also requires the token's
 * session row to be there (ending a session deletes it first): a Redis
 * that lost "rs" (flushed, or a failover to a replica that never saw it)
 * cannot revive a session once the cached records from before are gone
 * (revocation.h drops them on a new Redis server).
 *
 * Redis is not trusted with identity. The record is sealed (cachemac.h)
 * under its own key name ac:<h>:<j>, so it names the pk of the account
 * the token's sub hashes to and nothing else: a forged record, or one
 * moved from another account or token, is a miss. It carries the
 * generation it was read under and its own expiry: a record of a former
 * generation (before a change, a deletion) is a miss, and an old record
 * copied back opens at most AUTH_CACHE_TTL seconds after it was written.
 * What a Redis writer can still do: delete "rs" or "gone" and copy back a
 * record the server wrote within the last AUTH_CACHE_TTL seconds, which
 * lets an ended session's token, or a deleted account's token, pass for
 * what is left of those seconds; after them, PostgreSQL decides. It
 * cannot make a token pass for another account, nor revive a token for
 * longer.
 *
 * Which tokens of an account still work is decided by PostgreSQL, which
 * Redis only caches: each token carries the account's token generation at
 * issue (token.h "gen"). Changing the password moves accounts.token_gen on
 * and records the changing token's jti in accounts.token_keep, so from the
 * commit on a token passes only when its generation is the current one or
 * it is that kept token. The cached record carries both and is dropped
 * before and after the change; a Redis that loses it reads them again from
 * PostgreSQL. Deletion removes the row (and "gone" answers first).
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

struct arena;
struct request;
struct auth_token_cache;
struct context;

#define AUTH_HASH_BYTES 32
#define AUTH_ID_BYTES 16            /* random account id: 128 bits, 22 chars base64url */
#define AUTH_ID_CHARS 22
#define AUTH_CACHE_TTL 30           /* seconds an account record stays cached (and replayable) */

enum account_auth {
	ACCOUNT_PASSWORD = 1,
	ACCOUNT_KEY = 2,
};

struct account {
	int64_t pk;                     /* internal; never leaves the server */
	char id[TOKEN_SUB_MAX + 1];     /* public account id */
	unsigned char id_hash[AUTH_HASH_BYTES];
	int64_t day_joined;
	double trust;                   /* 0..1 */
	enum account_auth auth;
	int64_t token_gen;              /* tokens of another generation are ended... */
	char token_keep[TOKEN_JTI_MAX + 1]; /* ...except this jti ("" = none) */

	/* loaded only when a handler needs the data key (auth_data_key) */
	bool keys_loaded;
	uint32_t wrap_version;          /* master key version of wrapped_key */
	unsigned char wrapped_key[CRYPTO_WRAPPED_BYTES];
	const unsigned char *id_sealed; /* the account id, sealed (arena) */
	size_t id_sealed_len;

	struct token_claims token;      /* the token this request came with */
	/* its read-your-writes mark, as Redis holds it (standby.h); NULL none */
	const char *written_mark;
	size_t written_mark_len;
};

/*
 * A worker's cache of session tokens that passed verification (auth.c),
 * for its context; NULL when out of memory. Freed (wiped) with
 * auth_token_cache_free(); NULL is allowed there.
 */
struct auth_token_cache *auth_token_cache_new(void);
void auth_token_cache_free(struct auth_token_cache *c);

/* Lookup hash of a public account id (22 base64url characters). */
void auth_id_hash(const struct context *ctx, const char *account_id,
                  unsigned char out[AUTH_HASH_BYTES]);

/* The Redis key of an account's read-your-writes mark (standby.h), "rw:<h>"; NULL on OOM. */
const char *auth_written_key(struct arena *a, const unsigned char id_hash[AUTH_HASH_BYTES]);

/* Lookup hash of an Ed25519 public key. */
void auth_key_hash(const struct context *ctx, const unsigned char pk[32],
                   unsigned char out[AUTH_HASH_BYTES]);

/*
 * Load the account of an Ed25519 key hash from the database, keys
 * included, with its id opened from id_sealed. Returns 1 when found, 0
 * when there is no such account, -1 when the database failed or the
 * account's data key cannot be read.
 */
int auth_load_by_key_hash(struct request *req, const unsigned char hash[AUTH_HASH_BYTES],
                          struct account *acc) __attribute__((warn_unused_result));

/* The same for the account of internal key pk (a session's account). */
int auth_load_by_pk(struct request *req, int64_t pk, struct account *acc)
    __attribute__((warn_unused_result));

/*
 * The associated-data location of column of the accounts row of pk;
 * row_buf (at least 24 bytes) holds the row text f points to.
 */
void auth_account_field(struct crypto_field *f, char *row_buf, size_t row_buf_len,
                        int64_t pk, const char *column);

/*
 * The cached account record's text, before it is sealed (cachemac.h):
 * auth_record_text writes it for generation gen on arena a (NULL on OOM);
 * auth_record_parse fills pk, day_joined, trust, auth and the token fields
 * from an opened record, for the current generation gen: 0, or -1 for
 * anything auth_record_text cannot have written for gen (fuzzed:
 * tests/fuzz/fuzz_record.c).
 */
char *auth_record_text(struct arena *a, const char *gen, const struct account *acc);
int auth_record_parse(const char *text, const char *gen, struct account *acc)
    __attribute__((warn_unused_result));

/*
 * Make every cached record of an account stale after changing its row
 * (trust, token generation...), by moving its generation, so the next request
 * of any worker reads the database. Call after the change is committed.
 * 0, or -1 when Redis is unavailable (the records then expire by
 * themselves within AUTH_CACHE_TTL seconds).
 */
int auth_forget(struct request *req, const unsigned char id_hash[AUTH_HASH_BYTES])
    __attribute__((warn_unused_result));

/*
 * Mark an account deleted in Redis before its rows are deleted, so that
 * no worker on any host accepts its tokens from then on, cached record or
 * not; auth_undelete() undoes it when the deletion fails. 0 or -1.
 */
int auth_mark_deleted(struct request *req, const struct account *acc)
    __attribute__((warn_unused_result));
void auth_undelete(struct request *req, const struct account *acc);

/*
 * The shared check (dispatch.c). Sets req->account, req->account_id and
 * req->account_pk when a valid token is present. Returns 0 to go on or the
 * error status it set (401 unauthorized, 503 unavailable).
 */
int auth_or_reply(struct request *req);

/*
 * The data key of acc, unwrapped into key (caller wipes it with
 * sodium_memzero); the wrapped key is read from the database on first
 * use. 0, or -1 when it cannot be read or unwrapped (database failure:
 * see db_down(); or its master key version is no longer configured).
 */
int auth_data_key(struct request *req, struct account *acc,
                  unsigned char key[CRYPTO_KEY_BYTES])
    __attribute__((warn_unused_result));

#endif
