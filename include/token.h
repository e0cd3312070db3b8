/*
 * token.h — session tokens: HS256 JWTs through libjwt 1.10, with the
 * guards that version needs (it skips the signature check when
 * decoding with an empty key, takes the algorithm from the header and
 * validates no claims).
 *
 * Header {"alg":"HS256","typ":"JWT"}; claims iss "sotto", aud "sotto",
 * typ "access", sub (the public account id), sid (its session, session.h),
 * iat, exp, jti (16 random bytes, base64url), gen (the account's token
 * generation when the token was issued, see auth.h; a token without one
 * is of generation 0), scp (what it may do: scope.h bits; a token without
 * one carries every scope), and for a token bound to a DPoP key (dpop.h) cnf
 * {"jkt": <the key's RFC 7638 thumbprint>} (RFC 9449 section 6.1). The
 * key is a 32-byte subkey derived for this purpose.
 */
#ifndef SOTTO_TOKEN_H
#define SOTTO_TOKEN_H

#include <stdint.h>

struct arena;

#define TOKEN_MAX_LEN 1024        /* longer bearer strings are refused unread */
#define TOKEN_SUB_MAX 64          /* longest sub accepted */
#define TOKEN_JTI_MAX 32          /* 22 characters in practice */
#define TOKEN_SID_MAX 32          /* 22 characters in practice */
#define TOKEN_CLOCK_SKEW_S 60     /* iat may be this far in the future */
#define TOKEN_GEN_MAX 2000000000  /* fits the accounts.token_gen integer column */
#define TOKEN_JKT_CHARS 43        /* base64url of a SHA-256: a DPoP key thumbprint */

struct token_claims {
	char sub[TOKEN_SUB_MAX + 1];
	char jti[TOKEN_JTI_MAX + 1];
	char sid[TOKEN_SID_MAX + 1];
	int64_t gen;
	unsigned scope;           /* scope.h bits */
	char jkt[TOKEN_JKT_CHARS + 1];  /* the DPoP key it is bound to, "" = a bearer token */
	int64_t iat;
	int64_t exp;
};

/*
 * Issue a token for sub in session sid, of token generation gen
 * (0..TOKEN_GEN_MAX), with scopes scope (scope.h, SCOPE_ALL at most),
 * bound to the DPoP key of thumbprint jkt (NULL or "": a bearer token),
 * valid lifetime_s seconds from now (seconds since
 * the epoch): iat = now, exp = now + lifetime_s, a fresh random jti.
 * key is the 32-byte JWT subkey. The token string (at most TOKEN_MAX_LEN
 * characters) is allocated on arena a; *out (may be NULL) gets its
 * claims. NULL on failure: out of memory, a jkt that is not
 * TOKEN_JKT_CHARS base64url characters, a sub or sid that is empty,
 * longer than TOKEN_SUB_MAX (TOKEN_SID_MAX) or not base64url, lifetime_s <= 0, now < 0, or an
 * exp that would overflow.
 */
char *token_issue(struct arena *a, const unsigned char key[32], const char *sub,
                  const char *sid, int64_t gen, unsigned scope, const char *jkt,
                  int64_t now, int lifetime_s, struct token_claims *out);

/*
 * Verify a bearer token: length (1..TOKEN_MAX_LEN) and charset
 * (base64url and exactly two dots, three non-empty parts) first, then
 * the HMAC-SHA256 signature with key (checked in constant time before
 * libjwt parses anything, then again by jwt_decode), then alg == HS256,
 * header typ "JWT" if present, claims iss, aud, typ, sub, sid, jti, and iat
 * and exp as JSON integers with iat <= now + TOKEN_CLOCK_SKEW_S,
 * iat < exp, exp > now and exp - iat <= max_lifetime_s, gen (when present)
 * an integer in 0..TOKEN_GEN_MAX, scp (when present) an integer in
 * 0..SCOPE_ALL, cnf (when present) exactly
 * {"jkt":"<TOKEN_JKT_CHARS base64url>"}. Revocation (jti, gen) and the
 * proof a bound token needs are the caller's business.
 * Returns 0 and fills *out (may be NULL) when valid, -1 for any failure,
 * including a NULL token or key (no reason given: every failure is the
 * same 401 to the client). Never logs the token.
 */
int token_verify(const unsigned char key[32], const char *token, int64_t now,
                 int max_lifetime_s, struct token_claims *out)
    __attribute__((warn_unused_result));

#endif
