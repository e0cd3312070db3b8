/*
 * dpop.h — DPoP proofs (RFC 9449): parsing and verification of the
 * proof JWT, the JWK thumbprint (RFC 7638) a bound token carries, and
 * the normalised form of htu. No I/O: replay of a jti is the caller's
 * business (it must remember jti for DPOP_IAT_WINDOW_S).
 *
 * Accepted proofs, as strictly as token.c takes session tokens: compact
 * serialization of at most DPOP_MAX_LEN base64url characters in three
 * non-empty parts; a header that is a JSON object with exactly "typ"
 * ("dpop+jwt"), "alg" ("EdDSA" or "ES256", spelled exactly) and "jwk"
 * (a public key: OKP/Ed25519 with "x", or EC/P-256 with "x" and "y",
 * each the canonical base64url of 32 bytes, nothing else, in particular
 * no private "d"); a signature that verifies with that key over the
 * first two parts (Ed25519 with libsodium; ES256 with OpenSSL's
 * libcrypto, the 64-byte R || S of RFC 7518 section 3.4) before any
 * claim is read; claims "jti" (1..DPOP_JTI_MAX printable ASCII), "htm"
 * equal to the request method, "htu" equal to the request URI once both
 * are normalised (dpop_htu_normalise), "iat" an integer within
 * DPOP_IAT_WINDOW_S of now either way, and "ath" (base64url SHA-256 of
 * the access token) when an access token is presented, absent otherwise.
 */
#ifndef SOTTO_DPOP_H
#define SOTTO_DPOP_H

#include <stdint.h>

struct arena;

#define DPOP_MAX_LEN 2048
#define DPOP_JTI_MAX 64
#define DPOP_IAT_WINDOW_S 60
#define DPOP_URI_MAX 1024
#define DPOP_JKT_CHARS 43        /* base64url of a SHA-256 */

struct dpop_proof {
	char jkt[DPOP_JKT_CHARS + 1];  /* the key's RFC 7638 thumbprint */
	char jti[DPOP_JTI_MAX + 1];
	int64_t iat;
};

/*
 * The form of an absolute http(s) URI that htu is compared in (RFC 9449
 * section 4.3 asks for RFC 3986 sections 6.2.2 and 6.2.3): query and
 * fragment dropped, scheme and host in lower case, the scheme's default
 * port dropped, percent-encodings in upper case and unreserved ones
 * decoded, dot segments removed, an empty path made "/". NULL (on arena
 * a) for anything else: another scheme, userinfo, a bad port or
 * percent-encoding, a character outside RFC 3986, over DPOP_URI_MAX.
 */
char *dpop_htu_normalise(struct arena *a, const char *uri);

/*
 * The RFC 7638 thumbprint of a JWK given by its members (crv, kty, x and,
 * for EC, y; y NULL for OKP) into out (DPOP_JKT_CHARS + 1). 0 or -1.
 */
int dpop_thumbprint(const char *crv, const char *kty, const char *x, const char *y,
                    char out[DPOP_JKT_CHARS + 1]) __attribute__((warn_unused_result));

/*
 * Verify proof for a request of method htm to uri htu at time now, with
 * access_token the token it comes with (NULL: none, so no "ath" may be
 * present). 0 with *out filled, -1 for any failure (no reason given:
 * every failure is the same answer to the client).
 */
int dpop_verify(struct arena *a, const char *proof, const char *htm, const char *htu,
                int64_t now, const char *access_token, struct dpop_proof *out)
    __attribute__((warn_unused_result));

#endif
