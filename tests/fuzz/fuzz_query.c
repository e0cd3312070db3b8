/*
 * libFuzzer target: query strings and path routing. Each input is used as
 * a query string (every accepted pair has a name and a value) and as a
 * path, looked up with every method; route_lookup's answer is checked
 * against a matcher written here independently of router.c:
 * - a route matches when its pattern matches the path segment by segment
 *   and each {param} segment percent-decodes to valid UTF-8 of the
 *   parameter's shape ({id} and {<name>_id} a public id, {member_id} also
 *   "me", {slug} a community slug, any other name any text);
 * - an index i: route i has the method asked (GET for HEAD) and matches,
 *   no earlier route of that method matches, and each {param} is its
 *   segment percent-decoded;
 * - -2: some route matches the path, none of the method; the allow mask
 *   names exactly the methods of the matching routes (HEAD with GET);
 * - -1: no route matches.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "community.h"
#include "http.h"
#include "router.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct capture {
	const char *raw[HTTP_MAX_PARAMS];
	size_t len[HTTP_MAX_PARAMS];
	const char *name[HTTP_MAX_PARAMS];   /* the pattern's "{...}" segment */
	size_t name_len[HTTP_MAX_PARAMS];
	size_t n;
};

/* Length of the segment at s: up to the next '/' or the end. */
static size_t seg_len(const char *s)
{
	size_t n = 0;

	while (s[n] != '\0' && s[n] != '/')
		n++;
	return n;
}

/* Does pattern match path? Captures the raw {param} segments. */
static bool matches(const char *pattern, const char *path, struct capture *c)
{
	c->n = 0;
	for (;;) {
		size_t pl, sl;

		if (*pattern == '\0' || *path == '\0')
			return *pattern == '\0' && *path == '\0';
		if (*pattern != '/' || *path != '/')
			return false;
		pattern++;
		path++;
		pl = seg_len(pattern);
		sl = seg_len(path);
		if (pl >= 3 && pattern[0] == '{' && pattern[pl - 1] == '}') {
			if (sl == 0 || c->n == HTTP_MAX_PARAMS)
				return false;
			c->raw[c->n] = path;
			c->len[c->n] = sl;
			c->name[c->n] = pattern;
			c->name_len[c->n++] = pl;
		} else if (pl != sl || strncmp(pattern, path, pl) != 0) {
			return false;
		}
		pattern += pl;
		path += sl;
	}
}

/* raw[0..len) percent-decoded into out (capacity len + 1); false when it does not decode. */
static bool decode(const char *raw, size_t len, char *out, size_t *out_len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)raw[i];

		if (c == '%') {
			int hi = i + 2 < len ? util_hex_value(raw[i + 1]) : -1;
			int lo = i + 2 < len ? util_hex_value(raw[i + 2]) : -1;

			if (hi < 0 || lo < 0 || (hi | lo) == 0)
				return false;
			c = hi << 4 | lo;
			i += 2;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	*out_len = o;
	return true;
}

/* Does every captured segment decode to valid UTF-8 of its parameter's shape? */
static bool params_ok(const struct capture *c)
{
	char v[4096];
	size_t n;

	for (size_t k = 0; k < c->n; k++) {
		if (c->len[k] >= sizeof(v) || !decode(c->raw[k], c->len[k], v, &n) ||
		    !util_utf8_valid(v, n))
			return false;
		bool member = c->name_len[k] == 11 && strncmp(c->name[k], "{member_id}", 11) == 0;
		bool id = (c->name_len[k] == 4 && strncmp(c->name[k], "{id}", 4) == 0) ||
		          (c->name_len[k] > 4 && strncmp(c->name[k] + c->name_len[k] - 4, "_id}", 4) == 0);

		if (id && !(member && strcmp(v, "me") == 0) && !util_public_id_valid(v, n))
			return false;
		if (c->name_len[k] == 6 && strncmp(c->name[k], "{slug}", 6) == 0 &&
		    !community_slug_valid(v, n))
			return false;
	}
	return true;
}

static void check_lookup(struct arena *a, enum http_method method, const char *path)
{
	enum http_method want = method == HTTP_HEAD ? HTTP_GET : method;
	const char *params[HTTP_MAX_PARAMS];
	struct capture c, first;
	size_t n_params;
	unsigned allow, expect_allow = 0;
	int rc, expect = -1;

	rc = route_lookup(route_table, route_count, a, method, path, params, &n_params, &allow);
	for (size_t i = 0; i < route_count; i++) {
		if (!matches(route_table[i].pattern, path, &c) || !params_ok(&c))
			continue;
		expect_allow |= 1u << route_table[i].method;
		if (route_table[i].method == HTTP_GET)
			expect_allow |= 1u << HTTP_HEAD;
		if (expect == -1 && route_table[i].method == want) {
			expect = (int)i;
			first = c;
		}
	}
	if (expect < 0 && expect_allow != 0)
		expect = -2;
	if (rc != expect)
		__builtin_trap();
	if (rc != -1 && allow != expect_allow)
		__builtin_trap();
	if (rc < 0)
		return;
	if (n_params != first.n)
		__builtin_trap();
	for (size_t k = 0; k < n_params; k++) {
		char v[4096];
		size_t n;

		/* params_ok decoded every one of them already: same bytes, same text */
		if (!decode(first.raw[k], first.len[k], v, &n) || params[k] == NULL ||
		    strcmp(v, params[k]) != 0)
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct arena *a;
	struct request req;
	char *text;

	if (a == NULL)
		a = arena_new();
	text = arena_strndup(a, (const char *)data, size);
	if (text == NULL || strlen(text) != size)
		goto out; /* inputs with NUL cannot arrive as FastCGI params */
	memset(&req, 0, sizeof(req));
	req.arena = a;
	if (http_parse_query(&req, text) == 0) {
		for (size_t i = 0; i < req.n_query; i++)
			if (req.query[i].name == NULL || req.query[i].value == NULL)
				__builtin_trap();
	}
	for (int m = 0; m < HTTP__MAX; m++)
		check_lookup(a, (enum http_method)m, text);
out:
	arena_reset(a);
	return 0;
}
