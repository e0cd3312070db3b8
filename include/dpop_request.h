/*
 * dpop_request.h — the DPoP proof (dpop.h, RFC 9449) a request comes
 * with, checked against that very request, and remembered so that it
 * works once.
 *
 * The proof is the one "DPoP" header of the request (two of them, or
 * one that is not a valid proof, is a failure: RFC 9449 section 4.3).
 * htm is the request method and htu the URI it was sent to: this
 * server's origin (http_self_origin: the host and port nginx accepted
 * the request for) and the path (the query is not part of htu); dpop.c
 * compares both after normalising them.
 *
 * Replay (section 11.1): each accepted proof's jti is recorded in Redis
 * under "dj:" + a keyed hash of (key thumbprint, jti), until the proof's
 * iat window has closed; a proof whose key is already there is refused.
 * Redis is shared by every worker and host, so a proof works once
 * anywhere. The key name holds neither the jti nor the thumbprint.
 *
 * Every DPoP refusal is 401 unauthorized with WWW-Authenticate naming the
 * DPoP scheme and the algorithms accepted (section 7.1).
 */
#ifndef SOTTO_DPOP_REQUEST_H
#define SOTTO_DPOP_REQUEST_H

#include <stdint.h>

#include "dpop.h"

struct request;

/* The algorithms a proof may use, as the metadata document lists them. */
#define DPOP_ALGS_SUPPORTED "EdDSA", "ES256"
#define DPOP_ALGS_HEADER "EdDSA ES256"

enum dpop_found {
	DPOP_NONE,      /* the request has no DPoP header */
	DPOP_VALID,     /* *out holds a proof that verified for this request */
	DPOP_INVALID,   /* two headers, or one that does not verify */
};

/*
 * The request's proof, verified (dpop_verify) for its method and URI at
 * now, with access_token the token it must be bound to through ath (NULL:
 * none, and no ath allowed). Not yet checked for replay.
 */
enum dpop_found dpop_request_proof(struct request *req, const char *access_token, int64_t now,
                                   struct dpop_proof *out);

/*
 * The Redis key that remembers p's jti (on the request arena; NULL when
 * out of memory), and in *ttl_s how long it must stay: until p's iat
 * window closes, at least one second.
 */
const char *dpop_replay_key(struct request *req, const struct dpop_proof *p, int64_t now,
                            int *ttl_s);

/*
 * For routes that take a proof to bind what they issue (login,
 * registration, refresh): 0 with jkt the thumbprint of the request's
 * verified, first-seen proof, or "" when the request has none; otherwise
 * the status it set (401 for a proof that fails or was seen before, 503
 * when Redis cannot say).
 */
int dpop_request_key_or_reply(struct request *req, int64_t now,
                              char jkt[DPOP_JKT_CHARS + 1])
    __attribute__((warn_unused_result));

/* 401 unauthorized for a DPoP failure, with its WWW-Authenticate; returns 401. */
int dpop_unauthorized(struct request *req);

#endif
