/*
 * test_cursor.c — opaque cursors: what cursor_seal writes opens again to
 * the same values for the same listing and key, and cursor_open refuses
 * everything else.
 *
 * Hand-made cursors come from seal_plain(): it seals bytes laid out here
 * by the test after the layout cursor.h documents, so a layout change is
 * caught (test_hand_made_layout_opens) and each refusal differs from an
 * accepted cursor in one thing only.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "cursor.h"
#include "util.h"

static const unsigned char KEY[32] = {
	0x6a, 0x0e, 0xd1, 0x53, 0x98, 0x2c, 0x7f, 0xb4, 0x11, 0xe5, 0x46, 0x8d,
	0x30, 0xc9, 0x5b, 0x02, 0xf7, 0x64, 0xaf, 0x19, 0x83, 0x3e, 0xd6, 0x4a,
	0x75, 0x0c, 0xe8, 0x21, 0x9f, 0x57, 0xba, 0x36,
};
static const unsigned char OTHER_KEY[32] = {
	0x6a, 0x0e, 0xd1, 0x53, 0x98, 0x2c, 0x7f, 0xb4, 0x11, 0xe5, 0x46, 0x8d,
	0x30, 0xc9, 0x5b, 0x02, 0xf7, 0x64, 0xaf, 0x19, 0x83, 0x3e, 0xd6, 0x4a,
	0x75, 0x0c, 0xe8, 0x21, 0x9f, 0x57, 0xba, 0x37,
};

#define KIND "feed-new"
#define BOX_OVERHEAD (crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)

static const char B64URL[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

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

static struct cursor full_cursor(void)
{
	struct cursor c = { .v = { INT64_MIN, -1, 0, INT64_MAX }, .n = CURSOR_MAX_FIELDS };

	return c;
}

/* The cursor sealed, with the test's assertions on the text. */
static char *seal(struct arena *a, const unsigned char *key, const char *kind,
                  const struct cursor *c)
{
	char *text = cursor_seal(a, key, kind, c);

	assert_non_null(text);
	assert_true(strlen(text) <= CURSOR_MAX_CHARS);
	for (const char *p = text; *p != '\0'; p++)
		assert_non_null(strchr(B64URL, *p));
	return text;
}

/* Seal plain[0..len) as cursor.h's layout would be sealed. */
static char *seal_plain(struct arena *a, const unsigned char *plain, size_t len)
{
	unsigned char box[512];
	char *text;

	assert_true(BOX_OVERHEAD + len <= sizeof(box));
	randombytes_buf(box, crypto_secretbox_NONCEBYTES);
	assert_int_equal(crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, plain, len,
	                                       box, KEY), 0);
	text = util_b64url_encode(a, box, BOX_OVERHEAD + len);
	assert_non_null(text);
	return text;
}

/*
 * The layout for KIND with n values 1, 2, ..., n (little-endian), plus
 * `extra` zero bytes after them; version and the declared n are given.
 * Returns the length written to out.
 */
static size_t layout(unsigned char *out, unsigned version, size_t declared_n, size_t n,
                     size_t extra)
{
	size_t k = strlen(KIND), p = 0;

	out[p++] = (unsigned char)version;
	out[p++] = (unsigned char)k;
	memcpy(out + p, KIND, k);
	p += k;
	out[p++] = (unsigned char)declared_n;
	for (size_t i = 0; i < n; i++) {
		memset(out + p, 0, 8);
		out[p] = (unsigned char)(i + 1);
		p += 8;
	}
	memset(out + p, 0, extra);
	return p + extra;
}

/* cursor_open must refuse text, and leave *c zeroed. */
static void assert_refused(const unsigned char *key, const char *kind, const char *text)
{
	struct cursor c = full_cursor();

	assert_int_equal(cursor_open(key, kind, text, &c), -1);
	assert_int_equal(c.n, 0);
	for (size_t i = 0; i < CURSOR_MAX_FIELDS; i++)
		assert_true(c.v[i] == 0);
}

