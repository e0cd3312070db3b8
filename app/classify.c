/*
 * classify.c — the built-in rules of `sotto moderate` (format and
 * combination in classify.h).
 *
 * Terms are stored ASCII-lowercased and searched with memmem() in an
 * ASCII-lowercased copy of the text, which is safe on UTF-8 because ASCII
 * bytes never occur inside a multibyte sequence (RFC 3629, section 3).
 * Patterns are compiled once (regcomp, REG_EXTENDED | REG_ICASE) and run
 * on the text's bytes with REG_STARTEND, so a text need not end in NUL.
 */
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "util.h"

struct classify_term {
	char *text;      /* lower-case */
	size_t len;
	double weight;
};

struct classify_pattern {
	regex_t re;
	double weight;
};

struct classify_rules {
	struct classify_term *terms;
	size_t n_terms, cap_terms;
	struct classify_pattern *patterns;
	size_t n_patterns;

	/* A weight of 0 means the rule is not configured. */
	double links_count, links_weight;
	double density_ratio, density_weight;
	double shout_min, shout_ratio, shout_weight;
	double rep_min, rep_ratio, rep_weight;
	double run_length, run_weight;
	unsigned seen;   /* bit per single-use kind */
};

/* The single-use kinds, bits of classify_rules.seen. */
enum { SEEN_LINKS = 1, SEEN_DENSITY = 2, SEEN_SHOUT = 4, SEEN_REP = 8, SEEN_RUN = 16 };

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

static bool space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* ---- parsing ----------------------------------------------------------- */

