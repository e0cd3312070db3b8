/*
 * oauth.c — registered clients, PKCE and authorization codes (oauth.h).
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "context.h"
#include "db.h"
#include "http.h"
#include "oauth.h"
#include "util.h"

static struct db_stmt stmt_client = {
	"oauth_client_find",
	"SELECT pk, name FROM oauth_clients WHERE id = $1 AND $2 = ANY (redirect_uris)", 2, 0
};

static struct db_stmt stmt_client_pk = {
	"oauth_client_pk", "SELECT pk FROM oauth_clients WHERE id = $1", 1, 0
};

bool oauth_b64url_chars(const char *s, size_t n)
{
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n &&
	       s[n] == '\0';
}

bool oauth_client_id_valid(const char *id)
{
	return id != NULL && oauth_b64url_chars(id, OAUTH_CLIENT_ID_CHARS);
}

bool oauth_challenge_valid(const char *challenge)
{
	return challenge != NULL && oauth_b64url_chars(challenge, OAUTH_CHALLENGE_CHARS);
}

/* True when host[0..len) is a loopback name: 127.0.0.1, [::1] or localhost. */
static bool loopback_host(const char *host, size_t len)
{
	static const char *const names[] = { "127.0.0.1", "[::1]", "localhost" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == len && memcmp(names[i], host, len) == 0)
			return true;
	return false;
}

/* The authority of "scheme://authority/..." after its prefix: a non-empty host, no userinfo. */
static bool authority_ok(const char *rest, bool loopback_only)
{
	size_t auth_len = strcspn(rest, "/?#");
	const char *colon;
	size_t host_len;

	if (auth_len == 0 || memchr(rest, '@', auth_len) != NULL)
		return false;
	colon = rest[0] == '[' ? memchr(rest, ']', auth_len) : rest;
	if (colon == NULL)
		return false;
	colon = memchr(colon, ':', auth_len - (size_t)(colon - rest));
	host_len = colon != NULL ? (size_t)(colon - rest) : auth_len;
	if (host_len == 0)
		return false;
	if (colon != NULL) {
		size_t port_len = auth_len - host_len - 1;

		if (port_len == 0 || port_len > 5 || strspn(colon + 1, "0123456789") < port_len)
			return false;
	}
	return !loopback_only || loopback_host(rest, host_len);
}

/* A private-use scheme (RFC 8252 section 7.1): a reverse domain name, then ":/". */
static bool private_scheme_ok(const char *uri)
{
	size_t n = strspn(uri, "abcdefghijklmnopqrstuvwxyz0123456789.-");

	return n > 0 && uri[n] == ':' && memchr(uri, '.', n) != NULL &&
	       uri[0] >= 'a' && uri[0] <= 'z' && uri[n + 1] == '/' && uri[n + 2] != '/';
}

bool oauth_redirect_uri_valid(const char *uri)
{
	size_t n;

	if (uri == NULL || (n = strnlen(uri, OAUTH_REDIRECT_URI_MAX + 1)) == 0 ||
	    n > OAUTH_REDIRECT_URI_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (uri[i] <= ' ' || uri[i] >= 0x7f || uri[i] == '#' || uri[i] == '\\')
			return false;
	if (strncmp(uri, "https://", 8) == 0)
		return authority_ok(uri + 8, false);
	if (strncmp(uri, "http://", 7) == 0)
		return authority_ok(uri + 7, true);
	return private_scheme_ok(uri);
}

bool oauth_pkce_s256_ok(const char *verifier, const char *challenge)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
	unsigned char digest[crypto_hash_sha256_BYTES], want[crypto_hash_sha256_BYTES];
	size_t n, len = 0;
	bool ok = false;

	if (verifier == NULL || !oauth_challenge_valid(challenge))
		return false;
	n = strnlen(verifier, OAUTH_VERIFIER_MAX + 1);
	if (n < OAUTH_VERIFIER_MIN || n > OAUTH_VERIFIER_MAX || strspn(verifier, alphabet) != n)
		return false;
	if (util_b64url_decode(challenge, OAUTH_CHALLENGE_CHARS, want, sizeof(want), &len) != 0 ||
	    len != sizeof(want))
		return false;
	crypto_hash_sha256(digest, (const unsigned char *)verifier, n);
	ok = sodium_memcmp(digest, want, sizeof(digest)) == 0;
	sodium_memzero(digest, sizeof(digest));
	return ok;
}

int oauth_client_find(struct request *req, const char *id, const char *redirect_uri,
                      struct oauth_client *out)
{
	const char *params[2] = { id, redirect_uri };
	PGresult *res;

	if (!oauth_client_id_valid(id) || redirect_uri == NULL ||
	    strnlen(redirect_uri, OAUTH_REDIRECT_URI_MAX + 1) > OAUTH_REDIRECT_URI_MAX)
		return 0;
	res = db_exec(req->ctx->db, req->arena, &stmt_client, params, NULL);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1)
		return 0;
	if (util_parse_int64(PQgetvalue(res, 0, 0), 1, INT64_MAX - 1, &out->pk) != 0)
		return -1;
	out->id = arena_strdup(req->arena, id);
	out->name = arena_strdup(req->arena, PQgetvalue(res, 0, 1));
	return out->id != NULL && out->name != NULL ? 1 : -1;
}


int oauth_client_pk(struct request *req, const char *id, int64_t *pk)
{
	const char *params[1] = { id };
	PGresult *res;

	if (!oauth_client_id_valid(id))
		return 0;
	res = db_exec(req->ctx->db, req->arena, &stmt_client_pk, params, NULL);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1)
		return 0;
	return util_parse_int64(PQgetvalue(res, 0, 0), 1, INT64_MAX - 1, pk) == 0 ? 1 : -1;
}
