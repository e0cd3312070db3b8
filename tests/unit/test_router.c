/* Unit tests for the router: static patterns, {param} capture, 404 and 405. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "arena.h"
#include "router.h"

static int h(struct request *req) { (void)req; return 200; }

static const struct route table[] = {
	{ HTTP_GET,    "/health",            h, 0, RATE_NONE, POW_NONE },
	{ HTTP_GET,    "/posts/{id}",        h, 0, RATE_NONE, POW_NONE },
	{ HTTP_DELETE, "/posts/{id}",        h, 0, RATE_NONE, POW_NONE },
	{ HTTP_POST,   "/posts/{id}/vote",   h, 0, RATE_NONE, POW_NONE },
	{ HTTP_POST,   "/posts",             h, 0, RATE_NONE, POW_NONE },
	{ HTTP_GET,    "/dm/{id}/messages",  h, 0, RATE_NONE, POW_NONE },
	{ HTTP_GET,    "/tags/{name}",       h, 0, RATE_NONE, POW_NONE },
	{ HTTP_GET,    "/c/{slug}",          h, 0, RATE_NONE, POW_NONE },
};

#define ID "abc_-1abcdefghijklmnop"   /* a public id: 22 base64url characters */
static const size_t n_table = sizeof(table) / sizeof(table[0]);

struct fx { struct arena *a; };

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->a = arena_new();
	*state = f;
	return f->a == NULL;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	arena_free(f->a);
	free(f);
	return 0;
}

static int lookup(struct fx *f, enum http_method m, const char *path,
                  const char **params, size_t *n, unsigned *allow)
{
	return route_lookup(table, n_table, f->a, m, path, params, n, allow);
}

static void test_literal_path_matches_exactly(void **state)
{
	const char *p[HTTP_MAX_PARAMS]; size_t n; unsigned allow;
	assert_int_equal(lookup(*state, HTTP_GET, "/health", p, &n, &allow), 0);
	assert_int_equal(n, 0);
	assert_int_equal(lookup(*state, HTTP_GET, "/health/", p, &n, &allow), -1);
	assert_int_equal(lookup(*state, HTTP_GET, "/healthz", p, &n, &allow), -1);
	assert_int_equal(lookup(*state, HTTP_GET, "//health", p, &n, &allow), -1);
	assert_int_equal(lookup(*state, HTTP_GET, "/", p, &n, &allow), -1);
	assert_int_equal(lookup(*state, HTTP_GET, "", p, &n, &allow), -1);
}

static void test_param_segment_is_captured_and_decoded(void **state)
{
	const char *p[HTTP_MAX_PARAMS]; size_t n; unsigned allow;
	assert_int_equal(lookup(*state, HTTP_POST, "/posts/" ID "/vote", p, &n, &allow), 3);
	assert_int_equal(n, 1);
	assert_string_equal(p[0], ID);
	assert_int_equal(lookup(*state, HTTP_GET, "/posts/%61bc_-1abcdefghijklmnop", p, &n, &allow), 1);
	assert_string_equal(p[0], ID);
	assert_int_equal(lookup(*state, HTTP_GET, "/tags/a%20b", p, &n, &allow), 6);
	assert_string_equal(p[0], "a b");
	assert_int_equal(lookup(*state, HTTP_GET, "/tags/%C3%A9t%C3%A9", p, &n, &allow), 6);
	assert_string_equal(p[0], "\xc3\xa9t\xc3\xa9");
}

static void test_empty_param_segment_does_not_match(void **state)
{
	const char *p[HTTP_MAX_PARAMS]; size_t n; unsigned allow;
	assert_int_equal(lookup(*state, HTTP_GET, "/posts/", p, &n, &allow), -1);
	assert_int_equal(lookup(*state, HTTP_POST, "/posts//vote", p, &n, &allow), -1);
}

static void test_encoded_nul_in_param_is_not_found(void **state)
{
	const char *p[HTTP_MAX_PARAMS]; size_t n; unsigned allow;
	assert_int_equal(lookup(*state, HTTP_GET, "/tags/a%00b", p, &n, &allow), -1);
	assert_int_equal(lookup(*state, HTTP_GET, "/tags/a%zz", p, &n, &allow), -1);
}

