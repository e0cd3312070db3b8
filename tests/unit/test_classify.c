/*
 * test_classify.c — the built-in rules of `sotto moderate` (classify.h):
 * each rule alone on golden texts at its boundaries, the noisy-or
 * combination, the rules file format and its errors, the shipped
 * data/moderation.rules on typical spam and ordinary posts; and the
 * external command's answer parsing and command-line splitting
 * (classify_exec.h).
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

#include "classify.h"
#include "classify_exec.h"

#define SHIPPED_RULES "data/moderation.rules"
#define EPS 1e-6

static struct classify_rules *rules(const char *text)
{
	char err[256];
	struct classify_rules *r = classify_rules_parse(text, strlen(text), err, sizeof(err));

	if (r == NULL)
		fail_msg("rules rejected: %s", err);
	return r;
}

/* The score of text under the rules in rules_text. */
static double score_with(const char *rules_text, const char *text, struct classify_signals *sig)
{
	struct classify_rules *r = rules(rules_text);
	double s = classify_score(r, text, strlen(text), sig);

	classify_rules_free(r);
	return s;
}

static void assert_near(double got, double want)
{
	if (got < want - EPS || got > want + EPS)
		fail_msg("score %.6f, expected %.6f", got, want);
}

/* The rules file must be refused, with err naming the line. */
static void assert_refused(const char *text, const char *line_prefix)
{
	char err[256];
	struct classify_rules *r = classify_rules_parse(text, strlen(text), err, sizeof(err));

	if (r != NULL) {
		classify_rules_free(r);
		fail_msg("accepted: %s", text);
	}
	if (strncmp(err, line_prefix, strlen(line_prefix)) != 0)
		fail_msg("error \"%s\" does not start with \"%s\"", err, line_prefix);
}

/* ---- each rule ---------------------------------------------------------- */

static void test_no_rules_score_zero(void **state)
{
	(void)state;
	assert_near(score_with("", "BUY NOW http://x.example !!!!!!!!!!!!!!!!", NULL), 0);
	assert_near(score_with("# only a comment\n\n", "anything", NULL), 0);
	assert_near(classify_score(NULL, "x", 1, NULL), 0);
}

static void test_term_is_a_case_insensitive_substring_counted_once(void **state)
{
	const char *r = "term 0.7 buy followers\n";
	struct classify_signals sig;

	(void)state;
	assert_near(score_with(r, "Want to BUY FOLLOWERS? buy followers!", &sig), 0.7);
	assert_int_equal(sig.terms, 1);
	assert_near(score_with(r, "buy  followers", NULL), 0);     /* two spaces */
	assert_near(score_with(r, "buyfollowers", NULL), 0);
	assert_near(score_with(r, "I will buy more flowers", NULL), 0);
	/* Non-ASCII bytes match exactly; ASCII folds around them. */
	assert_near(score_with("term 0.5 Café\n", "CAFé latte", NULL), 0.5);
	assert_near(score_with("term 0.5 Café\n", "CAFÉ latte", NULL), 0);
}

static void test_pattern_is_an_extended_case_insensitive_regex(void **state)
{
	const char *r = "pattern 0.6 (earn|make) \\$?[0-9]+ (a|per) day\n";

	(void)state;
	assert_near(score_with(r, "EARN $500 PER DAY from home", NULL), 0.6);
	assert_near(score_with(r, "make 80 a day", NULL), 0.6);
	assert_near(score_with(r, "I earn a living", NULL), 0);
	/* Anchors see the text's bounds, not NUL terminators. */
	assert_near(score_with("pattern 1 ^hello$\n", "hello", NULL), 1);
	assert_near(score_with("pattern 1 ^hello$\n", "hello there", NULL), 0);
	/* Escaped and bracketed quantifier characters are literals, not stacking. */
	assert_near(score_with("pattern 1 a\\++ [+*]+ x{2,100}\n", "a++ *+ xx", NULL), 1);
}

