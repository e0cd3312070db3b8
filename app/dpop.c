/*
 * dpop.c — DPoP proofs (RFC 9449): see dpop.h for what is accepted.
 *
 * The order follows token.c: shape first, then the header (only to learn
 * the key), then the signature, and only then the claims, so the claims
 * parser only ever sees bytes the key holder signed. libjwt 1.10 is not
 * used here: it cannot verify EdDSA, and it takes the algorithm from the
 * header; every check is done by hand instead.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sodium.h>

#include "arena.h"
#include "dpop.h"
#include "json.h"
#include "util.h"

#define DPOP_JSON_DEPTH 4
#define KEY_COORD_CHARS 43          /* base64url of 32 bytes */

enum dpop_alg { ALG_EDDSA, ALG_ES256 };

/* The verification key of a proof's header. */
struct dpop_key {
	enum dpop_alg alg;
	unsigned char x[32], y[32];     /* y for P-256 only */
	char jkt[DPOP_JKT_CHARS + 1];
};

/* ---- htu --------------------------------------------------------------- */

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 3986 pchar other than unreserved and pct-encoded: sub-delims, ':' and '@'. */
static bool path_char(unsigned char c)
{
	return unreserved(c) || strchr("!$&'()*+,;=:@/", c) != NULL;
}

/*
 * Append the path p[0..n) to out (at *o) with percent-encodings
 * normalised (RFC 3986 6.2.2.1 and 6.2.2.2). -1 on a bad character or
 * encoding.
 */
static int path_normalise(const char *p, size_t n, char *out, size_t *o)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		int hi, lo;

		if (c != '%') {
			if (!path_char(c))
				return -1;
			out[(*o)++] = (char)c;
			continue;
		}
		if (i + 2 >= n)
			return -1;
		hi = util_hex_value(p[i + 1]);
		lo = util_hex_value(p[i + 2]);
		if (hi < 0 || lo < 0)
			return -1;
		c = (unsigned char)(hi << 4 | lo);
		if (unreserved(c)) {
			out[(*o)++] = (char)c;
		} else {
			out[(*o)++] = '%';
			out[(*o)++] = hex[hi];
			out[(*o)++] = hex[lo];
		}
		i += 2;
	}
	return 0;
}

/*
 * Remove dot segments from the absolute path s (it starts with "/"), in
 * place: the result is never longer (RFC 3986 section 5.2.4).
 */
static void remove_dots(char *s)
{
	char *out = s;
	const char *in = s;

	while (*in != '\0') {
		const char *seg = in + 1;        /* *in is the '/' before it */
		size_t len = strcspn(seg, "/");
		bool last = seg[len] == '\0';

		if (len == 1 && seg[0] == '.') {
			if (last)
				*out++ = '/';
		} else if (len == 2 && seg[0] == '.' && seg[1] == '.') {
			while (out > s && *--out != '/')
				;
			if (last)
				*out++ = '/';
		} else {
			memmove(out, in, len + 1);
			out += len + 1;
		}
		in = seg + len;
	}
	*out = '\0';
	if (out == s) {
		s[0] = '/';
		s[1] = '\0';
	}
}

/*
 * Host checked and lower-cased into out at *o: a reg-name (unreserved,
 * pct-free sub-delims) or an IP literal in brackets (hex digits, ':' and
 * '.'). -1 for anything else.
 */
static int host_normalise(const char *h, size_t n, char *out, size_t *o)
{
	bool literal = n >= 2 && h[0] == '[' && h[n - 1] == ']';
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h[i];
		bool ok;

		if (literal)
			ok = (i == 0 || i == n - 1) || util_hex_value((char)c) >= 0 || c == ':' ||
			     c == '.';
		else
			ok = unreserved(c) || strchr("!$&'()*+,;=", c) != NULL;
		if (!ok || c == '\0')
			return -1;
		out[(*o)++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
	}
	return 0;
}