static void test_round_trip_keeps_every_value(void **state)
{
	struct arena *a = *state;
	struct cursor in = full_cursor(), out;

	for (size_t n = 0; n <= CURSOR_MAX_FIELDS; n++) {
		in.n = n;
		assert_int_equal(cursor_open(KEY, KIND, seal(a, KEY, KIND, &in), &out), 0);
		assert_int_equal(out.n, n);
		for (size_t i = 0; i < n; i++)
			assert_true(out.v[i] == in.v[i]);
	}
}

static void test_longest_kind_round_trips_within_the_length_limit(void **state)
{
	struct arena *a = *state;
	char kind[CURSOR_KIND_MAX + 1];
	struct cursor in = full_cursor(), out;

	memset(kind, 'k', CURSOR_KIND_MAX);
	kind[CURSOR_KIND_MAX] = '\0';
	assert_int_equal(cursor_open(KEY, kind, seal(a, KEY, kind, &in), &out), 0);
	assert_int_equal(out.n, CURSOR_MAX_FIELDS);
}

static void test_same_values_seal_to_different_texts(void **state)
{
	struct arena *a = *state;
	struct cursor c = full_cursor();

	assert_string_not_equal(seal(a, KEY, KIND, &c), seal(a, KEY, KIND, &c));
}

static void test_seal_refuses_bad_kind_and_too_many_fields(void **state)
{
	struct arena *a = *state;
	char kind[CURSOR_KIND_MAX + 2];
	struct cursor c = full_cursor();

	memset(kind, 'k', sizeof(kind) - 1);
	kind[sizeof(kind) - 1] = '\0';
	assert_null(cursor_seal(a, KEY, kind, &c));
	assert_null(cursor_seal(a, KEY, "", &c));
	c.n = CURSOR_MAX_FIELDS + 1;
	assert_null(cursor_seal(a, KEY, KIND, &c));
}

static void test_other_kind_is_refused(void **state)
{
	struct arena *a = *state;
	struct cursor c = full_cursor();
	char *text = seal(a, KEY, KIND, &c);

	assert_refused(KEY, "feed-ranked", text);
	assert_refused(KEY, "feed", text);        /* a prefix */
	assert_refused(KEY, "feed-new2", text);   /* an extension */
	assert_refused(KEY, "", text);
}

static void test_other_key_is_refused(void **state)
{
	struct arena *a = *state;
	struct cursor c = full_cursor();

	assert_refused(OTHER_KEY, KIND, seal(a, KEY, KIND, &c));
}

static void test_every_flipped_bit_is_refused(void **state)
{
	struct arena *a = *state;
	struct cursor c = full_cursor();
	char *text = seal(a, KEY, KIND, &c);
	unsigned char box[256];
	size_t len;

	assert_int_equal(util_b64url_decode(text, strlen(text), box, sizeof(box), &len), 0);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			box[i] ^= (unsigned char)(1u << bit);
			assert_refused(KEY, KIND, util_b64url_encode(a, box, len));
			box[i] ^= (unsigned char)(1u << bit);
		}
	}
	assert_int_equal(cursor_open(KEY, KIND, util_b64url_encode(a, box, len), &c), 0);
}

static void test_every_changed_character_is_refused(void **state)
{
	struct arena *a = *state;
	struct cursor c = full_cursor();
	char *text = seal(a, KEY, KIND, &c);

	/* Also the last one, whose low bits are padding: libsodium wants them zero. */
	for (size_t i = 0; text[i] != '\0'; i++) {
		char saved = text[i];

		for (const char *r = B64URL; *r != '\0'; r++) {
			if (*r == saved)
				continue;
			text[i] = *r;
			assert_refused(KEY, KIND, text);
		}
		text[i] = saved;
	}
}

