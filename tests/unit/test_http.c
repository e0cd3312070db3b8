/* Unit tests for percent-decoding, query strings, form bodies and the error formats. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "arena.h"
#include "http.h"
#include "json.h"

static int setup(void **state)
{
	struct request *req = calloc(1, sizeof(*req));
	req->arena = arena_new();
	*state = req;
	return req->arena == NULL;
}

static int teardown(void **state)
{
	struct request *req = *state;
	arena_free(req->arena);
	free(req);
	return 0;
}

static void test_percent_decoding_handles_escapes_and_plus(void **state)
{
	struct request *req = *state;
	assert_string_equal(http_percent_decode(req->arena, "a%20b%2Fc", 9, false), "a b/c");
	assert_string_equal(http_percent_decode(req->arena, "a+b", 3, true), "a b");
	assert_string_equal(http_percent_decode(req->arena, "a+b", 3, false), "a+b");
	assert_string_equal(http_percent_decode(req->arena, "%e2%9c%93", 9, false), "\xe2\x9c\x93");
	assert_string_equal(http_percent_decode(req->arena, "", 0, false), "");
}

static void test_percent_decoding_rejects_bad_escapes_and_nul(void **state)
{
	struct request *req = *state;
	assert_null(http_percent_decode(req->arena, "%", 1, false));
	assert_null(http_percent_decode(req->arena, "%2", 2, false));
	assert_null(http_percent_decode(req->arena, "ab%g1", 5, false));
	assert_null(http_percent_decode(req->arena, "a%00", 4, false));
}

/* RFC 3629: a stray byte, a truncated sequence, an overlong '/', a surrogate, raw 0xFF. */
static void test_percent_decoding_refuses_what_is_not_utf8(void **state)
{
	struct request *req = *state;
	assert_null(http_percent_decode(req->arena, "%FF%FE", 6, false));
	assert_null(http_percent_decode(req->arena, "%C3%28", 6, false));
	assert_null(http_percent_decode(req->arena, "ab%C3", 5, false));
	assert_null(http_percent_decode(req->arena, "%C0%AF", 6, false));
	assert_null(http_percent_decode(req->arena, "%ED%A0%80", 9, true));
	assert_null(http_percent_decode(req->arena, "a\xff" "b", 3, true));
	assert_string_equal(http_percent_decode(req->arena, "%F0%9F%98%80", 12, true),
	                    "\xf0\x9f\x98\x80");
}

static void test_query_string_is_split_and_decoded(void **state)
{
	struct request *req = *state;
	assert_int_equal(http_parse_query(req, "sort=new&community=cats%2Bdogs&flag&limit=20&&x="), 0);
	assert_int_equal(req->n_query, 5);
	assert_string_equal(http_query(req, "sort"), "new");
	assert_string_equal(http_query(req, "community"), "cats+dogs");
	assert_string_equal(http_query(req, "flag"), "");
	assert_string_equal(http_query(req, "x"), "");
	assert_null(http_query(req, "missing"));
}

static void test_query_string_with_bad_escape_is_refused(void **state)
{
	struct request *req = *state;
	assert_int_equal(http_parse_query(req, "a=%zz"), -1);
	assert_int_equal(http_parse_query(req, "a=%00"), -1);
	assert_int_equal(http_parse_query(req, "community=%C3%28"), -1);
	assert_int_equal(http_parse_query(req, "%FF=1"), -1);
}

static void test_query_string_with_too_many_pairs_is_refused(void **state)
{
	struct request *req = *state;
	char qs[HTTP_MAX_QUERY * 4 + 8] = "";
	for (int i = 0; i <= HTTP_MAX_QUERY; i++)
		strcat(qs, "a=1&");
	assert_int_equal(http_parse_query(req, qs), -1);
}

static void test_error_body_has_the_contract_shape(void **state)
{
	struct request *req = *state;
	json_object *err, *v;
	assert_int_equal(http_error_reason(req, 422, "content_rejected", "no", "links"), 422);
	assert_true(json_object_object_get_ex(req->reply, "error", &err));
	assert_true(json_object_object_get_ex(err, "code", &v));
	assert_string_equal(json_object_get_string(v), "content_rejected");
	assert_true(json_object_object_get_ex(err, "message", &v));
	assert_true(json_object_object_get_ex(err, "reason", &v));
	assert_string_equal(json_object_get_string(v), "links");
	assert_int_equal(json_object_object_length(req->reply), 1);
}

/* Parse a form body given as a C string: its status; *n pairs in out. */
static int form(struct request *req, const char *body, struct query_param *out, size_t *n)
{
	const char *why = NULL;
	int rc = http_parse_form(req->arena, body, strlen(body), out, HTTP_MAX_FORM, n, &why);

	if (rc != 0)
		assert_non_null(why);
	return rc;
}

