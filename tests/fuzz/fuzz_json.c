/* libFuzzer target: strict JSON parsing never crashes, leaks or accepts non-UTF-8. */
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "json.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct arena *a;
	const char *why = NULL;
	json_object *o;

	if (a == NULL)
		a = arena_new();
	o = json_parse_strict(a, (const char *)data, size, 16, &why);
	if (o != NULL && !util_utf8_valid((const char *)data, size))
		__builtin_trap();
	if (o == NULL && why == NULL)
		__builtin_trap();
	arena_reset(a);
	return 0;
}
