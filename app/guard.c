/*
 * guard.c — guardrails before any write of user text (see guard.h for
 * the reasons and their order).
 *
 * guard_check() is pure: one pass decodes the UTF-8 and classifies each
 * code point (validity, controls, blank, count); links and blocklist
 * terms are then searched in the bytes with ASCII case folding, which is
 * safe on valid UTF-8 because ASCII bytes never occur inside a multibyte
 * sequence (RFC 3629, section 3).
 *
 * The repetition window is a Redis key per (kind, account, normalized
 * text) set with SET NX EX: the first write within the window creates
 * it, a repeat finds it. The key is a keyed BLAKE2b hash (worker subkey
 * "guardrep"), so Redis never holds the text or the account id, and
 * nobody without IP_HMAC_KEY can test whether an account wrote a text.
 *
 * The blocklist is read once per worker into a process-wide table: the
 * file's bytes, terms cut in place, and an array pointing at them,
 * sorted so that guard_check() finds terms by binary search instead of
 * trying each one (10000 terms against a 4000-character post: about a
 * millisecond instead of some 50).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "auth.h"
#include "cache.h"
#include "config.h"
#include "context.h"
#include "guard.h"
#include "http.h"
#include "log.h"
#include "util.h"

#define GUARD_FOLD_CHUNK 256  /* bytes lowered at a time into the hash */

/* The loaded blocklist: terms point into bl_text. */
static char *bl_text;
static const char **bl_terms;
static size_t bl_n;

struct guard_reason {
	const char *reason;
	const char *message;
};

/* guard_check() returns these reason pointers; messages are the 422 text. */
static const struct guard_reason reasons[] = {
	{ "invalid_utf8", "the text is not valid UTF-8" },
	{ "control_characters", "the text contains control characters" },
	{ "empty", "the text is empty" },
	{ "too_long", "the text is too long" },
	{ "too_many_links", "the text contains too many links" },
	{ "blocked_term", "the text contains a blocked term" },
	{ "repeated", "the same text was just written; wait before repeating it" },
};
enum { R_INVALID_UTF8, R_CONTROL, R_EMPTY, R_TOO_LONG, R_LINKS, R_BLOCKED, R_REPEATED };

static unsigned char ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* ASCII white space, as isspace() in the C locale. */
static bool ascii_space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/*
 * Decode the code point at s[*i] into *cp and advance *i past it.
 * false on an ill-formed sequence (RFC 3629: a bad lead byte, a missing
 * or bad continuation byte, an overlong form, a surrogate, or a value
 * above U+10FFFF); *i is then unchanged.
 */
static bool utf8_next(const unsigned char *s, size_t len, size_t *i, uint32_t *cp)
{
	unsigned char c = s[*i];
	uint32_t v;
	size_t n;

	if (c < 0x80) {
		*cp = c;
		(*i)++;
		return true;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		n = 1; v = c & 0x1Fu;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 2; v = c & 0x0Fu;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 3; v = c & 0x07u;
	} else {
		return false; /* continuation byte, C0/C1 (overlong ASCII) or F5..FF */
	}
	if (len - *i <= n)
		return false;
	for (size_t k = 1; k <= n; k++) {
		if ((s[*i + k] & 0xC0u) != 0x80u)
			return false;
		v = (v << 6) | (s[*i + k] & 0x3Fu);
	}
	if ((n == 2 && v < 0x800) || (n == 3 && v < 0x10000) || v > 0x10FFFF ||
	    (v >= 0xD800 && v <= 0xDFFF))
		return false;
	*cp = v;
	*i += n + 1;
	return true;
}

