/*
 * test_token.c — session tokens: what token_issue produces verifies with
 * the same claims, and token_verify refuses everything else.
 *
 * Forged tokens are built by forge(): it base64url-encodes header and
 * payload JSON written here as text, and signs "header.payload" with
 * libsodium's HMAC-SHA256 (or HMAC-SHA512, or not at all), so every byte
 * is under the test's control. Each refusal differs from a forged token
 * that is accepted (test_forged_baseline_is_accepted) in one thing only.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jwt.h>
#include <sodium.h>

#include "arena.h"
#include "scope.h"
#include "token.h"
#include "util.h"

#define NOW INT64_C(1700000000)
#define LIFE 3600
#define SID "c2Vzc2lvbi1pZC0xMjM0NQ"
#define HDR "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

static const unsigned char KEY[32] = {
	0x4b, 0x11, 0x9e, 0x02, 0x7a, 0xc3, 0x55, 0xd0, 0x18, 0xe6, 0x2f, 0x83,
	0x6c, 0xb9, 0x40, 0x77, 0x0d, 0xa2, 0x3b, 0xf4, 0x91, 0x5e, 0xc8, 0x26,
	0x69, 0x07, 0xbd, 0x32, 0xe1, 0x8a, 0x54, 0xfc,
};
static const unsigned char OTHER_KEY[32] = {
	0x4b, 0x11, 0x9e, 0x02, 0x7a, 0xc3, 0x55, 0xd0, 0x18, 0xe6, 0x2f, 0x83,
	0x6c, 0xb9, 0x40, 0x77, 0x0d, 0xa2, 0x3b, 0xf4, 0x91, 0x5e, 0xc8, 0x26,
	0x69, 0x07, 0xbd, 0x32, 0xe1, 0x8a, 0x54, 0xfd,
};

/* Claim values as JSON text; NULL leaves the claim out. */
struct claims_text {
	const char *iss, *aud, *typ, *sub, *sid, *jti, *iat, *exp;
	const char *extra; /* raw members appended, e.g. "\"x\":1" */
};

static const struct claims_text GOOD = {
	.iss = "\"sotto\"", .aud = "\"sotto\"", .typ = "\"access\"",
	.sub = "\"acct_AbC-123\"", .sid = "\"" SID "\"", .jti = "\"AAECAwQFBgcICQoLDA0ODw\"",
	.iat = "1700000000", .exp = "1700003600", .extra = NULL,
};

enum mac { MAC_EMPTY, MAC_HS256, MAC_HS512, MAC_JUNK };

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

/* Append "name":value to the object text in *json when value is set. */
static void member(struct arena *a, char **json, const char *name, const char *value)
{
	if (value == NULL)
		return;
	*json = arena_printf(a, "%s%s\"%s\":%s", *json, (*json)[1] ? "," : "", name, value);
	assert_non_null(*json);
}

static char *claims_json(struct arena *a, const struct claims_text *c)
{
	char *json = arena_strdup(a, "{");

	assert_non_null(json);
	member(a, &json, "iss", c->iss);
	member(a, &json, "aud", c->aud);
	member(a, &json, "typ", c->typ);
	member(a, &json, "sub", c->sub);
	member(a, &json, "sid", c->sid);
	member(a, &json, "jti", c->jti);
	member(a, &json, "iat", c->iat);
	member(a, &json, "exp", c->exp);
	if (c->extra != NULL) {
		json = arena_printf(a, "%s%s%s", json, json[1] ? "," : "", c->extra);
		assert_non_null(json);
	}
	json = arena_printf(a, "%s}", json);
	assert_non_null(json);
	return json;
}

static char *b64(struct arena *a, const void *bin, size_t len)
{
	char *s = util_b64url_encode(a, bin, len);

	assert_non_null(s);
	return s;
}

/* base64url(header) "." base64url(payload) "." signature, as mac says. */
static char *forge(struct arena *a, const char *header, const char *payload,
                   enum mac mac, const unsigned char *key)
{
	unsigned char m[crypto_auth_hmacsha512_BYTES];
	const char *sig = "";
	char *input, *tok;

	input = arena_printf(a, "%s.%s", b64(a, header, strlen(header)),
	                     b64(a, payload, strlen(payload)));
	assert_non_null(input);
	switch (mac) {
	case MAC_HS256:
		crypto_auth_hmacsha256(m, (const unsigned char *)input, strlen(input), key);
		sig = b64(a, m, crypto_auth_hmacsha256_BYTES);
		break;
	case MAC_HS512:
		crypto_auth_hmacsha512(m, (const unsigned char *)input, strlen(input), key);
		sig = b64(a, m, crypto_auth_hmacsha512_BYTES);
		break;
	case MAC_JUNK:
		sig = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
		break;
	case MAC_EMPTY:
		break;
	}
	tok = arena_printf(a, "%s.%s", input, sig);
	assert_non_null(tok);
	return tok;
}

/* GOOD's header with claims c, correctly signed with KEY. */
static char *forge_claims(struct arena *a, const struct claims_text *c)
{
	return forge(a, HDR, claims_json(a, c), MAC_HS256, KEY);
}

static int verify_at(const char *tok, int64_t now, int max_lifetime)
{
	struct token_claims c;

	return token_verify(KEY, tok, now, max_lifetime, &c);
}

