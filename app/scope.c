/*
 * scope.c — OAuth scope parameters and the scope check (scope.h).
 */
#include <string.h>

#include "arena.h"
#include "scope.h"

static const struct {
	const char *name;
	unsigned bit;
} scope_names[] = {
	{ "read", SCOPE_READ },
	{ "write", SCOPE_WRITE },
	{ "dm", SCOPE_DM },
	{ "account", SCOPE_ACCOUNT },
};
#define N_SCOPES (sizeof(scope_names) / sizeof(scope_names[0]))

/* The bit of the scope name text[0..len), or 0 for an unknown name. */
static unsigned scope_bit(const char *text, size_t len)
{
	for (size_t i = 0; i < N_SCOPES; i++)
		if (strlen(scope_names[i].name) == len &&
		    memcmp(scope_names[i].name, text, len) == 0)
			return scope_names[i].bit;
	return 0;
}

int scope_parse(const char *text, unsigned *out)
{
	unsigned bits = 0;
	const char *p = text;
	size_t total;

	if (text == NULL || (total = strnlen(text, SCOPE_TEXT_MAX + 1)) > SCOPE_TEXT_MAX)
		return -1;
	while (total > 0) {
		const char *sp = strchr(p, ' ');
		size_t len = sp != NULL ? (size_t)(sp - p) : strlen(p);
		unsigned bit = scope_bit(p, len);

		if (bit == 0 || (bits & bit) != 0)
			return -1;
		bits |= bit;
		if (sp == NULL)
			break;
		if (sp[1] == '\0')
			return -1;   /* a trailing space */
		p = sp + 1;
	}
	*out = bits;
	return 0;
}

char *scope_text(struct arena *a, unsigned bits)
{
	char buf[SCOPE_TEXT_MAX + 1] = "";
	size_t len = 0;

	for (size_t i = 0; i < N_SCOPES; i++) {
		size_t n = strlen(scope_names[i].name);

		if ((bits & scope_names[i].bit) == 0)
			continue;
		if (len > 0)
			buf[len++] = ' ';
		memcpy(buf + len, scope_names[i].name, n);
		len += n;
	}
	buf[len] = '\0';
	return arena_strdup(a, buf);
}

bool scope_allows(unsigned granted, unsigned needed)
{
	return (granted & needed) == needed;
}
