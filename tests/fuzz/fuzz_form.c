/*
 * libFuzzer target: form bodies (http_parse_form, the token endpoint's
 * request layer) and OAuth scope parameters (scope_parse). Checked:
 * - an accepted form has at most HTTP_MAX_FORM pairs, each with a
 *   non-empty name of at most HTTP_FORM_NAME_MAX bytes and no name twice,
 *   and every name and value is valid UTF-8;
 * - re-encoding the accepted pairs (http_percent_encode, '&' between)
 *   parses back to the same pairs;
 * - an accepted scope parameter prints back (scope_text) to a text that
 *   parses to the same scopes, and that text is the input when the input
 *   named them in the canonical order.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "http.h"
#include "scope.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_pairs(const struct query_param *p, size_t n)
{
	if (n > HTTP_MAX_FORM)
		abort();
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen(p[i].name);

		if (nl == 0 || nl > HTTP_FORM_NAME_MAX || !util_utf8_valid(p[i].name, nl) ||
		    !util_utf8_valid(p[i].value, strlen(p[i].value)))
			abort();
		for (size_t j = 0; j < i; j++)
			if (strcmp(p[i].name, p[j].name) == 0)
				abort();
	}
}

/* The pairs encoded again, parsed again: the same pairs. */
static void check_round_trip(struct arena *a, const struct query_param *p, size_t n)
{
	struct query_param again[HTTP_MAX_FORM];
	const char *body = "", *why = NULL;
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		const char *name = http_percent_encode(a, p[i].name);
		const char *value = http_percent_encode(a, p[i].value);

		if (name == NULL || value == NULL ||
		    (body = arena_printf(a, "%s%s%s=%s", body, i > 0 ? "&" : "", name, value)) == NULL)
			return;   /* out of memory: nothing to say */
	}
	if (http_parse_form(a, body, strlen(body), again, HTTP_MAX_FORM, &m, &why) != 0 || m != n)
		abort();
	for (size_t i = 0; i < n; i++)
		if (strcmp(again[i].name, p[i].name) != 0 || strcmp(again[i].value, p[i].value) != 0)
			abort();
}

static void check_scope(struct arena *a, const char *text)
{
	unsigned bits, again;
	const char *printed;

	if (scope_parse(text, &bits) != 0)
		return;
	if ((bits & ~SCOPE_CLIENT_ALL) != 0 || (printed = scope_text(a, bits)) == NULL)
		abort();
	if (scope_parse(printed, &again) != 0 || again != bits)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a = arena_new();
	struct query_param pairs[HTTP_MAX_FORM];
	const char *why = NULL;
	char *text;
	size_t n = 0;

	if (a == NULL)
		return 0;
	text = arena_strndup(a, (const char *)data, size);
	if (text != NULL && memchr(data, '\0', size) == NULL) {
		if (http_parse_form(a, text, size, pairs, HTTP_MAX_FORM, &n, &why) == 0) {
			check_pairs(pairs, n);
			check_round_trip(a, pairs, n);
		} else if (why == NULL) {
			abort();
		}
		check_scope(a, text);
	}
	arena_free(a);
	return 0;
}
