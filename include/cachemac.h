/*
 * cachemac.h — values the server reads back from Redis, authenticated.
 *
 * Whoever can write to Redis must not be able to choose an identity or a
 * permission: every value that decides one (the cached account record,
 * event stream tickets, login and proof-of-work challenges, ranked feed
 * snapshots) is stored as
 *
 *   <MAC, 43 base64url characters> "." <expires, decimal seconds> "." <payload>
 *
 * where MAC = BLAKE2b-256 keyed with the worker's "redismac" subkey over
 *
 *   name 0x00 bind 0x00 <expires> "." <payload>
 *
 * name is the Redis key the value is stored under, so a value moved to
 * another key (another account's, another ticket's) no longer opens; bind
 * is what else the value belongs to without being stored (the public key
 * a login challenge was issued for, the token an account record was read
 * for), "" when nothing. expires (wall-clock seconds) bounds replay: a
 * value copied back after it was consumed or replaced opens only until
 * then. A value that does not open is treated as absent.
 */
#ifndef SOTTO_CACHEMAC_H
#define SOTTO_CACHEMAC_H

#include <stddef.h>
#include <stdint.h>

struct arena;

#define CACHEMAC_KEY_BYTES 32
#define CACHEMAC_TAG_CHARS 43   /* base64url of 32 bytes, no padding */

/*
 * The value to store under name: payload (text without NUL) sealed until
 * expires_s. On the arena; NULL when out of memory.
 */
char *cachemac_seal(struct arena *a, const unsigned char key[CACHEMAC_KEY_BYTES],
                    const char *name, const char *bind, int64_t expires_s,
                    const char *payload);

/*
 * The payload of value (len bytes, as Redis returned it) read from name:
 * a pointer into value, or NULL when the value is malformed, its MAC does
 * not hold for (key, name, bind) or it expired (expires_s <= now_s). The
 * comparison takes the same time wherever the MACs differ.
 */
const char *cachemac_open(const unsigned char key[CACHEMAC_KEY_BYTES], const char *name,
                          const char *bind, const char *value, size_t len, int64_t now_s);

#endif
