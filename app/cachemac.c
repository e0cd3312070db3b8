/*
 * cachemac.c — authenticated Redis values (see cachemac.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "cachemac.h"

#define TAG_BYTES 32
#define EXPIRES_MAX_DIGITS 18

/* tag = BLAKE2b(key, name \0 bind \0 body), body being "<expires>.<payload>". */
static void cachemac_tag(const unsigned char key[CACHEMAC_KEY_BYTES], const char *name,
                         const char *bind, const char *body, size_t body_len,
                         unsigned char tag[TAG_BYTES])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, key, CACHEMAC_KEY_BYTES, TAG_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)name, strlen(name) + 1);
	crypto_generichash_update(&st, (const unsigned char *)bind, strlen(bind) + 1);
	crypto_generichash_update(&st, (const unsigned char *)body, body_len);
	crypto_generichash_final(&st, tag, TAG_BYTES);
}

char *cachemac_seal(struct arena *a, const unsigned char key[CACHEMAC_KEY_BYTES],
                    const char *name, const char *bind, int64_t expires_s,
                    const char *payload)
{
	unsigned char tag[TAG_BYTES];
	char head[EXPIRES_MAX_DIGITS + 3];
	size_t head_len, payload_len = strlen(payload);
	char *out;

	if (expires_s < 0)
		return NULL;
	head_len = (size_t)snprintf(head, sizeof(head), "%" PRId64 ".", expires_s);
	out = arena_alloc(a, CACHEMAC_TAG_CHARS + 1 + head_len + payload_len + 1);
	if (out == NULL)
		return NULL;
	out[CACHEMAC_TAG_CHARS] = '.';
	memcpy(out + CACHEMAC_TAG_CHARS + 1, head, head_len);
	memcpy(out + CACHEMAC_TAG_CHARS + 1 + head_len, payload, payload_len + 1);
	cachemac_tag(key, name, bind, out + CACHEMAC_TAG_CHARS + 1, head_len + payload_len, tag);
	sodium_bin2base64(out, CACHEMAC_TAG_CHARS + 1, tag, sizeof(tag),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	out[CACHEMAC_TAG_CHARS] = '.';   /* sodium_bin2base64 wrote its NUL there */
	return out;
}

/* The expiry at the start of body, ended by '.'; -1 when malformed. */
static int64_t cachemac_expires(const char *body, const char **payload)
{
	int64_t v = 0;
	int n;

	for (n = 0; n < EXPIRES_MAX_DIGITS && body[n] >= '0' && body[n] <= '9'; n++)
		v = v * 10 + (body[n] - '0');
	if (n == 0 || body[n] != '.')
		return -1;
	*payload = body + n + 1;
	return v;
}

const char *cachemac_open(const unsigned char key[CACHEMAC_KEY_BYTES], const char *name,
                          const char *bind, const char *value, size_t len, int64_t now_s)
{
	unsigned char tag[TAG_BYTES], want[TAG_BYTES];
	const char *body, *payload = NULL;
	size_t tag_len;
	int64_t expires;
	int ok;

	if (value == NULL || len <= CACHEMAC_TAG_CHARS + 1 || value[CACHEMAC_TAG_CHARS] != '.' ||
	    memchr(value, '\0', len) != NULL || value[len] != '\0')
		return NULL;
	if (sodium_base642bin(tag, sizeof(tag), value, CACHEMAC_TAG_CHARS, NULL, &tag_len, NULL,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    tag_len != sizeof(tag))
		return NULL;
	body = value + CACHEMAC_TAG_CHARS + 1;
	cachemac_tag(key, name, bind, body, len - CACHEMAC_TAG_CHARS - 1, want);
	ok = sodium_memcmp(tag, want, sizeof(tag)) == 0;
	sodium_memzero(want, sizeof(want));
	if (!ok)
		return NULL;
	expires = cachemac_expires(body, &payload);
	return expires > now_s ? payload : NULL;
}