static int verify(const char *tok)
{
	return verify_at(tok, NOW, LIFE);
}

/* Assert that the forged token with claims c is refused at NOW. */
static void assert_claims_refused(struct arena *a, const struct claims_text *c)
{
	assert_int_equal(verify(forge_claims(a, c)), -1);
}

/* Decode part `index` (0 or 1) of tok into a string on the arena. */
static char *part_text(struct arena *a, const char *tok, int index)
{
	const char *start = tok, *end;
	unsigned char buf[1024];
	size_t len = 0;

	if (index == 1)
		start = strchr(tok, '.') + 1;
	end = strchr(start, '.');
	assert_non_null(end);
	assert_int_equal(util_b64url_decode(start, (size_t)(end - start), buf,
	                                    sizeof(buf), &len), 0);
	return arena_strndup(a, (const char *)buf, len);
}

static void test_issued_token_verifies_with_the_same_claims(void **state)
{
	struct token_claims issued, got;
	char *tok, *tok2, *payload;

	tok = token_issue(*state, KEY, "acct_AbC-123", SID, 0, SCOPE_ALL, NULL, NOW, LIFE, &issued);
	assert_non_null(tok);
	assert_true(strlen(tok) <= TOKEN_MAX_LEN);
	assert_string_equal(part_text(*state, tok, 0), HDR);
	payload = part_text(*state, tok, 1);
	assert_non_null(strstr(payload, "\"iss\":\"sotto\""));
	assert_non_null(strstr(payload, "\"aud\":\"sotto\""));
	assert_non_null(strstr(payload, "\"typ\":\"access\""));
	assert_string_equal(issued.sub, "acct_AbC-123");
	assert_string_equal(issued.sid, SID);
	assert_int_equal(strlen(issued.jti), 22);
	assert_true(issued.iat == NOW);
	assert_true(issued.exp == NOW + LIFE);

	memset(&got, 0x5a, sizeof(got));
	assert_int_equal(token_verify(KEY, tok, NOW, LIFE, &got), 0);
	assert_string_equal(got.sub, issued.sub);
	assert_string_equal(got.sid, SID);
	assert_string_equal(got.jti, issued.jti);
	assert_true(got.iat == issued.iat);
	assert_true(got.exp == issued.exp);
	assert_int_equal(token_verify(KEY, tok, NOW + LIFE - 1, LIFE, NULL), 0);

	tok2 = token_issue(*state, KEY, "acct_AbC-123", SID, 0, SCOPE_ALL, NULL, NOW, LIFE, &got);
	assert_non_null(tok2);
	assert_string_not_equal(got.jti, issued.jti);
	assert_string_not_equal(tok, tok2);
}

static void test_issue_refuses_bad_arguments(void **state)
{
	char sub[TOKEN_SUB_MAX + 2];

	memset(sub, 'a', sizeof(sub) - 1);
	sub[sizeof(sub) - 1] = '\0';
	assert_null(token_issue(*state, KEY, sub, SID, 0, SCOPE_ALL, NULL, NOW, LIFE, NULL));
	sub[TOKEN_SUB_MAX] = '\0';
	assert_non_null(token_issue(*state, KEY, sub, SID, 0, SCOPE_ALL, NULL, NOW, LIFE, NULL));

	assert_null(token_issue(*state, KEY, "", SID, 0, SCOPE_ALL, NULL, NOW, LIFE, NULL));
	assert_null(token_issue(*state, KEY, NULL, SID, 0, SCOPE_ALL, NULL, NOW, LIFE, NULL));
	assert_null(token_issue(*state, KEY, "a b", SID, 0, SCOPE_ALL, NULL, NOW, LIFE, NULL));
	assert_null(token_issue(*state, KEY, "a.b", SID, 0, SCOPE_ALL, NULL, NOW, LIFE, NULL));
	assert_null(token_issue(*state, KEY, "a+b", SID, 0, SCOPE_ALL, NULL, NOW, LIFE, NULL));
	assert_null(token_issue(*state, KEY, "a/b", SID, 0, SCOPE_ALL, NULL, NOW, LIFE, NULL));
	assert_null(token_issue(*state, KEY, "ab=", SID, 0, SCOPE_ALL, NULL, NOW, LIFE, NULL));
	assert_null(token_issue(*state, KEY, "a\"b", SID, 0, SCOPE_ALL, NULL, NOW, LIFE, NULL));
	assert_null(token_issue(*state, KEY, "\xc3\xa9", SID, 0, SCOPE_ALL, NULL, NOW, LIFE, NULL));
	assert_null(token_issue(*state, KEY, "abc", "", 0, SCOPE_ALL, NULL, NOW, LIFE, NULL));
	assert_null(token_issue(*state, KEY, "abc", NULL, 0, SCOPE_ALL, NULL, NOW, LIFE, NULL));
	assert_null(token_issue(*state, KEY, "abc", "a.b", 0, SCOPE_ALL, NULL, NOW, LIFE, NULL));
	assert_null(token_issue(*state, KEY, "abc", SID, 0, SCOPE_ALL, NULL, NOW, 0, NULL));
	assert_null(token_issue(*state, KEY, "abc", SID, 0, SCOPE_ALL, NULL, NOW, -1, NULL));
	assert_null(token_issue(*state, KEY, "abc", SID, 0, SCOPE_ALL, NULL, -1, LIFE, NULL));
	assert_null(token_issue(*state, KEY, "abc", SID, 0, SCOPE_ALL, NULL, INT64_MAX - 10, LIFE, NULL));
	assert_null(token_issue(*state, NULL, "abc", SID, 0, SCOPE_ALL, NULL, NOW, LIFE, NULL));
	assert_null(token_issue(NULL, KEY, "abc", SID, 0, SCOPE_ALL, NULL, NOW, LIFE, NULL));
}

