/* PLACEHOLDER — replaced by the real implementation before issue 3 lands. */
#include <sodium.h>
#include "crypto.h"
void crypto_data_key_new(unsigned char key[CRYPTO_KEY_BYTES]) { randombytes_buf(key, CRYPTO_KEY_BYTES); }
int crypto_wrap_key(const struct config *cfg, int64_t owner, const unsigned char key[CRYPTO_KEY_BYTES],
                    unsigned char out[CRYPTO_WRAPPED_BYTES], uint32_t *version)
{ (void)cfg; (void)owner; (void)key; (void)out; (void)version; return -1; }
int crypto_unwrap_key(const struct config *cfg, int64_t owner, uint32_t version,
                      const unsigned char *wrapped, size_t len, unsigned char key[CRYPTO_KEY_BYTES])
{ (void)cfg; (void)owner; (void)version; (void)wrapped; (void)len; (void)key; return -1; }
unsigned char *crypto_seal(struct arena *a, const unsigned char key[CRYPTO_KEY_BYTES],
                           uint32_t key_version, const struct crypto_field *f,
                           const void *pt, size_t len, size_t *out_len)
{ (void)a; (void)key; (void)key_version; (void)f; (void)pt; (void)len; (void)out_len; return 0; }
int crypto_open(struct arena *a, const unsigned char key[CRYPTO_KEY_BYTES],
                const struct crypto_field *f, const unsigned char *sealed,
                size_t len, unsigned char **pt, size_t *pt_len)
{ (void)a; (void)key; (void)f; (void)sealed; (void)len; (void)pt; (void)pt_len; return -1; }
int crypto_rotate_keys(const struct config *cfg, int batch) { (void)cfg; (void)batch; return -1; }
