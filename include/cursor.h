/*
 * cursor.h — opaque pagination cursors.
 *
 * A cursor carries what the next page needs (a last key, a snapshot id
 * and offset...), but a client must learn nothing from it: internal keys
 * reveal creation order and counts. So the state is sealed
 * (crypto_secretbox with a worker subkey of IP_HMAC_KEY,
 * context "cursorky") and base64url-encoded. A cursor is bound to its
 * listing (kind), so one from /feed cannot be replayed on replies.
 * Handlers answer a cursor that does not open with 400 bad_request.
 *
 * Text: base64url (no padding) of nonce (24 random bytes) followed by
 * crypto_secretbox_easy (MAC 16 bytes, then the ciphertext) of
 *   version (1 byte, CURSOR_VERSION) | kind length k (1 byte, 1..CURSOR_KIND_MAX)
 *   | kind (k bytes) | n (1 byte, 0..CURSOR_MAX_FIELDS) | v[0..n) (int64,
 *   8 bytes each, little-endian two's complement)
 * and nothing after. At most 143 characters, so always under CURSOR_MAX_CHARS.
 */
#ifndef SOTTO_CURSOR_H
#define SOTTO_CURSOR_H

#include <stddef.h>
#include <stdint.h>

struct arena;

#define CURSOR_MAX_FIELDS 4
#define CURSOR_MAX_CHARS 256   /* longer ?cursor= values are refused unread */
#define CURSOR_KIND_MAX 32     /* bytes of a listing name */
#define CURSOR_VERSION 1

struct cursor {
	int64_t v[CURSOR_MAX_FIELDS];   /* meaning fixed by the listing */
	size_t n;
};

/*
 * Seal c for listing kind (a short constant like "feed-new", 1..
 * CURSOR_KIND_MAX bytes) with key. Returns the cursor text on arena a,
 * or NULL on OOM or when kind or c->n is out of range (a caller's bug).
 */
char *cursor_seal(struct arena *a, const unsigned char key[32], const char *kind,
                  const struct cursor *c);

/*
 * Open text (NUL-terminated, e.g. the ?cursor= value) for listing kind
 * into *c. 0, or -1 when it is longer than CURSOR_MAX_CHARS, not
 * base64url, too short, tampered, sealed with another key, for another
 * listing or another version, or carries more than CURSOR_MAX_FIELDS
 * values or bytes after them. On -1, *c is zeroed.
 */
int cursor_open(const unsigned char key[32], const char *kind, const char *text,
                struct cursor *c) __attribute__((warn_unused_result));

#endif