char *dpop_htu_normalise(struct arena *a, const char *uri)
{
	const char *p, *auth, *path, *colon, *end;
	size_t n, o = 0, auth_len;
	char *out;
	bool https;
	int64_t port = -1;

	if (uri == NULL || (n = strnlen(uri, DPOP_URI_MAX + 1)) > DPOP_URI_MAX)
		return NULL;
	end = uri + strcspn(uri, "?#");
	if (strncasecmp(uri, "https://", 8) == 0) {
		https = true;
		auth = uri + 8;
	} else if (strncasecmp(uri, "http://", 7) == 0) {
		https = false;
		auth = uri + 7;
	} else {
		return NULL;
	}
	/* every byte may become three; the scheme, port and "/" fit too */
	out = arena_alloc(a, 3 * n + 16);
	if (out == NULL)
		return NULL;
	memcpy(out, https ? "https://" : "http://", https ? 8 : 7);
	o = https ? 8 : 7;
	path = auth + strcspn(auth, "/?#");
	auth_len = (size_t)(path - auth);
	if (memchr(auth, '@', auth_len) != NULL)
		return NULL;
	/* the port is after the last ':' that follows any IP literal's ']' */
	colon = NULL;
	for (p = auth; p < path; p++) {
		if (*p == ']')
			colon = NULL;
		else if (*p == ':')
			colon = p;
	}
	if (colon != NULL && colon + 1 < path) {
		char digits[6];
		size_t dl = (size_t)(path - colon - 1);

		if (dl > 5)
			return NULL;
		memcpy(digits, colon + 1, dl);
		digits[dl] = '\0';
		if (strspn(digits, "0123456789") != dl ||
		    util_parse_int64(digits, 0, 65535, &port) != 0)
			return NULL;
	}
	if (host_normalise(auth, (size_t)((colon != NULL ? colon : path) - auth), out, &o) != 0)
		return NULL;
	if (port >= 0 && port != (https ? 443 : 80))
		o += (size_t)snprintf(out + o, 8, ":%lld", (long long)port);
	if (path >= end) {
		out[o++] = '/';
		out[o] = '\0';
		return out;
	}
	{
		size_t start = o;

		if (path_normalise(path, (size_t)(end - path), out, &o) != 0)
			return NULL;
		out[o] = '\0';
		remove_dots(out + start);
	}
	return out;
}

/* ---- JWK ----------------------------------------------------------------- */

