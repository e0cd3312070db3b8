/*
 * libFuzzer target: the openers of sealed values read bytes from the
 * database (crypto_open, crypto_unwrap_key) and, through them, the DM
 * conversation keys and bodies (dm_key_open, dm_body_open). Each input:
 * 1. as sealed bytes, wrapped key and conversation key copy: without the
 *    key nothing opens, nothing crashes;
 * 2. as a plaintext sealed here (a DM body, a conversation key copy, a
 *    wrapped data key): it opens to exactly the same bytes, and not for
 *    another message, conversation, owner or master key version; a copy
 *    of a conversation key that is not 32 bytes is refused;
 * 3. byte 0 and 1 pick one byte of the sealed value and a bit to flip,
 *    byte 2 a length to cut it to: a changed or cut value never opens.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "config.h"
#include "crypto.h"
#include "dm.h"

#define CONV "Q29udmVyc2F0aW9uLWlkMQ"
#define OTHER_CONV "Q29udmVyc2F0aW9uLWlkMg"
#define MSG "TWVzc2FnZS1pZC0wMDAwMQ"
#define OTHER_MSG "TWVzc2FnZS1pZC0wMDAwMg"
#define OWNER 4242

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned char data_key[CRYPTO_KEY_BYTES], conv_key[DM_KEY_BYTES];
static struct config cfg;

static void setup(void)
{
	if (sodium_init() < 0)
		__builtin_trap();
	memset(data_key, 0x5a, sizeof(data_key));
	memset(conv_key, 0xc3, sizeof(conv_key));
	cfg.n_content_keys = 2;
	cfg.content_keys[0].version = 1;
	memset(cfg.content_keys[0].key, 0x11, sizeof(cfg.content_keys[0].key));
	cfg.content_keys[1].version = 2;
	memset(cfg.content_keys[1].key, 0x22, sizeof(cfg.content_keys[1].key));
}

/* A copy of sealed[0..len) with the change bytes 0..2 of data pick, on a; *out_len. */
static unsigned char *tampered(struct arena *a, const unsigned char *sealed, size_t len,
                               const uint8_t *data, size_t size, size_t *out_len)
{
	unsigned char *t = arena_alloc(a, len > 0 ? len : 1);
	size_t at;

	if (t == NULL)
		return NULL;
	memcpy(t, sealed, len);
	*out_len = len;
	if (size < 3 || len == 0)
		return NULL;
	at = (((size_t)data[0] << 8) | data[1]) % len;
	if (data[2] & 0x80)
		*out_len = (size_t)(data[2] & 0x7f) % len;   /* cut short */
	else
		t[at] ^= (unsigned char)(1u << (data[2] & 7)); /* one bit flipped */
	return t;
}

static void raw_bytes(struct arena *a, const uint8_t *data, size_t size)
{
	struct crypto_field f = { "posts", "body", CONV, OWNER };
	unsigned char key[CRYPTO_KEY_BYTES], ck[DM_KEY_BYTES], *pt;
	size_t pt_len;
	char *body;

	if (crypto_open(a, data_key, &f, data, size, &pt, &pt_len) == 0 ||
	    dm_key_open(a, data_key, CONV, OWNER, data, size, ck) == 0 ||
	    dm_body_open(a, conv_key, CONV, MSG, data, size, &body) == 0 ||
	    crypto_unwrap_key(&cfg, OWNER, size > 0 ? data[0] : 1, data, size, key) == 0)
		__builtin_trap();
}