/* A decimal in [0, max]: digits, optionally '.' and digits. 0 or -1. */
static int parse_decimal(const char *s, double max, double *out)
{
	double v = 0, scale = 1;
	size_t i = 0, digits = 0;

	for (; s[i] >= '0' && s[i] <= '9'; i++, digits++)
		v = v * 10 + (s[i] - '0');
	if (s[i] == '.') {
		for (i++; s[i] >= '0' && s[i] <= '9'; i++, digits++) {
			scale /= 10;
			v += (s[i] - '0') * scale;
		}
	}
	if (digits == 0 || digits > 12 || s[i] != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

/* A whole number in [1, max]. */
static int parse_count(const char *s, int64_t max, double *out)
{
	int64_t v;

	if (util_parse_int64(s, 1, max, &v) != 0)
		return -1;
	*out = (double)v;
	return 0;
}

/* The next field of *p (cut in place), or NULL at the end of the line. */
static char *next_field(char **p)
{
	char *s = *p, *start;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0') {
		*p = s;
		return NULL;
	}
	start = s;
	while (*s != '\0' && *s != ' ' && *s != '\t')
		s++;
	if (*s != '\0')
		*s++ = '\0';
	*p = s;
	return start;
}

/* The rest of the line after leading blanks, trailing blanks cut; NULL when empty. */
static char *rest_of_line(char **p)
{
	char *s = *p, *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	*p = end;
	return *s == '\0' ? NULL : s;
}

struct parser {
	struct classify_rules *r;
	size_t line_no;
	char *err;
	size_t errlen;
};

static int perr(struct parser *ps, const char *what)
{
	if (ps->err != NULL && ps->errlen > 0)
		snprintf(ps->err, ps->errlen, "line %zu: %s", ps->line_no, what);
	return -1;
}

static int add_term(struct parser *ps, char *line)
{
	struct classify_rules *r = ps->r;
	char *w = next_field(&line), *text;
	double weight;

	if (w == NULL || parse_decimal(w, 1, &weight) != 0)
		return perr(ps, "term: expected a weight from 0 to 1, then the text");
	if ((text = rest_of_line(&line)) == NULL)
		return perr(ps, "term: the text is missing");
	if (r->n_terms == CLASSIFY_MAX_TERMS)
		return perr(ps, "more terms than allowed");
	if (r->n_terms == r->cap_terms) {
		size_t cap = r->cap_terms == 0 ? 64 : r->cap_terms * 2;
		struct classify_term *t = realloc(r->terms, cap * sizeof(*t));

		if (t == NULL)
			return perr(ps, "out of memory");
		r->terms = t;
		r->cap_terms = cap;
	}
	if ((r->terms[r->n_terms].text = strdup(text)) == NULL)
		return perr(ps, "out of memory");
	for (char *c = r->terms[r->n_terms].text; *c != '\0'; c++)
		*c = (char)lower((unsigned char)*c);
	r->terms[r->n_terms].len = strlen(text);
	r->terms[r->n_terms].weight = weight;
	r->n_terms++;
	return 0;
}

/*
 * Refuse what makes glibc's regcomp() explode in memory: a quantifier
 * right after another ("a++", "a{9}{9}", undefined in POSIX EREs anyway)
 * and counted repetitions above CLASSIFY_PATTERN_MAX_REPEAT. Backslash
 * escapes and bracket expressions are skipped.
 */
static bool pattern_tame(const char *re)
{
	bool after_quantifier = false;

	for (size_t i = 0; re[i] != '\0'; i++) {
		char c = re[i];

		if (c == '\\' && re[i + 1] != '\0') {
			i++;
			after_quantifier = false;
		} else if (c == '[') {
			i += re[i + 1] == '^' ? 2 : 1;
			if (re[i] == ']')
				i++;
			while (re[i] != '\0' && re[i] != ']')
				i++;
			if (re[i] == '\0')
				return true;   /* unbalanced: regcomp() refuses it */
			after_quantifier = false;
		} else if (c == '*' || c == '+' || c == '?' || c == '{') {
			if (after_quantifier)
				return false;
			if (c == '{') {
				for (i++; re[i] != '\0' && re[i] != '}'; i++)
					if (re[i] >= '0' && re[i] <= '9' && atoi(re + i) > CLASSIFY_PATTERN_MAX_REPEAT)
						return false;
				if (re[i] == '\0')
					return true;
			}
			after_quantifier = true;
		} else {
			after_quantifier = false;
		}
	}
	return true;
}

static int add_pattern(struct parser *ps, char *line)
{
	struct classify_rules *r = ps->r;
	char *w = next_field(&line), *re;
	double weight;

	if (w == NULL || parse_decimal(w, 1, &weight) != 0)
		return perr(ps, "pattern: expected a weight from 0 to 1, then the expression");
	if ((re = rest_of_line(&line)) == NULL)
		return perr(ps, "pattern: the expression is missing");
	if (strlen(re) > CLASSIFY_PATTERN_MAX_BYTES)
		return perr(ps, "pattern: the expression is too long");
	if (!pattern_tame(re))
		return perr(ps, "pattern: stacked quantifiers or a repetition count above 100");
	if (r->n_patterns == CLASSIFY_MAX_PATTERNS)
		return perr(ps, "more patterns than allowed");
	if (r->patterns == NULL &&
	    (r->patterns = calloc(CLASSIFY_MAX_PATTERNS, sizeof(*r->patterns))) == NULL)
		return perr(ps, "out of memory");
	if (regcomp(&r->patterns[r->n_patterns].re, re, REG_EXTENDED | REG_ICASE) != 0)
		return perr(ps, "pattern: not a valid POSIX extended regular expression");
	r->patterns[r->n_patterns].weight = weight;
	r->n_patterns++;
	return 0;
}

/*
 * A single-use rule of n_args numbers: args[i] is a count (whole number
 * >= 1) when is_count[i], else a ratio in [0, 1]; the last is the weight.
 */
static int add_fixed(struct parser *ps, char *line, const char *kind, unsigned bit,
                     size_t n_args, const bool *is_count, double *const *out)
{
	char msg[128];
	double v[3];

	if ((ps->r->seen & bit) != 0) {
		snprintf(msg, sizeof(msg), "%s: given twice", kind);
		return perr(ps, msg);
	}
	for (size_t i = 0; i < n_args; i++) {
		char *f = next_field(&line);

		if (f == NULL || (is_count[i] ? parse_count(f, 1000000, &v[i])
		                              : parse_decimal(f, 1, &v[i])) != 0) {
			snprintf(msg, sizeof(msg), "%s: expected %zu numbers (see the file's header)",
			         kind, n_args);
			return perr(ps, msg);
		}
	}
	if (next_field(&line) != NULL) {
		snprintf(msg, sizeof(msg), "%s: too many fields", kind);
		return perr(ps, msg);
	}
	for (size_t i = 0; i < n_args; i++)
		*out[i] = v[i];
	ps->r->seen |= bit;
	return 0;
}

static int parse_line(struct parser *ps, char *line)
{
	struct classify_rules *r = ps->r;
	char *kind;

	while (*line == ' ' || *line == '\t')
		line++;
	if (*line == '\0' || *line == '#')
		return 0;
	kind = next_field(&line);
	if (strcmp(kind, "term") == 0)
		return add_term(ps, line);
	if (strcmp(kind, "pattern") == 0)
		return add_pattern(ps, line);
	if (strcmp(kind, "links") == 0)
		return add_fixed(ps, line, kind, SEEN_LINKS, 2, (const bool[]){ true, false },
		                 (double *const[]){ &r->links_count, &r->links_weight });
	if (strcmp(kind, "link_density") == 0)
		return add_fixed(ps, line, kind, SEEN_DENSITY, 2, (const bool[]){ false, false },
		                 (double *const[]){ &r->density_ratio, &r->density_weight });
	if (strcmp(kind, "shouting") == 0)
		return add_fixed(ps, line, kind, SEEN_SHOUT, 3, (const bool[]){ true, false, false },
		                 (double *const[]){ &r->shout_min, &r->shout_ratio, &r->shout_weight });
	if (strcmp(kind, "repetition") == 0)
		return add_fixed(ps, line, kind, SEEN_REP, 3, (const bool[]){ true, false, false },
		                 (double *const[]){ &r->rep_min, &r->rep_ratio, &r->rep_weight });
	if (strcmp(kind, "run") == 0)
		return add_fixed(ps, line, kind, SEEN_RUN, 2, (const bool[]){ true, false },
		                 (double *const[]){ &r->run_length, &r->run_weight });
	return perr(ps, "unknown rule (term, pattern, links, link_density, shouting, "
	                "repetition, run)");
}

struct classify_rules *classify_rules_parse(const char *text, size_t len, char *err,
                                            size_t errlen)
{
	struct parser ps = { .err = err, .errlen = errlen };
	char *copy = NULL, *line, *next;
	int rc = -1;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((text == NULL && len > 0) || len > CLASSIFY_RULES_MAX_BYTES) {
		snprintf(err, errlen, "the rules are larger than %d bytes", CLASSIFY_RULES_MAX_BYTES);
		return NULL;
	}
	if (!util_utf8_valid(text != NULL ? text : "", len)) {
		snprintf(err, errlen, "the rules are not UTF-8 text without NUL");
		return NULL;
	}
	if ((ps.r = calloc(1, sizeof(*ps.r))) == NULL || (copy = malloc(len + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (len > 0)
		memcpy(copy, text, len);
	copy[len] = '\0';
	for (line = copy; line != NULL; line = next) {
		ps.line_no++;
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (*line != '\0' && line[strlen(line) - 1] == '\r')
			line[strlen(line) - 1] = '\0';
		if (parse_line(&ps, line) != 0)
			goto out;
	}
	rc = 0;
out:
	free(copy);
	if (rc != 0) {
		classify_rules_free(ps.r);
		return NULL;
	}
	return ps.r;
}

struct classify_rules *classify_rules_load(const char *path, char *err, size_t errlen)
{
	struct classify_rules *r = NULL;
	char *buf = NULL;
	size_t n = 0;
	FILE *f;

	if (path == NULL || path[0] == '\0')
		return classify_rules_parse("", 0, err, errlen);
	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "cannot open the rules file: %s", strerror(errno));
		return NULL;
	}
	if ((buf = malloc(CLASSIFY_RULES_MAX_BYTES + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	n = fread(buf, 1, CLASSIFY_RULES_MAX_BYTES + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "cannot read the rules file");
		goto out;
	}
	if (n > CLASSIFY_RULES_MAX_BYTES) {
		snprintf(err, errlen, "the rules file is larger than %d bytes",
		         CLASSIFY_RULES_MAX_BYTES);
		goto out;
	}
	r = classify_rules_parse(buf, n, err, errlen);
out:
	free(buf);
	fclose(f);
	return r;
}

void classify_rules_free(struct classify_rules *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_terms; i++)
		free(r->terms[i].text);
	free(r->terms);
	for (size_t i = 0; i < r->n_patterns; i++)
		regfree(&r->patterns[i].re);
	free(r->patterns);
	free(r);
}

size_t classify_rules_terms(const struct classify_rules *r)
{
	return r != NULL ? r->n_terms : 0;
}

size_t classify_rules_patterns(const struct classify_rules *r)
{
	return r != NULL ? r->n_patterns : 0;
}

/* ---- measuring --------------------------------------------------------- */

/* Length of a link prefix at s[i] ("http://", "https://", "www."), 0 if none. */
static size_t link_prefix(const char *low, size_t len, size_t i)
{
	static const char *const prefixes[] = { "http://", "https://", "www." };

	for (size_t k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++) {
		size_t n = strlen(prefixes[k]);

		if (len - i >= n && memcmp(low + i, prefixes[k], n) == 0)
			return n;
	}
	return 0;
}

/* Links and the bytes inside them, in the lower-case copy. */
static void measure_links(const char *low, size_t len, struct classify_signals *sig)
{
	size_t link_bytes = 0, nonspace = 0;

	for (size_t i = 0; i < len;) {
		size_t start = i;

		if (space((unsigned char)low[i])) {
			i++;
			continue;
		}
		if (link_prefix(low, len, i) == 0) {
			nonspace++;
			i++;
			continue;
		}
		/* The link runs to the next white space ("https://www." counts once). */
		while (i < len && !space((unsigned char)low[i]))
			i++;
		sig->links++;
		/* Links glued on without a space count too, as in guard.h. */
		for (size_t j = start + 1; j < i; j++)
			if (link_prefix(low, i, j) > 0 &&
			    !(j >= 3 && memcmp(low + j - 3, "://", 3) == 0))
				sig->links++;
		link_bytes += i - start;
		nonspace += i - start;
	}
	sig->link_density = nonspace > 0 ? (double)link_bytes / (double)nonspace : 0;
}

static void measure_letters(const char *text, size_t len, struct classify_signals *sig)
{
	size_t upper = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c >= 'A' && c <= 'Z')
			upper++;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
			sig->letters++;
	}
	sig->upper_share = sig->letters > 0 ? (double)upper / (double)sig->letters : 0;
}

/* Bytes of the UTF-8 sequence led by c (1 for anything unexpected). */
static size_t utf8_len(unsigned char c)
{
	return c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
}

static void measure_runs(const char *text, size_t len, struct classify_signals *sig)
{
	size_t run = 0, prev_at = 0, prev_len = 0;

	for (size_t i = 0; i < len;) {
		size_t n = utf8_len((unsigned char)text[i]);

		if (n > len - i)
			n = len - i;
		if (space((unsigned char)text[i])) {
			run = 0;
		} else if (run > 0 && n == prev_len && memcmp(text + i, text + prev_at, n) == 0) {
			run++;
		} else {
			run = 1;
		}
		prev_at = i;
		prev_len = n;
		if (run > sig->longest_run)
			sig->longest_run = run;
		i += n;
	}
}

struct word {
	const char *s;
	size_t len;
};

static int word_cmp(const void *a, const void *b)
{
	const struct word *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->s, y->s, n);

	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* Words of the lower-case copy, sorted to count the distinct ones. */
static void measure_words(const char *low, size_t len, struct classify_signals *sig)
{
	struct word *w = malloc(CLASSIFY_MAX_WORDS * sizeof(*w));
	size_t n = 0, distinct = 0;

	if (w == NULL)
		return;
	for (size_t i = 0; i < len && n < CLASSIFY_MAX_WORDS;) {
		size_t start;

		while (i < len && space((unsigned char)low[i]))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && !space((unsigned char)low[i]))
			i++;
		w[n].s = low + start;
		w[n].len = i - start;
		n++;
	}
	qsort(w, n, sizeof(*w), word_cmp);
	for (size_t i = 0; i < n; i++)
		distinct += i == 0 || word_cmp(&w[i - 1], &w[i]) != 0;
	sig->words = n;
	sig->repeat_share = n > 0 ? 1.0 - (double)distinct / (double)n : 0;
	free(w);
}

