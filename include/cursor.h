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
 */
#ifndef SOTTO_CURSOR_H
#define SOTTO_CURSOR_H

#include <stddef.h>
#include <stdint.h>

struct arena;

#define CURSOR_MAX_FIELDS 4
#define CURSOR_MAX_CHARS 256   /* longer ?cursor= values are refused unread */

struct cursor {
	int64_t v[CURSOR_MAX_FIELDS];   /* meaning fixed by the listing */
	size_t n;
};

/*
 * Seal c for listing kind (a short constant like "feed-new") with key.
 * Returns the cursor text on arena a, or NULL on OOM.
 */
char *cursor_seal(struct arena *a, const unsigned char key[32], const char *kind,
                  const struct cursor *c);

/*
 * Open text for listing kind into *c. 0, or -1 when it is malformed,
 * tampered, sealed with another key or for another listing.
 */
int cursor_open(const unsigned char key[32], const char *kind, const char *text,
                struct cursor *c) __attribute__((warn_unused_result));

#endif