/* NUL, C0 except newline and tab, DEL, C1 (U+0080..U+009F). */
static bool forbidden_control(uint32_t cp)
{
	if (cp == '\n' || cp == '\t')
		return false;
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

/*
 * Characters that show nothing: Unicode White_Space (PropList.txt) and
 * the invisible ones most used to post a text that looks blank.
 */
static bool blank_char(uint32_t cp)
{
	switch (cp) {
	case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20:
	case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
	case 0x202F: case 0x205F: case 0x3000:               /* White_Space */
	case 0x180E: case 0x200B: case 0x200C: case 0x200D:
	case 0x2060: case 0xFEFF:                            /* zero width */
	case 0x115F: case 0x1160: case 0x3164: case 0xFFA0:  /* Hangul fillers */
	case 0x2800:                                         /* braille blank */
		return true;
	default:
		return cp >= 0x2000 && cp <= 0x200A;         /* White_Space */
	}
}

/* The character checks, in guard.h's order; NULL when they pass. */
static const char *check_chars(const char *text, size_t len, size_t max_chars)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0, n_chars = 0;
	bool control = false, blank = true;

	while (i < len) {
		uint32_t cp;

		if (!utf8_next(s, len, &i, &cp))
			return reasons[R_INVALID_UTF8].reason;
		control = control || forbidden_control(cp);
		blank = blank && blank_char(cp);
		n_chars++;
	}
	if (control)
		return reasons[R_CONTROL].reason;
	if (blank)
		return reasons[R_EMPTY].reason;
	if (n_chars > max_chars)
		return reasons[R_TOO_LONG].reason;
	return NULL;
}

/* True when s[0..len) starts with lower-case ASCII word w, any case. */
static bool starts_with_ci(const char *s, size_t len, const char *w)
{
	size_t i;

	for (i = 0; w[i] != '\0'; i++) {
		if (i == len || ascii_lower((unsigned char)s[i]) != (unsigned char)w[i])
			return false;
	}
	return true;
}

/* Links in text, counting stops once past max. */
static size_t count_links(const char *s, size_t len, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n <= max; i++) {
		if (starts_with_ci(s + i, len - i, "http://") ||
		    starts_with_ci(s + i, len - i, "https://"))
			n++;
		else if (starts_with_ci(s + i, len - i, "www.") &&
		         !(i >= 3 && memcmp(s + i - 3, "://", 3) == 0))
			n++;
	}
	return n;
}

/* strcmp() of a and b after ASCII lowercasing (bytes compared unsigned). */
static int fold_cmp(const char *a, const char *b)
{
	const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;

	while (*x != '\0' && ascii_lower(*x) == ascii_lower(*y)) {
		x++;
		y++;
	}
	return (int)ascii_lower(*x) - (int)ascii_lower(*y);
}

/* True when term occurs in s[0..len), ASCII case-insensitively. */
static bool contains_ci(const char *s, size_t len, const char *term)
{
	size_t tlen = strlen(term);
	unsigned char first;

	if (tlen == 0 || tlen > len)
		return false;
	first = ascii_lower((unsigned char)term[0]);
	for (size_t i = 0; i + tlen <= len; i++) {
		size_t k;

		if (ascii_lower((unsigned char)s[i]) != first)
			continue;
		for (k = 1; k < tlen; k++) {
			if (ascii_lower((unsigned char)s[i + k]) !=
			    ascii_lower((unsigned char)term[k]))
				break;
		}
		if (k == tlen)
			return true;
	}
	return false;
}

/*
 * In t[lo..hi), terms that share their first d (folded) bytes and are
 * longer than d, in fold_cmp order: the first index whose byte d is >= c,
 * or > c when after.
 */
static size_t bound_at(const char *const *t, size_t lo, size_t hi, size_t d,
                       unsigned char c, bool after)
{
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		unsigned char m = ascii_lower((unsigned char)t[mid][d]);

		if (m < c || (after && m == c))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * True when a term of t[lo..hi) (terms in fold_cmp order that all start
 * with s[0], folded) is a prefix of s[0..len), ASCII case-insensitively.
 * The range narrows to the terms that share s's first d bytes; among
 * those, the one equal to s[0..d), if any, sorts first.
 */
static bool sorted_prefix_match(const char *s, size_t len, const char *const *t,
                                size_t lo, size_t hi)
{
	for (size_t d = 1; lo < hi; d++) {
		unsigned char c;
		size_t first;

		if (t[lo][d] == '\0')
			return true;
		if (d == len)
			return false;
		c = ascii_lower((unsigned char)s[d]);
		first = bound_at(t, lo, hi, d, c, false);
		hi = bound_at(t, first, hi, d, c, true);
		lo = first;
	}
	return false;
}

/*
 * True when terms are in fold_cmp order; first[c] is then the index of
 * the first term whose first folded byte is >= c (first[256] = n), so
 * first[c]..first[c + 1] are the terms that start with c.
 */
static bool index_sorted(const char *const *terms, size_t n, size_t first[257])
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char b = ascii_lower((unsigned char)terms[i][0]);

		if (i > 0 && fold_cmp(terms[i - 1], terms[i]) > 0)
			return false;
		while (c <= b)
			first[c++] = i;
	}
	while (c <= 256)
		first[c++] = n;
	return true;
}

