/*
 * libFuzzer target: ipban_prefix_parse reads the client address nginx
 * passes and the ?ip= of a ban. Each input, as text:
 * - parses exactly when inet_pton takes it as IPv4 or IPv6 (and it is at
 *   most IPBAN_ADDR_MAX characters): no other text is an address;
 * - an accepted address has the prefix inet_pton's bytes give (the /24,
 *   an IPv4-mapped IPv6 address's /24, or the /64);
 * - its text form ends in /24 or /64 and, parsed again without that
 *   suffix, is the very same prefix;
 * - an IPv6 prefix widened to a length the input picks (48..64) keeps
 *   exactly that many of inet_pton's bits, the rest zero, and its text
 *   (ending in that length), parsed and widened again, is the same; an
 *   IPv4 prefix never widens, nor any to a length outside 48..64.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ipban.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The prefix of text computed from inet_pton alone; -1 when it is no address. */
static int reference_prefix(const char *text, struct ipban_prefix *p)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	unsigned char addr[16];

	memset(p, 0, sizeof(*p));
	if (strlen(text) > IPBAN_ADDR_MAX)
		return -1;
	if (inet_pton(AF_INET, text, addr) == 1) {
		*p = (struct ipban_prefix){ .family = IPBAN_V4, .bits = 24, .len = 3 };
		memcpy(p->bytes, addr, 3);
		return 0;
	}
	if (inet_pton(AF_INET6, text, addr) != 1)
		return -1;
	if (memcmp(addr, mapped, sizeof(mapped)) == 0) {
		*p = (struct ipban_prefix){ .family = IPBAN_V4, .bits = 24, .len = 3 };
		memcpy(p->bytes, addr + 12, 3);
		return 0;
	}
	*p = (struct ipban_prefix){ .family = IPBAN_V6, .bits = 64, .len = 8 };
	memcpy(p->bytes, addr, 8);
	return 0;
}

static bool same_prefix(const struct ipban_prefix *a, const struct ipban_prefix *b)
{
	return a->family == b->family && a->bits == b->bits && a->len == b->len &&
	       memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

/* want cut to its first bits by shifting, bit by bit: the widen's reference. */
static void reference_widen(struct ipban_prefix *want, unsigned bits)
{
	for (unsigned i = bits; i < 64; i++)
		want->bytes[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
	want->bits = bits;
	want->len = (bits + 7) / 8;
}

/* The widening properties of got (parsed from text); traps when one fails. */
static void check_widen(const struct ipban_prefix *got, unsigned bits)
{
	struct ipban_prefix wide = *got, want = *got, again;
	char shown[IPBAN_TEXT_MAX], suffix[8], *slash;

	if (ipban_prefix_widen(&wide, 47) == 0 || ipban_prefix_widen(&wide, 65) == 0)
		__builtin_trap();
	if (got->family == IPBAN_V4) {
		if (ipban_prefix_widen(&wide, bits) == 0 || !same_prefix(&wide, got))
			__builtin_trap();
		return;
	}
	reference_widen(&want, bits);
	if (ipban_prefix_widen(&wide, bits) != 0 || !same_prefix(&wide, &want) ||
	    ipban_prefix_text(&wide, shown) != 0)
		__builtin_trap();
	snprintf(suffix, sizeof(suffix), "/%u", bits);
	slash = strrchr(shown, '/');
	if (slash == NULL || strcmp(slash, suffix) != 0)
		__builtin_trap();
	*slash = '\0';
	if (ipban_prefix_parse(shown, &again) != 0 || ipban_prefix_widen(&again, bits) != 0 ||
	    !same_prefix(&again, &wide))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[128], shown[IPBAN_TEXT_MAX];
	struct ipban_prefix got, want, again;
	char *slash;
	int rc;

	if (size >= sizeof(text) || memchr(data, '\0', size) != NULL)
		return 0; /* a C string cannot hold a NUL; longer texts are refused by length */
	memcpy(text, data, size);
	text[size] = '\0';
	rc = ipban_prefix_parse(text, &got);
	if ((rc == 0) != (reference_prefix(text, &want) == 0))
		__builtin_trap();
	if (rc != 0)
		return 0;
	if (!same_prefix(&got, &want) || ipban_prefix_text(&got, shown) != 0)
		__builtin_trap();
	slash = strrchr(shown, '/');
	if (slash == NULL || strcmp(slash, got.family == IPBAN_V4 ? "/24" : "/64") != 0)
		__builtin_trap();
	*slash = '\0';
	if (ipban_prefix_parse(shown, &again) != 0 || !same_prefix(&got, &again))
		__builtin_trap();
	/* the input's length picks the width: every one is reached */
	check_widen(&got, 48 + (unsigned)(size % 17));
	return 0;
}