/* The verdict on GOOD's claims plus the member_text member(s); *got gets the claims. */
static int verify_extra(struct arena *a, const char *member_text, struct token_claims *got)
{
	struct claims_text c = GOOD;

	c.extra = member_text;
	memset(got, 0x5a, sizeof(*got));
	return token_verify(KEY, forge_claims(a, &c), NOW, LIFE, got);
}

/* verify_extra() for the gen claim; *gen gets its value. */
static int verify_gen(struct arena *a, const char *member_text, int64_t *gen)
{
	struct token_claims got;
	int rc = verify_extra(a, member_text, &got);

	*gen = got.gen;
	return rc;
}

static void test_generation_claim_round_trips_and_only_integers_in_range_pass(void **state)
{
	struct token_claims issued, got;
	int64_t gen;
	char *tok = token_issue(*state, KEY, "abc", SID, 7, SCOPE_ALL, NULL, NOW, LIFE, &issued);

	assert_non_null(tok);
	assert_true(issued.gen == 7);
	assert_int_equal(token_verify(KEY, tok, NOW, LIFE, &got), 0);
	assert_true(got.gen == 7);
	assert_non_null(strstr(part_text(*state, tok, 1), "\"gen\":7"));
	assert_non_null(token_issue(*state, KEY, "abc", SID, TOKEN_GEN_MAX, SCOPE_ALL, NULL, NOW, LIFE, NULL));
	assert_null(token_issue(*state, KEY, "abc", SID, -1, SCOPE_ALL, NULL, NOW, LIFE, NULL));
	assert_null(token_issue(*state, KEY, "abc", SID, TOKEN_GEN_MAX + 1, SCOPE_ALL, NULL, NOW, LIFE, NULL));

	/* a token from before generations existed is of generation 0 */
	assert_int_equal(verify_gen(*state, NULL, &gen), 0);
	assert_true(gen == 0);
	assert_int_equal(verify_gen(*state, "\"gen\":3", &gen), 0);
	assert_true(gen == 3);
	assert_int_equal(verify_gen(*state, "\"gen\":\"3\"", &gen), -1);
	assert_int_equal(verify_gen(*state, "\"gen\":-1", &gen), -1);
	assert_int_equal(verify_gen(*state, "\"gen\":1.5", &gen), -1);
	assert_int_equal(verify_gen(*state, "\"gen\":null", &gen), -1);
	assert_int_equal(verify_gen(*state, "\"gen\":true", &gen), -1);
	assert_int_equal(verify_gen(*state, "\"gen\":2000000001", &gen), -1);
}

/* verify_extra() for the scp claim; *scope gets its value. */
static int verify_scope(struct arena *a, const char *member_text, unsigned *scope)
{
	struct token_claims got;
	int rc = verify_extra(a, member_text, &got);

	*scope = got.scope;
	return rc;
}

static void test_scope_claim_round_trips_and_only_known_bits_pass(void **state)
{
	struct token_claims issued, got;
	unsigned scope;
	char *tok = token_issue(*state, KEY, "abc", SID, 0, SCOPE_READ | SCOPE_DM, NULL, NOW, LIFE,
	                        &issued);

	assert_non_null(tok);
	assert_true(issued.scope == (SCOPE_READ | SCOPE_DM));
	assert_int_equal(token_verify(KEY, tok, NOW, LIFE, &got), 0);
	assert_true(got.scope == (SCOPE_READ | SCOPE_DM));
	assert_null(token_issue(*state, KEY, "abc", SID, 0, SCOPE_ALL + 1, NULL, NOW, LIFE, NULL));

	/* a token from before scopes existed carries every scope */
	assert_int_equal(verify_scope(*state, NULL, &scope), 0);
	assert_true(scope == SCOPE_ALL);
	assert_int_equal(verify_scope(*state, "\"scp\":0", &scope), 0);
	assert_true(scope == 0);
	assert_int_equal(verify_scope(*state, "\"scp\":32", &scope), -1);
	assert_int_equal(verify_scope(*state, "\"scp\":-1", &scope), -1);
	assert_int_equal(verify_scope(*state, "\"scp\":\"read\"", &scope), -1);
	assert_int_equal(verify_scope(*state, "\"scp\":1.0", &scope), -1);
}

#define JKT "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"   /* RFC 9449 section 6.1 */

/* The verdict on GOOD's claims plus the cnf member text; jkt gets what it read. */
static int verify_cnf(struct arena *a, const char *member_text, char jkt[TOKEN_JKT_CHARS + 1])
{
	struct token_claims got;
	int rc = verify_extra(a, member_text, &got);

	got.jkt[TOKEN_JKT_CHARS] = '\0';
	memcpy(jkt, got.jkt, TOKEN_JKT_CHARS + 1);
	return rc;
}

