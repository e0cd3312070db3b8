/*
 * libFuzzer target: the moderation rules parser, the scorer and the
 * external command's answer parser never crash, and scores stay in [0, 1].
 * The input is a rules file, then a NUL byte, then a text.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "classify.h"
#include "classify_exec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *nul = memchr(data, '\0', size);
	size_t rules_len = nul != NULL ? (size_t)(nul - text) : size;
	const char *body = nul != NULL ? nul + 1 : "";
	size_t body_len = nul != NULL ? size - rules_len - 1 : 0;
	struct classify_rules *r;
	char err[256];
	double s;

	r = classify_rules_parse(text, rules_len, err, sizeof(err));
	if (r != NULL) {
		s = classify_score(r, body, body_len, NULL);
		if (!(s >= 0 && s <= 1))
			__builtin_trap();
		classify_rules_free(r);
	}
	if (classify_exec_parse_reply(text, size, "abc", &s) == 0 && !(s >= 0 && s <= 1))
		__builtin_trap();
	return 0;
}