/* Not UTF-8: a stray byte, a truncated sequence, an overlong form, a surrogate. */
static void test_param_that_is_not_utf8_is_not_found_for_every_method(void **state)
{
	static const char *const bad[] = { "%FF%FE", "%C3%28", "a%C3", "%C0%AF", "%ED%A0%80" };
	const char *p[HTTP_MAX_PARAMS]; size_t n; unsigned allow;
	char path[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(path, sizeof(path), "/tags/%s", bad[i]);
		assert_int_equal(lookup(*state, HTTP_GET, path, p, &n, &allow), -1);
		for (int m = 0; m < HTTP__MAX; m++) {
			snprintf(path, sizeof(path), "/posts/%s", bad[i]);
			assert_int_equal(lookup(*state, (enum http_method)m, path, p, &n, &allow), -1);
			assert_int_equal(allow, 0);
		}
	}
}

/* An {id} is 22 base64url characters, a {slug} 3..32 of a-z, 0-9 and '-'. */
static void test_param_out_of_shape_is_not_found_for_every_method(void **state)
{
	static const char *const bad_ids[] = {
		"abc_-1abcdefghijklmno",       /* 21 */
		"abc_-1abcdefghijklmnopq",     /* 23 */
		"abc_-1abcdefghijklmn.p",      /* '.' */
		"abc_-1abcdefghijklmn%2Bp",    /* '+' */
		"abc_-1abcdefghijklmn%C3%A9",  /* UTF-8, not base64url */
	};
	static const char *const bad_slugs[] = { "ab", "ABC", "abc_d", "a%20bc",
		"abcdefghijklmnopqrstuvwxyz0123456" };
	const char *p[HTTP_MAX_PARAMS]; size_t n; unsigned allow;
	char path[96];

	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++)
		for (int m = 0; m < HTTP__MAX; m++) {
			snprintf(path, sizeof(path), "/posts/%s", bad_ids[i]);
			assert_int_equal(lookup(*state, (enum http_method)m, path, p, &n, &allow), -1);
			snprintf(path, sizeof(path), "/dm/%s/messages", bad_ids[i]);
			assert_int_equal(lookup(*state, (enum http_method)m, path, p, &n, &allow), -1);
		}
	for (size_t i = 0; i < sizeof(bad_slugs) / sizeof(bad_slugs[0]); i++) {
		snprintf(path, sizeof(path), "/c/%s", bad_slugs[i]);
		assert_int_equal(lookup(*state, HTTP_GET, path, p, &n, &allow), -1);
	}
	assert_int_equal(lookup(*state, HTTP_GET, "/c/abc", p, &n, &allow), 7);
	/* 32 characters, the longest slug; one more is out of shape (bad_slugs). */
	assert_int_equal(lookup(*state, HTTP_GET, "/c/abcdefghijklmnopqrstuvwxyz-01234", p, &n,
	                        &allow), 7);
}

static void test_wrong_method_is_405_with_allowed_methods(void **state)
{
	const char *p[HTTP_MAX_PARAMS]; size_t n; unsigned allow;
	struct fx *f = *state;
	assert_int_equal(lookup(f, HTTP_PUT, "/posts/" ID, p, &n, &allow), -2);
	assert_true(allow & (1u << HTTP_GET));
	assert_true(allow & (1u << HTTP_HEAD));
	assert_true(allow & (1u << HTTP_DELETE));
	assert_false(allow & (1u << HTTP_POST));
	assert_string_equal(route_allow_header(f->a, allow), "GET, HEAD, DELETE");
}

static void test_head_is_served_by_get_routes(void **state)
{
	const char *p[HTTP_MAX_PARAMS]; size_t n; unsigned allow;
	assert_int_equal(lookup(*state, HTTP_HEAD, "/health", p, &n, &allow), 0);
}

static void test_same_pattern_different_methods_pick_the_right_route(void **state)
{
	const char *p[HTTP_MAX_PARAMS]; size_t n; unsigned allow;
	assert_int_equal(lookup(*state, HTTP_DELETE, "/posts/" ID, p, &n, &allow), 2);
	assert_int_equal(lookup(*state, HTTP_POST, "/posts", p, &n, &allow), 4);
	assert_int_equal(lookup(*state, HTTP_GET, "/posts", p, &n, &allow), -2);
}