static void test_bound_token_carries_its_key_thumbprint_and_only_that_shape_passes(void **state)
{
	struct token_claims issued, got;
	char jkt[TOKEN_JKT_CHARS + 1];
	char *tok = token_issue(*state, KEY, "abc", SID, 0, SCOPE_ALL, JKT, NOW, LIFE, &issued);

	assert_non_null(tok);
	assert_string_equal(issued.jkt, JKT);
	assert_int_equal(token_verify(KEY, tok, NOW, LIFE, &got), 0);
	assert_string_equal(got.jkt, JKT);
	assert_non_null(strstr(part_text(*state, tok, 1), "\"cnf\":{\"jkt\":\"" JKT "\"}"));
	/* unbound: no cnf at all, and "" read back */
	tok = token_issue(*state, KEY, "abc", SID, 0, SCOPE_ALL, "", NOW, LIFE, &issued);
	assert_non_null(tok);
	assert_null(strstr(part_text(*state, tok, 1), "cnf"));
	assert_int_equal(token_verify(KEY, tok, NOW, LIFE, &got), 0);
	assert_string_equal(got.jkt, "");
	/* a thumbprint of another shape is never issued */
	assert_null(token_issue(*state, KEY, "abc", SID, 0, SCOPE_ALL, "short", NOW, LIFE, NULL));
	assert_null(token_issue(*state, KEY, "abc", SID, 0, SCOPE_ALL, JKT "A", NOW, LIFE, NULL));
	assert_null(token_issue(*state, KEY, "abc", SID, 0, SCOPE_ALL,
	                        "0ZcOCORZNYy+DWpqq30jZyJGHTN0d2HglBV3uiguA4I", NOW, LIFE, NULL));

	assert_int_equal(verify_cnf(*state, NULL, jkt), 0);
	assert_string_equal(jkt, "");
	assert_int_equal(verify_cnf(*state, "\"cnf\":{\"jkt\":\"" JKT "\"}", jkt), 0);
	assert_string_equal(jkt, JKT);
	assert_int_equal(verify_cnf(*state, "\"cnf\":{}", jkt), -1);
	assert_int_equal(verify_cnf(*state, "\"cnf\":null", jkt), -1);
	assert_int_equal(verify_cnf(*state, "\"cnf\":\"" JKT "\"", jkt), -1);
	assert_int_equal(verify_cnf(*state, "\"cnf\":{\"jkt\":\"" JKT "A\"}", jkt), -1);
	assert_int_equal(verify_cnf(*state, "\"cnf\":{\"jkt\":\"short\"}", jkt), -1);
	assert_int_equal(verify_cnf(*state, "\"cnf\":{\"jkt\":\"" JKT "\",\"x\":1}", jkt), -1);
	assert_int_equal(verify_cnf(*state, "\"cnf\":{\"jwk\":\"" JKT "\"}", jkt), -1);
	assert_int_equal(verify_cnf(*state,
	                 "\"cnf\":{\"jkt\":\"0ZcOCORZNYy+DWpqq30jZyJGHTN0d2HglBV3uiguA4I\"}", jkt),
	                 -1);
}

static void test_forged_baseline_is_accepted(void **state)
{
	struct token_claims c;
	jwt_t *jwt = NULL;
	char *lib;

	assert_int_equal(token_verify(KEY, forge_claims(*state, &GOOD), NOW, LIFE, &c), 0);
	assert_string_equal(c.sub, "acct_AbC-123");
	assert_string_equal(c.jti, "AAECAwQFBgcICQoLDA0ODw");
	assert_true(c.iat == NOW && c.exp == NOW + LIFE);
	/* typ in the header is optional */
	assert_int_equal(verify(forge(*state, "{\"alg\":\"HS256\"}",
	                              claims_json(*state, &GOOD), MAC_HS256, KEY)), 0);

	/* and libjwt's own HS256 encoding of the same claims verifies too */
	assert_int_equal(jwt_new(&jwt), 0);
	assert_int_equal(jwt_set_alg(jwt, JWT_ALG_HS256, KEY, sizeof(KEY)), 0);
	assert_int_equal(jwt_add_grant(jwt, "iss", "sotto"), 0);
	assert_int_equal(jwt_add_grant(jwt, "aud", "sotto"), 0);
	assert_int_equal(jwt_add_grant(jwt, "typ", "access"), 0);
	assert_int_equal(jwt_add_grant(jwt, "sub", "abc"), 0);
	assert_int_equal(jwt_add_grant(jwt, "sid", SID), 0);
	assert_int_equal(jwt_add_grant(jwt, "jti", "AAECAwQFBgcICQoLDA0ODw"), 0);
	assert_int_equal(jwt_add_grant_int(jwt, "iat", (long)NOW), 0);
	assert_int_equal(jwt_add_grant_int(jwt, "exp", (long)NOW + LIFE), 0);
	lib = jwt_encode_str(jwt);
	assert_non_null(lib);
	assert_int_equal(verify(lib), 0);
	free(lib);
	jwt_free(jwt);
}

