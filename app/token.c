/*
 * token.c — session tokens: HS256 JWTs issued and verified through
 * libjwt 1.10.2, with every check that version leaves out done here.
 *
 * Measured on Debian 12 (libjwt0 1.10.2-1+deb12u1: jansson, OpenSSL 3,
 * the CVE-2024-25189 patch), with a 32-byte key, by decoding hand-made
 * tokens (tests/unit/test_token.c repeats the ones that matter):
 *
 * - Decoding with key NULL/0 or with key_len 0 accepts a token signed
 *   with any key, and jwt_get_alg() then reports JWT_ALG_NONE even when
 *   the header says HS256.
 * - The header alg is matched case-insensitively (strcasecmp): "none",
 *   "noNE", "hs256" all parse. alg "none" (any case) decoded WITH a key
 *   fails with EINVAL, whether the signature part is empty, "AAAA" or a
 *   valid HS256 MAC; without a key it is accepted.
 * - alg "HS512" or "HS384" signed with our 32-byte key is ACCEPTED
 *   (jwt_decode 0, jwt_get_alg HS512/HS384): the key length is not
 *   checked against the algorithm, and the header picks the algorithm.
 *   A header saying HS512 over an HS256 MAC fails (EINVAL).
 * - Header typ is compared case-insensitively ("jwt" passes, "JWS" fails)
 *   and ignored when it is not a string (typ 5 passes).
 * - Header and payload JSON are both parsed (json_loads, flags 0) BEFORE
 *   the signature is checked, so jansson sees unauthenticated input.
 * - Duplicate keys are accepted, the last one wins: payload
 *   {"sub":"a","sub":"b"} gives sub "b"; header {"alg":"none","alg":"HS256"}
 *   decodes as HS256.
 * - A payload that is valid JSON but not an object ([1]) decodes (0);
 *   every grant is then absent.
 * - exp 9223372036854775808 (2^63) and 1e400 fail to decode (EINVAL);
 *   2^63-1 and -1 decode and come back from jwt_get_grant_int unchanged.
 * - jwt_get_grant_int sets errno 0 and returns 0 for a grant that is a
 *   float (2000000000.5, 2e9), a string ("2000000000"), true or null: the
 *   same as an integer 0. A missing grant returns -1 with errno ENOENT.
 *   jwt_get_grants_json(name) returns the grant as compact JSON
 *   ("2000000000.5", "\"2000000000\"", "2000000000.0" for 2e9), or NULL
 *   with errno EINVAL when it is absent; jwt_get_headers_json likewise.
 * - String escapes \u0000, invalid UTF-8 and trailing bytes after the JSON
 *   fail to decode; a four-part token fails; a signature with a
 *   non-canonical last base64url character fails.
 * - jwt_add_grant of an existing grant fails with EEXIST; jwt_set_alg
 *   NONE with a key fails with EINVAL; jwt_encode_str emits the header
 *   {"alg":"HS256","typ":"JWT"} (keys sorted). 1.10.2 has no
 *   jwt_free_str: its strings are plain malloc()ed and freed with free().
 *
 * So token_verify checks the shape of the token first, then the HS256 MAC
 * itself with libsodium (constant time whatever libjwt build is installed,
 * strict base64url, and jansson only ever parses bytes we signed), and
 * only then hands the token to jwt_decode (with the key, never without).
 * After decoding it requires jwt_get_alg() == HS256 and the header alg
 * spelled exactly "HS256", typ absent or exactly "JWT", and checks every
 * claim by hand, integers by their JSON text as well as by value. With
 * the MAC checked first, the alg checks cannot fail on any token libjwt
 * 1.10.2 accepts; they stay as a guard of their own, should the
 * library or the order change.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jwt.h>
#include <sodium.h>

#include "arena.h"
#include "scope.h"
#include "token.h"
#include "util.h"

#define TOKEN_ISSUER "sotto"
#define TOKEN_AUDIENCE "sotto"
#define TOKEN_TYPE "access"
#define TOKEN_KEY_BYTES 32
#define TOKEN_JTI_BYTES 16
/* base64url of the 32-byte HMAC-SHA256, without padding */
#define TOKEN_SIG_CHARS 43

_Static_assert(sizeof(long) == sizeof(int64_t),
               "libjwt 1.10 carries integer grants as long");
_Static_assert(TOKEN_KEY_BYTES == crypto_auth_hmacsha256_KEYBYTES,
               "the token key is an HMAC-SHA256 key");

/* True for [A-Za-z0-9_-], the base64url alphabet (RFC 4648 section 5). */
static bool b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* True when s is 1..max base64url characters. NULL is false. */
static bool b64url_text(const char *s, size_t max)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= max || !b64url_char(s[i]))
			return false;
	}
	return true;
}

