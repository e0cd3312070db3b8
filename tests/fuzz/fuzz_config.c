/* libFuzzer target: rate and secret parsing never crash. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[256];
	unsigned char key[64];
	size_t key_len;
	struct rate_limit lim;

	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (config_parse_rate(text, &lim) == 0 && lim.count > 0 && lim.seconds == 0)
		__builtin_trap();
	if (config_decode_secret(text, key, sizeof(key), &key_len) == 0 &&
	    key_len > sizeof(key))
		__builtin_trap();
	return 0;
}
