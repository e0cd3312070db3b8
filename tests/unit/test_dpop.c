/*
 * test_dpop.c — DPoP proofs (dpop.h): htu normalisation (RFC 3986 6.2.2,
 * 6.2.3), the JWK thumbprint against RFC 8037's vector, and proofs made
 * here with libsodium (Ed25519) and OpenSSL (P-256) that verify, and the
 * ways a proof must fail.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "arena.h"
#include "dpop.h"
#include "util.h"

#define NOW INT64_C(1700000000)
#define HTU "https://api.example/me"

static int setup(void **state)
{
	*state = arena_new();
	return *state == NULL || sodium_init() < 0;
}

static int teardown(void **state)
{
	arena_free(*state);
	return 0;
}

static void assert_htu(struct arena *a, const char *in, const char *want)
{
	const char *got = dpop_htu_normalise(a, in);

	if (want == NULL) {
		if (got != NULL)
			fail_msg("%s normalised to %s, expected a refusal", in, got);
		return;
	}
	if (got == NULL)
		fail_msg("%s refused, expected %s", in, want);
	assert_string_equal(got, want);
}

static void test_htu_is_normalised_as_rfc3986_says(void **state)
{
	struct arena *a = *state;

	assert_htu(a, "https://server.example.com/token", "https://server.example.com/token");
	/* RFC 9449 4.3: query and fragment are ignored */
	assert_htu(a, "https://api.example/me?x=1#f", "https://api.example/me");
	assert_htu(a, "https://api.example/me#f?x", "https://api.example/me");
	/* 6.2.2.1 case of scheme and host; 6.2.3 default port and empty path */
	assert_htu(a, "HTTPS://API.Example:443", "https://api.example/");
	assert_htu(a, "http://api.example:80/a", "http://api.example/a");
	assert_htu(a, "https://api.example:8443/a", "https://api.example:8443/a");
	assert_htu(a, "https://api.example:/a", "https://api.example/a");
	assert_htu(a, "https://[::1]:443/a", "https://[::1]/a");
	/* 6.2.2.1 and 6.2.2.2: percent-encodings */
	assert_htu(a, "https://api.example/%7euser/a%2fb", "https://api.example/~user/a%2Fb");
	assert_htu(a, "https://api.example/%41%62", "https://api.example/Ab");
	/* 6.2.2.3: dot segments */
	assert_htu(a, "https://api.example/a/./b/../c", "https://api.example/a/c");
	assert_htu(a, "https://api.example/..", "https://api.example/");
	assert_htu(a, "https://api.example/a/.", "https://api.example/a/");
	assert_htu(a, "https://api.example/a/b/..", "https://api.example/a/");
	assert_htu(a, "https://api.example/%2E%2E/me", "https://api.example/me");
	/* the path keeps its case */
	assert_htu(a, "https://api.example/Me", "https://api.example/Me");
}

static void test_htu_refuses_what_names_no_http_resource(void **state)
{
	struct arena *a = *state;
	char long_uri[DPOP_URI_MAX + 16];

	assert_htu(a, "ftp://api.example/me", NULL);
	assert_htu(a, "api.example/me", NULL);
	assert_htu(a, "https://user@api.example/me", NULL);
	assert_htu(a, "https://api.example:99999/me", NULL);
	assert_htu(a, "https://api.example:8x/me", NULL);
	assert_htu(a, "https:///me", NULL);
	assert_htu(a, "https://api.example/a b", NULL);
	assert_htu(a, "https://api.example/%zz", NULL);
	assert_htu(a, "https://api.example/%4", NULL);
	assert_htu(a, "https://api.example/\xc3\xa9", NULL);
	assert_null(dpop_htu_normalise(a, NULL));
	memset(long_uri, 'a', sizeof(long_uri) - 1);
	memcpy(long_uri, "https://a/", 10);
	long_uri[sizeof(long_uri) - 1] = '\0';
	assert_htu(a, long_uri, NULL);
}

/* RFC 8037 appendix A.3: the thumbprint of the Ed25519 key of A.2. */
static void test_thumbprint_matches_rfc8037(void **state)
{
	char jkt[DPOP_JKT_CHARS + 1];

	(void)state;
	assert_int_equal(dpop_thumbprint("Ed25519", "OKP",
	                                 "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", NULL, jkt), 0);
	assert_string_equal(jkt, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
}

/* ---- proofs made here ------------------------------------------------------ */

static char *b64(struct arena *a, const void *p, size_t n)
{
	char *s = util_b64url_encode(a, p, n);

	assert_non_null(s);
	return s;
}

/* header.payload of a proof with this header JSON and claims JSON. */
static char *signing_input(struct arena *a, const char *header, const char *claims)
{
	char *s = arena_printf(a, "%s.%s", b64(a, header, strlen(header)),
	                       b64(a, claims, strlen(claims)));

	assert_non_null(s);
	return s;
}

struct ed_key {
	unsigned char pk[32], sk[64];
	char *jwk;
};

static void ed_key_new(struct arena *a, struct ed_key *k)
{
	crypto_sign_keypair(k->pk, k->sk);
	k->jwk = arena_printf(a, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}",
	                      b64(a, k->pk, 32));
	assert_non_null(k->jwk);
}