static void test_links_scale_with_their_count(void **state)
{
	const char *r = "links 4 0.8\n";
	struct classify_signals sig;

	(void)state;
	assert_near(score_with(r, "no link here", &sig), 0);
	assert_int_equal(sig.links, 0);
	assert_near(score_with(r, "see https://a.example for details", &sig), 0.2);
	assert_int_equal(sig.links, 1);
	assert_near(score_with(r, "http://a.example www.b.example HTTPS://c.example", &sig), 0.6);
	assert_int_equal(sig.links, 3);
	assert_near(score_with(r, "a http://1 b http://2 c http://3 d http://4 e http://5", &sig), 0.8);
	assert_int_equal(sig.links, 5);
	/* "https://www." is one link; links glued together are several. */
	assert_near(score_with(r, "https://www.a.example", &sig), 0.2);
	assert_int_equal(sig.links, 1);
	assert_near(score_with(r, "http://a.examplehttp://b.examplewww.c.example", &sig), 0.6);
	assert_int_equal(sig.links, 3);
}

static void test_link_density_is_link_bytes_over_non_space_bytes(void **state)
{
	const char *r = "link_density 0.5 0.5\n";
	struct classify_signals sig;

	(void)state;
	/* 16 link bytes, 16 other: exactly 0.5 fires. */
	assert_near(score_with(r, "http://a.example abcdefghijklmnop", &sig), 0.5);
	assert_near(sig.link_density, 0.5);
	assert_near(score_with(r, "http://a.example abcdefghijklmnopq", &sig), 0);
	assert_true(sig.link_density < 0.5);
	assert_near(score_with(r, "www.only.example", NULL), 0.5);
	assert_near(score_with(r, "", NULL), 0);
}

static void test_shouting_needs_enough_letters_and_upper_share(void **state)
{
	const char *r = "shouting 10 0.9 0.6\n";
	struct classify_signals sig;

	(void)state;
	assert_near(score_with(r, "THIS IS LOUD!!!", &sig), 0.6);
	assert_int_equal(sig.letters, 10);
	assert_near(sig.upper_share, 1);
	assert_near(score_with(r, "SHORT ONE", NULL), 0);             /* 8 letters */
	assert_near(score_with(r, "NINE OF TEXn", &sig), 0.6);        /* 9/10 = 0.9 */
	assert_near(sig.upper_share, 0.9);
	assert_near(score_with(r, "EIGHT OF Ten", NULL), 0);          /* 8/10 */
	assert_near(score_with(r, "Ordinary sentence case text.", NULL), 0);
	assert_near(score_with(r, "ÉÉÉÉÉÉÉÉÉÉÉÉ 1234567890", NULL), 0);   /* no ASCII letters */
}

static void test_repetition_is_the_share_of_repeated_words(void **state)
{
	const char *r = "repetition 5 0.5 0.6\n";
	struct classify_signals sig;

	(void)state;
	/* 6 words, 2 distinct: 1 - 2/6 = 0.667. */
	assert_near(score_with(r, "buy now Buy NOW buy now", &sig), 0.6);
	assert_int_equal(sig.words, 6);
	assert_near(sig.repeat_share, 1.0 - 2.0 / 6.0);
	/* 4 words: too few, however repetitive. */
	assert_near(score_with(r, "spam spam spam spam", NULL), 0);
	/* 6 words, 4 distinct: 0.333. */
	assert_near(score_with(r, "the cat saw the other cat", NULL), 0);
	assert_near(score_with(r, "a b c d e f g h", NULL), 0);
}

static void test_run_counts_one_character_repeated(void **state)
{
	const char *r = "run 5 0.4\n";
	struct classify_signals sig;

	(void)state;
	assert_near(score_with(r, "wow!!!!!", &sig), 0.4);
	assert_int_equal(sig.longest_run, 5);
	assert_near(score_with(r, "wow!!!!", NULL), 0);
	assert_near(score_with(r, "soooooo good", NULL), 0.4);
	assert_near(score_with(r, "a     b", NULL), 0);                  /* white space is no run */
	assert_near(score_with(r, "😀😀😀😀😀", &sig), 0.4);              /* code points, not bytes */
	assert_int_equal(sig.longest_run, 5);
	assert_near(score_with(r, "éèéèéèéè", NULL), 0);
}

/* ---- combination -------------------------------------------------------- */

static void test_signals_combine_as_noisy_or(void **state)
{
	const char *r = "term 0.5 alpha\nterm 0.5 beta\nterm 0.2 gamma\nterm 1 omega\n";
	struct classify_signals sig;

	(void)state;
	assert_near(score_with(r, "alpha", NULL), 0.5);
	assert_near(score_with(r, "alpha beta", &sig), 0.75);
	assert_int_equal(sig.fired, 2);
	assert_near(score_with(r, "alpha beta gamma", NULL), 1 - 0.5 * 0.5 * 0.8);
	assert_near(score_with(r, "omega alpha", NULL), 1);
	assert_near(score_with("term 0 zero\n", "zero", &sig), 0);
	assert_int_equal(sig.fired, 0);
	/* 1 - (1 - 0.9) must not come out as 0.8999999... */
	assert_true(score_with("term 0.9 x\n", "x", NULL) >= 0.9);
}