/* Every position of part `index` changed to another base64url character. */
static void assert_every_flip_refused(struct arena *a, const char *tok, int index)
{
	char *copy = arena_strdup(a, tok);
	char *start = copy, *end;
	char *p;

	assert_non_null(copy);
	for (int i = 0; i < index; i++)
		start = strchr(start, '.') + 1;
	end = strchr(start, '.');
	if (end == NULL)
		end = start + strlen(start);
	for (p = start; p < end; p++) {
		char saved = *p;

		*p = saved == 'A' ? 'B' : 'A';
		assert_int_equal(verify(copy), -1);
		*p = saved == '_' ? '-' : '_';
		assert_int_equal(verify(copy), -1);
		*p = saved;
	}
	assert_int_equal(verify(copy), 0);
}

static void test_tampered_token_is_refused(void **state)
{
	struct claims_text other = GOOD;
	char *tok = forge_claims(*state, &GOOD);
	char *forged, *good_sig;

	assert_every_flip_refused(*state, tok, 0);
	assert_every_flip_refused(*state, tok, 1);
	assert_every_flip_refused(*state, tok, 2);

	/* a payload with another sub, carrying the old signature */
	other.sub = "\"someone_else\"";
	forged = forge(*state, HDR, claims_json(*state, &other), MAC_EMPTY, KEY);
	good_sig = strrchr(tok, '.') + 1;
	forged = arena_printf(*state, "%s%s", forged, good_sig);
	assert_non_null(forged);
	assert_int_equal(verify(forged), -1);
	/* the same, signed properly, passes: the signature was the only fault */
	assert_int_equal(verify(forge_claims(*state, &other)), 0);
}

static void test_alg_none_is_refused_in_any_case_and_with_any_signature(void **state)
{
	static const char *headers[] = {
		"{\"alg\":\"none\"}", "{\"alg\":\"noNE\"}", "{\"alg\":\"NONE\"}",
		"{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"alg\":\"noNE\",\"typ\":\"JWT\"}",
	};
	const char *payload = claims_json(*state, &GOOD);

	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		assert_int_equal(verify(forge(*state, headers[i], payload, MAC_EMPTY, KEY)), -1);
		assert_int_equal(verify(forge(*state, headers[i], payload, MAC_JUNK, KEY)), -1);
		/* a real HS256 MAC under a "none" header: libjwt refuses it */
		assert_int_equal(verify(forge(*state, headers[i], payload, MAC_HS256, KEY)), -1);
	}
}

/* HS384 through libjwt (libsodium has no HMAC-SHA384): GOOD's claims. */
static char *libjwt_token(jwt_alg_t alg)
{
	jwt_t *jwt = NULL;
	char *tok;

	assert_int_equal(jwt_new(&jwt), 0);
	assert_int_equal(jwt_set_alg(jwt, alg, KEY, sizeof(KEY)), 0);
	assert_int_equal(jwt_add_grant(jwt, "iss", "sotto"), 0);
	assert_int_equal(jwt_add_grant(jwt, "aud", "sotto"), 0);
	assert_int_equal(jwt_add_grant(jwt, "typ", "access"), 0);
	assert_int_equal(jwt_add_grant(jwt, "sub", "acct_AbC-123"), 0);
	assert_int_equal(jwt_add_grant(jwt, "sid", SID), 0);
	assert_int_equal(jwt_add_grant(jwt, "jti", "AAECAwQFBgcICQoLDA0ODw"), 0);
	assert_int_equal(jwt_add_grant_int(jwt, "iat", (long)NOW), 0);
	assert_int_equal(jwt_add_grant_int(jwt, "exp", (long)NOW + LIFE), 0);
	tok = jwt_encode_str(jwt);
	assert_non_null(tok);
	jwt_free(jwt);
	return tok;
}

static void test_other_algorithms_with_the_same_key_are_refused(void **state)
{
	const char *payload = claims_json(*state, &GOOD);
	char *tok;

	/* libjwt 1.10 itself accepts these two (see token.c) */
	assert_int_equal(verify(forge(*state, "{\"alg\":\"HS512\",\"typ\":\"JWT\"}",
	                              payload, MAC_HS512, KEY)), -1);
	tok = libjwt_token(JWT_ALG_HS384);
	assert_int_equal(verify(tok), -1);
	free(tok);
	tok = libjwt_token(JWT_ALG_HS512);
	assert_int_equal(verify(tok), -1);
	free(tok);
	tok = libjwt_token(JWT_ALG_HS256);
	assert_int_equal(verify(tok), 0);
	free(tok);

	/* another alg name over a valid HS256 MAC */
	assert_int_equal(verify(forge(*state, "{\"alg\":\"HS512\",\"typ\":\"JWT\"}",
	                              payload, MAC_HS256, KEY)), -1);
	assert_int_equal(verify(forge(*state, "{\"alg\":\"HS384\",\"typ\":\"JWT\"}",
	                              payload, MAC_HS256, KEY)), -1);
	assert_int_equal(verify(forge(*state, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
	                              payload, MAC_HS256, KEY)), -1);
	assert_int_equal(verify(forge(*state, "{\"alg\":\"hs256\",\"typ\":\"JWT\"}",
	                              payload, MAC_HS256, KEY)), -1);
	assert_int_equal(verify(forge(*state, "{\"alg\":\"HS256 \",\"typ\":\"JWT\"}",
	                              payload, MAC_HS256, KEY)), -1);
	assert_int_equal(verify(forge(*state, "{\"typ\":\"JWT\"}",
	                              payload, MAC_HS256, KEY)), -1);
	assert_int_equal(verify(forge(*state, "{\"alg\":null,\"typ\":\"JWT\"}",
	                              payload, MAC_HS256, KEY)), -1);
}

