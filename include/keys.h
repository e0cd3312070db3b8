/*
 * keys.h — one subkey per purpose, derived from a configured master secret.
 *
 * Master secrets may be longer than 32 bytes; they are first compressed
 * with BLAKE2b, then crypto_kdf_derive_from_key() separates purposes by
 * an 8-character context ("ratelimt", "ipbanhsh", "jwt-hs256"...).
 */
#ifndef SOTTO_KEYS_H
#define SOTTO_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define KEYS_SUBKEY_BYTES 32

/* out gets 32 bytes for (master, context, id). 0, or -1 on a bad context. */
int keys_derive(unsigned char out[KEYS_SUBKEY_BYTES], const unsigned char *master,
                size_t master_len, const char *context, uint64_t id)
    __attribute__((warn_unused_result));

#endif