static void test_truncated_or_extended_text_is_refused(void **state)
{
	struct arena *a = *state;
	struct cursor c = full_cursor();
	char *text = seal(a, KEY, KIND, &c);
	size_t len = strlen(text);

	for (size_t cut = 0; cut < len; cut++)
		assert_refused(KEY, KIND, arena_strndup(a, text, cut));
	assert_refused(KEY, KIND, arena_printf(a, "%sA", text));
	assert_refused(KEY, KIND, arena_printf(a, "%sAA", text));
	assert_refused(KEY, KIND, arena_printf(a, "%s=", text));
	assert_refused(KEY, KIND, arena_printf(a, " %s", text));
}

static void test_not_base64url_is_refused(void **state)
{
	(void)state;
	assert_refused(KEY, KIND, NULL);
	assert_refused(KEY, KIND, "");
	assert_refused(KEY, KIND, "!!!!");
	assert_refused(KEY, KIND, "ab+/");
	assert_refused(KEY, KIND, "AAAA==");
	assert_refused(KEY, KIND, "A");
}

static void test_text_longer_than_max_chars_is_refused(void **state)
{
	char text[CURSOR_MAX_CHARS + 2];

	(void)state;
	memset(text, 'A', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	assert_refused(KEY, KIND, text);
	text[CURSOR_MAX_CHARS] = '\0';   /* exactly the limit: read, then refused as too long a box */
	assert_refused(KEY, KIND, text);
}

static void test_hand_made_layout_opens(void **state)
{
	struct arena *a = *state;
	unsigned char plain[128];
	size_t len = layout(plain, CURSOR_VERSION, CURSOR_MAX_FIELDS, CURSOR_MAX_FIELDS, 0);
	struct cursor c;

	assert_int_equal(cursor_open(KEY, KIND, seal_plain(a, plain, len), &c), 0);
	assert_int_equal(c.n, CURSOR_MAX_FIELDS);
	for (size_t i = 0; i < c.n; i++)
		assert_true(c.v[i] == (int64_t)(i + 1));
}

static void test_more_than_max_fields_is_refused(void **state)
{
	struct arena *a = *state;
	unsigned char plain[128];
	size_t n = CURSOR_MAX_FIELDS + 1;

	assert_refused(KEY, KIND, seal_plain(a, plain, layout(plain, CURSOR_VERSION, n, n, 0)));
	assert_refused(KEY, KIND, seal_plain(a, plain, layout(plain, CURSOR_VERSION, 255, 1, 0)));
}

static void test_trailing_or_missing_bytes_are_refused(void **state)
{
	struct arena *a = *state;
	unsigned char plain[128];

	assert_refused(KEY, KIND, seal_plain(a, plain, layout(plain, CURSOR_VERSION, 2, 2, 1)));
	assert_refused(KEY, KIND, seal_plain(a, plain, layout(plain, CURSOR_VERSION, 2, 2, 8)));
	assert_refused(KEY, KIND, seal_plain(a, plain, layout(plain, CURSOR_VERSION, 2, 2, 0) - 1));
	assert_refused(KEY, KIND, seal_plain(a, plain, layout(plain, CURSOR_VERSION, 3, 2, 0)));
	/* Cut inside the kind, and nothing at all. */
	assert_refused(KEY, KIND, seal_plain(a, plain, 5));
	assert_refused(KEY, KIND, seal_plain(a, plain, 0));
}

static void test_other_version_is_refused(void **state)
{
	struct arena *a = *state;
	unsigned char plain[128];

	assert_refused(KEY, KIND, seal_plain(a, plain, layout(plain, 0, 1, 1, 0)));
	assert_refused(KEY, KIND, seal_plain(a, plain, layout(plain, CURSOR_VERSION + 1, 1, 1, 0)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_keeps_every_value, setup, teardown),
		cmocka_unit_test_setup_teardown(test_longest_kind_round_trips_within_the_length_limit,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_values_seal_to_different_texts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seal_refuses_bad_kind_and_too_many_fields,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_kind_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_key_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_flipped_bit_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_changed_character_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_or_extended_text_is_refused,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_base64url_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_text_longer_than_max_chars_is_refused,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_hand_made_layout_opens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_more_than_max_fields_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trailing_or_missing_bytes_are_refused,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_version_is_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
