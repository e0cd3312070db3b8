/*
 * json.c — strict JSON input on json-c 0.16, and typed getters.
 *
 * json-c is lenient by default (it accepts trailing garbage, single
 * quotes, comments...). JSON_TOKENER_STRICT with UTF-8 validation and
 * a depth limit, plus the checks below, make it RFC 8259 strict.
 */
#include <errno.h>
#include <string.h>

#include <json-c/printbuf.h>
#include <sodium.h>

#include "arena.h"
#include "json.h"
#include "util.h"

/* True when any string (key or value) in the tree contains a NUL byte. */
static bool has_nul(json_object *o, int depth)
{
	if (depth > 128)
		return true;
	switch (json_object_get_type(o)) {
	case json_type_string:
		return memchr(json_object_get_string(o), '\0',
		              (size_t)json_object_get_string_len(o)) != NULL;
	case json_type_object: {
		json_object_object_foreach(o, key, val) {
			if (has_nul(val, depth + 1))
				return true;
			(void)key; /* json-c keys are C strings: an embedded NUL truncates
			            * them, so "\u0000" in keys is caught below by length */
		}
		return false;
	}
	case json_type_array: {
		size_t n = json_object_array_length(o);

		for (size_t i = 0; i < n; i++)
			if (has_nul(json_object_array_get_idx(o, i), depth + 1))
				return true;
		return false;
	}
	default:
		return false;
	}
}

/*
 * RFC 8259 lexical check, because json-c 0.16's strict mode still takes
 * single-quoted keys ({'a': 1}), numbers like "1." and raw control
 * characters inside strings. This pass checks every token (strings with
 * their escapes, numbers, true/false/null, structural characters and
 * whitespace); json-c then checks the grammar and the depth.
 */
/* Four hex digits after s[*i] ('u') into *v; *i ends on the last digit. */
static bool lex_hex4(const char *s, size_t len, size_t *i, unsigned *v)
{
	*v = 0;
	for (int k = 0; k < 4; k++) {
		char c;

		if (++(*i) >= len)
			return false;
		c = s[*i];
		if (c >= '0' && c <= '9')
			*v = *v * 16 + (unsigned)(c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			*v = *v * 16 + (unsigned)((c | 0x20) - 'a' + 10);
		else
			return false;
	}
	return true;
}

/*
 * A \u escape at s[*i] ('u'). A UTF-16 surrogate must come as a high one
 * followed by "\u" and a low one: a lone half is no character at all
 * (RFC 8259 section 8.2), and json-c would turn it into U+FFFD silently.
 */
static bool lex_unicode_escape(const char *s, size_t len, size_t *i)
{
	unsigned v, low;

	if (!lex_hex4(s, len, i, &v))
		return false;
	if (v >= 0xDC00 && v <= 0xDFFF)
		return false;
	if (v < 0xD800 || v > 0xDBFF)
		return true;
	if (*i + 2 >= len || s[*i + 1] != '\\' || s[*i + 2] != 'u')
		return false;
	*i += 2;
	return lex_hex4(s, len, i, &low) && low >= 0xDC00 && low <= 0xDFFF;
}

static bool lex_string(const char *s, size_t len, size_t *i)
{
	for ((*i)++; *i < len; (*i)++) {
		unsigned char c = (unsigned char)s[*i];

		if (c == '"')
			return true;
		if (c < 0x20)
			return false; /* control characters must be escaped */
		if (c != '\\')
			continue;
		if (++(*i) >= len)
			return false;
		if (s[*i] == 'u') {
			if (!lex_unicode_escape(s, len, i))
				return false;
		} else if (strchr("\"\\/bfnrt", s[*i]) == NULL || s[*i] == '\0') {
			return false;
		}
	}
	return false;
}

static size_t lex_digits(const char *s, size_t len, size_t i)
{
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	return i;
}

/* number = [ "-" ] ( "0" / 1-9 *DIGIT ) [ "." 1*DIGIT ] [ e [ + / - ] 1*DIGIT ] */
static bool lex_number(const char *s, size_t len, size_t *i)
{
	size_t j = *i, k;

	if (s[j] == '-')
		j++;
	if (j >= len || s[j] < '0' || s[j] > '9')
		return false;
	j = s[j] == '0' ? j + 1 : lex_digits(s, len, j);
	if (j < len && s[j] == '.') {
		k = lex_digits(s, len, j + 1);
		if (k == j + 1)
			return false;
		j = k;
	}
	if (j < len && (s[j] == 'e' || s[j] == 'E')) {
		j++;
		if (j < len && (s[j] == '+' || s[j] == '-'))
			j++;
		k = lex_digits(s, len, j);
		if (k == j)
			return false;
		j = k;
	}
	*i = j - 1; /* the caller's loop steps past the last character */
	return true;
}

static bool lex_word(const char *s, size_t len, size_t *i)
{
	static const char *const words[] = { "true", "false", "null" };

	for (size_t w = 0; w < 3; w++) {
		size_t n = strlen(words[w]);

		if (len - *i >= n && memcmp(s + *i, words[w], n) == 0) {
			*i += n - 1;
			return true;
		}
	}
	return false;
}

static bool json_lexically_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool ok;

		if (strchr(" \t\r\n{}[],:", c) != NULL && c != '\0')
			continue;
		if (c == '"')
			ok = lex_string(s, len, &i);
		else if (c == '-' || (c >= '0' && c <= '9'))
			ok = lex_number(s, len, &i);
		else
			ok = lex_word(s, len, &i);
		if (!ok)
			return false;
	}
	return true;
}

