/*
 * oauth.h — third-party clients (OAuth 2.1, docs/oauth.md): registered
 * clients and PKCE (RFC 7636, S256 only); oauth_code.h has the codes.
 *
 * A client is public: it has an id and redirect URIs, no secret, and
 * proves it is the one that started a flow by PKCE alone. A redirect URI
 * is matched character for character with one registered for the client.
 */
#ifndef SOTTO_OAUTH_H
#define SOTTO_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct request;

#define OAUTH_CLIENT_ID_BYTES 16
#define OAUTH_CLIENT_ID_CHARS 22
#define OAUTH_CLIENT_NAME_MAX 64      /* characters (UTF-8) */
#define OAUTH_REDIRECT_URI_MAX 512    /* bytes */
#define OAUTH_REDIRECT_URIS_MAX 8     /* per client */
#define OAUTH_CHALLENGE_CHARS 43      /* base64url SHA-256 */
#define OAUTH_VERIFIER_MIN 43         /* RFC 7636 section 4.1 */
#define OAUTH_VERIFIER_MAX 128
#define OAUTH_STATE_MAX 512           /* bytes of an opaque state echoed back */

/* A registered client, as a flow needs it (arena strings). */
struct oauth_client {
	int64_t pk;
	const char *id;
	const char *name;
};

/* True for 22 base64url characters: the shape of a client id. */
bool oauth_client_id_valid(const char *id);

/*
 * True for a redirect URI a client may register: at most
 * OAUTH_REDIRECT_URI_MAX printable ASCII bytes, no fragment, and either
 * https://host..., http:// on a loopback host (127.0.0.1, [::1],
 * localhost: RFC 8252 section 7.3), or a private-use scheme containing a
 * dot (com.example.app:/cb, RFC 8252 section 7.1).
 */
bool oauth_redirect_uri_valid(const char *uri);

/* True for a PKCE code_challenge: 43 base64url characters. */
bool oauth_challenge_valid(const char *challenge);

/*
 * True when verifier is a PKCE code_verifier (43..128 characters of
 * [A-Za-z0-9-._~]) and base64url(SHA-256(verifier)) equals challenge,
 * compared in constant time (RFC 7636 section 4.6).
 */
bool oauth_pkce_s256_ok(const char *verifier, const char *challenge);

/*
 * The internal key of client id into *pk: 1, 0 when there is no such
 * client, -1 when the database failed.
 */
int oauth_client_pk(struct request *req, const char *id, int64_t *pk)
    __attribute__((warn_unused_result));

/*
 * The client id with redirect_uri registered for it, character for
 * character: 1 with *out filled, 0 when there is no such client or the
 * URI is not one of its own, -1 when the database failed.
 */
int oauth_client_find(struct request *req, const char *id, const char *redirect_uri,
                      struct oauth_client *out) __attribute__((warn_unused_result));

/* True when s is exactly n base64url characters. */
bool oauth_b64url_chars(const char *s, size_t n);

#endif