static void test_header_typ_other_than_JWT_is_refused(void **state)
{
	const char *payload = claims_json(*state, &GOOD);

	assert_int_equal(verify(forge(*state, "{\"alg\":\"HS256\",\"typ\":\"jwt\"}",
	                              payload, MAC_HS256, KEY)), -1);
	assert_int_equal(verify(forge(*state, "{\"alg\":\"HS256\",\"typ\":\"JWS\"}",
	                              payload, MAC_HS256, KEY)), -1);
	assert_int_equal(verify(forge(*state, "{\"alg\":\"HS256\",\"typ\":5}",
	                              payload, MAC_HS256, KEY)), -1);
	assert_int_equal(verify(forge(*state, "{\"alg\":\"HS256\",\"typ\":null}",
	                              payload, MAC_HS256, KEY)), -1);
	assert_int_equal(verify(forge(*state, "[\"HS256\"]", payload, MAC_HS256, KEY)), -1);
}

static void test_token_signed_with_another_key_is_refused(void **state)
{
	char *tok = token_issue(*state, OTHER_KEY, "abc", SID, 0, SCOPE_ALL, NULL, NOW, LIFE, NULL);

	assert_non_null(tok);
	assert_int_equal(verify(tok), -1);
	assert_int_equal(verify(forge(*state, HDR, claims_json(*state, &GOOD),
	                              MAC_HS256, OTHER_KEY)), -1);
	assert_int_equal(token_verify(OTHER_KEY, tok, NOW, LIFE, NULL), 0);
}

static void test_every_prefix_of_a_valid_token_is_refused(void **state)
{
	char *tok = token_issue(*state, KEY, "acct_AbC-123", SID, 0, SCOPE_ALL, NULL, NOW, LIFE, NULL);
	size_t len;

	assert_non_null(tok);
	len = strlen(tok);
	for (size_t n = 0; n < len; n++) {
		char *prefix = arena_strndup(*state, tok, n);

		assert_non_null(prefix);
		assert_int_equal(verify(prefix), -1);
	}
	assert_int_equal(verify(tok), 0);
}

static void test_null_empty_and_garbage_are_refused(void **state)
{
	struct token_claims c;
	char *tok = forge_claims(*state, &GOOD);
	char *garbage = arena_alloc(*state, 5 * 1024 + 1);
	char *b64ish;

	assert_int_equal(token_verify(KEY, NULL, NOW, LIFE, &c), -1);
	assert_int_equal(token_verify(NULL, tok, NOW, LIFE, &c), -1);
	assert_int_equal(token_verify(KEY, tok, NOW, 0, &c), -1);
	assert_int_equal(verify(""), -1);
	assert_int_equal(verify("."), -1);
	assert_int_equal(verify(".."), -1);
	assert_int_equal(verify("a.b.c"), -1);

	assert_non_null(garbage);
	randombytes_buf(garbage, 5 * 1024);
	for (size_t i = 0; i < 5 * 1024; i++)
		if (garbage[i] == '\0')
			garbage[i] = 'x';
	garbage[5 * 1024] = '\0';
	assert_int_equal(verify(garbage), -1);

	/* 5 KB of base64url with the dots where they belong */
	b64ish = b64(*state, garbage, 3800);
	b64ish[100] = '.';
	b64ish[200] = '.';
	assert_int_equal(verify(b64ish), -1);
}

/* GOOD plus a member "x":"pp..." of n > 6 bytes in all, signed with KEY. */
static char *forge_padded(struct arena *a, size_t n)
{
	struct claims_text c = GOOD;
	char *pad = arena_alloc(a, n + 1);

	assert_non_null(pad);
	memset(pad, 'p', n);
	memcpy(pad, "\"x\":\"", 5);
	pad[n - 1] = '"';
	c.extra = pad;
	return forge_claims(a, &c);
}

static void test_length_bound_is_enforced(void **state)
{
	size_t n = 7;
	char *fits, *tok = forge_padded(*state, n);

	/* the longest token within TOKEN_MAX_LEN passes, the next longer one fails */
	do {
		fits = tok;
		tok = forge_padded(*state, ++n);
	} while (strlen(tok) <= TOKEN_MAX_LEN);
	assert_true(strlen(fits) >= TOKEN_MAX_LEN - 1);
	assert_int_equal(verify(fits), 0);
	assert_int_equal(verify(tok), -1);
}

