/*
 * libFuzzer target: DPoP proofs and htu normalisation (dpop.h) never
 * crash, leak or accept a forgery.
 *
 * Each input is used three times:
 * 1. as a URI: a normalised htu must normalise to itself;
 * 2. as a proof: nobody signed it, so it must never be accepted;
 * 3. as the claims of a proof signed here with an Ed25519 key, so the
 *    bytes get past the signature into the claims checks: accepting is
 *    allowed then, only with a jti and iat that obey dpop.h.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "dpop.h"
#include "util.h"

#define FUZZ_NOW INT64_C(1700000000)
#define FUZZ_HTU "https://api.example/me"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned char fuzz_pk[32], fuzz_sk[64];

static void as_uri(struct arena *a, const char *text)
{
	char *once = dpop_htu_normalise(a, text), *twice;

	if (once == NULL)
		return;
	twice = dpop_htu_normalise(a, once);
	if (twice == NULL || strcmp(once, twice) != 0)
		__builtin_trap();
}

static void as_proof(struct arena *a, const char *text)
{
	struct dpop_proof p;

	if (dpop_verify(a, text, "GET", FUZZ_HTU, FUZZ_NOW, NULL, &p) == 0)
		__builtin_trap();
}

static void as_claims(struct arena *a, const uint8_t *data, size_t size)
{
	unsigned char sig[64];
	struct dpop_proof p;
	char *header, *in, *proof;

	header = arena_printf(a, "{\"typ\":\"dpop+jwt\",\"alg\":\"EdDSA\",\"jwk\":{\"kty\":\"OKP\","
	                      "\"crv\":\"Ed25519\",\"x\":\"%s\"}}", util_b64url_encode(a, fuzz_pk, 32));
	if (header == NULL)
		return;
	in = arena_printf(a, "%s.%s", util_b64url_encode(a, (const unsigned char *)header,
	                                                 strlen(header)),
	                  util_b64url_encode(a, data, size));
	if (in == NULL)
		return;
	crypto_sign_detached(sig, NULL, (const unsigned char *)in, strlen(in), fuzz_sk);
	proof = arena_printf(a, "%s.%s", in, util_b64url_encode(a, sig, 64));
	if (proof == NULL || dpop_verify(a, proof, "GET", FUZZ_HTU, FUZZ_NOW, NULL, &p) != 0)
		return;
	if (p.jti[0] == '\0' || strlen(p.jti) > DPOP_JTI_MAX || strlen(p.jkt) != DPOP_JKT_CHARS ||
	    p.iat < FUZZ_NOW - DPOP_IAT_WINDOW_S || p.iat > FUZZ_NOW + DPOP_IAT_WINDOW_S)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a;
	char *text;

	if (sodium_init() < 0)
		return 0;
	if (fuzz_pk[0] == 0 && fuzz_pk[1] == 0)
		crypto_sign_seed_keypair(fuzz_pk, fuzz_sk, (const unsigned char[32]){ 7 });
	if (size > 4096 || (a = arena_new()) == NULL)
		return 0;
	text = arena_strndup(a, (const char *)data, size);
	if (text != NULL) {
		as_uri(a, text);
		as_proof(a, text);
	}
	as_claims(a, data, size);
	arena_free(a);
	return 0;
}