/*
 * True when s[0..len) contains a term. A list in fold_cmp order (the
 * loaded one is) is searched at each position of s by narrowing the
 * terms that start there, O(len * depth * log n); a list in any other
 * order term by term, O(len * n). Telling which costs one pass over it.
 */
static bool contains_term(const char *s, size_t len, const char *const *terms, size_t n)
{
	size_t first[257];

	if (!index_sorted(terms, n, first)) {
		for (size_t t = 0; t < n; t++) {
			if (contains_ci(s, len, terms[t]))
				return true;
		}
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = ascii_lower((unsigned char)s[i]);

		/* Byte 0 starts only empty terms, which match nothing. */
		if (c != 0 && first[c] < first[c + 1] &&
		    sorted_prefix_match(s + i, len - i, terms, first[c], first[c + 1]))
			return true;
	}
	return false;
}

const char *guard_check(const char *text, size_t len, size_t max_chars, int max_links,
                        const char *const *blocklist, size_t n_blocklist)
{
	const char *reason = check_chars(text, len, max_chars);
	size_t links_allowed = max_links > 0 ? (size_t)max_links : 0;

	if (reason != NULL)
		return reason;
	if (count_links(text, len, links_allowed) > links_allowed)
		return reasons[R_LINKS].reason;
	if (contains_term(text, len, blocklist, n_blocklist))
		return reasons[R_BLOCKED].reason;
	return NULL;
}

/* Hash s[0..len) ASCII-lowercased, a chunk at a time (the text is not copied whole). */
static int hash_lowered(crypto_generichash_state *st, const char *s, size_t len)
{
	unsigned char chunk[GUARD_FOLD_CHUNK];
	int rc = 0;

	while (len > 0 && rc == 0) {
		size_t n = len < sizeof(chunk) ? len : sizeof(chunk);

		for (size_t i = 0; i < n; i++)
			chunk[i] = ascii_lower((unsigned char)s[i]);
		rc = crypto_generichash_update(st, chunk, n);
		s += n;
		len -= n;
	}
	sodium_memzero(chunk, sizeof(chunk));
	return rc;
}

int guard_repeat_key(char out[GUARD_REPEAT_KEY_CHARS + 1], const unsigned char key[32],
                     const char *kind, const char *account_id, const char *text,
                     size_t len)
{
	crypto_generichash_state st;
	unsigned char digest[32];
	size_t start = 0, end = len;
	int rc = -1;

	while (start < end && ascii_space((unsigned char)text[start]))
		start++;
	while (end > start && ascii_space((unsigned char)text[end - 1]))
		end--;
	/* The NUL terminators of kind and account_id are the 0x00 separators. */
	if (crypto_generichash_init(&st, key, 32, sizeof(digest)) != 0 ||
	    crypto_generichash_update(&st, (const unsigned char *)kind, strlen(kind) + 1) != 0 ||
	    crypto_generichash_update(&st, (const unsigned char *)account_id,
	                              strlen(account_id) + 1) != 0 ||
	    hash_lowered(&st, text + start, end - start) != 0 ||
	    crypto_generichash_final(&st, digest, sizeof(digest)) != 0)
		goto out;
	memcpy(out, "rep:", 4);
	sodium_bin2hex(out + 4, GUARD_REPEAT_KEY_CHARS + 1 - 4, digest, sizeof(digest));
	rc = 0;
out:
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(digest, sizeof(digest));
	return rc;
}

/* 422 content_rejected for a reason pointer from reasons[]. */
static int reject(struct request *req, const char *reason)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		if (reasons[i].reason == reason)
			return http_error_reason(req, 422, "content_rejected",
			                         reasons[i].message, reason);
	}
	return http_error_reason(req, 422, "content_rejected", "the text was refused", reason);
}

