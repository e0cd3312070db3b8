/* Unit tests for strict JSON parsing and the typed getters. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arena.h"
#include "json.h"

static int setup(void **state)
{
	*state = arena_new();
	return *state == NULL;
}

static int teardown(void **state)
{
	arena_free(*state);
	return 0;
}

static json_object *parse(struct arena *a, const char *s, const char **why)
{
	return json_parse_strict(a, s, strlen(s), 16, why);
}

static void test_valid_documents_parse(void **state)
{
	const char *why;
	assert_non_null(parse(*state, "{\"a\": [1, 2, {\"b\": null}], \"c\": \"\\u00e9\"}", &why));
	assert_non_null(parse(*state, " {} \r\n", &why));
	assert_non_null(parse(*state, "[]", &why));
	assert_non_null(parse(*state, "\"text\"", &why));
	assert_non_null(parse(*state, "[0, -0, 1.5, -2e10, 3E+2, 4.25e-3, true, false, null]", &why));
	assert_non_null(parse(*state, "{\"e\": \"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9\"}", &why));
}

static void test_trailing_garbage_is_refused(void **state)
{
	const char *why;
	assert_null(parse(*state, "{} x", &why));
	assert_null(parse(*state, "{} \"x\"", &why));
	assert_null(parse(*state, "{}{}", &why));
	assert_null(parse(*state, "[1]]", &why));
}

static void test_lenient_syntax_is_refused(void **state)
{
	const char *why;
	assert_null(parse(*state, "{'a': 1}", &why));
	assert_null(parse(*state, "{\"a\": 1,}", &why));
	assert_null(parse(*state, "[1,]", &why));
	assert_null(parse(*state, "{\"a\": 01}", &why));
	assert_null(parse(*state, "/* c */ {}", &why));
	assert_null(parse(*state, "{\"a\": NaN}", &why));
	assert_null(parse(*state, "{\"a\": True}", &why));
	assert_null(parse(*state, "{\"a\": 1} # c", &why));
	assert_null(parse(*state, "{\"a\": [1, 'x']}", &why));
	assert_null(parse(*state, "{\"a\": 1.}", &why));
	assert_null(parse(*state, "{\"a\": .5}", &why));
	assert_null(parse(*state, "{\"a\": 1e}", &why));
	assert_null(parse(*state, "{\"a\": -}", &why));
	assert_null(parse(*state, "{\"a\": +1}", &why));
	assert_null(parse(*state, "{\"a\": tru}", &why));
	assert_null(parse(*state, "{\"a\": \"\\x\"}", &why));
	assert_null(parse(*state, "{\"a\": \"\\u12g4\"}", &why));
	assert_null(parse(*state, "", &why));
	assert_null(parse(*state, "{\"a\"", &why));
}

static void test_invalid_utf8_is_refused(void **state)
{
	const char *why;
	assert_null(parse(*state, "{\"a\": \"\xff\"}", &why));
	assert_null(parse(*state, "{\"a\": \"\xc0\xaf\"}", &why));  /* overlong '/' */
	assert_null(parse(*state, "{\"a\": \"\xe2\x82\"}", &why));  /* truncated */
}

static void test_raw_control_characters_in_strings_are_refused(void **state)
{
	const char *why;
	assert_null(parse(*state, "{\"a\": \"x\ny\"}", &why));
	assert_null(parse(*state, "{\"a\": \"x\x01y\"}", &why));
	assert_null(parse(*state, "{\"a\": \"x\x1fy\"}", &why));
	assert_null(parse(*state, "{\"a\tb\": 1}", &why));
}

static void test_nul_bytes_are_refused_raw_and_escaped(void **state)
{
	const char *why;
	const char raw[] = "{\"a\": \"x\0y\"}";
	assert_null(json_parse_strict(*state, raw, sizeof(raw) - 1, 16, &why));
	assert_null(parse(*state, "{\"a\": \"x\\u0000y\"}", &why));
	assert_null(parse(*state, "{\"a\": [\"\\u0000\"]}", &why));
}

/* A UTF-16 surrogate half alone is no character (RFC 8259 section 8.2). */
static void test_lone_surrogate_escapes_are_refused_pairs_accepted(void **state)
{
	const char *why;

	assert_null(parse(*state, "{\"a\": \"x\\ud800y\"}", &why));
	assert_null(parse(*state, "{\"a\": \"x\\udc00\"}", &why));
	assert_null(parse(*state, "{\"a\": \"\\ud83d\"}", &why));
	assert_null(parse(*state, "{\"a\": \"\\ud83d\\u0041\"}", &why));
	assert_null(parse(*state, "{\"a\": \"\\ud83d\\n\"}", &why));
	assert_non_null(parse(*state, "{\"a\": \"\\ud83d\\ude00\"}", &why));
	assert_non_null(parse(*state, "{\"a\": \"\\uD83D\\uDE00 \\u00e9\"}", &why));
}

static void test_depth_over_the_limit_is_refused(void **state)
{
	const char *why;
	char deep[256], ok[256];
	memset(deep, '[', 17); memset(deep + 17, ']', 17); deep[34] = '\0';
	memset(ok, '[', 16); memset(ok + 16, ']', 16); ok[32] = '\0';
	assert_non_null(parse(*state, ok, &why));
	assert_null(parse(*state, deep, &why));
	assert_string_equal(why, "JSON nested too deeply");
}

