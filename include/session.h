/*
 * session.h — sessions that last: one per login or registration, kept
 * alive by rotating refresh tokens, listed and ended by their owner.
 *
 * A session is a row (id: 16 random bytes, base64url; the account; gen;
 * the day it was created and last refreshed). Access tokens carry its id
 * (token.h "sid"); ending a session marks "rs:<id>" in Redis until the
 * last access token it issued has expired, and the auth check reads
 * that key in the same MGET as the rest (auth.h), so every worker on
 * every host refuses its tokens from then on.
 *
 * Refresh token: base64url of id (16 bytes) | gen (8 bytes, big-endian)
 * | HMAC-SHA256(refresh key, "sotto-refresh" | id | gen). Nothing of it
 * is stored: the database holds only id and gen, which make no token
 * without the key (a subkey of JWT_SECRET). A refresh that presents the
 * current generation moves gen on by one in a single conditional UPDATE
 * and answers the next token; a token with a valid MAC and an older
 * generation was used before, so its session ends at once (reuse
 * detection: of a thief and the owner, whoever comes second ends both).
 *
 * A session may be bound to a DPoP key (dpop.h, RFC 9449): jkt, the
 * key's thumbprint, opened with it or set by the first refresh that
 * comes with a proof. A bound session rotates only for a proof of that
 * key, and its access tokens carry the thumbprint (token.h cnf.jkt).
 *
 * Idleness is counted in days (sessions keep no time of day): a refresh
 * token works while today < day_last_used + SOTTO_REFRESH_LIFETIME / 86400,
 * so it never outlives the configured lifetime and dies at most a day
 * earlier.
 */
#ifndef SOTTO_SESSION_H
#define SOTTO_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct cache;
struct config;
struct request;

#define SESSION_ID_BYTES 16
#define SESSION_ID_CHARS 22
#define SESSION_REFRESH_BYTES (SESSION_ID_BYTES + 8 + 32)
#define SESSION_REFRESH_CHARS 75      /* base64url of SESSION_REFRESH_BYTES */
#define SESSION_FORGET_MAX 1024       /* sessions one call marks ended */
#define SESSION_ANY_CLIENT (-1)       /* session_rotate: whichever client, or none */
#define SESSION_JKT_CHARS 43          /* a DPoP key thumbprint (dpop.h DPOP_JKT_CHARS) */

/* What session_rotate made of a refresh token. */
enum session_rotation {
	SESSION_FAILED = -1,        /* PostgreSQL or Redis failed */
	SESSION_REFUSED = 0,        /* no good (the session may have ended: session_rotate) */
	SESSION_ROTATED = 1,
	SESSION_WRONG_KEY = 2,      /* bound to a key the request proved no possession of */
};

/* What a client gets for a session it opened or refreshed (arena strings). */
struct session_grant {
	char id[SESSION_ID_CHARS + 1];
	const char *refresh_token;
	int64_t account_pk;
	int64_t client_pk;          /* the OAuth client it was opened through, 0 = none */
	unsigned scope;             /* what its tokens may do (scope.h) */
	char jkt[SESSION_JKT_CHARS + 1]; /* the DPoP key its tokens are bound to, "" = none */
};

/*
 * Open a session for account_pk through client_pk (0: none, a session of
 * the /auth routes) with scopes scope (scope.h), bound to the DPoP key of
 * thumbprint jkt ("" for none), in one INSERT (the caller may run it
 * inside its own transaction) and fill *g with its id, first refresh
 * token and binding. 0, or -1 on a database failure (see db_down(); a
 * client removed meanwhile is one) or out of memory.
 */
int session_open(struct request *req, int64_t account_pk, int64_t client_pk, unsigned scope,
                 const char *jkt, struct session_grant *g) __attribute__((warn_unused_result));

/*
 * Rotate the refresh token text for a request of client client_pk
 * (SESSION_ANY_CLIENT: whichever, or none) that proved possession of the
 * key of thumbprint jkt ("": no proof). SESSION_ROTATED with *g filled
 * (the session's id, the next token, its account, client, scopes and
 * binding: a bearer session becomes bound to jkt); SESSION_WRONG_KEY when
 * the session is bound to another key (or to one and no proof came):
 * nothing changes, the session lives on; SESSION_REFUSED for a malformed
 * token, a bad MAC, an unknown or ended session, one idle too long, a
 * reused token, or a token of another client's session (the session has
 * then ended); SESSION_FAILED when PostgreSQL or Redis failed.
 */
enum session_rotation session_rotate(struct request *req, const char *text, int64_t client_pk,
                                     const char *jkt, struct session_grant *g)
    __attribute__((warn_unused_result));

/*
 * End session id if it belongs to account_pk (account_pk 0: whoever owns
 * it): its row goes and its access tokens stop working on every worker.
 * 1 ended, 0 no such session (of that account), -1 failure.
 */
int session_end(struct request *req, const char *id, int64_t account_pk)
    __attribute__((warn_unused_result));

/*
 * Mark sessions ids[0..n) ended in Redis (their access tokens stop
 * working), in one round trip; with REDIS_SENTINELS a replica must also
 * confirm it (cache_wait_replica). For callers that delete the rows
 * themselves (a password change ends every other session). 0 or -1.
 */
int session_forget(struct request *req, const char *const *ids, size_t n)
    __attribute__((warn_unused_result));

/*
 * session_forget() for a process without a request (`sotto clients
 * remove`): through Redis connection c, scratch memory on arena a, marks
 * lasting cfg's SOTTO_TOKEN_LIFETIME and the clock skew (and, under
 * Sentinel, confirmed by a replica). At most SESSION_FORGET_MAX ids per
 * call. 0 or -1.
 */
int session_mark_ended(struct cache *c, struct arena *a, const struct config *cfg,
                       const char *const *ids, size_t n) __attribute__((warn_unused_result));

/*
 * A new access token for account_id (of token generation gen) in session
 * g, with g's scopes: the token on the arena, or NULL when out of memory.
 */
char *session_access_token(struct request *req, const char *account_id,
                           const struct session_grant *g, int64_t gen);

/* True for 22 base64url characters: the shape of a session id. */
bool session_id_valid(const char *id);

#endif