static char *ed_proof(struct arena *a, const struct ed_key *k, const char *header,
                      const char *claims)
{
	unsigned char sig[64];
	char *in = signing_input(a, header, claims), *out;

	crypto_sign_detached(sig, NULL, (const unsigned char *)in, strlen(in), k->sk);
	out = arena_printf(a, "%s.%s", in, b64(a, sig, 64));
	assert_non_null(out);
	return out;
}

static char *ed_header(struct arena *a, const struct ed_key *k)
{
	char *h = arena_printf(a, "{\"typ\":\"dpop+jwt\",\"alg\":\"EdDSA\",\"jwk\":%s}", k->jwk);

	assert_non_null(h);
	return h;
}

static char *claims(struct arena *a, const char *htm, const char *htu, int64_t iat,
                    const char *extra)
{
	char *c = arena_printf(a, "{\"jti\":\"%s\",\"htm\":\"%s\",\"htu\":\"%s\",\"iat\":%lld%s}",
	                       util_random_id(a, 12), htm, htu, (long long)iat,
	                       extra != NULL ? extra : "");

	assert_non_null(c);
	return c;
}

static void test_ed25519_proof_verifies_and_names_its_key(void **state)
{
	struct arena *a = *state;
	struct dpop_proof p;
	struct ed_key k;
	char jkt[DPOP_JKT_CHARS + 1];

	ed_key_new(a, &k);
	assert_int_equal(dpop_verify(a, ed_proof(a, &k, ed_header(a, &k),
	                                         claims(a, "GET", HTU, NOW, NULL)),
	                             "GET", HTU, NOW, NULL, &p), 0);
	assert_int_equal(dpop_thumbprint("Ed25519", "OKP", b64(a, k.pk, 32), NULL, jkt), 0);
	assert_string_equal(p.jkt, jkt);
	assert_true(p.iat == NOW);
	/* htu compared after normalising both sides */
	assert_int_equal(dpop_verify(a, ed_proof(a, &k, ed_header(a, &k),
	                                         claims(a, "GET", "HTTPS://API.example:443/me?q", NOW, NULL)),
	                             "GET", HTU, NOW, NULL, &p), 0);
}

static void test_ed25519_proof_failures(void **state)
{
	struct arena *a = *state;
	struct dpop_proof p;
	struct ed_key k, other;
	char *good, *h;
	const char *tok = "the.access.token";
	unsigned char digest[32];
	char *ath;

	ed_key_new(a, &k);
	ed_key_new(a, &other);
	h = ed_header(a, &k);
	good = ed_proof(a, &k, h, claims(a, "GET", HTU, NOW, NULL));
	assert_int_equal(dpop_verify(a, good, "GET", HTU, NOW, NULL, &p), 0);
	/* wrong method, wrong URI, stale or future iat */
	assert_int_equal(dpop_verify(a, good, "POST", HTU, NOW, NULL, &p), -1);
	assert_int_equal(dpop_verify(a, good, "GET", "https://api.example/other", NOW, NULL, &p), -1);
	assert_int_equal(dpop_verify(a, good, "GET", HTU, NOW + DPOP_IAT_WINDOW_S + 1, NULL, &p), -1);
	assert_int_equal(dpop_verify(a, good, "GET", HTU, NOW - DPOP_IAT_WINDOW_S - 1, NULL, &p), -1);
	/* signed by another key than the header's */
	assert_int_equal(dpop_verify(a, ed_proof(a, &other, h, claims(a, "GET", HTU, NOW, NULL)),
	                             "GET", HTU, NOW, NULL, &p), -1);
	/* headers that are not exactly typ, alg, jwk */
	assert_int_equal(dpop_verify(a, ed_proof(a, &k, arena_printf(a,
	    "{\"typ\":\"JWT\",\"alg\":\"EdDSA\",\"jwk\":%s}", k.jwk), claims(a, "GET", HTU, NOW, NULL)),
	    "GET", HTU, NOW, NULL, &p), -1);
	assert_int_equal(dpop_verify(a, ed_proof(a, &k, arena_printf(a,
	    "{\"typ\":\"dpop+jwt\",\"alg\":\"eddsa\",\"jwk\":%s}", k.jwk), claims(a, "GET", HTU, NOW, NULL)),
	    "GET", HTU, NOW, NULL, &p), -1);
	assert_int_equal(dpop_verify(a, ed_proof(a, &k, arena_printf(a,
	    "{\"typ\":\"dpop+jwt\",\"alg\":\"EdDSA\",\"jwk\":%s,\"kid\":\"1\"}", k.jwk),
	    claims(a, "GET", HTU, NOW, NULL)), "GET", HTU, NOW, NULL, &p), -1);
	assert_int_equal(dpop_verify(a, ed_proof(a, &k, arena_printf(a,
	    "{\"typ\":\"dpop+jwt\",\"alg\":\"EdDSA\",\"jwk\":{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
	    "\"x\":\"%s\",\"d\":\"%s\"}}", b64(a, k.pk, 32), b64(a, k.sk, 32)),
	    claims(a, "GET", HTU, NOW, NULL)), "GET", HTU, NOW, NULL, &p), -1);
	/* a token: ath required and checked; no token: ath refused */
	assert_int_equal(dpop_verify(a, good, "GET", HTU, NOW, tok, &p), -1);
	crypto_hash_sha256(digest, (const unsigned char *)tok, strlen(tok));
	ath = arena_printf(a, ",\"ath\":\"%s\"", b64(a, digest, 32));
	good = ed_proof(a, &k, h, claims(a, "GET", HTU, NOW, ath));
	assert_int_equal(dpop_verify(a, good, "GET", HTU, NOW, tok, &p), 0);
	assert_int_equal(dpop_verify(a, good, "GET", HTU, NOW, "another.access.token", &p), -1);
	assert_int_equal(dpop_verify(a, good, "GET", HTU, NOW, NULL, &p), -1);
	/* shapes */
	assert_int_equal(dpop_verify(a, "a.b", "GET", HTU, NOW, NULL, &p), -1);
	assert_int_equal(dpop_verify(a, "a.b.c.d", "GET", HTU, NOW, NULL, &p), -1);
	assert_int_equal(dpop_verify(a, "a..c", "GET", HTU, NOW, NULL, &p), -1);
	assert_int_equal(dpop_verify(a, NULL, "GET", HTU, NOW, NULL, &p), -1);
}