static void test_wrong_iss_aud_or_typ_is_refused(void **state)
{
	struct claims_text c;

	c = GOOD; c.iss = "\"other\"";            assert_claims_refused(*state, &c);
	c = GOOD; c.iss = "\"Sotto\"";            assert_claims_refused(*state, &c);
	c = GOOD; c.iss = "\"sotto \"";           assert_claims_refused(*state, &c);
	c = GOOD; c.iss = "[\"sotto\"]";          assert_claims_refused(*state, &c);
	c = GOOD; c.iss = NULL;                   assert_claims_refused(*state, &c);
	c = GOOD; c.aud = "\"other\"";            assert_claims_refused(*state, &c);
	c = GOOD; c.aud = "[\"sotto\"]";          assert_claims_refused(*state, &c);
	c = GOOD; c.aud = NULL;                   assert_claims_refused(*state, &c);
	c = GOOD; c.typ = "\"refresh\"";          assert_claims_refused(*state, &c);
	c = GOOD; c.typ = "\"ACCESS\"";           assert_claims_refused(*state, &c);
	c = GOOD; c.typ = NULL;                   assert_claims_refused(*state, &c);
	assert_int_equal(verify(forge(*state, HDR, "[1]", MAC_HS256, KEY)), -1);
	assert_int_equal(verify(forge(*state, HDR, "{}", MAC_HS256, KEY)), -1);
}

static void test_missing_sub_sid_jti_iat_or_exp_is_refused(void **state)
{
	struct claims_text c;

	c = GOOD; c.sub = NULL; assert_claims_refused(*state, &c);
	c = GOOD; c.jti = NULL; assert_claims_refused(*state, &c);
	c = GOOD; c.sid = NULL; assert_claims_refused(*state, &c);
	c = GOOD; c.sid = "\"a.b\""; assert_claims_refused(*state, &c);
	c = GOOD; c.sid = "7"; assert_claims_refused(*state, &c);
	c = GOOD; c.iat = NULL; assert_claims_refused(*state, &c);
	c = GOOD; c.exp = NULL; assert_claims_refused(*state, &c);
}

static void test_times_that_are_not_json_integers_are_refused(void **state)
{
	static const char *bad[] = {
		"\"1700003600\"", "1700003600.0", "1700003600.5", "1.7000036e9",
		"true", "false", "null", "[1700003600]", "{}", "9223372036854775808",
		"1e400", "-1",
	};
	struct claims_text c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = GOOD; c.exp = bad[i]; assert_claims_refused(*state, &c);
		c = GOOD; c.iat = bad[i]; assert_claims_refused(*state, &c);
	}
	/* iat 0 is an integer like any other, and too old here */
	c = GOOD; c.iat = "0"; assert_claims_refused(*state, &c);
}

/*
 * libjwt reads a float, string, bool, null or array grant as the integer
 * 0 with errno 0. Near the epoch an iat of 0 would pass every time check,
 * so only the type check refuses these.
 */
static void test_iat_that_only_reads_as_zero_is_refused(void **state)
{
	static const char *zeroish[] = {
		"0.0", "-0.0", "0e0", "\"0\"", "null", "false", "[0]", "{}",
	};
	struct claims_text c = GOOD;

	c.iat = "0";
	c.exp = "3600";
	assert_int_equal(verify_at(forge_claims(*state, &c), 100, LIFE), 0);
	for (size_t i = 0; i < sizeof(zeroish) / sizeof(zeroish[0]); i++) {
		c.iat = zeroish[i];
		assert_int_equal(verify_at(forge_claims(*state, &c), 100, LIFE), -1);
	}
}

static void test_expired_token_is_refused(void **state)
{
	char *tok = forge_claims(*state, &GOOD);

	assert_int_equal(verify_at(tok, NOW + LIFE - 1, LIFE), 0);
	assert_int_equal(verify_at(tok, NOW + LIFE, LIFE), -1);
	assert_int_equal(verify_at(tok, NOW + LIFE + 1, LIFE), -1);
	assert_int_equal(verify_at(tok, INT64_MAX, LIFE), -1);
}

static void test_token_from_the_future_is_refused(void **state)
{
	char *tok = forge_claims(*state, &GOOD);
	struct claims_text c = GOOD;

	assert_int_equal(verify_at(tok, NOW - TOKEN_CLOCK_SKEW_S, LIFE), 0);
	assert_int_equal(verify_at(tok, NOW - TOKEN_CLOCK_SKEW_S - 1, LIFE), -1);
	assert_int_equal(verify_at(tok, INT64_MIN, LIFE), -1);
	/* iat a day ahead, exp still within the lifetime of it */
	c.iat = "1700086400";
	c.exp = "1700090000";
	assert_claims_refused(*state, &c);
}

static void test_lifetime_beyond_the_maximum_is_refused(void **state)
{
	struct claims_text c = GOOD;
	char *tok = forge_claims(*state, &GOOD);

	assert_int_equal(verify_at(tok, NOW, LIFE - 1), -1);
	assert_int_equal(verify_at(tok, NOW, LIFE), 0);
	c.exp = "1700003601";
	assert_claims_refused(*state, &c);
	c.exp = "9223372036854775807";
	assert_claims_refused(*state, &c);
	c.exp = "1700000000"; /* iat == exp */
	assert_claims_refused(*state, &c);
	c.exp = "1699999999"; /* exp before iat */
	assert_claims_refused(*state, &c);
	/* iat within the clock skew, exp still ahead of now but before iat */
	c.iat = "1700000030";
	c.exp = "1700000010";
	assert_claims_refused(*state, &c);
	c.iat = "1700000010";
	c.exp = "1700000030";
	assert_int_equal(verify(forge_claims(*state, &c)), 0);
}