/*
 * Check the compact serialization before anything parses it: length
 * 1..TOKEN_MAX_LEN, only base64url characters and exactly two dots, all
 * three parts non-empty (so an unsigned "alg none" token, whose third
 * part is empty, never gets further). On success *len is the length and
 * *sig the offset of the signature part. Returns 0 or -1.
 */
static int token_shape(const char *token, size_t *len, size_t *sig)
{
	size_t n, i, dots = 0, part = 0;

	n = strnlen(token, TOKEN_MAX_LEN + 1);
	if (n == 0 || n > TOKEN_MAX_LEN)
		return -1;
	for (i = 0; i < n; i++) {
		if (token[i] == '.') {
			if (part == 0 || ++dots > 2)
				return -1;
			part = 0;
			*sig = i + 1;
		} else if (b64url_char(token[i])) {
			part++;
		} else {
			return -1;
		}
	}
	if (dots != 2 || part == 0)
		return -1;
	*len = n;
	return 0;
}

/*
 * Verify the signature part as HMAC-SHA256(key, header "." payload) with
 * libsodium: it must be exactly the 43-character canonical base64url of
 * the MAC, compared in constant time. libjwt checks again afterwards;
 * this check is what keeps unauthenticated bytes away from its JSON
 * parser and keeps the comparison constant-time whatever libjwt build is
 * installed. Returns 0 when the MAC matches, -1 otherwise.
 */
static int token_mac_ok(const unsigned char key[TOKEN_KEY_BYTES],
                        const char *token, size_t len, size_t sig)
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	size_t mac_len = 0;
	int rc = -1;

	if (len - sig != TOKEN_SIG_CHARS)
		goto out;
	if (util_b64url_decode(token + sig, TOKEN_SIG_CHARS, mac, sizeof(mac),
	                       &mac_len) != 0 || mac_len != sizeof(mac))
		goto out;
	if (crypto_auth_hmacsha256_verify(mac, (const unsigned char *)token,
	                                  sig - 1, key) != 0)
		goto out;
	rc = 0;
out:
	return rc;
}

/*
 * The header value name as compact JSON text, compared with want; when
 * optional, an absent value passes. jwt_get_headers_json returns NULL with
 * errno EINVAL for an absent header; any other NULL is a failure.
 * Returns 0 or -1.
 */
static int header_is(jwt_t *jwt, const char *name, const char *want,
                     bool optional)
{
	char *raw;
	int rc = -1;

	errno = 0;
	raw = jwt_get_headers_json(jwt, name);
	if (raw == NULL) {
		if (optional && errno == EINVAL)
			rc = 0;
		goto out;
	}
	if (strcmp(raw, want) == 0)
		rc = 0;
out:
	free(raw);
	return rc;
}

/*
 * After jwt_decode: the algorithm libjwt used must be HS256, the header
 * must spell it exactly "HS256" (libjwt also takes "hs256"), and typ,
 * when present, must be the string "JWT" exactly (libjwt compares it
 * case-insensitively and skips non-strings). Returns 0 or -1.
 */
static int token_header_ok(jwt_t *jwt)
{
	if (jwt_get_alg(jwt) != JWT_ALG_HS256)
		return -1;
	if (header_is(jwt, "alg", "\"HS256\"", false) != 0 ||
	    header_is(jwt, "typ", "\"JWT\"", true) != 0)
		return -1;
	return 0;
}

/* The string claim name must be present and equal to want. 0 or -1. */
static int claim_equals(jwt_t *jwt, const char *name, const char *want)
{
	const char *v = jwt_get_grant(jwt, name);

	return v != NULL && strcmp(v, want) == 0 ? 0 : -1;
}

/*
 * Copy the string claim name into dst (max + 1 bytes) when it is 1..max
 * base64url characters. Returns 0 or -1.
 */