/* ---- scoring ----------------------------------------------------------- */

/* Fold one more signal of weight w into the noisy-or product *keep = prod(1 - w). */
static void fire(double w, double *keep, struct classify_signals *sig)
{
	if (w <= 0)
		return;
	*keep *= 1.0 - (w > 1 ? 1 : w);
	sig->fired++;
}

static void score_terms(const struct classify_rules *r, const char *low, size_t len,
                        double *keep, struct classify_signals *sig)
{
	for (size_t i = 0; i < r->n_terms; i++) {
		if (r->terms[i].len > 0 && memmem(low, len, r->terms[i].text, r->terms[i].len) != NULL) {
			sig->terms++;
			fire(r->terms[i].weight, keep, sig);
		}
	}
}

static void score_patterns(const struct classify_rules *r, const char *text, size_t len,
                           double *keep, struct classify_signals *sig)
{
	for (size_t i = 0; i < r->n_patterns; i++) {
		regmatch_t m[1] = { { .rm_so = 0, .rm_eo = (regoff_t)len } };

		if (regexec(&r->patterns[i].re, text, 1, m, REG_STARTEND) == 0) {
			sig->patterns++;
			fire(r->patterns[i].weight, keep, sig);
		}
	}
}

/* The measured rules: links, density, shouting, repetition, runs. */
static void score_measures(const struct classify_rules *r, double *keep,
                           struct classify_signals *sig)
{
	if (r->links_weight > 0 && sig->links > 0) {
		double share = (double)sig->links / r->links_count;

		fire(r->links_weight * (share > 1 ? 1 : share), keep, sig);
	}
	if (r->density_weight > 0 && sig->links > 0 && sig->link_density >= r->density_ratio)
		fire(r->density_weight, keep, sig);
	if (r->shout_weight > 0 && (double)sig->letters >= r->shout_min &&
	    sig->upper_share >= r->shout_ratio)
		fire(r->shout_weight, keep, sig);
	if (r->rep_weight > 0 && (double)sig->words >= r->rep_min &&
	    sig->repeat_share >= r->rep_ratio)
		fire(r->rep_weight, keep, sig);
	if (r->run_weight > 0 && (double)sig->longest_run >= r->run_length)
		fire(r->run_weight, keep, sig);
}

