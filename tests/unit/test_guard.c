/*
 * test_guard.c — guardrails: every reason of guard.h at its boundaries,
 * the order in which reasons win, the blocklist file format and limits
 * (tests/unit/data/blocklist.txt is the golden input), the repetition
 * key's normalization, and the 422 answer of guard_text_or_reply on the
 * paths that need no Redis.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "arena.h"
#include "auth.h"
#include "config.h"
#include "context.h"
#include "guard.h"
#include "http.h"

#define MAX_CHARS 10
#define MAX_LINKS 2
#define GOLDEN_BLOCKLIST "tests/unit/data/blocklist.txt"

static const unsigned char KEY[32] = {
	0x1d, 0x83, 0x5a, 0xe0, 0x47, 0x29, 0xbc, 0x6e, 0x90, 0x0f, 0x72, 0xd4,
	0x3b, 0xa8, 0x15, 0xc1, 0x66, 0xfe, 0x08, 0x9b, 0x24, 0x57, 0xe3, 0x3c,
	0xaa, 0x71, 0x0d, 0xb6, 0x4f, 0x92, 0xc8, 0x2e,
};

/* guard_check on a NUL-terminated literal with the test limits, no blocklist. */
static const char *check(const char *s)
{
	return guard_check(s, strlen(s), MAX_CHARS, MAX_LINKS, NULL, 0);
}

/* Same, for bytes that may hold NUL. */
static const char *check_n(const char *s, size_t len)
{
	return guard_check(s, len, MAX_CHARS, MAX_LINKS, NULL, 0);
}

/* s repeated n times, on the arena. */
static char *repeat(struct arena *a, const char *s, size_t n)
{
	size_t len = strlen(s);
	char *out = arena_alloc(a, len * n + 1);

	assert_non_null(out);
	for (size_t i = 0; i < n; i++)
		memcpy(out + i * len, s, len);
	out[len * n] = '\0';
	return out;
}

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

/* ---- the character checks ---- */

static void test_ordinary_text_passes(void **state)
{
	(void)state;
	assert_null(check("hello"));
	assert_null(check("a\nb\tc"));
	assert_null(check(" x "));
	assert_null(check("\xf0\x9f\x99\x82 ok"));              /* U+1F642 */
	assert_null(check("\xc2\xa0x"));                        /* U+00A0, just past C1 */
}

static void test_newline_and_tab_are_allowed_controls(void **state)
{
	(void)state;
	assert_null(check("a\nb"));
	assert_null(check("a\tb"));
	assert_null(check("\n\ta\t\n"));
}

static void test_blank_texts_are_empty(void **state)
{
	(void)state;
	assert_string_equal(check_n("", 0), "empty");
	assert_string_equal(check(" "), "empty");
	assert_string_equal(check(" \n\t \n"), "empty");
	assert_string_equal(check("\xc2\xa0"), "empty");          /* no-break space */
	assert_string_equal(check("\xe3\x80\x80"), "empty");      /* ideographic space */
	assert_string_equal(check("\xe2\x80\x8b\xe2\x80\x8b"), "empty"); /* zero width space */
	assert_string_equal(check("\xef\xbb\xbf "), "empty");     /* BOM */
	assert_string_equal(check("\xe3\x85\xa4"), "empty");      /* Hangul filler */
	assert_string_equal(check("\xe2\xa0\x80"), "empty");      /* braille blank */
	assert_null(check(" .\xe3\x80\x80"));
}