/*
 * Open the repetition window for this text, or answer: 0 when the text
 * was not written within the window (it is remembered now), else the
 * status set (422 repeated, 503 Redis unreachable, 500 out of memory).
 * Redis errors fail closed: a write that cannot be checked does not happen.
 */
static int remember_or_reply(struct request *req, const char *kind, const char *text,
                             size_t len)
{
	struct context *ctx = req->ctx;
	char key[GUARD_REPEAT_KEY_CHARS + 1], window[16];
	const char *argv[6];
	redisReply *r;
	int rc;

	if (guard_repeat_key(key, ctx->keys.guard, kind, req->account->id, text, len) != 0) {
		rc = http_error(req, 500, "internal", "internal error");
		goto out;
	}
	snprintf(window, sizeof(window), "%d", ctx->cfg->guard_repeat_window_s);
	argv[0] = "SET"; argv[1] = key; argv[2] = "1";
	argv[3] = "NX"; argv[4] = "EX"; argv[5] = window;
	r = cache_command(ctx->cache, req->arena, 6, argv, NULL);
	if (r == NULL && !cache_down(ctx->cache)) {
		rc = http_oom(req);
	} else if (r == NULL) {
		rc = http_unavailable(req, "the repetition check is unavailable",
		                      HTTP_RETRY_AFTER_DOWN);
	} else if (r->type == REDIS_REPLY_NIL) {
		rc = reject(req, reasons[R_REPEATED].reason);
	} else if (r->type == REDIS_REPLY_STATUS) {
		rc = 0;
		req->guard_key = arena_strdup(req->arena, key);
	} else {
		log_msg(LOG_ERROR, "guard: SET NX answered reply type %d", r->type);
		rc = http_unavailable(req, "the repetition check is unavailable",
		                      HTTP_RETRY_AFTER_DOWN);
	}
out:
	sodium_memzero(key, sizeof(key));
	return rc;
}

void guard_settle(struct request *req, int status)
{
	const char *argv[2] = { "DEL", req->guard_key };

	if (req->guard_key == NULL)
		return;
	if (status < 200 || status > 299)
		(void)cache_command(req->ctx->cache, req->arena, 2, argv, NULL);
	sodium_memzero(req->guard_key, strlen(req->guard_key));
	req->guard_key = NULL;
}

int guard_texts_or_reply(struct request *req, const char *kind,
                         const struct guard_text *texts, size_t n)
{
	const struct config *cfg = req->ctx->cfg;
	const char *reason;
	size_t total = 0, at = 0;
	char *joined;

	for (size_t i = 0; i < n; i++) {
		reason = guard_check(texts[i].text, texts[i].len, texts[i].max_chars,
		                     cfg->guard_max_links, bl_terms, bl_n);
		if (reason != NULL)
			return reject(req, reason);
		total += texts[i].len + 1;
	}
	if (req->account == NULL || cfg->guard_repeat_window_s <= 0)
		return 0;
	if (n == 1)
		return remember_or_reply(req, kind, texts[0].text, texts[0].len);
	/* Several fields repeat together: one window over all of them, NUL-separated. */
	if ((joined = arena_alloc(req->arena, total)) == NULL)
		return http_oom(req);
	for (size_t i = 0; i < n; i++) {
		memcpy(joined + at, texts[i].text, texts[i].len);
		at += texts[i].len;
		joined[at++] = '\0';
	}
	return remember_or_reply(req, kind, joined, total - 1);
}

int guard_text_or_reply(struct request *req, const char *kind, const char *text,
                        size_t len, size_t max_chars)
{
	const struct guard_text t = { text, len, max_chars };

	return guard_texts_or_reply(req, kind, &t, 1);
}

/*
 * Read the whole file at path into a new NUL-terminated buffer (*out,
 * caller frees, *len bytes before the NUL). -1 (logged) when it cannot be
 * read or is larger than GUARD_BLOCKLIST_MAX_BYTES.
 */
