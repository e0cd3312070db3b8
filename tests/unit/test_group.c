/*
 * test_group.c — the rules of groups that need no database (app/group.c):
 * X25519 keys, the shape of a key set, whether it covers exactly the
 * current members, and invite hashes. (Which epoch takes messages is
 * decided under the group's lock in sql/018's sotto_group_send and shown
 * end to end by tests/e2e/test_groups.py.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <json-c/json.h>
#include <sodium.h>

#include "group.h"

#define A "member_a_22_characters"
#define B "member_b_22_characters"
#define C "member_c_22_characters"
#define BOX48 "Ym94Ym94Ym94Ym94Ym94Ym94Ym94Ym94Ym94Ym94Ym94Ym94Ym94Ym94Ym94Ym94"
#define NONCE "bm9uY2Vub25jZW5vbmNlbm9uY2Vub25j"

static json_object *keyset(const char *text)
{
	json_object *o = json_tokener_parse(text);

	assert_non_null(o);
	return o;
}

/* parse text with room for max boxes: 0 or -1, *n set on success */
static int parse(const char *text, size_t max, size_t *n, const char **why)
{
	struct group_box boxes[4];
	json_object *o = keyset(text);
	int rc;

	assert_true(max <= 4);
	*why = NULL;
	rc = group_keyset_parse(o, boxes, max, n, why);
	json_object_put(o);
	if (rc != 0)
		assert_non_null(*why);
	return rc;
}

#define ENTRY(id) "{\"member_id\":\"" id "\",\"box\":\"" BOX48 "\",\"nonce\":\"" NONCE "\"}"

static void test_a_well_formed_key_set_parses(void **state)
{
	const char *why;
	size_t n = 0;

	(void)state;
	assert_int_equal(parse("[" ENTRY(A) "," ENTRY(B) "]", 4, &n, &why), 0);
	assert_int_equal(n, 2);
}

static void test_malformed_key_sets_are_refused_with_a_reason(void **state)
{
	const char *bad[] = {
		"[]", "{}", "5", "[1]",
		"[" ENTRY(A) "," ENTRY(A) "]",                                   /* twice */
		"[{\"member_id\":\"short\",\"box\":\"" BOX48 "\",\"nonce\":\"" NONCE "\"}]",
		"[{\"member_id\":\"" A "\",\"box\":\"" BOX48 "\",\"nonce\":\"bm9uY2U\"}]",
		"[{\"member_id\":\"" A "\",\"box\":\"Ym94\",\"nonce\":\"" NONCE "\"}]",  /* no MAC */
		"[{\"member_id\":\"" A "\",\"box\":\"" BOX48 BOX48 BOX48 "\",\"nonce\":\"" NONCE "\"}]",
		"[{\"member_id\":\"" A "\",\"box\":\"" BOX48 "!\",\"nonce\":\"" NONCE "\"}]",
		"[{\"box\":\"" BOX48 "\",\"nonce\":\"" NONCE "\"}]",
	};
	const char *why;
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(bad[i], 4, &n, &why), -1);
	/* more boxes than the group can have members */
	assert_int_equal(parse("[" ENTRY(A) "," ENTRY(B) "," ENTRY(C) "]", 2, &n, &why), -1);
}

static void test_a_key_set_must_cover_exactly_the_members(void **state)
{
	struct group_box boxes[3] = { { .member_id = A }, { .member_id = B },
	                              { .member_id = C } };
	const char *ab[] = { A, B }, *ba[] = { B, A }, *abc[] = { A, B, C }, *ac[] = { A, C };

	(void)state;
	assert_true(group_keyset_covers(boxes, 2, ab, 2));
	assert_true(group_keyset_covers(boxes, 2, ba, 2));      /* any order */
	assert_true(group_keyset_covers(boxes, 3, abc, 3));
	assert_false(group_keyset_covers(boxes, 2, abc, 3));    /* one member missing */
	assert_false(group_keyset_covers(boxes, 3, ab, 2));     /* a removed member kept */
	assert_false(group_keyset_covers(boxes, 2, ac, 2));     /* someone else */
}

static void test_x25519_keys_must_be_32_bytes_and_not_zero(void **state)
{
	unsigned char k[GROUP_X25519_BYTES];
	const char *good = "Ym94Ym94Ym94Ym94Ym94Ym94Ym94Ym94Ym94Ym94Ym8";

	(void)state;
	assert_int_equal(group_x25519_parse(good, strlen(good), k), 0);
	assert_int_equal(group_x25519_parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 43, k), -1);
	assert_int_equal(group_x25519_parse(good, 42, k), -1);
	assert_int_equal(group_x25519_parse(NULL, 0, k), -1);
}

static void test_invite_hashes_depend_on_key_and_secret(void **state)
{
	unsigned char k1[32] = { 1 }, k2[32] = { 2 }, h1[32], h2[32], h3[32];

	(void)state;
	group_invite_hash(k1, "secret-one", 10, h1);
	group_invite_hash(k2, "secret-one", 10, h2);
	group_invite_hash(k1, "secret-two", 10, h3);
	assert_memory_not_equal(h1, h2, 32);
	assert_memory_not_equal(h1, h3, 32);
	group_invite_hash(k1, "secret-one", 10, h2);
	assert_memory_equal(h1, h2, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_well_formed_key_set_parses),
		cmocka_unit_test(test_malformed_key_sets_are_refused_with_a_reason),
		cmocka_unit_test(test_a_key_set_must_cover_exactly_the_members),
		cmocka_unit_test(test_x25519_keys_must_be_32_bytes_and_not_zero),
		cmocka_unit_test(test_invite_hashes_depend_on_key_and_secret),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
