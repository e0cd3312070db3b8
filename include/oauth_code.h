/*
 * oauth_code.h — OAuth authorization codes (RFC 6749 section 4.1).
 *
 * An authorization code is 32 random bytes (43 characters). Redis keeps
 * it under "oc:" + hex of a keyed BLAKE2b of the code, never the code
 * itself, for OAUTH_CODE_TTL seconds; the value is sealed (cachemac.h)
 * under that key name and bound to the client id and redirect URI, so a
 * code presented by another client or with another redirect URI does not
 * open. Taking a code replaces its value at once (one atomic script), so
 * it works once; the exchange then records the session it opened, and a
 * second use of the code ends that session (RFC 6749 section 4.1.2).
 */
#ifndef SOTTO_OAUTH_CODE_H
#define SOTTO_OAUTH_CODE_H

#include <stdint.h>

#include "oauth.h"
#include "session.h"

struct request;

#define OAUTH_CODE_BYTES 32
#define OAUTH_CODE_CHARS 43
#define OAUTH_CODE_TTL 60             /* seconds a code can be exchanged */
#define OAUTH_CODE_USED_TTL 600       /* seconds a used code is remembered */

/* What a code stands for. */
struct oauth_grant {
	int64_t account_pk;
	int64_t client_pk;
	unsigned scope;                  /* scope.h bits */
	char challenge[OAUTH_CHALLENGE_CHARS + 1];
};

/*
 * A new code for g, bound to client_id and redirect_uri: the code text on
 * the arena, or NULL when Redis is unavailable or out of memory.
 */
const char *oauth_code_issue(struct request *req, const char *client_id,
                             const char *redirect_uri, const struct oauth_grant *g);

enum oauth_code_state {
	OAUTH_CODE_FAILED = -1,  /* Redis unavailable */
	OAUTH_CODE_INVALID = 0,  /* unknown, expired, or another client's or URI's */
	OAUTH_CODE_FRESH = 1,    /* taken now: *g filled, no one can take it again */
	OAUTH_CODE_REUSED = 2,   /* exchanged before: session_id names what it opened */
};

/*
 * Take code for client_id and redirect_uri. On OAUTH_CODE_REUSED,
 * session_id (SESSION_ID_CHARS + 1 bytes) gets the session the first
 * exchange opened.
 */
enum oauth_code_state oauth_code_take(struct request *req, const char *code,
                                      const char *client_id, const char *redirect_uri,
                                      struct oauth_grant *g, char *session_id);

/*
 * Record that code (taken by this request) opened session_id, so that a
 * second use ends it. 0, or -1 when Redis is unavailable.
 */
int oauth_code_used(struct request *req, const char *code, const char *client_id,
                    const char *redirect_uri, const char *session_id)
    __attribute__((warn_unused_result));

#endif
