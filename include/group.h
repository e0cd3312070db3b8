/*
 * group.h — the rules of end-to-end groups that need no database: the
 * shape of keys, boxes and epochs, whether a key set covers exactly the
 * current members, and invite secrets (sql/018_groups.sql,
 * app/handlers_groups.c, docs/groups.md).
 *
 * The server never sees a group key: members seal it to each other's
 * per-group X25519 keys (crypto_box) and the server stores the boxes as
 * sent. What it checks is shape and coverage, so that a key set either
 * reaches every current member or is refused.
 */
#ifndef SOTTO_GROUP_H
#define SOTTO_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

struct arena;

#define GROUP_ID_BYTES 16           /* group, member, message and invite ids: 22 characters */
#define GROUP_ID_CHARS 22
#define GROUP_X25519_BYTES 32       /* a member's per-group public key */
#define GROUP_NONCE_BYTES 24        /* crypto_box and crypto_secretbox nonces */
#define GROUP_MAC_BYTES 16          /* their MAC: the least ciphertext overhead */
#define GROUP_BOX_MAX_BYTES 128     /* a sealed group key (48 bytes for a 32-byte key) */
#define GROUP_INVITE_BYTES 32       /* an invite secret: 43 characters */
#define GROUP_INVITE_HASH_BYTES 32
#define GROUP_INVITE_USES_MAX 256
#define GROUP_INVITE_DAYS_MAX 30
#define GROUP_EPOCH_MAX INT32_MAX

/* One box of a key set, decoded (pointers into the request body or an arena). */
struct group_box {
	const char *member_id;      /* GROUP_ID_CHARS characters */
	unsigned char box[GROUP_BOX_MAX_BYTES];
	size_t box_len;
	unsigned char nonce[GROUP_NONCE_BYTES];
};

/*
 * Decode an X25519 public key (base64url of 32 bytes, not all zero) into
 * out. 0, or -1 when it is not one.
 */
int group_x25519_parse(const char *text, size_t len, unsigned char out[GROUP_X25519_BYTES])
    __attribute__((warn_unused_result));

/*
 * The "keys" array of a key set into boxes[0..*n), at most max entries.
 * 0, or -1 with *why (a static message naming the field) when it is not
 * a non-empty array of {"member_id", "box", "nonce"} with ids of the
 * right length, boxes of 17..GROUP_BOX_MAX_BYTES bytes, 24-byte nonces,
 * and no member twice.
 */
int group_keyset_parse(json_object *keys, struct group_box *boxes, size_t max, size_t *n,
                       const char **why) __attribute__((warn_unused_result));

/*
 * True when boxes[0..n) names each of members[0..m) exactly once and no
 * one else (boxes hold no duplicates: group_keyset_parse checked).
 */
bool group_keyset_covers(const struct group_box *boxes, size_t n, const char *const *members,
                         size_t m);

/*
 * The keyed hash under which an invite secret is stored: BLAKE2b-256 of
 * the secret's text with key (the "grpinvit" subkey). Only the hash is
 * kept, so a database copy holds no usable invite.
 */
void group_invite_hash(const unsigned char key[32], const char *secret, size_t len,
                       unsigned char out[GROUP_INVITE_HASH_BYTES]);

#endif
