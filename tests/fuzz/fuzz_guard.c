/*
 * libFuzzer target: guard_check never crashes, and what it accepts obeys
 * guard.h, checked here by simpler, independent means.
 *
 * Input: byte 0 is max_chars (0..255), byte 1 picks max_links (-1..6),
 * the rest is the text (any bytes, NUL included).
 *
 * - An accepted text is valid UTF-8 without NUL (util_utf8_valid), has no
 *   forbidden control byte, at most max_chars code points, something
 *   other than ASCII white space, at most max_links links (counted with
 *   strncasecmp), and no blocklist term (strcasestr).
 * - A refused text has a reason from guard.h's list, and "invalid_utf8"
 *   exactly when its bytes, NULs aside, are ill-formed.
 * - The fixed blocklist is passed sorted and reversed, the two ways
 *   guard_check searches a list; both answers must be the same.
 * - guard_repeat_key of the text must not change with ASCII case.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "guard.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Lower-case terms, some prefixes of others; sorted (and reversed) at start. */
static const char *blocklist[] = {
	"spam", "caf\xc3\xa9", "x y", "ab", "abc", "abd", "b\xc3\xa4", "bab", "zz", "q",
};
#define N_BLOCKLIST (sizeof(blocklist) / sizeof(blocklist[0]))
static const size_t n_blocklist = N_BLOCKLIST;
static const char *reversed[N_BLOCKLIST];

static const char *const reasons[] = {
	"invalid_utf8", "control_characters", "empty", "too_long",
	"too_many_links", "blocked_term",
};

static const unsigned char fuzz_key[32] = { 0x67, 0x75, 0x61, 0x72, 0x64 };

static bool known_reason(const char *r)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		if (strcmp(r, reasons[i]) == 0)
			return true;
	}
	return false;
}

/* Bytes of a forbidden control: C0 but \n \t, DEL, C1 (C2 80..C2 9F in UTF-8). */
static bool has_control(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if ((s[i] < 0x20 && s[i] != '\n' && s[i] != '\t') || s[i] == 0x7f)
			return true;
		if (s[i] == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f)
			return true;
	}
	return false;
}

static size_t code_points(const unsigned char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += (s[i] & 0xc0) != 0x80;
	return n;
}

static bool ascii_blank(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] != ' ' && s[i] != '\n' && s[i] != '\t')
			return false;
	}
	return true;
}

/* Links in a NUL-terminated text. */
static size_t links(const char *s)
{
	size_t n = 0;

	for (const char *p = s; *p != '\0'; p++) {
		if (strncasecmp(p, "http://", 7) == 0 || strncasecmp(p, "https://", 8) == 0)
			n++;
		else if (strncasecmp(p, "www.", 4) == 0 && !(p - s >= 3 && strncmp(p - 3, "://", 3) == 0))
			n++;
	}
	return n;
}

static void check_accepted(const char *text, size_t len, size_t max_chars, int max_links)
{
	const unsigned char *s = (const unsigned char *)text;

	if (!util_utf8_valid(text, len) || has_control(s, len) ||
	    code_points(s, len) > max_chars || ascii_blank(s, len))
		__builtin_trap();
	if (links(text) > (size_t)(max_links < 0 ? 0 : max_links))
		__builtin_trap();
	for (size_t t = 0; t < n_blocklist; t++) {
		if (strcasestr(text, blocklist[t]) != NULL)
			__builtin_trap();
	}
}

/* The repetition key must not change when ASCII letters change case. */
static void check_repeat_key(char *text, size_t len)
{
	char k1[GUARD_REPEAT_KEY_CHARS + 1], k2[GUARD_REPEAT_KEY_CHARS + 1];

	if (guard_repeat_key(k1, fuzz_key, "post", "acct", text, len) != 0)
		__builtin_trap();
	for (size_t i = 0; i < len; i++) {
		if (text[i] >= 'a' && text[i] <= 'z')
			text[i] = (char)(text[i] - 'a' + 'A');
	}
	if (guard_repeat_key(k2, fuzz_key, "post", "acct", text, len) != 0 ||
	    strlen(k1) != GUARD_REPEAT_KEY_CHARS || strcmp(k1, k2) != 0)
		__builtin_trap();
}

/* True when s[0..len) is well-formed UTF-8 once NUL bytes (a control, not an encoding error) are set aside. */
static bool well_formed(const char *s, size_t len)
{
	char *copy = malloc(len + 1);
	bool ok;

	if (copy == NULL)
		abort();
	for (size_t i = 0; i < len; i++)
		copy[i] = s[i] == '\0' ? 'a' : s[i];
	ok = util_utf8_valid(copy, len);
	free(copy);
	return ok;
}

static int by_bytes(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted, guard_check searches the list by narrowing; reversed, term by term. */
static void prepare_lists(void)
{
	qsort(blocklist, n_blocklist, sizeof(blocklist[0]), by_bytes);
	for (size_t i = 0; i < n_blocklist; i++)
		reversed[i] = blocklist[n_blocklist - 1 - i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool prepared;
	size_t max_chars, len;
	int max_links;
	const char *reason;
	char *text;

	if (!prepared) {
		prepare_lists();
		prepared = true;
	}
	if (size < 2)
		return 0;
	max_chars = data[0];
	max_links = (int)(data[1] % 8) - 1;
	len = size - 2;
	/* A NUL-terminated copy (for the libc oracles); guard_check sees len bytes. */
	text = malloc(len + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data + 2, len);
	text[len] = '\0';
	reason = guard_check(text, len, max_chars, max_links, blocklist, n_blocklist);
	if (reason != guard_check(text, len, max_chars, max_links, reversed, n_blocklist))
		__builtin_trap(); /* both searches must agree */
	if (reason == NULL)
		check_accepted(text, len, max_chars, max_links);
	else if (!known_reason(reason))
		__builtin_trap();
	if ((reason != NULL && strcmp(reason, "invalid_utf8") == 0) == well_formed(text, len))
		__builtin_trap();
	check_repeat_key(text, len);
	free(text);
	return 0;
}