static void test_the_real_table_has_unique_method_and_pattern_pairs(void **state)
{
	(void)state;
	for (size_t i = 0; i < route_count; i++)
		for (size_t j = i + 1; j < route_count; j++)
			assert_false(route_table[i].method == route_table[j].method &&
			             strcmp(route_table[i].pattern, route_table[j].pattern) == 0);
}

/* The route of the real table with this method and pattern into *out; false when none. */
static bool real_route(enum http_method m, const char *pattern, struct route *out)
{
	for (size_t i = 0; i < route_count; i++)
		if (route_table[i].method == m && strcmp(route_table[i].pattern, pattern) == 0) {
			*out = route_table[i];
			return true;
		}
	return false;
}

/*
 * Direct messages: a start costs the DM class and the dm proof of work;
 * reading messages moves the read position, so it is a write; keys are
 * set per conversation and the account-wide key route is gone.
 */
static void test_the_real_table_flags_the_dm_routes(void **state)
{
	const unsigned key_flags = ROUTE_AUTH | ROUTE_JSON | ROUTE_WRITE;
	struct route r;

	(void)state;
	assert_true(real_route(HTTP_POST, "/dm/start_from_post", &r));
	assert_int_equal(r.rate, RATE_DM);
	assert_int_equal(r.pow, POW_DM);
	assert_true(real_route(HTTP_GET, "/dm/{id}/messages", &r));
	assert_true(r.flags & ROUTE_WRITE);
	assert_true(real_route(HTTP_PUT, "/dm/{id}/key", &r));
	assert_int_equal(r.flags & key_flags, key_flags);
	assert_false(real_route(HTTP_PUT, "/me/keys", &r));
}

/*
 * Scopes are checked in one place, from the flags: every route that reads
 * a token says what it must allow, and only such routes say so.
 */
static void test_every_route_taking_a_token_names_its_scopes(void **state)
{
	(void)state;
	for (size_t i = 0; i < route_count; i++) {
		unsigned f = route_table[i].flags;
		bool takes_token = (f & (ROUTE_AUTH | ROUTE_AUTH_OPT)) != 0;

		if (takes_token != ((f & ROUTE_SCOPES) != 0))
			fail_msg("%s %s: scope flags and token flags disagree",
			         http_method_name(route_table[i].method), route_table[i].pattern);
		if ((f & ROUTE_ANY_SCOPE) && (f & ROUTE_SCOPES) != ROUTE_ANY_SCOPE)
			fail_msg("%s: ROUTE_ANY_SCOPE with another scope", route_table[i].pattern);
	}
}

/* The routes only the account's owner may use, never a client's token. */
static void test_password_deletion_and_approval_are_first_party_only(void **state)
{
	struct route r;

	(void)state;
	assert_true(real_route(HTTP_POST, "/me/password", &r) && (r.flags & ROUTE_FIRST_PARTY));
	assert_true(real_route(HTTP_DELETE, "/me", &r) && (r.flags & ROUTE_FIRST_PARTY));
	assert_true(real_route(HTTP_POST, "/oauth/authorize", &r) && (r.flags & ROUTE_FIRST_PARTY));
	assert_true(real_route(HTTP_POST, "/oauth/token", &r) && (r.flags & ROUTE_FORM) &&
	            !(r.flags & (ROUTE_JSON | ROUTE_JSON_OPT)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_literal_path_matches_exactly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_param_segment_is_captured_and_decoded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_param_segment_does_not_match, setup, teardown),
		cmocka_unit_test_setup_teardown(test_encoded_nul_in_param_is_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_param_that_is_not_utf8_is_not_found_for_every_method,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_param_out_of_shape_is_not_found_for_every_method,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_method_is_405_with_allowed_methods, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head_is_served_by_get_routes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_pattern_different_methods_pick_the_right_route, setup, teardown),
		cmocka_unit_test(test_the_real_table_has_unique_method_and_pattern_pairs),
		cmocka_unit_test(test_the_real_table_flags_the_dm_routes),
		cmocka_unit_test(test_every_route_taking_a_token_names_its_scopes),
		cmocka_unit_test(test_password_deletion_and_approval_are_first_party_only),
	};
	return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