static void test_exactly_max_chars_passes_one_more_is_too_long(void **state)
{
	struct arena *a = *state;
	/* Characters are code points: 2-, 3- and 4-byte ones count as one. */
	const char *chars[] = { "x", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x99\x82" };

	for (size_t i = 0; i < sizeof(chars) / sizeof(chars[0]); i++) {
		assert_null(check(repeat(a, chars[i], MAX_CHARS)));
		assert_string_equal(check(repeat(a, chars[i], MAX_CHARS + 1)), "too_long");
	}
	/* A combining accent is a code point of its own. */
	assert_string_equal(check(repeat(a, "e\xcc\x81", 6)), "too_long");
	assert_null(check(repeat(a, "e\xcc\x81", 5)));
	assert_string_equal(guard_check("a", 1, 0, MAX_LINKS, NULL, 0), "too_long");
}

static void test_cr_del_c0_c1_and_nul_are_control_characters(void **state)
{
	const char *bad[] = {
		"\r", "a\r\nb", "\x7f", "a\x7f", "\x01", "\x1b[0m", "\x1f", "\v", "\f",
		"\xc2\x80", "\xc2\x85", "x\xc2\x85y", "\xc2\x9f",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_string_equal(check(bad[i]), "control_characters");
	assert_string_equal(check_n("a\0b", 3), "control_characters");
	assert_string_equal(check_n("\0", 1), "control_characters");
	assert_string_equal(check_n("abc\0", 4), "control_characters");
}

static void test_malformed_utf8_is_invalid(void **state)
{
	const char *bad[] = {
		"\x80", "a\xbf", "\xfe", "\xff", "\xf8\x88\x80\x80\x80",  /* stray/impossible bytes */
		"\xc3", "a\xe2\x82", "\xf0\x9f\x99",                     /* cut short */
		"\xc3\x28", "\xe2\x28\xa1", "\xf0\x9f\x28\x82",          /* bad continuation */
		"\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xe0\x9f\xbf",  /* overlong */
		"\xf0\x80\x80\xaf", "\xf0\x8f\xbf\xbf", "\xc0\x80",      /* overlong, incl. NUL */
		"\xed\xa0\x80", "\xed\xbf\xbf", "\xed\xa0\xbd\xed\xb8\x82", /* surrogates */
		"\xf4\x90\x80\x80", "\xf5\x80\x80\x80",                  /* above U+10FFFF */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_string_equal(check(bad[i]), "invalid_utf8");
}

static void test_utf8_boundary_code_points_are_valid(void **state)
{
	(void)state;
	assert_null(check("\xc2\xa1"));             /* U+00A1 */
	assert_null(check("\xdf\xbf"));             /* U+07FF */
	assert_null(check("\xe0\xa0\x80"));         /* U+0800 */
	assert_null(check("\xed\x9f\xbf"));         /* U+D7FF */
	assert_null(check("\xee\x80\x80"));         /* U+E000 */
	assert_null(check("\xef\xbf\xbd"));         /* U+FFFD */
	assert_null(check("\xf0\x90\x80\x80"));     /* U+10000 */
	assert_null(check("\xf4\x8f\xbf\xbf"));     /* U+10FFFF */
}

static void test_reasons_win_in_the_documented_order(void **state)
{
	struct arena *a = *state;

	assert_string_equal(check("\r\xff"), "invalid_utf8");      /* even after a control */
	assert_string_equal(check(" \r "), "control_characters");  /* before empty */
	assert_string_equal(check(repeat(a, " ", MAX_CHARS + 5)), "empty"); /* before too_long */
	assert_string_equal(check("www.a www.b www.c www.d"), "too_long");
	{
		const char *terms[] = { "www" };

		assert_string_equal(guard_check("www.a www.b www.c", 17, 100, MAX_LINKS, terms, 1),
		                    "too_many_links");
	}
}

/* ---- links ---- */

static void test_links_at_max_pass_one_more_is_too_many(void **state)
{
	(void)state;
	assert_null(guard_check("http://a https://b", 18, 100, 2, NULL, 0));
	assert_string_equal(guard_check("http://a https://b www.c", 24, 100, 2, NULL, 0),
	                    "too_many_links");
	assert_null(guard_check("www.a", 5, 100, 1, NULL, 0));
	assert_string_equal(guard_check("www.a", 5, 100, 0, NULL, 0), "too_many_links");
	assert_null(guard_check("no links here", 13, 100, 0, NULL, 0));
}

static void test_links_match_any_ascii_case(void **state)
{
	(void)state;
	assert_string_equal(guard_check("HTTPS://A", 9, 100, 0, NULL, 0), "too_many_links");
	assert_string_equal(guard_check("HtTp://a", 8, 100, 0, NULL, 0), "too_many_links");
	assert_string_equal(guard_check("WwW.a", 5, 100, 0, NULL, 0), "too_many_links");
	assert_string_equal(guard_check("HTTPS://A hTtP://b WWW.c", 24, 100, 2, NULL, 0),
	                    "too_many_links");
}

static void test_www_after_scheme_is_the_same_link(void **state)
{
	(void)state;
	assert_null(guard_check("https://www.example.org", 23, 100, 1, NULL, 0));
	assert_string_equal(guard_check("https://www.a http://www.b", 26, 100, 1, NULL, 0),
	                    "too_many_links");
	/* Near misses are no links. */
	assert_null(guard_check("http:/a https:a ww.a wwwa", 25, 100, 0, NULL, 0));
}

static void test_negative_max_links_counts_as_zero(void **state)
{
	(void)state;
	assert_null(guard_check("plain", 5, 100, -1, NULL, 0));
	assert_string_equal(guard_check("www.a", 5, 100, -1, NULL, 0), "too_many_links");
}

/* ---- blocklist terms ---- */

static void test_blocklist_terms_match_case_insensitively_as_substrings(void **state)
{
	const char *terms[] = { "badword", "Spam Link" };
	const char *blocked[] = { "badword", "a BADWORD b", "xxBaDwOrDxx", "my spam link", "SPAM LINK" };
	const char *passing[] = { "bad word", "badwor", "spam  link", "spamlink" };

	(void)state;
	for (size_t i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++)
		assert_string_equal(guard_check(blocked[i], strlen(blocked[i]), 100, 0, terms, 2),
		                    "blocked_term");
	for (size_t i = 0; i < sizeof(passing) / sizeof(passing[0]); i++)
		assert_null(guard_check(passing[i], strlen(passing[i]), 100, 0, terms, 2));
}

static void test_blocklist_folds_ascii_only_and_ignores_empty_terms(void **state)
{
	const char *terms[] = { "", "caf\xc3\xa9" };

	(void)state;
	assert_null(guard_check("anything", 8, 100, 0, terms, 1));
	assert_string_equal(guard_check("CAF\xc3\xa9", 5, 100, 0, terms, 2), "blocked_term");
	assert_null(guard_check("CAF\xc3\x89", 5, 100, 0, terms, 2));  /* É is not folded */
	assert_null(guard_check("caf", 3, 100, 0, terms, 2));          /* term longer than text */
}

static void test_sorted_and_unsorted_blocklists_agree(void **state)
{
	/* Sorted as the loader sorts; terms that are prefixes of others. */
	const char *sorted[] = { "", "ab", "ABC", "abd", "b", "ba", "bab", "caf\xc3\xa9", "zz" };
	const char *shuffled[] = { "zz", "bab", "", "abd", "caf\xc3\xa9", "b", "ABC", "ba", "ab" };
	const size_t n = sizeof(sorted) / sizeof(sorted[0]);
	const struct { const char *text; bool blocked; } cases[] = {
		{ "xxABxx", true }, { "a", false }, { "ac", false }, { "aCab", true },
		{ "zab", true }, { "z", false }, { "xz", false }, { "ZZ", true }, { "Bx", true },
		{ "CAF\xc3\xa9!", true }, { "caf\xc3\x89", false }, { "caf", false },
		{ "\xc3\xa9\xc3\xa9 a c a d", false }, { "AAAAAAAAAAAAAAAAAAAAAAAb", true },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *t = cases[i].text;
		const char *want = cases[i].blocked ? "blocked_term" : NULL;
		const char *got_sorted = guard_check(t, strlen(t), 100, 0, sorted, n);
		const char *got_shuffled = guard_check(t, strlen(t), 100, 0, shuffled, n);

		if (want == NULL) {
			assert_null(got_sorted);
			assert_null(got_shuffled);
		} else {
			assert_string_equal(got_sorted, want);
			assert_string_equal(got_shuffled, want);
		}
	}
	/* Only empty terms: nothing is blocked. */
	assert_null(guard_check("text", 4, 100, 0, sorted, 1));
}

/* ---- the blocklist file ---- */

/* A config naming path as the blocklist. */
static struct config blocklist_config(const char *path)
{
	struct config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.guard_blocklist = (char *)path;
	return cfg;
}

/* Write len bytes to a new temporary file; its name into path (caller unlinks). */
static void temp_file(char path[64], const char *bytes, size_t len)
{
	FILE *f;
	int fd;

	snprintf(path, 64, "/tmp/sotto-guard-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(bytes, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Load a string literal (NUL bytes included) as a blocklist file. */
#define LOAD(lit) load_bytes(lit, sizeof(lit) - 1)

/* Load bytes as a blocklist file; the loader's answer. */
static int load_bytes(const char *bytes, size_t len)
{
	char path[64];
	struct config cfg;
	int rc;

	temp_file(path, bytes, len);
	cfg = blocklist_config(path);
	rc = guard_load_blocklist(&cfg);
	unlink(path);
	return rc;
}

static void load_golden(void)
{
	struct config cfg = blocklist_config(GOLDEN_BLOCKLIST);

	assert_int_equal(guard_load_blocklist(&cfg), 0);
}

static void test_blocklist_file_golden_terms(void **state)
{
	/* In byte order: the loader sorts the table. */
	static const char *const expected[] = {
		"badword", "c#sharp", "caf\xc3\x89", "caf\xc3\xa9",
		"last-line-without-newline", "spaced term", "tabbed", "upper-case",
	};
	const char *const *terms = NULL;
	size_t n;

	(void)state;
	load_golden();
	n = guard_blocklist_terms(&terms);
	assert_int_equal(n, sizeof(expected) / sizeof(expected[0]));
	for (size_t i = 0; i < n; i++)
		assert_string_equal(terms[i], expected[i]);
	assert_string_equal(guard_check("a BadWord", 9, 100, 0, terms, n), "blocked_term");
	assert_string_equal(guard_check("LAST-LINE-WITHOUT-NEWLINE", 25, 100, 0, terms, n),
	                    "blocked_term");
	assert_null(guard_check("not-a-term", 10, 100, 0, terms, n));
}

static void test_blocklist_empty_setting_loads_no_terms(void **state)
{
	struct config cfg = blocklist_config("");

	(void)state;
	load_golden();
	assert_int_equal(guard_load_blocklist(&cfg), 0);
	assert_int_equal(guard_blocklist_terms(NULL), 0);
	cfg.guard_blocklist = NULL;
	assert_int_equal(guard_load_blocklist(&cfg), 0);
	assert_int_equal(guard_blocklist_terms(NULL), 0);
}

static void test_blocklist_unreadable_fails_and_keeps_the_loaded_table(void **state)
{
	struct config cfg = blocklist_config("/nonexistent/blocklist.txt");

	(void)state;
	load_golden();
	assert_int_equal(guard_load_blocklist(&cfg), -1);
	cfg = blocklist_config("/tmp");   /* a directory */
	assert_int_equal(guard_load_blocklist(&cfg), -1);
	assert_int_equal(guard_blocklist_terms(NULL), 8);
}

static void test_blocklist_must_be_utf8_without_nul(void **state)
{
	(void)state;
	assert_int_equal(LOAD("ok\nbad\xff\n"), -1);
	assert_int_equal(LOAD("ok\nnul\0inside\n"), -1);
	assert_int_equal(LOAD("# \xc0\xaf overlong in a comment\n"), -1);
	assert_int_equal(LOAD("ok\n\xc3\xa9t\xc3\xa9\n"), 0);
	assert_int_equal(guard_blocklist_terms(NULL), 2);
}

static void test_blocklist_term_count_limit(void **state)
{
	struct arena *a = *state;
	size_t max = GUARD_BLOCKLIST_MAX_TERMS;
	char *many = repeat(a, "t\n", max + 1);   /* identical terms are fine */

	assert_int_equal(load_bytes(many, 2 * max), 0);
	assert_int_equal(guard_blocklist_terms(NULL), max);
	assert_int_equal(load_bytes(many, 2 * (max + 1)), -1);
	/* Comments and blank lines do not count. */
	assert_int_equal(load_bytes(repeat(a, "#\n\n", max + 1), 3 * (max + 1)), 0);
	assert_int_equal(guard_blocklist_terms(NULL), 0);
}

static void test_blocklist_size_limit(void **state)
{
	struct arena *a = *state;
	size_t max = GUARD_BLOCKLIST_MAX_BYTES;
	char *big = arena_alloc(a, max + 2);

	assert_non_null(big);
	memset(big, ' ', max + 1);
	memcpy(big, "term\n", 5);
	assert_int_equal(load_bytes(big, max), 0);
	assert_int_equal(guard_blocklist_terms(NULL), 1);
	assert_int_equal(load_bytes(big, max + 1), -1);
}

/* ---- the repetition key ---- */

static void key_of(char out[GUARD_REPEAT_KEY_CHARS + 1], const unsigned char *key,
                   const char *kind, const char *account, const char *text)
{
	assert_int_equal(guard_repeat_key(out, key, kind, account, text, strlen(text)), 0);
}

static void test_repeat_key_is_keyed_blake2b_of_kind_account_and_normalized_text(void **state)
{
	static const unsigned char msg[] = "post\0acct_1\0hello, world";
	unsigned char digest[32];
	char hex[65], key[GUARD_REPEAT_KEY_CHARS + 1];

	(void)state;
	crypto_generichash(digest, sizeof(digest), msg, sizeof(msg) - 1, KEY, sizeof(KEY));
	sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
	key_of(key, KEY, "post", "acct_1", " \n\tHello, WORLD \n");
	assert_int_equal(strlen(key), GUARD_REPEAT_KEY_CHARS);
	assert_memory_equal(key, "rep:", 4);
	assert_string_equal(key + 4, hex);
}

static void test_repeat_key_separates_kind_account_text_and_key(void **state)
{
	static const unsigned char other_key[32] = { 1 };
	char base[GUARD_REPEAT_KEY_CHARS + 1], k[GUARD_REPEAT_KEY_CHARS + 1];

	(void)state;
	key_of(base, KEY, "post", "acct_1", "same text");
	key_of(k, KEY, "post", "acct_1", "SAME TEXT\n");
	assert_string_equal(k, base);
	key_of(k, KEY, "dm", "acct_1", "same text");
	assert_string_not_equal(k, base);
	key_of(k, KEY, "post", "acct_2", "same text");
	assert_string_not_equal(k, base);
	key_of(k, KEY, "post", "acct_1", "same  text");   /* inner white space is kept */
	assert_string_not_equal(k, base);
	key_of(k, other_key, "post", "acct_1", "same text");
	assert_string_not_equal(k, base);
	/* The 0x00 separators keep the fields apart. */
	key_of(base, KEY, "ab", "c", "x");
	key_of(k, KEY, "a", "bc", "x");
	assert_string_not_equal(k, base);
}

static void test_repeat_key_folds_long_texts_past_one_chunk(void **state)
{
	struct arena *a = *state;
	char lower[GUARD_REPEAT_KEY_CHARS + 1], upper[GUARD_REPEAT_KEY_CHARS + 1];

	key_of(lower, KEY, "post", "acct_1", repeat(a, "abc", 1000));
	key_of(upper, KEY, "post", "acct_1", repeat(a, "ABC", 1000));
	assert_string_equal(lower, upper);
	key_of(upper, KEY, "post", "acct_1", repeat(a, "ABC", 999));
	assert_string_not_equal(lower, upper);
}

/* ---- guard_text_or_reply without Redis ---- */

struct reply_fixture {
	struct config cfg;
	struct context ctx;
	struct request req;
	struct account acct;
};

static void reply_fixture_init(struct reply_fixture *f, struct arena *a)
{
	struct config cfg = blocklist_config("");

	memset(f, 0, sizeof(*f));
	f->cfg = cfg;
	f->cfg.guard_max_links = 1;
	f->cfg.guard_repeat_window_s = 600;
	f->ctx.cfg = &f->cfg;        /* no cache: these paths never reach Redis */
	f->req.arena = a;
	f->req.ctx = &f->ctx;
	assert_int_equal(guard_load_blocklist(&f->cfg), 0);
}

static void test_rejection_is_422_content_rejected_with_reason(void **state)
{
	struct reply_fixture f;
	json_object *err, *v;

	reply_fixture_init(&f, *state);
	assert_int_equal(guard_text_or_reply(&f.req, "post", "www.a www.b", 11, 100), 422);
	assert_non_null(f.req.reply);
	assert_true(json_object_object_get_ex(f.req.reply, "error", &err));
	assert_true(json_object_object_get_ex(err, "code", &v));
	assert_string_equal(json_object_get_string(v), "content_rejected");
	assert_true(json_object_object_get_ex(err, "reason", &v));
	assert_string_equal(json_object_get_string(v), "too_many_links");
	assert_true(json_object_object_get_ex(err, "message", &v));
	assert_null(strstr(json_object_get_string(v), "www"));   /* the text is not echoed */
}

static void test_reply_uses_the_loaded_blocklist(void **state)
{
	struct reply_fixture f;

	reply_fixture_init(&f, *state);
	load_golden();
	assert_int_equal(guard_text_or_reply(&f.req, "post", "BADWORD", 7, 100), 422);
	assert_int_equal(guard_text_or_reply(&f.req, "post", "fine", 4, 100), 0);
}

static void test_anonymous_or_window_off_skips_the_repetition_check(void **state)
{
	struct reply_fixture f;

	reply_fixture_init(&f, *state);
	assert_int_equal(guard_text_or_reply(&f.req, "post", "hello", 5, 100), 0);
	assert_null(f.req.reply);
	f.req.account = &f.acct;
	f.cfg.guard_repeat_window_s = 0;
	assert_int_equal(guard_text_or_reply(&f.req, "post", "hello", 5, 100), 0);
	assert_int_equal(guard_text_or_reply(&f.req, "post", "hello", 5, 100), 0);
	assert_null(f.req.reply);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ordinary_text_passes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newline_and_tab_are_allowed_controls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blank_texts_are_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exactly_max_chars_passes_one_more_is_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cr_del_c0_c1_and_nul_are_control_characters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_utf8_is_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_utf8_boundary_code_points_are_valid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reasons_win_in_the_documented_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_links_at_max_pass_one_more_is_too_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_links_match_any_ascii_case, setup, teardown),
		cmocka_unit_test_setup_teardown(test_www_after_scheme_is_the_same_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negative_max_links_counts_as_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocklist_terms_match_case_insensitively_as_substrings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocklist_folds_ascii_only_and_ignores_empty_terms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sorted_and_unsorted_blocklists_agree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocklist_file_golden_terms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocklist_empty_setting_loads_no_terms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocklist_unreadable_fails_and_keeps_the_loaded_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocklist_must_be_utf8_without_nul, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocklist_term_count_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocklist_size_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeat_key_is_keyed_blake2b_of_kind_account_and_normalized_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeat_key_separates_kind_account_text_and_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeat_key_folds_long_texts_past_one_chunk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejection_is_422_content_rejected_with_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_uses_the_loaded_blocklist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_anonymous_or_window_off_skips_the_repetition_check, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