/* ---- the rules file ----------------------------------------------------- */

static void test_rules_file_format(void **state)
{
	struct classify_rules *r;

	(void)state;
	r = rules("# comment\r\n\n   \t\nterm 0.5 two words \r\nterm\t1\tx\n"
	          "pattern 0.3 a b+\nlinks 3 0.5\nlink_density 0.5 0.5\n"
	          "shouting 20 0.8 0.6\nrepetition 12 0.6 0.6\nrun 12 0.4");
	assert_int_equal(classify_rules_terms(r), 2);
	assert_int_equal(classify_rules_patterns(r), 1);
	/* Inner spaces of a term are kept, trailing ones and CR are not. */
	assert_near(classify_score(r, "TWO WORDS", 9, NULL), 0.5);
	assert_near(classify_score(r, "A BBB", 5, NULL), 0.3);
	assert_near(classify_score(r, "abbb", 4, NULL), 0);
	classify_rules_free(r);
}

static void test_rules_file_errors_name_the_line(void **state)
{
	(void)state;
	assert_refused("term 0.5 ok\nbogus 1\n", "line 2: unknown rule");
	assert_refused("term 1.5 x\n", "line 1: term");
	assert_refused("term 0.5\n", "line 1: term: the text is missing");
	assert_refused("term -1 x\n", "line 1: term");
	assert_refused("term 0.5x x\n", "line 1: term");
	assert_refused("pattern 0.5 (unclosed\n", "line 1: pattern: not a valid");
	assert_refused("pattern 0.5\n", "line 1: pattern: the expression is missing");
	assert_refused("pattern 0.5 a++\n", "line 1: pattern: stacked quantifiers");
	assert_refused("pattern 0.5 (ab){2}{3}\n", "line 1: pattern: stacked quantifiers");
	assert_refused("pattern 0.5 a{101}\n", "line 1: pattern: stacked quantifiers");
	assert_refused("pattern 0.5 a{1,1000}\n", "line 1: pattern: stacked quantifiers");
	assert_refused("links 3 0.5\n\nlinks 4 0.5\n", "line 3: links: given twice");
	assert_refused("links 0 0.5\n", "line 1: links");
	assert_refused("links 3\n", "line 1: links");
	assert_refused("links 3 0.5 9\n", "line 1: links: too many fields");
	assert_refused("shouting 20 1.1 0.5\n", "line 1: shouting");
	assert_refused("run 1.5 0.5\n", "line 1: run");
	assert_refused("term 0.5 \xff\n", "the rules are not UTF-8");
}

static void test_rules_load(void **state)
{
	char err[256];
	struct classify_rules *r;

	(void)state;
	r = classify_rules_load("", err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(classify_rules_terms(r), 0);
	classify_rules_free(r);
	assert_null(classify_rules_load("tests/unit/data/no-such-file", err, sizeof(err)));
	assert_non_null(strstr(err, "cannot open"));
}

/* ---- the shipped rules on golden texts ---------------------------------- */

struct golden {
	const char *text;
	double min, max;
};

static void test_shipped_rules_hold_spam_and_pass_ordinary_posts(void **state)
{
	static const struct golden texts[] = {
		{ "I made lentil soup today, recipe in the replies.", 0, 0 },
		{ "Here is the paper I mentioned: https://arxiv.org/abs/1234.5678 - "
		  "the second section is the interesting one.", 0, 0.3 },
		{ "NASA and the ESA announced the launch for Tuesday.", 0, 0 },
		{ "So happy!!! Thank you all <3", 0, 0 },
		{ "Buy followers today, best prices", 0.8, 1 },
		{ "Cheap viagra and casino bonus here", 0.8, 1 },
		{ "https://a.example/x https://b.example/y https://c.example/z "
		  "https://d.example/w https://e.example/v", 0.8, 1 },
		{ "THIS IS THE MOST AMAZING OFFER YOU WILL EVER SEE", 0.8, 1 },
		{ "earn $500 per day from home, click here: bit.ly/abc", 0.8, 1 },
		{ "win win win win win win win win win win win win win prize!!!!!!!!!!!!", 0.8, 1 },
	};
	char err[256];
	struct classify_rules *r = classify_rules_load(SHIPPED_RULES, err, sizeof(err));

	(void)state;
	if (r == NULL)
		fail_msg("%s: %s", SHIPPED_RULES, err);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		double s = classify_score(r, texts[i].text, strlen(texts[i].text), NULL);

		if (s < texts[i].min - EPS || s > texts[i].max + EPS)
			fail_msg("golden text %zu scored %.6f, expected %.2f..%.2f", i, s,
			         texts[i].min, texts[i].max);
	}
	classify_rules_free(r);
}

