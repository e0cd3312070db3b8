/*
 * test_cachemac.c — authenticated Redis values: what cachemac_seal writes
 * opens again under the same key, name and bind until it expires, and
 * nothing else opens: another key, name (a value moved to another Redis
 * key) or bind, an expired value, any changed byte, malformed text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "cachemac.h"

static const unsigned char KEY[CACHEMAC_KEY_BYTES] = {
	0x1f, 0x8a, 0x33, 0xc4, 0x05, 0x9e, 0x72, 0xdb, 0x40, 0x16, 0xa9, 0x5c,
	0xe7, 0x28, 0x91, 0x6d, 0x3a, 0xf0, 0x84, 0x0b, 0xc2, 0x57, 0x19, 0xae,
	0x63, 0xd5, 0x2f, 0x98, 0x4e, 0x01, 0xb7, 0x7c,
};

#define NAME "ac:00ff.jti"
#define NOW 1700000000
#define PAYLOAD "2|7|42|19000|0.250000|1"

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

static const char *open_now(const unsigned char *key, const char *name, const char *bind,
                            const char *value)
{
	return cachemac_open(key, name, bind, value, strlen(value), NOW);
}

static void test_sealed_value_opens_to_its_payload(void **state)
{
	char *v = cachemac_seal(*state, KEY, NAME, "", NOW + 60, PAYLOAD);
	const char *p;

	assert_non_null(v);
	assert_int_equal(v[CACHEMAC_TAG_CHARS], '.');
	assert_non_null(strstr(v, ".1700000060." PAYLOAD));
	p = open_now(KEY, NAME, "", v);
	assert_non_null(p);
	assert_string_equal(p, PAYLOAD);
	/* The payload is the tail of the stored text, not a copy. */
	assert_ptr_equal(p, v + strlen(v) - strlen(PAYLOAD));
}

static void test_empty_payload_opens(void **state)
{
	char *v = cachemac_seal(*state, KEY, "authch:abc", "pk", NOW + 1, "");

	assert_non_null(v);
	assert_string_equal(open_now(KEY, "authch:abc", "pk", v), "");
}

static void test_other_key_does_not_open(void **state)
{
	unsigned char other[CACHEMAC_KEY_BYTES];
	char *v = cachemac_seal(*state, KEY, NAME, "", NOW + 60, PAYLOAD);

	memcpy(other, KEY, sizeof(other));
	other[31] ^= 1;
	assert_null(open_now(other, NAME, "", v));
}

static void test_value_moved_to_another_name_does_not_open(void **state)
{
	char *v = cachemac_seal(*state, KEY, NAME, "", NOW + 60, PAYLOAD);

	assert_null(open_now(KEY, "ac:00fe.jti", "", v));
	assert_null(open_now(KEY, NAME "x", "", v));
	assert_null(open_now(KEY, "ac:00ff", "", v));
}

static void test_other_bind_does_not_open(void **state)
{
	char *v = cachemac_seal(*state, KEY, "authch:abc", "key-a", NOW + 60, "");

	assert_null(open_now(KEY, "authch:abc", "key-b", v));
	assert_null(open_now(KEY, "authch:abc", "", v));
}

/* name and bind are separated, so moving bytes from one to the other changes the MAC. */
static void test_name_and_bind_do_not_run_together(void **state)
{
	char *v = cachemac_seal(*state, KEY, "ab", "c", NOW + 60, "x");

	assert_null(open_now(KEY, "a", "bc", v));
	assert_null(open_now(KEY, "abc", "", v));
}

static void test_expired_value_does_not_open(void **state)
{
	char *v = cachemac_seal(*state, KEY, NAME, "", NOW, PAYLOAD);

	assert_null(open_now(KEY, NAME, "", v));
	assert_non_null(cachemac_open(KEY, NAME, "", v, strlen(v), NOW - 1));
}

static void test_any_changed_byte_does_not_open(void **state)
{
	char *v = cachemac_seal(*state, KEY, NAME, "", NOW + 60, PAYLOAD);
	size_t len = strlen(v);

	for (size_t i = 0; i < len; i++) {
		char *w = arena_strdup(*state, v);

		w[i] = w[i] == 'A' ? 'B' : 'A';
		assert_null(open_now(KEY, NAME, "", w));
	}
}

/* A later expiry cannot be written over a sealed one. */
static void test_extended_expiry_does_not_open(void **state)
{
	char *v = cachemac_seal(*state, KEY, NAME, "", NOW + 60, PAYLOAD);
	char *w = arena_strdup(*state, v);

	memcpy(w + CACHEMAC_TAG_CHARS + 1, "1800000060", 10);
	assert_null(open_now(KEY, NAME, "", w));
}

static void test_malformed_values_do_not_open(void **state)
{
	char *v = cachemac_seal(*state, KEY, NAME, "", NOW + 60, PAYLOAD);
	char *nul = arena_strdup(*state, v);
	const char *bad[] = {
		"", ".", "1|2|3", PAYLOAD,
		arena_strndup(*state, v, CACHEMAC_TAG_CHARS),          /* tag only */
		arena_strndup(*state, v, CACHEMAC_TAG_CHARS + 1),      /* tag and dot */
		arena_strndup(*state, v, strlen(v) - 1),               /* truncated */
		arena_printf(*state, "%s.", v),                        /* extended */
		arena_printf(*state, "x%s", v),                        /* shifted */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_non_null(bad[i]);
		assert_null(open_now(KEY, NAME, "", bad[i]));
	}
	assert_null(cachemac_open(KEY, NAME, "", NULL, 0, NOW));
	/* An embedded NUL: the reply's length says more than the C string. */
	nul[strlen(nul) - 1] = '\0';
	assert_null(cachemac_open(KEY, NAME, "", nul, strlen(v), NOW));
}

static void test_negative_expiry_is_refused(void **state)
{
	assert_null(cachemac_seal(*state, KEY, NAME, "", -1, PAYLOAD));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sealed_value_opens_to_its_payload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_payload_opens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_key_does_not_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_value_moved_to_another_name_does_not_open, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_other_bind_does_not_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_name_and_bind_do_not_run_together, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_value_does_not_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_any_changed_byte_does_not_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extended_expiry_does_not_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_values_do_not_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negative_expiry_is_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