int dpop_thumbprint(const char *crv, const char *kty, const char *x, const char *y,
                    char out[DPOP_JKT_CHARS + 1])
{
	unsigned char digest[crypto_hash_sha256_BYTES];
	char json[256];
	int n;

	/* RFC 7638 section 3.2: the required members, sorted, no whitespace */
	if (y != NULL)
		n = snprintf(json, sizeof(json), "{\"crv\":\"%s\",\"kty\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}",
		             crv, kty, x, y);
	else
		n = snprintf(json, sizeof(json), "{\"crv\":\"%s\",\"kty\":\"%s\",\"x\":\"%s\"}",
		             crv, kty, x);
	if (n <= 0 || (size_t)n >= sizeof(json))
		return -1;
	crypto_hash_sha256(digest, (const unsigned char *)json, (size_t)n);
	sodium_bin2base64(out, DPOP_JKT_CHARS + 1, digest, sizeof(digest),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return 0;
}

/* A 32-byte coordinate: exactly the canonical base64url of 32 bytes. */
static int coord(json_object *jwk, const char *name, unsigned char out[32], const char **text)
{
	size_t len = 0, got = 0;

	if (json_get_string(jwk, name, text, &len) != 1 || len != KEY_COORD_CHARS ||
	    util_b64url_decode(*text, len, out, 32, &got) != 0 || got != 32)
		return -1;
	return 0;
}

/* The string member name equals want exactly. */
static bool member_is(json_object *o, const char *name, const char *want)
{
	const char *v;
	size_t len;

	return json_get_string(o, name, &v, &len) == 1 && len == strlen(want) &&
	       strcmp(v, want) == 0;
}

/* The public key of jwk for alg, and its thumbprint. 0 or -1. */
static int jwk_key(json_object *jwk, struct dpop_key *k)
{
	const char *x, *y;

	if (k->alg == ALG_EDDSA) {
		if (json_object_object_length(jwk) != 3 || !member_is(jwk, "kty", "OKP") ||
		    !member_is(jwk, "crv", "Ed25519") || coord(jwk, "x", k->x, &x) != 0)
			return -1;
		return dpop_thumbprint("Ed25519", "OKP", x, NULL, k->jkt);
	}
	if (json_object_object_length(jwk) != 4 || !member_is(jwk, "kty", "EC") ||
	    !member_is(jwk, "crv", "P-256") || coord(jwk, "x", k->x, &x) != 0 ||
	    coord(jwk, "y", k->y, &y) != 0)
		return -1;
	return dpop_thumbprint("P-256", "EC", x, y, k->jkt);
}

/* ---- the proof ----------------------------------------------------------- */

/* Decode the base64url part p[0..n) and parse it as a JSON object. */
static json_object *part_json(struct arena *a, const char *p, size_t n)
{
	unsigned char *raw = arena_alloc(a, n + 1);
	size_t len = 0;
	const char *why;
	json_object *o;

	if (raw == NULL || util_b64url_decode(p, n, raw, n, &len) != 0)
		return NULL;
	o = json_parse_strict(a, (const char *)raw, len, DPOP_JSON_DEPTH, &why);
	return o != NULL && json_object_is_type(o, json_type_object) ? o : NULL;
}

/* The header: exactly typ, alg and jwk, as dpop.h says. 0 with *k filled, or -1. */
static int header_key(struct arena *a, const char *p, size_t n, struct dpop_key *k)
{
	json_object *h = part_json(a, p, n), *jwk;

	if (h == NULL || json_object_object_length(h) != 3 || !member_is(h, "typ", "dpop+jwt"))
		return -1;
	if (member_is(h, "alg", "EdDSA"))
		k->alg = ALG_EDDSA;
	else if (member_is(h, "alg", "ES256"))
		k->alg = ALG_ES256;
	else
		return -1;
	if (!json_object_object_get_ex(h, "jwk", &jwk) || !json_object_is_type(jwk, json_type_object))
		return -1;
	return jwk_key(jwk, k);
}

/* ECDSA P-256 with SHA-256 over msg; sig is R || S (RFC 7518 3.4). 0 or -1. */
static int es256_verify(const struct dpop_key *k, const unsigned char *msg, size_t len,
                        const unsigned char sig[64])
{
	static char group[] = "prime256v1";
	unsigned char pub[65], *der = NULL;
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *md = NULL;
	ECDSA_SIG *s = NULL;
	BIGNUM *r = NULL, *sv = NULL;
	int der_len, rc = -1;

	pub[0] = 0x04;      /* uncompressed point; OpenSSL checks it is on the curve */
	memcpy(pub + 1, k->x, 32);
	memcpy(pub + 33, k->y, 32);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub));
	params[2] = OSSL_PARAM_construct_end();
	if ((pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(pctx) != 1 ||
	    EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	if ((s = ECDSA_SIG_new()) == NULL || (r = BN_bin2bn(sig, 32, NULL)) == NULL ||
	    (sv = BN_bin2bn(sig + 32, 32, NULL)) == NULL || ECDSA_SIG_set0(s, r, sv) != 1)
		goto out;
	r = sv = NULL;      /* owned by s now */
	if ((der_len = i2d_ECDSA_SIG(s, &der)) <= 0)
		goto out;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_DigestVerify(md, der, (size_t)der_len, msg, len) != 1)
		goto out;
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	BN_free(r);
	BN_free(sv);
	ECDSA_SIG_free(s);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(pctx);
	return rc;
}

