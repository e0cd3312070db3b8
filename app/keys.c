/*
 * keys.c — purpose-separated subkeys (libsodium crypto_kdf).
 */
#include <string.h>

#include <sodium.h>

#include "keys.h"

int keys_derive(unsigned char out[KEYS_SUBKEY_BYTES], const unsigned char *master,
                size_t master_len, const char *context, uint64_t id)
{
	unsigned char root[crypto_kdf_KEYBYTES];
	int rc;

	if (strlen(context) != crypto_kdf_CONTEXTBYTES)
		return -1;
	crypto_generichash(root, sizeof(root), master, master_len, NULL, 0);
	rc = crypto_kdf_derive_from_key(out, KEYS_SUBKEY_BYTES, id, context, root);
	sodium_memzero(root, sizeof(root));
	return rc == 0 ? 0 : -1;
}