static void dm_body(struct arena *a, const uint8_t *data, size_t size)
{
	unsigned char *sealed, *bad;
	size_t len, bad_len;
	char *body;

	sealed = dm_body_seal(a, conv_key, CONV, MSG, (const char *)data, size, &len);
	if (sealed == NULL)
		return;
	if (dm_body_open(a, conv_key, CONV, MSG, sealed, len, &body) != 0 ||
	    memcmp(body, data, size) != 0 || body[size] != '\0' ||
	    dm_body_open(a, conv_key, CONV, OTHER_MSG, sealed, len, &body) == 0 ||
	    dm_body_open(a, conv_key, OTHER_CONV, MSG, sealed, len, &body) == 0 ||
	    dm_body_open(a, data_key, CONV, MSG, sealed, len, &body) == 0)
		__builtin_trap();
	bad = tampered(a, sealed, len, data, size, &bad_len);
	if (bad != NULL && dm_body_open(a, conv_key, CONV, MSG, bad, bad_len, &body) == 0)
		__builtin_trap();
}

static void dm_key(struct arena *a, const uint8_t *data, size_t size)
{
	struct crypto_field f = { "dm_participants", "conversation_key", CONV, OWNER };
	unsigned char ck[DM_KEY_BYTES], *sealed, *bad;
	size_t len, bad_len;

	/* Whatever the plaintext, only a 32-byte one is a conversation key. */
	sealed = crypto_seal(a, data_key, CRYPTO_DATA_KEY_VERSION, &f, data, size, &len);
	if (sealed == NULL)
		return;
	if ((dm_key_open(a, data_key, CONV, OWNER, sealed, len, ck) == 0) != (size == DM_KEY_BYTES))
		__builtin_trap();
	if (size != DM_KEY_BYTES)
		return;
	if (memcmp(ck, data, DM_KEY_BYTES) != 0 ||
	    dm_key_open(a, data_key, CONV, OWNER + 1, sealed, len, ck) == 0 ||
	    dm_key_open(a, data_key, OTHER_CONV, OWNER, sealed, len, ck) == 0)
		__builtin_trap();
	bad = tampered(a, sealed, len, data, size, &bad_len);
	if (bad != NULL && dm_key_open(a, data_key, CONV, OWNER, bad, bad_len, ck) == 0)
		__builtin_trap();
	sodium_memzero(ck, sizeof(ck));
}

static void wrapped_key(const uint8_t *data, size_t size)
{
	unsigned char key[CRYPTO_KEY_BYTES], out[CRYPTO_KEY_BYTES];
	unsigned char wrapped[CRYPTO_WRAPPED_BYTES], bad[CRYPTO_WRAPPED_BYTES];
	uint32_t version;

	memset(key, 0, sizeof(key));
	memcpy(key, data, size < sizeof(key) ? size : sizeof(key));
	if (crypto_wrap_key(&cfg, OWNER, key, wrapped, &version) != 0 || version != 2)
		__builtin_trap();
	if (crypto_unwrap_key(&cfg, OWNER, version, wrapped, sizeof(wrapped), out) != 0 ||
	    memcmp(out, key, sizeof(key)) != 0 ||
	    crypto_unwrap_key(&cfg, OWNER + 1, version, wrapped, sizeof(wrapped), out) == 0 ||
	    crypto_unwrap_key(&cfg, OWNER, 1, wrapped, sizeof(wrapped), out) == 0 ||
	    crypto_unwrap_key(&cfg, OWNER, 3, wrapped, sizeof(wrapped), out) == 0 ||
	    crypto_unwrap_key(&cfg, OWNER, version, wrapped, sizeof(wrapped) - 1, out) == 0)
		__builtin_trap();
	if (size >= 2) {
		memcpy(bad, wrapped, sizeof(bad));
		bad[data[0] % sizeof(bad)] ^= (unsigned char)(1u << (data[1] & 7));
		if (crypto_unwrap_key(&cfg, OWNER, version, bad, sizeof(bad), out) == 0)
			__builtin_trap();
	}
	sodium_memzero(key, sizeof(key));
	sodium_memzero(out, sizeof(out));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct arena *a;

	if (a == NULL) {
		setup();
		if ((a = arena_new()) == NULL)
			return 0;
	}
	raw_bytes(a, data, size);
	dm_body(a, data, size);
	dm_key(a, data, size);
	wrapped_key(data, size);
	arena_reset(a);
	return 0;
}