double classify_score(const struct classify_rules *r, const char *text, size_t len,
                      struct classify_signals *out)
{
	struct classify_signals sig;
	double keep = 1.0;
	char *low;

	memset(&sig, 0, sizeof(sig));
	if (r == NULL || (text == NULL && len > 0)) {
		if (out != NULL)
			*out = sig;
		return 0;
	}
	if (text == NULL)
		text = "";
	low = malloc(len + 1);
	if (low != NULL) {
		for (size_t i = 0; i < len; i++)
			low[i] = (char)lower((unsigned char)text[i]);
		low[len] = '\0';
		measure_links(low, len, &sig);
		measure_words(low, len, &sig);
		score_terms(r, low, len, &keep, &sig);
		/* Case-insensitive anyway; and the copy ends in NUL, which regexec()
		 * interceptors (sanitizers) rely on even with REG_STARTEND. */
		score_patterns(r, low, len, &keep, &sig);
	}
	measure_letters(text, len, &sig);
	measure_runs(text, len, &sig);
	score_measures(r, &keep, &sig);
	free(low);
	if (out != NULL)
		*out = sig;
	/* Six decimals: 1 - (1 - 0.9) must compare equal to a threshold of 0.9. */
	return keep <= 0 ? 1.0 : nearbyint((1.0 - keep) * 1e6) / 1e6;
}
