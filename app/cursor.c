/*
 * cursor.c — opaque pagination cursors: a fixed little-endian layout
 * (cursor.h), sealed with crypto_secretbox (XSalsa20-Poly1305) under a
 * fresh random nonce, written as base64url.
 *
 * The listing name and the version are inside the sealed bytes, so the
 * MAC covers them: a cursor cannot be moved to another listing or read
 * under another layout. The nonce is random (24 bytes), so two cursors
 * for the same position differ and tell nothing about each other.
 * Parsing after the MAC check is still strict (lengths, n, nothing
 * after the values): a cursor we sealed with a bug must not read as
 * something else.
 */
#include <stdbool.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "cursor.h"
#include "util.h"

#define CURSOR_NONCE crypto_secretbox_NONCEBYTES
#define CURSOR_MAC crypto_secretbox_MACBYTES
#define CURSOR_PLAIN_MIN 4   /* version, k, a 1-byte kind, n */
#define CURSOR_PLAIN_MAX (3 + CURSOR_KIND_MAX + 8 * CURSOR_MAX_FIELDS)
#define CURSOR_BOX_MAX (CURSOR_NONCE + CURSOR_MAC + CURSOR_PLAIN_MAX)
#define CURSOR_DECODE_CAP ((CURSOR_MAX_CHARS * 3) / 4 + 1) /* any text we read fits */

_Static_assert((4 * CURSOR_BOX_MAX + 2) / 3 <= CURSOR_MAX_CHARS,
               "the longest cursor must fit in CURSOR_MAX_CHARS");
_Static_assert(CURSOR_MAX_FIELDS <= 255 && CURSOR_KIND_MAX <= 255,
               "n and the kind length are one byte each");

static void put_le64(unsigned char *p, int64_t v)
{
	uint64_t u = (uint64_t)v;

	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(u >> (8 * i));
}

static int64_t get_le64(const unsigned char *p)
{
	uint64_t u = 0;

	for (int i = 0; i < 8; i++)
		u |= (uint64_t)p[i] << (8 * i);
	/* Two's complement back to signed without implementation-defined conversion. */
	return u <= INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
}

/* Lay out kind and c into out (CURSOR_PLAIN_MAX bytes). Its length, or 0 when out of range. */
static size_t serialize(const char *kind, const struct cursor *c, unsigned char *out)
{
	size_t k = strlen(kind), p = 0;

	if (k == 0 || k > CURSOR_KIND_MAX || c->n > CURSOR_MAX_FIELDS)
		return 0;
	out[p++] = CURSOR_VERSION;
	out[p++] = (unsigned char)k;
	memcpy(out + p, kind, k);
	p += k;
	out[p++] = (unsigned char)c->n;
	for (size_t i = 0; i < c->n; i++, p += 8)
		put_le64(out + p, c->v[i]);
	return p;
}

/* Read plain[0..len) (already authenticated) for kind into *c. 0 / -1. */
static int deserialize(const unsigned char *plain, size_t len, const char *kind,
                       struct cursor *c)
{
	size_t k = strlen(kind), p = 0, n;

	if (len < CURSOR_PLAIN_MIN || plain[p++] != CURSOR_VERSION)
		return -1;
	if (plain[p++] != k || len - p < k + 1 || memcmp(plain + p, kind, k) != 0)
		return -1;
	p += k;
	n = plain[p++];
	if (n > CURSOR_MAX_FIELDS || len - p != 8 * n)
		return -1; /* too many values, cut short, or bytes after them */
	for (size_t i = 0; i < n; i++, p += 8)
		c->v[i] = get_le64(plain + p);
	c->n = n;
	return 0;
}

char *cursor_seal(struct arena *a, const unsigned char key[32], const char *kind,
                  const struct cursor *c)
{
	unsigned char plain[CURSOR_PLAIN_MAX], box[CURSOR_BOX_MAX];
	size_t plen = serialize(kind, c, plain);
	char *text = NULL;

	if (plen == 0)
		goto out;
	randombytes_buf(box, CURSOR_NONCE);
	if (crypto_secretbox_easy(box + CURSOR_NONCE, plain, plen, box, key) != 0)
		goto out;
	text = util_b64url_encode(a, box, CURSOR_NONCE + CURSOR_MAC + plen);
out:
	sodium_memzero(plain, sizeof(plain));
	return text;
}

int cursor_open(const unsigned char key[32], const char *kind, const char *text,
                struct cursor *c)
{
	unsigned char box[CURSOR_DECODE_CAP], plain[CURSOR_DECODE_CAP];
	size_t tlen, blen = 0;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	if (text == NULL || kind == NULL)
		goto out;
	tlen = strnlen(text, CURSOR_MAX_CHARS + 1);
	if (tlen > CURSOR_MAX_CHARS)
		goto out;
	if (util_b64url_decode(text, tlen, box, sizeof(box), &blen) != 0 ||
	    blen < CURSOR_NONCE + CURSOR_MAC + CURSOR_PLAIN_MIN || blen > CURSOR_BOX_MAX)
		goto out;
	if (crypto_secretbox_open_easy(plain, box + CURSOR_NONCE, blen - CURSOR_NONCE, box,
	                               key) != 0)
		goto out;
	rc = deserialize(plain, blen - CURSOR_NONCE - CURSOR_MAC, kind, c);
out:
	if (rc != 0)
		memset(c, 0, sizeof(*c));
	sodium_memzero(plain, sizeof(plain));
	return rc;
}
