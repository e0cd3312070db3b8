/* libFuzzer target: query strings and path routing never crash. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "http.h"
#include "router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct arena *a;
	struct request req;
	const char *params[HTTP_MAX_PARAMS];
	size_t n_params;
	unsigned allow;
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
	(void)route_lookup(route_table, route_count, a, HTTP_GET, text, params,
	                   &n_params, &allow);
out:
	arena_reset(a);
	return 0;
}