static int read_blocklist_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL, *shrunk;
	size_t n = 0;
	int rc = -1;

	if (f == NULL) {
		log_msg(LOG_ERROR, "SOTTO_GUARD_BLOCKLIST: cannot open the blocklist file: %s",
		        strerror(errno));
		goto out;
	}
	/* One byte more than allowed tells a file that is too large. */
	buf = malloc(GUARD_BLOCKLIST_MAX_BYTES + 2);
	if (buf == NULL) {
		log_msg(LOG_ERROR, "SOTTO_GUARD_BLOCKLIST: out of memory");
		goto out;
	}
	n = fread(buf, 1, GUARD_BLOCKLIST_MAX_BYTES + 1, f);
	if (ferror(f)) {
		log_msg(LOG_ERROR, "SOTTO_GUARD_BLOCKLIST: cannot read the blocklist file: %s",
		        strerror(errno));
		goto out;
	}
	if (n > GUARD_BLOCKLIST_MAX_BYTES) {
		log_msg(LOG_ERROR, "SOTTO_GUARD_BLOCKLIST: the blocklist file is larger than %d bytes",
		        GUARD_BLOCKLIST_MAX_BYTES);
		goto out;
	}
	buf[n] = '\0';
	shrunk = realloc(buf, n + 1);
	*out = shrunk != NULL ? shrunk : buf;
	*len = n;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	if (f != NULL)
		fclose(f);
	return rc;
}

/* qsort() order of the table: fold_cmp, so guard_check searches it by narrowing. */
static int term_order(const void *a, const void *b)
{
	return fold_cmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Cut text[0..len) (NUL-terminated, modified in place) into terms:
 * each line trimmed and ASCII-lowercased, blank and '#' lines skipped,
 * then sorted. *terms (caller frees) points into text. -1 (logged) on a rule broken.
 */
static int parse_blocklist(char *text, size_t len, const char ***terms, size_t *n_terms)
{
	const char **list = NULL;
	size_t n = 0, cap = 0, line = 0;
	char *p = text, *end = text + len;
	int rc = -1;

	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *stop = nl != NULL ? nl : end, *q;

		line++;
		if (!util_utf8_valid(p, (size_t)(stop - p))) {
			log_msg(LOG_ERROR, "SOTTO_GUARD_BLOCKLIST: line %zu is not valid UTF-8 "
			        "or contains a NUL byte", line);
			goto out;
		}
		while (p < stop && ascii_space((unsigned char)*p))
			p++;
		while (stop > p && ascii_space((unsigned char)stop[-1]))
			stop--;
		if (p < stop && *p != '#') {
			if (n == GUARD_BLOCKLIST_MAX_TERMS) {
				log_msg(LOG_ERROR, "SOTTO_GUARD_BLOCKLIST: more than %d terms "
				        "(line %zu)", GUARD_BLOCKLIST_MAX_TERMS, line);
				goto out;
			}
			if (n == cap) {
				const char **grown;

				cap = cap == 0 ? 64 : cap * 2;
				grown = realloc(list, cap * sizeof(*list));
				if (grown == NULL) {
					log_msg(LOG_ERROR, "SOTTO_GUARD_BLOCKLIST: out of memory");
					goto out;
				}
				list = grown;
			}
			for (q = p; q < stop; q++)
				*q = (char)ascii_lower((unsigned char)*q);
			*stop = '\0'; /* white space, the newline, or the final NUL */
			list[n++] = p;
		}
		p = nl != NULL ? nl + 1 : end;
	}
	if (n > 1)
		qsort(list, n, sizeof(*list), term_order);
	*terms = list;
	*n_terms = n;
	list = NULL;
	rc = 0;
out:
	free(list);
	return rc;
}

int guard_load_blocklist(const struct config *cfg)
{
	char *text = NULL;
	const char **terms = NULL;
	size_t len = 0, n = 0;
	int rc = -1;

	if (cfg->guard_blocklist != NULL && cfg->guard_blocklist[0] != '\0' &&
	    (read_blocklist_file(cfg->guard_blocklist, &text, &len) != 0 ||
	     parse_blocklist(text, len, &terms, &n) != 0))
		goto out;
	free(bl_terms);
	free(bl_text);
	bl_text = text;
	bl_terms = terms;
	bl_n = n;
	text = NULL;
	terms = NULL;
	rc = 0;
out:
	free(terms);
	free(text);
	return rc;
}

size_t guard_blocklist_terms(const char *const **terms)
{
	if (terms != NULL)
		*terms = bl_terms;
	return bl_n;
}
