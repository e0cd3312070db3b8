/*
 * router.c — match a method and path against the static route table.
 *
 * Patterns are split on '/'; a segment "{name}" matches one non-empty
 * path segment that percent-decodes (into the arena) to valid UTF-8 of
 * the parameter's shape: "{id}" and "{<name>_id}" a public id ("{member_id}"
 * also "me"), "{slug}" a community slug, any other name any text. Matching is exact otherwise: no trailing
 * slash, no empty segments. A path whose parameter is out of shape names
 * no resource, so it is 404 whatever the method, before any check that
 * would cost a lookup.
 */
#include <string.h>

#include "arena.h"
#include "community.h"
#include "router.h"
#include "util.h"

/* True when the decoded value v fits the parameter named by the pattern segment. */
static bool param_shape_ok(const char *segment, size_t seg_len, const char *v)
{
	static const char id_name[] = "{id}", id_suffix[] = "_id}", slug_name[] = "{slug}",
	                  member_name[] = "{member_id}";
	size_t suffix_len = sizeof(id_suffix) - 1;

	if (seg_len == sizeof(member_name) - 1 && memcmp(segment, member_name, seg_len) == 0 &&
	    strcmp(v, "me") == 0)
		return true;   /* DELETE /groups/{id}/members/me: leaving */
	if ((seg_len == sizeof(id_name) - 1 && memcmp(segment, id_name, seg_len) == 0) ||
	    (seg_len > suffix_len && memcmp(segment + seg_len - suffix_len, id_suffix, suffix_len) == 0))
		return util_public_id_valid(v, strlen(v));
	if (seg_len == sizeof(slug_name) - 1 && memcmp(segment, slug_name, seg_len) == 0)
		return community_slug_valid(v, strlen(v));
	return true;
}

/* Length of the segment starting at s (up to '/' or end). */
static size_t segment_len(const char *s)
{
	const char *slash = strchr(s, '/');

	return slash != NULL ? (size_t)(slash - s) : strlen(s);
}

/*
 * Match path against pattern. Returns true on a match; the captured
 * segments, decoded into the arena, go to params[] and their count to *n.
 * A segment that does not decode to UTF-8 of its shape is no match.
 */
static bool pattern_match(struct arena *a, const char *pattern, const char *path,
                          const char **params, size_t *n)
{
	*n = 0;
	if (*pattern != '/' || *path != '/')
		return false;
	while (*pattern == '/' && *path == '/') {
		size_t plen, slen;

		pattern++;
		path++;
		plen = segment_len(pattern);
		slen = segment_len(path);
		if (plen > 2 && pattern[0] == '{' && pattern[plen - 1] == '}') {
			if (slen == 0 || *n >= HTTP_MAX_PARAMS)
				return false;
			params[*n] = http_percent_decode(a, path, slen, false);
			if (params[*n] == NULL || !param_shape_ok(pattern, plen, params[*n]))
				return false;
			(*n)++;
		} else if (plen != slen || memcmp(pattern, path, plen) != 0) {
			return false;
		}
		pattern += plen;
		path += slen;
	}
	return *pattern == '\0' && *path == '\0';
}

int route_lookup(const struct route *table, size_t n_routes, struct arena *a,
                 enum http_method method, const char *path,
                 const char **params, size_t *n_params, unsigned *allow_mask)
{
	const char *decoded[HTTP_MAX_PARAMS];
	/* HEAD is answered by GET routes (without a body). */
	enum http_method want = method == HTTP_HEAD ? HTTP_GET : method;
	int found = -1;

	*allow_mask = 0;
	*n_params = 0;
	for (size_t i = 0; i < n_routes; i++) {
		size_t n;

		if (!pattern_match(a, table[i].pattern, path, decoded, &n))
			continue;
		*allow_mask |= 1u << table[i].method;
		if (table[i].method == HTTP_GET)
			*allow_mask |= 1u << HTTP_HEAD;
		if (found < 0 && table[i].method == want) {
			found = (int)i;
			memcpy(params, decoded, n * sizeof(*params));
			*n_params = n;
		}
	}
	if (found >= 0)
		return found;
	return *allow_mask != 0 ? -2 : -1;
}

const char *route_allow_header(struct arena *a, unsigned allow_mask)
{
	char buf[128];
	size_t len = 0;

	buf[0] = '\0';
	for (int m = 0; m < HTTP__MAX; m++) {
		const char *name = http_method_name((enum http_method)m);
		size_t nlen = strlen(name);

		if (!(allow_mask & (1u << m)))
			continue;
		if (len + nlen + 3 > sizeof(buf))
			break;
		if (len > 0) {
			memcpy(buf + len, ", ", 2);
			len += 2;
		}
		memcpy(buf + len, name, nlen);
		len += nlen;
		buf[len] = '\0';
	}
	return arena_strdup(a, buf);
}