static void test_getters_check_types_and_ranges(void **state)
{
	const char *why, *s;
	size_t len;
	int64_t n;
	bool b;
	json_object *o = parse(*state,
		"{\"s\": \"hi\", \"n\": 5, \"f\": 1.5, \"b\": true, \"z\": null,"
		" \"big\": 99999999999999999999, \"neg\": -3}", &why);

	assert_non_null(o);
	assert_int_equal(json_get_string(o, "s", &s, &len), 1);
	assert_string_equal(s, "hi");
	assert_int_equal(len, 2);
	assert_int_equal(json_get_string(o, "n", &s, &len), -1);
	assert_int_equal(json_get_string(o, "missing", &s, &len), 0);
	assert_int_equal(json_get_string(o, "z", &s, &len), 0);
	assert_int_equal(json_get_int64(o, "n", -10, 10, &n), 1);
	assert_int_equal(n, 5);
	assert_int_equal(json_get_int64(o, "n", 0, 4, &n), -1);
	assert_int_equal(json_get_int64(o, "f", -10, 10, &n), -1);
	assert_int_equal(json_get_int64(o, "big", 0, INT64_MAX - 1, &n), -1);
	assert_int_equal(json_get_int64(o, "neg", -1, 1, &n), -1);
	assert_int_equal(json_get_bool(o, "b", &b), 1);
	assert_true(b);
	assert_int_equal(json_get_bool(o, "s", &b), -1);
}

/* True when s[0..len) is all zero bytes. */
static bool all_zero(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != '\0')
			return false;
	return true;
}

/*
 * A parsed body is wiped when its request's arena is reset: every string
 * value, nested ones included, is zeroed before json-c frees it (a second
 * reference keeps the object alive here so that its bytes can be read).
 */
static void test_arena_reset_wipes_every_string_of_a_parsed_body(void **state)
{
	static const char body[] =
		"{\"password\": \"correct horse battery staple\", \"n\": 5, "
		"\"nested\": {\"list\": [\"a decrypted message\", {\"deep\": \"secret note\"}]}}";
	const char *why, *s[3];
	size_t len[3];
	json_object *o, *nested, *list;

	o = parse(*state, body, &why);
	assert_non_null(o);
	json_object_get(o);
	assert_true(json_object_object_get_ex(o, "nested", &nested));
	assert_true(json_object_object_get_ex(nested, "list", &list));
	assert_int_equal(json_get_string(o, "password", &s[0], &len[0]), 1);
	s[1] = json_object_get_string(json_object_array_get_idx(list, 0));
	len[1] = strlen(s[1]);
	assert_int_equal(json_get_string(json_object_array_get_idx(list, 1), "deep", &s[2], &len[2]),
	                 1);
	assert_string_equal(s[2], "secret note");
	arena_reset(*state);
	for (size_t i = 0; i < 3; i++)
		assert_true(all_zero(s[i], len[i]));
	json_object_put(o);
}

/* json_quote writes a string byte for byte as json_dump does, for every byte value. */
static void test_quote_writes_what_json_c_writes(void **state)
{
	const char *mixed = "He said \"hi\" \\ back/slash\nnew\ttab\r\b\f\x01\x1f\x7f "
	                    "\xc3\xa9 \xe2\x9c\x93 </script>";
	char text[256], out[JSON_QUOTED_MAX(sizeof(text))];
	(void)state;

	/* each byte value at each place of a 19-byte text (eight at a time, and the rest) */
	for (int c = 0; c < 256; c++) {
		for (size_t at = 0; at < 19; at++) {
			memset(text, 'a', 19);
			text[at] = (char)c;
			text[(at + 9) % 19] = (char)0xc3;   /* bytes of 0x80 and above are never escaped */
			json_object *o = json_object_new_string_len(text, 19);
			size_t want_len = 0, n = json_quote(out, text, 19);
			const char *want = json_dump(o, &want_len);

			assert_int_equal(n, want_len);
			assert_memory_equal(out, want, n);
			json_object_put(o);
		}
	}
	json_object *o = json_object_new_string(mixed);
	size_t want_len = 0, n = json_quote(out, mixed, strlen(mixed));
	const char *want = json_dump(o, &want_len);

	assert_int_equal(n, want_len);
	assert_memory_equal(out, want, n);
	json_object_put(o);
	assert_int_equal(json_quote(out, "", 0), 2);
	assert_memory_equal(out, "\"\"", 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_valid_documents_parse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trailing_garbage_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lenient_syntax_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_utf8_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw_control_characters_in_strings_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_bytes_are_refused_raw_and_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lone_surrogate_escapes_are_refused_pairs_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_depth_over_the_limit_is_refused, setup, teardown),
		cmocka_unit_test(test_quote_writes_what_json_c_writes),
		cmocka_unit_test_setup_teardown(test_getters_check_types_and_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arena_reset_wipes_every_string_of_a_parsed_body, setup,
		                                teardown),
	};
	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
