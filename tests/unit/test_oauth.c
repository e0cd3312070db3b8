/*
 * test_oauth.c — PKCE (RFC 7636), the redirect URIs a client may register
 * and OAuth scope parameters (RFC 6749 section 3.3).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "arena.h"
#include "oauth.h"
#include "scope.h"

/* RFC 7636 appendix B: the verifier and the S256 challenge derived from it. */
#define RFC_VERIFIER "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define RFC_CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

static void test_rfc7636_appendix_b_vector_verifies(void **state)
{
	(void)state;
	assert_true(oauth_pkce_s256_ok(RFC_VERIFIER, RFC_CHALLENGE));
}

static void test_a_wrong_verifier_or_challenge_fails(void **state)
{
	char v[] = RFC_VERIFIER, c[] = RFC_CHALLENGE;

	(void)state;
	v[0] = 'e';
	assert_false(oauth_pkce_s256_ok(v, RFC_CHALLENGE));
	c[42] = c[42] == 'M' ? 'N' : 'M';
	assert_false(oauth_pkce_s256_ok(RFC_VERIFIER, c));
	/* the plain method is not S256: the verifier as its own challenge fails */
	assert_false(oauth_pkce_s256_ok(RFC_VERIFIER, RFC_VERIFIER));
	assert_false(oauth_pkce_s256_ok(NULL, RFC_CHALLENGE));
	assert_false(oauth_pkce_s256_ok(RFC_VERIFIER, NULL));
}

/* RFC 7636 section 4.1: 43..128 characters of [A-Za-z0-9-._~], nothing else. */
static void test_verifier_length_and_alphabet_are_enforced(void **state)
{
	unsigned char digest[crypto_hash_sha256_BYTES];
	char verifier[140], challenge[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	static const struct { size_t len; char fill; bool ok; } cases[] = {
		{ 42, 'a', false }, { 43, 'a', true }, { 128, '~', true }, { 129, 'a', false },
		{ 64, '+', false }, { 64, '/', false }, { 64, '=', false }, { 64, ' ', false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(verifier, cases[i].fill, cases[i].len);
		verifier[cases[i].len] = '\0';
		crypto_hash_sha256(digest, (const unsigned char *)verifier, cases[i].len);
		sodium_bin2base64(challenge, sizeof(challenge), digest, sizeof(digest),
		                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		assert_int_equal(oauth_pkce_s256_ok(verifier, challenge), cases[i].ok);
	}
}

static void test_challenge_shape_is_43_base64url_characters(void **state)
{
	(void)state;
	assert_true(oauth_challenge_valid(RFC_CHALLENGE));
	assert_false(oauth_challenge_valid(RFC_CHALLENGE "A"));
	assert_false(oauth_challenge_valid("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"));
	assert_false(oauth_challenge_valid("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"));
	assert_false(oauth_challenge_valid(""));
}

static void test_redirect_uris_a_client_may_register(void **state)
{
	static const char *const good[] = {
		"https://app.example/cb", "https://app.example:8443/oauth/cb?x=1",
		"http://127.0.0.1:53117/cb", "http://[::1]/cb", "http://localhost:8080/",
		"com.example.app:/oauth2redirect",
	};
	static const char *const bad[] = {
		"", "http://app.example/cb",          /* plain http off loopback */
		"https://app.example/cb#frag",         /* RFC 6749 section 3.1.2: no fragment */
		"https://user@app.example/cb",         /* userinfo */
		"https:///cb", "https://app.example:/cb", "https://app.example:123456/",
		"https://app.example/c b", "https://app.example/\xc3\xa9",
		"javascript:alert(1)", "data:text/html,x", "app:/cb",   /* no dot: not a reverse domain */
		"com.example.app://host/cb", "HTTPS://app.example/cb",
		"http://127.0.0.1.evil.example/cb", "http://localhost@evil.example/",
	};
	char longest[OAUTH_REDIRECT_URI_MAX + 2] = "https://app.example/";

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!oauth_redirect_uri_valid(good[i]))
			fail_msg("refused: %s", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (oauth_redirect_uri_valid(bad[i]))
			fail_msg("accepted: %s", bad[i]);
	memset(longest + strlen(longest), 'a', OAUTH_REDIRECT_URI_MAX - strlen(longest));
	longest[OAUTH_REDIRECT_URI_MAX] = '\0';
	assert_true(oauth_redirect_uri_valid(longest));
	strcat(longest, "a");
	assert_false(oauth_redirect_uri_valid(longest));
}

static void test_scope_parameters_parse_strictly_and_print_back(void **state)
{
	struct arena *a = arena_new();
	unsigned bits = 99;

	(void)state;
	assert_non_null(a);
	assert_int_equal(scope_parse("read write dm account", &bits), 0);
	assert_int_equal(bits, SCOPE_CLIENT_ALL);
	assert_string_equal(scope_text(a, bits), "read write dm account");
	assert_int_equal(scope_parse("dm read", &bits), 0);
	assert_int_equal(bits, SCOPE_READ | SCOPE_DM);
	assert_string_equal(scope_text(a, bits), "read dm");
	assert_int_equal(scope_parse("", &bits), 0);
	assert_int_equal(bits, 0);
	assert_int_equal(scope_parse("read read", &bits), -1);
	assert_int_equal(scope_parse("read  write", &bits), -1);
	assert_int_equal(scope_parse(" read", &bits), -1);
	assert_int_equal(scope_parse("read ", &bits), -1);
	assert_int_equal(scope_parse("Read", &bits), -1);
	assert_int_equal(scope_parse("admin", &bits), -1);
	assert_int_equal(scope_parse("read\twrite", &bits), -1);
	assert_true(scope_allows(SCOPE_ALL, SCOPE_FIRST_PARTY | SCOPE_DM));
	assert_false(scope_allows(SCOPE_CLIENT_ALL, SCOPE_FIRST_PARTY));
	assert_false(scope_allows(SCOPE_READ, SCOPE_WRITE));
	assert_true(scope_allows(SCOPE_READ, 0));
	arena_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7636_appendix_b_vector_verifies),
		cmocka_unit_test(test_a_wrong_verifier_or_challenge_fails),
		cmocka_unit_test(test_verifier_length_and_alphabet_are_enforced),
		cmocka_unit_test(test_challenge_shape_is_43_base64url_characters),
		cmocka_unit_test(test_redirect_uris_a_client_may_register),
		cmocka_unit_test(test_scope_parameters_parse_strictly_and_print_back),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