/* Zero every string value under o (json-c's own copies of a request's text). */
static void wipe_strings(json_object *o, int depth)
{
	if (depth > 128)
		return;
	switch (json_object_get_type(o)) {
	case json_type_string:
		sodium_memzero((char *)json_object_get_string(o),
		               (size_t)json_object_get_string_len(o));
		break;
	case json_type_object: {
		json_object_object_foreach(o, key, val) {
			(void)key;
			wipe_strings(val, depth + 1);
		}
		break;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			wipe_strings(json_object_array_get_idx(o, i), depth + 1);
		break;
	default:
		break;
	}
}

/* A parsed request body (only ever referenced by its request): wiped, then released. */
static void json_release_wiped(void *obj)
{
	wipe_strings(obj, 0);
	json_object_put(obj);
}

/*
 * Free a tokener, wiping the text it buffered (the last string it read,
 * a password maybe). json-c 0.16 deprecates reading the fields of struct
 * json_tokener but offers no other way to reach that buffer.
 */
static void tokener_free_wiped(struct json_tokener *tok)
{
	if (tok != NULL && tok->pb != NULL && tok->pb->buf != NULL && tok->pb->size > 0)
		sodium_memzero(tok->pb->buf, (size_t)tok->pb->size);
	json_tokener_free(tok);
}

json_object *json_parse_strict(struct arena *a, const char *body, size_t len,
                               int max_depth, const char **why)
{
	struct json_tokener *tok = NULL;
	json_object *obj = NULL;
	enum json_tokener_error jerr;
	size_t used;

	*why = "invalid JSON";
	if (len == 0 || len > (size_t)INT32_MAX) {
		*why = "empty body";
		return NULL;
	}
	if (!util_utf8_valid(body, len)) {
		/* also catches NUL bytes and the overlong forms json-c lets through */
		*why = "invalid UTF-8";
		return NULL;
	}
	if (!json_lexically_valid(body, len))
		return NULL;
	/* json-c's depth counts containers: depth N allows N nested levels. */
	tok = json_tokener_new_ex(max_depth);
	if (tok == NULL)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, body, (int)len);
	jerr = json_tokener_get_error(tok);
	used = json_tokener_get_parse_end(tok);
	if (obj == NULL || jerr != json_tokener_success) {
		if (jerr == json_tokener_error_depth)
			*why = "JSON nested too deeply";
		else if (jerr == json_tokener_continue)
			*why = "truncated JSON";
		else if (jerr == json_tokener_error_parse_utf8_string)
			*why = "invalid UTF-8";
		json_object_put(obj);
		obj = NULL;
		goto out;
	}
	/* Only whitespace may follow the value. */
	for (; used < len; used++) {
		char c = body[used];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			*why = "trailing characters after JSON";
			json_object_put(obj);
			obj = NULL;
			goto out;
		}
	}
	if (has_nul(obj, 0)) {
		*why = "NUL character in string";
		json_object_put(obj);
		obj = NULL;
		goto out;
	}
	if (arena_defer(a, json_release_wiped, obj) != 0)
		obj = NULL;