static void test_form_body_is_split_and_decoded(void **state)
{
	struct request *req = *state;
	size_t n;

	assert_int_equal(form(req, "grant_type=authorization_code&code=a%2Bb&redirect_uri="
	                      "https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1&state=two+words&empty=",
	                      req->form, &n), 0);
	req->n_form = n;
	assert_int_equal(n, 5);
	assert_string_equal(http_form(req, "grant_type"), "authorization_code");
	assert_string_equal(http_form(req, "code"), "a+b");
	assert_string_equal(http_form(req, "redirect_uri"), "https://app.example/cb?x=1");
	assert_string_equal(http_form(req, "state"), "two words");
	/* RFC 6749 section 3.1: a parameter without a value is as if omitted */
	assert_null(http_form(req, "empty"));
	assert_null(http_form(req, "missing"));
	assert_int_equal(form(req, "", req->form, &n), 0);
	assert_int_equal(n, 0);
}

/* As strict as a JSON body: anything ambiguous or malformed is refused whole. */
static void test_form_body_refuses_what_is_malformed_or_ambiguous(void **state)
{
	static const char *const bad[] = {
		"code=a&code=b",            /* RFC 6749 section 3.1: never twice */
		"code=a&%63ode=b",          /* the same name, escaped */
		"code",                     /* no '=' */
		"=x",                       /* no name */
		"a=1&&b=2",                 /* an empty pair */
		"a=1&",                     /* a trailing '&' */
		"&a=1",                     /* a leading '&' */
		"a=%zz",                    /* a bad escape */
		"a=%00",                    /* an encoded NUL */
		"a=%C3%28",                 /* not UTF-8 */
		"%FF=1",
		"a=%2",                     /* a truncated escape */
	};
	struct request *req = *state;
	char name[HTTP_FORM_NAME_MAX + 4], body[HTTP_MAX_FORM * 8 + 8] = "";
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(form(req, bad[i], req->form, &n), -1);
	memset(name, 'a', HTTP_FORM_NAME_MAX + 1);
	strcpy(name + HTTP_FORM_NAME_MAX + 1, "=1");
	assert_int_equal(form(req, name, req->form, &n), -1);
	strcpy(name + HTTP_FORM_NAME_MAX, "=1");
	assert_int_equal(form(req, name, req->form, &n), 0);
	for (int i = 0; i < HTTP_MAX_FORM; i++)
		sprintf(body + strlen(body), "%sp%d=1", i > 0 ? "&" : "", i);
	assert_int_equal(form(req, body, req->form, &n), 0);
	assert_int_equal(n, HTTP_MAX_FORM);
	strcat(body, "&one=more");
	assert_int_equal(form(req, body, req->form, &n), -1);
}

/* On a token endpoint route every error is RFC 6749's {"error", "error_description"}. */
static void test_errors_of_a_token_endpoint_have_the_oauth_shape(void **state)
{
	struct request *req = *state;
	json_object *v;

	req->oauth_errors = true;
	assert_int_equal(http_error(req, 415, "unsupported_media_type", "form please"), 415);
	assert_true(json_object_object_get_ex(req->reply, "error", &v));
	assert_string_equal(json_object_get_string(v), "invalid_request");
	assert_true(json_object_object_get_ex(req->reply, "error_description", &v));
	assert_string_equal(json_object_get_string(v), "form please");
	assert_int_equal(json_object_object_length(req->reply), 2);
	assert_int_equal(http_error(req, 429, "rate_limited", "slow"), 429);
	assert_true(json_object_object_get_ex(req->reply, "error", &v));
	assert_string_equal(json_object_get_string(v), "slow_down");
	assert_int_equal(http_error(req, 500, "internal", "x"), 500);
	assert_true(json_object_object_get_ex(req->reply, "error", &v));
	assert_string_equal(json_object_get_string(v), "server_error");
	assert_int_equal(http_oauth_error(req, 400, "invalid_grant", "used"), 400);
	assert_true(json_object_object_get_ex(req->reply, "error", &v));
	assert_string_equal(json_object_get_string(v), "invalid_grant");
}

static void test_percent_encoding_keeps_only_unreserved_characters(void **state)
{
	struct request *req = *state;
	const char *enc = http_percent_encode(req->arena, "a b&c=d/é~-._");

	assert_string_equal(enc, "a%20b%26c%3Dd%2F%C3%A9~-._");
	assert_string_equal(http_percent_decode(req->arena, enc, strlen(enc), false), "a b&c=d/é~-._");
}

static void test_method_names_round_trip(void **state)
{
	(void)state;
	for (int m = 0; m < HTTP__MAX; m++)
		assert_int_equal(http_method_parse(http_method_name((enum http_method)m)), m);
	assert_int_equal(http_method_parse("get"), HTTP_UNKNOWN);
	assert_int_equal(http_method_parse("BREW"), HTTP_UNKNOWN);
	assert_int_equal(http_method_parse(NULL), HTTP_UNKNOWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_percent_decoding_handles_escapes_and_plus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_percent_decoding_rejects_bad_escapes_and_nul, setup, teardown),
cmocka_unit_test_setup_teardown(test_percent_decoding_refuses_what_is_not_utf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_string_is_split_and_decoded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_string_with_bad_escape_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_string_with_too_many_pairs_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_body_has_the_contract_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_form_body_is_split_and_decoded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_form_body_refuses_what_is_malformed_or_ambiguous, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_of_a_token_endpoint_have_the_oauth_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_percent_encoding_keeps_only_unreserved_characters, setup, teardown),
		cmocka_unit_test(test_method_names_round_trip),
	};
	return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