/* The signature part p[0..n) over msg[0..len) with k. 0 or -1. */
static int signature_ok(const struct dpop_key *k, const char *msg, size_t len,
                        const char *p, size_t n)
{
	unsigned char sig[64];
	size_t got = 0;

	if (n != 86 || util_b64url_decode(p, n, sig, sizeof(sig), &got) != 0 || got != 64)
		return -1;
	if (k->alg == ALG_EDDSA)
		return crypto_sign_verify_detached(sig, (const unsigned char *)msg, len, k->x) == 0
		       ? 0 : -1;
	return es256_verify(k, (const unsigned char *)msg, len, sig);
}

/* jti: 1..DPOP_JTI_MAX printable ASCII characters. */
static int claim_jti(json_object *c, char out[DPOP_JTI_MAX + 1])
{
	const char *v;
	size_t len, i;

	if (json_get_string(c, "jti", &v, &len) != 1 || len == 0 || len > DPOP_JTI_MAX)
		return -1;
	for (i = 0; i < len; i++)
		if (v[i] < 0x21 || v[i] > 0x7e)
			return -1;
	memcpy(out, v, len + 1);
	return 0;
}

/* ath must be base64url(SHA-256(token)) when a token comes, absent otherwise. */
static int claim_ath(json_object *c, const char *token)
{
	unsigned char digest[crypto_hash_sha256_BYTES];
	char want[DPOP_JKT_CHARS + 1];
	const char *v;
	size_t len;
	int has = json_get_string(c, "ath", &v, &len);

	if (token == NULL)
		return json_object_object_get_ex(c, "ath", NULL) ? -1 : 0;
	if (has != 1 || len != DPOP_JKT_CHARS)
		return -1;
	crypto_hash_sha256(digest, (const unsigned char *)token, strlen(token));
	sodium_bin2base64(want, sizeof(want), digest, sizeof(digest),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return sodium_memcmp(want, v, DPOP_JKT_CHARS) == 0 ? 0 : -1;
}

/* The signed claims, as dpop.h says. 0 or -1. */
static int claims_ok(struct arena *a, const char *p, size_t n, const char *htm,
                     const char *htu, int64_t now, const char *token, struct dpop_proof *out)
{
	json_object *c = part_json(a, p, n);
	const char *v, *mine, *theirs;
	size_t len;

	if (c == NULL || claim_jti(c, out->jti) != 0 || !member_is(c, "htm", htm))
		return -1;
	if (json_get_string(c, "htu", &v, &len) != 1 || len != strlen(v))
		return -1;
	mine = dpop_htu_normalise(a, htu);
	theirs = dpop_htu_normalise(a, v);
	if (mine == NULL || theirs == NULL || strcmp(mine, theirs) != 0)
		return -1;
	if (json_get_int64(c, "iat", 0, INT64_MAX - 1, &out->iat) != 1 ||
	    out->iat > now + DPOP_IAT_WINDOW_S || out->iat < now - DPOP_IAT_WINDOW_S)
		return -1;
	return claim_ath(c, token);
}

int dpop_verify(struct arena *a, const char *proof, const char *htm, const char *htu,
                int64_t now, const char *access_token, struct dpop_proof *out)
{
	const char *dot1, *dot2;
	struct dpop_key k;
	size_t n;

	if (proof == NULL || htm == NULL || htu == NULL ||
	    (n = strnlen(proof, DPOP_MAX_LEN + 1)) > DPOP_MAX_LEN ||
	    strspn(proof, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") != n)
		return -1;
	dot1 = strchr(proof, '.');
	dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
	if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL ||
	    dot1 == proof || dot2 == dot1 + 1 || dot2[1] == '\0')
		return -1;
	memset(&k, 0, sizeof(k));
	if (header_key(a, proof, (size_t)(dot1 - proof), &k) != 0)
		return -1;
	if (signature_ok(&k, proof, (size_t)(dot2 - proof), dot2 + 1, strlen(dot2 + 1)) != 0)
		return -1;
	if (claims_ok(a, dot1 + 1, (size_t)(dot2 - dot1 - 1), htm, htu, now, access_token, out) != 0)
		return -1;
	memcpy(out->jkt, k.jkt, sizeof(out->jkt));
	return 0;
}
