/*
 * group.c — see group.h: shape, coverage and invite hashing, nothing that
 * needs the database.
 */
#include <string.h>

#include <sodium.h>

#include "group.h"
#include "json.h"
#include "util.h"

int group_x25519_parse(const char *text, size_t len, unsigned char out[GROUP_X25519_BYTES])
{
	size_t got = 0;

	if (text == NULL || len != 43 ||
	    util_b64url_decode(text, len, out, GROUP_X25519_BYTES, &got) != 0 ||
	    got != GROUP_X25519_BYTES || sodium_is_zero(out, GROUP_X25519_BYTES))
		return -1;
	return 0;
}

/* One {"member_id", "box", "nonce"} into b. 0, or -1 with *why. */
static int box_parse(json_object *o, struct group_box *b, const char **why)
{
	const char *box, *nonce;
	size_t id_len, box_chars, nonce_chars, got = 0;

	if (!json_object_is_type(o, json_type_object)) {
		*why = "keys: each entry must be an object";
		return -1;
	}
	if (json_get_string(o, "member_id", &b->member_id, &id_len) != 1 ||
	    id_len != GROUP_ID_CHARS) {
		*why = "keys: member_id must be a member id";
		return -1;
	}
	if (json_get_string(o, "nonce", &nonce, &nonce_chars) != 1 ||
	    util_b64url_decode(nonce, nonce_chars, b->nonce, sizeof(b->nonce), &got) != 0 ||
	    got != GROUP_NONCE_BYTES) {
		*why = "keys: nonce must be 24 bytes, base64url";
		return -1;
	}
	if (json_get_string(o, "box", &box, &box_chars) != 1 ||
	    box_chars > (GROUP_BOX_MAX_BYTES + 2) / 3 * 4 ||
	    util_b64url_decode(box, box_chars, b->box, sizeof(b->box), &b->box_len) != 0 ||
	    b->box_len <= GROUP_MAC_BYTES) {
		*why = "keys: box must be base64url, 17 to 128 bytes";
		return -1;
	}
	return 0;
}

int group_keyset_parse(json_object *keys, struct group_box *boxes, size_t max, size_t *n,
                       const char **why)
{
	size_t len;

	if (keys == NULL || !json_object_is_type(keys, json_type_array) ||
	    (len = json_object_array_length(keys)) == 0 || len > max) {
		*why = "keys must be a non-empty array with one entry per member";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (box_parse(json_object_array_get_idx(keys, i), &boxes[i], why) != 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(boxes[j].member_id, boxes[i].member_id) == 0) {
				*why = "keys: a member_id appears twice";
				return -1;
			}
	}
	*n = len;
	return 0;
}

bool group_keyset_covers(const struct group_box *boxes, size_t n, const char *const *members,
                         size_t m)
{
	if (n != m)
		return false;
	for (size_t i = 0; i < m; i++) {
		bool found = false;

		for (size_t j = 0; j < n && !found; j++)
			found = strcmp(boxes[j].member_id, members[i]) == 0;
		if (!found)
			return false;
	}
	return true;
}

void group_invite_hash(const unsigned char key[32], const char *secret, size_t len,
                       unsigned char out[GROUP_INVITE_HASH_BYTES])
{
	crypto_generichash(out, GROUP_INVITE_HASH_BYTES, (const unsigned char *)secret, len,
	                   key, 32);
}