out:
	tokener_free_wiped(tok);
	return obj;
}

int json_get_string(json_object *obj, const char *key, const char **out,
                    size_t *len)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	*out = json_object_get_string(v);
	if (len != NULL)
		*len = (size_t)json_object_get_string_len(v);
	return 1;
}

int json_get_b64(json_object *obj, const char *key, unsigned char *out, size_t n)
{
	const char *text;
	size_t len, got;
	int rc = json_get_string(obj, key, &text, &len);

	if (rc != 1)
		return rc;
	if (util_b64url_decode(text, len, out, n, &got) != 0 || got != n)
		return -1;
	return 1;
}

int json_get_int64(json_object *obj, const char *key, int64_t min, int64_t max,
                   int64_t *out)
{
	json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -1;
	/*
	 * json-c saturates integers that do not fit in int64 (and reads big
	 * unsigned ones as INT64_MAX), so the range check must be narrower
	 * than int64 for an overflowing number to be refused.
	 */
	if (min == INT64_MIN || max == INT64_MAX)
		return -1;
	n = json_object_get_int64(v);
	if (n < min || n > max)
		return -1;
	*out = n;
	return 1;
}

int json_get_bool(json_object *obj, const char *key, bool *out)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return -1;
	*out = json_object_get_boolean(v);
	return 1;
}

void json_release(void *obj)
{
	json_object_put(obj);
}


json_object *json_new_object(struct arena *a)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	if (arena_defer(a, json_release, o) != 0)
		return NULL;
	return o;
}

const char *json_dump(json_object *obj, size_t *len)
{
	const char *s = json_object_to_json_string_length(
		obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);

	return s;
}

/* Eight bytes of s from i: whether any is below 0x20, '"' or '\\' (SWAR, "has less"/"has zero"). */
static bool word_needs_escape(const char *s, size_t i)
{
	const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
	uint64_t w, quote, backslash;

	memcpy(&w, s + i, sizeof(w));
	quote = w ^ (ones * '"');
	backslash = w ^ (ones * '\\');
	/* a byte below 0x20, or one that was '"' or '\\' and is now 0; bytes >= 0x80 never count */
	return (((w - ones * 0x20) | (quote - ones) | (backslash - ones)) & ~w & highs) != 0;
}

size_t json_quote(char *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char *p = out;
	size_t i = 0;

	*p++ = '"';
	while (i < len) {
		/* runs of bytes that need no escape are copied eight at a time */
		if (i + 8 <= len && !word_needs_escape(s, i)) {
			memcpy(p, s + i, 8);
			p += 8;
			i += 8;
			continue;
		}
		unsigned char c = (unsigned char)s[i++];

		if (c >= 0x20 && c != '"' && c != '\\') {
			*p++ = (char)c;
			continue;
		}
		*p++ = '\\';
		switch (c) {
		case '"':
		case '\\':
			*p++ = (char)c;
			break;
		case '\b':
			*p++ = 'b';
			break;
		case '\f':
			*p++ = 'f';
			break;
		case '\n':
			*p++ = 'n';
			break;
		case '\r':
			*p++ = 'r';
			break;
		case '\t':
			*p++ = 't';
			break;
		default:
			memcpy(p, "u00", 3);
			p[3] = hex[c >> 4];
			p[4] = hex[c & 15];
			p += 5;
		}
	}
	*p++ = '"';
	return (size_t)(p - out);
}