static int claim_id(jwt_t *jwt, const char *name, char *dst, size_t max)
{
	const char *v = jwt_get_grant(jwt, name);

	if (!b64url_text(v, max))
		return -1;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

/*
 * Read the integer claim name into *out; it must be a JSON integer in
 * 0..INT64_MAX. jwt_get_grant_int alone cannot tell a missing claim from
 * a float, string, bool or null one (the latter all read as 0 with errno
 * 0), so the claim's JSON text must also be a plain decimal of the same
 * value. Returns 0 or -1.
 */
static int claim_int(jwt_t *jwt, const char *name, int64_t *out)
{
	char *raw = NULL;
	int64_t parsed;
	long v;
	int rc = -1;

	errno = 0;
	v = jwt_get_grant_int(jwt, name);
	if (errno != 0)
		goto out;
	raw = jwt_get_grants_json(jwt, name);
	if (raw == NULL)
		goto out;
	if (util_parse_int64(raw, 0, INT64_MAX, &parsed) != 0 || parsed != v)
		goto out;
	*out = parsed;
	rc = 0;
out:
	free(raw);
	return rc;
}

/* True when the token has a claim name, of whatever type. */
static bool claim_present(jwt_t *jwt, const char *name)
{
	char *raw = jwt_get_grants_json(jwt, name);
	bool present = raw != NULL;

	free(raw);
	return present;
}

/* The generation claim: an integer in 0..TOKEN_GEN_MAX. 0 or -1. */
static int claim_gen(jwt_t *jwt, int64_t *out)
{
	int64_t v;

	if (claim_int(jwt, "gen", &v) != 0 || v > TOKEN_GEN_MAX)
		return -1;
	*out = v;
	return 0;
}

/* The scope claim: an integer in 0..SCOPE_ALL; absent, every scope. 0 or -1. */
static int claim_scope(jwt_t *jwt, unsigned *out)
{
	int64_t v;

	if (!claim_present(jwt, "scp")) {
		*out = SCOPE_ALL;
		return 0;
	}
	if (claim_int(jwt, "scp", &v) != 0 || v > SCOPE_ALL)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/*
 * The confirmation claim of a bound token (RFC 9449 section 6.1): absent
 * (jkt ""), or exactly {"jkt":"<thumbprint>"} as token_fill writes it and
 * jansson prints it back, compact. 0 or -1.
 */
static int claim_cnf(jwt_t *jwt, char jkt[TOKEN_JKT_CHARS + 1])
{
	static const char head[] = "{\"jkt\":\"", tail[] = "\"}";
	size_t n, h = sizeof(head) - 1, t = sizeof(tail) - 1;
	char *raw;
	int rc = -1;

	jkt[0] = '\0';
	errno = 0;
	raw = jwt_get_grants_json(jwt, "cnf");
	if (raw == NULL)
		return errno == EINVAL ? 0 : -1;   /* absent, or a failure that must not unbind */
	n = strlen(raw);
	if (n != h + TOKEN_JKT_CHARS + t || memcmp(raw, head, h) != 0 ||
	    memcmp(raw + h + TOKEN_JKT_CHARS, tail, t) != 0)
		goto out;
	memcpy(jkt, raw + h, TOKEN_JKT_CHARS);
	jkt[TOKEN_JKT_CHARS] = '\0';
	if (!b64url_text(jkt, TOKEN_JKT_CHARS) || strlen(jkt) != TOKEN_JKT_CHARS) {
		jkt[0] = '\0';
		goto out;
	}
	rc = 0;
out:
	free(raw);
	return rc;
}

/*
 * Check the claims of a decoded, signature-checked token and fill *c:
 * iss, aud and typ fixed strings, sub, sid and jti base64url, iat and exp
 * integers with iat <= now + skew, iat < exp, exp > now and
 * exp - iat <= max_lifetime_s. iat and exp are non-negative, so none of
 * the arithmetic can overflow. Returns 0 or -1.
 */
static int token_claims_ok(jwt_t *jwt, int64_t now, int max_lifetime_s,
                           struct token_claims *c)
{
	if (claim_equals(jwt, "iss", TOKEN_ISSUER) != 0 ||
	    claim_equals(jwt, "aud", TOKEN_AUDIENCE) != 0 ||
	    claim_equals(jwt, "typ", TOKEN_TYPE) != 0)
		return -1;
	if (claim_id(jwt, "sub", c->sub, TOKEN_SUB_MAX) != 0 ||
	    claim_id(jwt, "sid", c->sid, TOKEN_SID_MAX) != 0 ||
	    claim_id(jwt, "jti", c->jti, TOKEN_JTI_MAX) != 0)
		return -1;
	if (claim_int(jwt, "iat", &c->iat) != 0 ||
	    claim_int(jwt, "exp", &c->exp) != 0)
		return -1;
	/* Tokens issued before generations existed carry none: generation 0. */
	if (claim_present(jwt, "gen") && claim_gen(jwt, &c->gen) != 0)
		return -1;
	if (claim_scope(jwt, &c->scope) != 0 || claim_cnf(jwt, c->jkt) != 0)
		return -1;
	if (c->iat - TOKEN_CLOCK_SKEW_S > now || c->iat >= c->exp ||
	    c->exp <= now || c->exp - c->iat > max_lifetime_s)
		return -1;
	return 0;
}

int token_verify(const unsigned char key[32], const char *token, int64_t now,
                 int max_lifetime_s, struct token_claims *out)
{
	struct token_claims c;
	jwt_t *jwt = NULL;
	size_t len = 0, sig = 0;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	if (token == NULL || max_lifetime_s <= 0)
		goto out;
	if (token_shape(token, &len, &sig) != 0)
		goto out;
	/* With no key libjwt 1.10 skips the signature check: never do that. */
	if (key == NULL)
		goto out;
	if (token_mac_ok(key, token, len, sig) != 0)
		goto out;
	if (jwt_decode(&jwt, token, key, TOKEN_KEY_BYTES) != 0 || jwt == NULL)
		goto out;
	if (token_header_ok(jwt) != 0)
		goto out;
	if (token_claims_ok(jwt, now, max_lifetime_s, &c) != 0)
		goto out;
	if (out != NULL)
		*out = c;
	rc = 0;
out:
	jwt_free(jwt);
	return rc;
}

/*
 * Set the header and the claims of a token to be issued. libjwt copies
 * every value. Returns 0 or -1.
 */
static int token_fill(jwt_t *jwt, const char *sub, const char *sid, const char *jti,
                      int64_t gen, unsigned scope, const char *jkt, int64_t iat,
                      int64_t exp)
{
	char cnf[sizeof("{\"cnf\":{\"jkt\":\"\"}}") + TOKEN_JKT_CHARS];

	if (jwt_add_header(jwt, "typ", "JWT") != 0)
		return -1;
	if (jwt_add_grant(jwt, "iss", TOKEN_ISSUER) != 0 ||
	    jwt_add_grant(jwt, "aud", TOKEN_AUDIENCE) != 0 ||
	    jwt_add_grant(jwt, "typ", TOKEN_TYPE) != 0 ||
	    jwt_add_grant(jwt, "sub", sub) != 0 ||
	    jwt_add_grant(jwt, "sid", sid) != 0 ||
	    jwt_add_grant(jwt, "jti", jti) != 0)
		return -1;
	if (jwt_add_grant_int(jwt, "iat", (long)iat) != 0 ||
	    jwt_add_grant_int(jwt, "exp", (long)exp) != 0 ||
	    jwt_add_grant_int(jwt, "gen", (long)gen) != 0 ||
	    jwt_add_grant_int(jwt, "scp", (long)scope) != 0)
		return -1;
	if (jkt[0] == '\0')
		return 0;
	snprintf(cnf, sizeof(cnf), "{\"cnf\":{\"jkt\":\"%s\"}}", jkt);
	return jwt_add_grants_json(jwt, cnf) == 0 ? 0 : -1;
}

/*
 * Contract in token.h. Also refuses a sub or sid that is empty or not base64url,
 * lifetime_s <= 0, a negative now, and an exp that would overflow. The
 * result is never longer than TOKEN_MAX_LEN, so token_verify accepts it.
 */
char *token_issue(struct arena *a, const unsigned char key[32], const char *sub,
                  const char *sid, int64_t gen, unsigned scope, const char *jkt,
                  int64_t now, int lifetime_s, struct token_claims *out)
{
	jwt_t *jwt = NULL;
	char *encoded = NULL, *result = NULL;
	const char *jti;

	if (a == NULL || key == NULL || !b64url_text(sub, TOKEN_SUB_MAX) ||
	    !b64url_text(sid, TOKEN_SID_MAX))
		goto out;
	if (jkt == NULL)
		jkt = "";
	if (jkt[0] != '\0' && (strlen(jkt) != TOKEN_JKT_CHARS || !b64url_text(jkt, TOKEN_JKT_CHARS)))
		goto out;
	if (lifetime_s <= 0 || now < 0 || now > INT64_MAX - lifetime_s ||
	    gen < 0 || gen > TOKEN_GEN_MAX || scope > SCOPE_ALL)
		goto out;
	jti = util_random_id(a, TOKEN_JTI_BYTES);
	if (jti == NULL || !b64url_text(jti, TOKEN_JTI_MAX))
		goto out;
	if (jwt_new(&jwt) != 0 || jwt == NULL)
		goto out;
	if (jwt_set_alg(jwt, JWT_ALG_HS256, key, TOKEN_KEY_BYTES) != 0)
		goto out;
	if (token_fill(jwt, sub, sid, jti, gen, scope, jkt, now, now + lifetime_s) != 0)
		goto out;
	encoded = jwt_encode_str(jwt);
	if (encoded == NULL || strlen(encoded) > TOKEN_MAX_LEN)
		goto out;
	result = arena_strdup(a, encoded);
	if (result == NULL)
		goto out;
	if (out != NULL) {
		memset(out, 0, sizeof(*out));
		memcpy(out->sub, sub, strlen(sub) + 1);
		memcpy(out->jti, jti, strlen(jti) + 1);
		memcpy(out->sid, sid, strlen(sid) + 1);
		out->gen = gen;
		out->scope = scope;
		memcpy(out->jkt, jkt, strlen(jkt) + 1);
		out->iat = now;
		out->exp = now + lifetime_s;
	}
out:
	free(encoded); /* libjwt 1.10.2 has no jwt_free_str; it uses malloc */
	jwt_free(jwt);  /* also scrubs libjwt's copy of the key */
	return result;
}
