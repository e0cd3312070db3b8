/*
 * util.c — time, randomness, encodings and comparisons shared by modules.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

#include <sodium.h>

#include "arena.h"
#include "log.h"
#include "util.h"

uint64_t util_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t util_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int64_t util_today(void)
{
	return (int64_t)(time(NULL) / 86400);
}

char *util_b64url_encode(struct arena *a, const unsigned char *bin, size_t len)
{
	size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *out = arena_alloc(a, cap);

	if (out == NULL)
		return NULL;
	sodium_bin2base64(out, cap, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return out;
}

int util_b64url_decode(const char *text, size_t text_len, unsigned char *out,
                       size_t cap, size_t *out_len)
{
	const char *end = NULL;

	if (sodium_base642bin(out, cap, text, text_len, NULL, out_len, &end,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return -1;
	if (end != text + text_len)
		return -1; /* trailing characters that are not base64url */
	return 0;
}

char *util_random_id(struct arena *a, size_t n_bytes)
{
	unsigned char buf[64];

	if (n_bytes > sizeof(buf))
		return NULL;
	randombytes_buf(buf, n_bytes);
	return util_b64url_encode(a, buf, n_bytes);
}

bool util_public_id_valid(const char *s, size_t len)
{
	if (len != UTIL_PUBLIC_ID_CHARS)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

/*
 * Compare secrets in time independent of where they differ: both are
 * hashed to fixed-size digests first, so the comparison itself never
 * depends on the secret's length either.
 */
bool util_secret_equal(const char *a, const char *b)
{
	unsigned char ha[crypto_generichash_BYTES], hb[crypto_generichash_BYTES];
	bool eq;

	if (a == NULL || b == NULL)
		return false;
	crypto_generichash(ha, sizeof(ha), (const unsigned char *)a, strlen(a), NULL, 0);
	crypto_generichash(hb, sizeof(hb), (const unsigned char *)b, strlen(b), NULL, 0);
	eq = sodium_memcmp(ha, hb, sizeof(ha)) == 0;
	sodium_memzero(ha, sizeof(ha));
	sodium_memzero(hb, sizeof(hb));
	return eq;
}

/*
 * An optional '-', one or more digits and nothing else, within int64_t
 * (what strtoll took here before, without its overflow to ERANGE):
 * written out, as it runs on every number of every row a list reads.
 */
int util_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	bool negative;
	uint64_t v = 0, limit;
	int64_t value;
	const char *p;

	if (s == NULL)
		return -1;
	negative = *s == '-';
	p = negative ? s + 1 : s;
	limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if (*p < '0' || *p > '9')
		return -1; /* no digit, a leading space or '+' */
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (limit - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (*p != '\0')
		return -1;
	/* 0 - v wraps to INT64_MIN's bits for v = 2^63, as gcc converts them */
	value = negative ? (int64_t)(0 - v) : (int64_t)v;
	if (value < min || value > max)
		return -1;
	*out = value;
	return 0;
}

/* RFC 3629: shortest form only, no surrogates, at most U+10FFFF. */
bool util_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		uint32_t cp;
		size_t n, k;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			n = 1; cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 2; cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3; cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n + 1;
	}
	return true;
}

void util_no_core_dumps(void)
{
	struct rlimit rl = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &rl) != 0)
		log_msg(LOG_WARN, "setrlimit(RLIMIT_CORE): %s", strerror(errno));
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		log_msg(LOG_WARN, "prctl(PR_SET_DUMPABLE): %s", strerror(errno));
}

/* A hex digit's value plus one; 0 for a character that is not one. */
static const unsigned char hex_plus_one[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
	['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

int util_hex_decode(const char *hex, size_t n, unsigned char *out)
{
	const unsigned char *h = (const unsigned char *)hex;
	unsigned bad = 0;

	/*
	 * No branch per byte: a character that is not a digit gives
	 * 0 - 1 = UINT_MAX, whose bits above the nibble are remembered and
	 * refused at the end.
	 */
	for (size_t i = 0; i < n; i++) {
		unsigned hi = hex_plus_one[h[2 * i]] - 1u, lo = hex_plus_one[h[2 * i + 1]] - 1u;

		bad |= hi | lo;
		out[i] = (unsigned char)(hi << 4 | (lo & 15));
	}
	return bad > 15 ? -1 : 0;
}

size_t util_put_int64(char *p, int64_t v)
{
	/* the magnitude as unsigned, so INT64_MIN needs no special case */
	uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	char digits[UTIL_INT64_CHARS];
	size_t n = 0, len = 0;

	do {
		digits[n++] = (char)('0' + m % 10);
		m /= 10;
	} while (m != 0);
	if (v < 0)
		p[len++] = '-';
	while (n > 0)
		p[len++] = digits[--n];
	return len;
}

size_t util_put_text(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return n;
}

int util_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
