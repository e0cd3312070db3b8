/*
 * classify.h — the built-in spam score of `sotto moderate`: rules from a
 * data file the operator edits (SOTTO_MODERATION_RULES), applied to a
 * decrypted post body. Pure: no I/O except classify_rules_load(), no
 * logging of texts or rules.
 *
 * Rules file: UTF-8 text, one rule per line, fields separated by spaces
 * or tabs; blank lines and lines starting with '#' are skipped. Weights
 * and ratios are decimals in [0, 1] ("0.7", "1", "0.25").
 *
 *   term <weight> <text...>      the text (the rest of the line, inner
 *                                spaces kept) occurs, ASCII case-insensitive
 *   pattern <weight> <regex...>  the POSIX extended regular expression (the
 *                                rest of the line) matches, case-insensitive;
 *                                no quantifier right after another ("a+*"),
 *                                no repetition count above 100
 *   links <count> <weight>       n links: fires with weight * min(1, n/count)
 *   link_density <ratio> <weight>
 *                                bytes inside links / non-space bytes >= ratio
 *   shouting <min_letters> <ratio> <weight>
 *                                at least min_letters ASCII letters and the
 *                                share of upper-case ones >= ratio
 *   repetition <min_words> <ratio> <weight>
 *                                at least min_words words and the share of
 *                                words repeating an earlier one
 *                                (1 - distinct / total, ASCII case-folded) >= ratio
 *   run <length> <weight>        one character (code point, not white space)
 *                                repeated >= length times in a row
 *
 * term and pattern may repeat (each distinct one fires at most once per
 * text); every other kind appears at most once. A link is an occurrence
 * of "http://", "https://" or "www." (ASCII case-insensitive; a "www."
 * right after "://" is the same link, as in guard.h) and extends to the
 * next white space.
 *
 * Combination: every rule that fires contributes its weight w, and the
 * score is 1 - prod(1 - w) ("noisy or"): in [0, 1], 0 when nothing
 * fires, one rule alone scores its own weight, each further signal
 * raises the score, and any rule of weight 1 scores 1.
 */
#ifndef SOTTO_CLASSIFY_H
#define SOTTO_CLASSIFY_H

#include <stddef.h>

#define CLASSIFY_RULES_MAX_BYTES (1024 * 1024)  /* the whole file */
#define CLASSIFY_MAX_TERMS 10000
#define CLASSIFY_MAX_PATTERNS 256
#define CLASSIFY_PATTERN_MAX_BYTES 1024
#define CLASSIFY_PATTERN_MAX_REPEAT 100   /* largest n in a{n} / a{m,n} */
#define CLASSIFY_MAX_WORDS 4096   /* repetition looks at the first words only */

struct classify_rules;

/* What the rules measured in one text (for tests and tuning). */
struct classify_signals {
	size_t links;          /* links found */
	double link_density;   /* link bytes / non-space bytes */
	size_t letters;        /* ASCII letters */
	double upper_share;    /* upper-case / letters, 0 without letters */
	size_t words;          /* words looked at */
	double repeat_share;   /* 1 - distinct / words, 0 without words */
	size_t longest_run;    /* longest run of one non-space character */
	size_t terms;          /* distinct terms found */
	size_t patterns;       /* patterns that matched */
	int fired;             /* rules that contributed (terms and patterns each count) */
};

/*
 * Parse rules from text[0..len) (need not be NUL-terminated). Returns
 * the rules (caller frees with classify_rules_free), or NULL with one
 * line in err naming the line number and what is wrong (never quoting
 * the line). An empty text gives rules that never fire.
 */
struct classify_rules *classify_rules_parse(const char *text, size_t len, char *err,
                                            size_t errlen);

/*
 * Read and parse the file at path ("" = no rules: nothing fires). NULL
 * with err set when the file cannot be read, exceeds
 * CLASSIFY_RULES_MAX_BYTES, is not UTF-8 without NUL, or breaks a rule.
 */
struct classify_rules *classify_rules_load(const char *path, char *err, size_t errlen);

void classify_rules_free(struct classify_rules *r);

/* Counts, for the start-up log line. */
size_t classify_rules_terms(const struct classify_rules *r);
size_t classify_rules_patterns(const struct classify_rules *r);

/*
 * The built-in score of text[0..len) in [0, 1] (see the combination
 * above). sig, when not NULL, gets the measurements. Never fails: out of
 * memory skips the rules that need a copy of the text (terms, patterns,
 * links, repetition).
 */
double classify_score(const struct classify_rules *r, const char *text, size_t len,
                      struct classify_signals *sig);

#endif