/* ---- the external command's protocol ------------------------------------ */

static int reply(const char *line, const char *id, double *score)
{
	return classify_exec_parse_reply(line, strlen(line), id, score);
}

static void test_classify_exec_reply_parsing(void **state)
{
	double s = -1;

	(void)state;
	assert_int_equal(reply("{\"id\":\"abc\",\"score\":0.93}", "abc", &s), 0);
	assert_near(s, 0.93);
	assert_int_equal(reply(" {\"score\": 1, \"id\": \"abc\", \"extra\": [1]}\r", "abc", &s), 0);
	assert_near(s, 1);
	assert_int_equal(reply("{\"id\":\"abc\",\"score\":0}", "abc", &s), 0);
	assert_near(s, 0);
	/* Wrong id, out of range, wrong types, not an object, trailing garbage. */
	assert_int_equal(reply("{\"id\":\"abd\",\"score\":0.5}", "abc", &s), -1);
	assert_int_equal(reply("{\"id\":\"abc\",\"score\":1.01}", "abc", &s), -1);
	assert_int_equal(reply("{\"id\":\"abc\",\"score\":-0.1}", "abc", &s), -1);
	assert_int_equal(reply("{\"id\":\"abc\",\"score\":\"0.5\"}", "abc", &s), -1);
	assert_int_equal(reply("{\"id\":\"abc\",\"score\":NaN}", "abc", &s), -1);
	assert_int_equal(reply("{\"id\":\"abc\"}", "abc", &s), -1);
	assert_int_equal(reply("{\"id\":1,\"score\":0.5}", "abc", &s), -1);
	assert_int_equal(reply("[\"abc\",0.5]", "abc", &s), -1);
	assert_int_equal(reply("{\"id\":\"abc\",\"score\":0.5} x", "abc", &s), -1);
	assert_int_equal(reply("{\"id\":\"abc\",\"score\":0.5", "abc", &s), -1);
	assert_int_equal(reply("", "abc", &s), -1);
	assert_int_equal(reply("not json", "abc", &s), -1);
}

static void test_classify_exec_split_on_spaces(void **state)
{
	char *argv[5], *storage = NULL;

	(void)state;
	assert_int_equal(classify_exec_split("  /usr/bin/python3   model.py --fast ", argv, 4, &storage), 3);
	assert_string_equal(argv[0], "/usr/bin/python3");
	assert_string_equal(argv[1], "model.py");
	assert_string_equal(argv[2], "--fast");
	assert_null(argv[3]);
	free(storage);
	assert_int_equal(classify_exec_split("   ", argv, 4, &storage), 0);
	free(storage);
	assert_int_equal(classify_exec_split("a b c d e", argv, 4, &storage), -1);
	assert_null(storage);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_rules_score_zero),
		cmocka_unit_test(test_term_is_a_case_insensitive_substring_counted_once),
		cmocka_unit_test(test_pattern_is_an_extended_case_insensitive_regex),
		cmocka_unit_test(test_links_scale_with_their_count),
		cmocka_unit_test(test_link_density_is_link_bytes_over_non_space_bytes),
		cmocka_unit_test(test_shouting_needs_enough_letters_and_upper_share),
		cmocka_unit_test(test_repetition_is_the_share_of_repeated_words),
		cmocka_unit_test(test_run_counts_one_character_repeated),
		cmocka_unit_test(test_signals_combine_as_noisy_or),
		cmocka_unit_test(test_rules_file_format),
		cmocka_unit_test(test_rules_file_errors_name_the_line),
		cmocka_unit_test(test_rules_load),
		cmocka_unit_test(test_shipped_rules_hold_spam_and_pass_ordinary_posts),
		cmocka_unit_test(test_classify_exec_reply_parsing),
		cmocka_unit_test(test_classify_exec_split_on_spaces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