static void test_non_base64url_characters_are_refused(void **state)
{
	static const char *bad_ids[] = {
		"\"\"", "\"a b\"", "\"a/b\"", "\"a+b\"", "\"ab==\"", "\"a.b\"",
		"\"\\u00e9\"", "\"a\\nb\"", "5", "[\"abc\"]",
	};
	char *tok = forge_claims(*state, &GOOD);
	size_t len = strlen(tok);
	struct claims_text c;
	char sub[TOKEN_SUB_MAX + 4], jti[TOKEN_JTI_MAX + 4];

	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		c = GOOD; c.sub = bad_ids[i]; assert_claims_refused(*state, &c);
		c = GOOD; c.jti = bad_ids[i]; assert_claims_refused(*state, &c);
	}
	/* sub and jti one longer than allowed, then exactly as long */
	memset(sub, 'a', sizeof(sub));
	sub[0] = '"'; sub[TOKEN_SUB_MAX + 2] = '"'; sub[TOKEN_SUB_MAX + 3] = '\0';
	c = GOOD; c.sub = sub; assert_claims_refused(*state, &c);
	sub[TOKEN_SUB_MAX + 1] = '"'; sub[TOKEN_SUB_MAX + 2] = '\0';
	c = GOOD; c.sub = sub; assert_int_equal(verify(forge_claims(*state, &c)), 0);
	memset(jti, 'a', sizeof(jti));
	jti[0] = '"'; jti[TOKEN_JTI_MAX + 2] = '"'; jti[TOKEN_JTI_MAX + 3] = '\0';
	c = GOOD; c.jti = jti; assert_claims_refused(*state, &c);
	jti[TOKEN_JTI_MAX + 1] = '"'; jti[TOKEN_JTI_MAX + 2] = '\0';
	c = GOOD; c.jti = jti; assert_int_equal(verify(forge_claims(*state, &c)), 0);

	/* the token text itself: standard base64, padding, spaces */
	for (size_t i = 0; i < len; i++) {
		static const char others[] = "+/= \t\n%\x7f\xff";

		if (tok[i] == '.')
			continue;
		for (const char *o = others; *o != '\0'; o++) {
			char *copy = arena_strdup(*state, tok);

			assert_non_null(copy);
			copy[i] = *o;
			assert_int_equal(verify(copy), -1);
		}
	}
	assert_int_equal(verify(arena_printf(*state, "%s=", tok)), -1);
	assert_int_equal(verify(arena_printf(*state, " %s", tok)), -1);
}

static void test_three_or_four_dots_are_refused(void **state)
{
	char *tok = forge_claims(*state, &GOOD);
	char *dot1 = strchr(tok, '.');

	assert_int_equal(verify(arena_printf(*state, "%s.", tok)), -1);
	assert_int_equal(verify(arena_printf(*state, "%s.x", tok)), -1);
	assert_int_equal(verify(arena_printf(*state, "%s..", tok)), -1);
	assert_int_equal(verify(arena_printf(*state, "%s.x.y", tok)), -1);
	assert_int_equal(verify(arena_printf(*state, ".%s", tok)), -1);
	assert_int_equal(verify(arena_printf(*state, "%.*s.%s", (int)(dot1 - tok), tok, dot1)), -1);
	assert_int_equal(verify("a..b"), -1);
	assert_int_equal(verify("a.b."), -1);
	assert_int_equal(verify(".a.b"), -1);
	assert_int_equal(verify("a.b.c.d"), -1);
	assert_int_equal(verify("a.b.c.d.e"), -1);
}

static void test_signature_must_be_canonical_hs256_length(void **state)
{
	char *tok = forge_claims(*state, &GOOD);
	size_t len = strlen(tok);
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const char *at = strchr(alphabet, tok[len - 1]);
	char *copy;

	/* 43 characters carry 258 bits: the last two must be zero */
	assert_non_null(at);
	copy = arena_strdup(*state, tok);
	assert_non_null(copy);
	copy[len - 1] = alphabet[(at - alphabet) ^ 1];
	assert_int_equal(verify(copy), -1);
	/* padding-free only; an extra character; one missing */
	assert_int_equal(verify(arena_printf(*state, "%sA", tok)), -1);
	assert_int_equal(verify(arena_strndup(*state, tok, len - 1)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_issued_token_verifies_with_the_same_claims, setup, teardown),
		cmocka_unit_test_setup_teardown(test_issue_refuses_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generation_claim_round_trips_and_only_integers_in_range_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bound_token_carries_its_key_thumbprint_and_only_that_shape_passes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forged_baseline_is_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_token_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alg_none_is_refused_in_any_case_and_with_any_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_algorithms_with_the_same_key_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_typ_other_than_JWT_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_signed_with_another_key_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_prefix_of_a_valid_token_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null_empty_and_garbage_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_length_bound_is_enforced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_iss_aud_or_typ_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_sub_sid_jti_iat_or_exp_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_times_that_are_not_json_integers_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iat_that_only_reads_as_zero_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_token_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_from_the_future_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lifetime_beyond_the_maximum_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_non_base64url_characters_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scope_claim_round_trips_and_only_known_bits_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_three_or_four_dots_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signature_must_be_canonical_hs256_length, setup, teardown),
	};
	return cmocka_run_group_tests_name("token", tests, NULL, NULL);
}
