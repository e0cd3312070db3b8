/* libFuzzer target: IP prefix derivation never crashes and stays in bounds. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ratelimit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char ip[128];
	struct ip_bucket b[3];
	int n;

	if (size >= sizeof(ip))
		return 0;
	memcpy(ip, data, size);
	ip[size] = '\0';
	n = ratelimit_ip_buckets(ip, b);
	if (n > 3)
		__builtin_trap();
	for (int i = 0; i < n; i++)
		if (b[i].len > sizeof(b[i].bytes))
			__builtin_trap();
	return 0;
}