/* ---- P-256 with OpenSSL, as an independent signer -------------------------- */

static EVP_PKEY *p256_new(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	assert_non_null(k);
	return k;
}

static char *p256_jwk(struct arena *a, EVP_PKEY *k)
{
	unsigned char pub[65];
	size_t len = 0;

	assert_int_equal(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pub,
	                                                 sizeof(pub), &len), 1);
	assert_int_equal(len, 65);
	return arena_printf(a, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}",
	                    b64(a, pub + 1, 32), b64(a, pub + 33, 32));
}

static char *p256_proof(struct arena *a, EVP_PKEY *k, const char *jwk, const char *claims_json)
{
	char *h = arena_printf(a, "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":%s}", jwk);
	char *in = signing_input(a, h, claims_json), *out;
	unsigned char der[80], rs[64];
	const unsigned char *p = der;
	size_t der_len = sizeof(der);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	ECDSA_SIG *sig;

	assert_non_null(md);
	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k), 1);
	assert_int_equal(EVP_DigestSign(md, der, &der_len, (const unsigned char *)in, strlen(in)), 1);
	EVP_MD_CTX_free(md);
	sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	assert_non_null(sig);
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(sig), rs, 32), 32);
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(sig), rs + 32, 32), 32);
	ECDSA_SIG_free(sig);
	out = arena_printf(a, "%s.%s", in, b64(a, rs, 64));
	assert_non_null(out);
	return out;
}

static void test_p256_proof_verifies_and_other_keys_do_not(void **state)
{
	struct arena *a = *state;
	struct dpop_proof p, q;
	EVP_PKEY *k = p256_new(), *other = p256_new();
	char *jwk = p256_jwk(a, k), *proof;

	proof = p256_proof(a, k, jwk, claims(a, "POST", HTU, NOW, NULL));
	assert_int_equal(dpop_verify(a, proof, "POST", HTU, NOW, NULL, &p), 0);
	assert_int_equal(strlen(p.jkt), DPOP_JKT_CHARS);
	proof = p256_proof(a, k, jwk, claims(a, "POST", HTU, NOW, NULL));
	assert_int_equal(dpop_verify(a, proof, "POST", HTU, NOW, NULL, &q), 0);
	assert_string_equal(p.jkt, q.jkt);
	assert_string_not_equal(p.jti, q.jti);
	/* signed by another key than the header names */
	proof = p256_proof(a, other, jwk, claims(a, "POST", HTU, NOW, NULL));
	assert_int_equal(dpop_verify(a, proof, "POST", HTU, NOW, NULL, &p), -1);
	/* a point that is not on the curve */
	proof = p256_proof(a, k, arena_printf(a, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\","
	                   "\"y\":\"%s\"}", b64(a, (unsigned char[32]){ 1 }, 32),
	                   b64(a, (unsigned char[32]){ 2 }, 32)), claims(a, "POST", HTU, NOW, NULL));
	assert_int_equal(dpop_verify(a, proof, "POST", HTU, NOW, NULL, &p), -1);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_htu_is_normalised_as_rfc3986_says, setup, teardown),
		cmocka_unit_test_setup_teardown(test_htu_refuses_what_names_no_http_resource, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_thumbprint_matches_rfc8037, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ed25519_proof_verifies_and_names_its_key, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_ed25519_proof_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_p256_proof_verifies_and_other_keys_do_not, setup,
		                                teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
