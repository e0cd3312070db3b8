/*
 * test_dm.c — conversation keys and message bodies (app/dm.c): a copy of
 * the conversation key opens only for its conversation and participant,
 * a body only for its conversation and message, a side's X25519 key only
 * for its conversation and account (or, copied from the old account-wide
 * column, as that account's field), and what is sealed here opens with
 * libsodium directly under the associated data include/dm.h documents (so
 * a change of format shows). Unusable X25519 keys are refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "crypto.h"
#include "dm.h"

#define CONV "c0nversation_id_22char"
#define OTHER_CONV "0therconversation_id22"
#define MSG "message_id_22_charsxyz"

static int setup(void **state)
{
	*state = arena_new();
	return *state == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	arena_free(*state);
	return 0;
}

static void test_key_copy_opens_for_its_conversation_and_participant_only(void **state)
{
	struct arena *a = *state;
	unsigned char dk[CRYPTO_KEY_BYTES], other_dk[CRYPTO_KEY_BYTES];
	unsigned char ck[DM_KEY_BYTES], out[DM_KEY_BYTES];
	unsigned char *sealed;
	size_t len = 0;

	crypto_data_key_new(dk);
	crypto_data_key_new(other_dk);
	dm_key_new(ck);
	sealed = dm_key_seal(a, dk, CONV, 42, ck, &len);
	assert_non_null(sealed);
	assert_int_equal(len, DM_KEY_BYTES + CRYPTO_SEAL_OVERHEAD);
	assert_int_equal(dm_key_open(a, dk, CONV, 42, sealed, len, out), 0);
	assert_memory_equal(out, ck, DM_KEY_BYTES);
	assert_int_equal(dm_key_open(a, dk, OTHER_CONV, 42, sealed, len, out), -1);
	assert_int_equal(dm_key_open(a, dk, CONV, 43, sealed, len, out), -1);
	assert_int_equal(dm_key_open(a, other_dk, CONV, 42, sealed, len, out), -1);
	sealed[len - 1] ^= 1;
	assert_int_equal(dm_key_open(a, dk, CONV, 42, sealed, len, out), -1);
}

static void test_body_opens_for_its_conversation_and_message_only(void **state)
{
	struct arena *a = *state;
	unsigned char ck[DM_KEY_BYTES], other[DM_KEY_BYTES];
	const char *text = "Grüße ✓ hello";
	unsigned char *sealed;
	char *body;
	size_t len = 0;

	dm_key_new(ck);
	dm_key_new(other);
	sealed = dm_body_seal(a, ck, CONV, MSG, text, strlen(text), &len);
	assert_non_null(sealed);
	assert_int_equal(dm_body_open(a, ck, CONV, MSG, sealed, len, &body), 0);
	assert_string_equal(body, text);
	assert_int_equal(dm_body_open(a, ck, OTHER_CONV, MSG, sealed, len, &body), -1);
	assert_null(body);
	assert_int_equal(dm_body_open(a, ck, CONV, "another_message_id_xyz", sealed, len, &body), -1);
	assert_int_equal(dm_body_open(a, other, CONV, MSG, sealed, len, &body), -1);
}

/* The documented layout: crypto.h's sealed field with dm.h's associated data. */
static void test_body_format_is_the_documented_one(void **state)
{
	struct arena *a = *state;
	unsigned char ck[DM_KEY_BYTES], pt[16];
	const char *ad = "sotto|f|1|kv=1|t=dm_messages|c=body|r=" CONV "." MSG "|o=0";
	unsigned char *sealed;
	unsigned long long pt_len = 0;
	size_t len = 0;

	dm_key_new(ck);
	sealed = dm_body_seal(a, ck, CONV, MSG, "0123456789abcdef", 16, &len);
	assert_non_null(sealed);
	assert_int_equal(len, 16 + CRYPTO_SEAL_OVERHEAD);
	assert_int_equal(sealed[0], 1);
	assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(
	                 pt, &pt_len, NULL, sealed + 5 + 24, len - 5 - 24,
	                 (const unsigned char *)ad, strlen(ad), sealed + 5, ck), 0);
	assert_int_equal(pt_len, 16);
	assert_memory_equal(pt, "0123456789abcdef", 16);
}

static void test_side_key_opens_for_its_conversation_and_account_only(void **state)
{
	struct arena *a = *state;
	unsigned char dk[CRYPTO_KEY_BYTES], pk[DM_X25519_BYTES], out[DM_X25519_BYTES];
	const char *ad = "sotto|f|1|kv=1|t=dm_participants|c=x25519_public|r=" CONV "|o=42";
	unsigned long long pt_len = 0;
	unsigned char *sealed;
	size_t len = 0;

	crypto_data_key_new(dk);
	randombytes_buf(pk, sizeof(pk));
	sealed = dm_x25519_seal(a, dk, CONV, 42, pk, &len);
	assert_non_null(sealed);
	assert_int_equal(dm_x25519_open(a, dk, CONV, 42, false, sealed, len, out), 0);
	assert_memory_equal(out, pk, sizeof(pk));
	assert_int_equal(dm_x25519_open(a, dk, OTHER_CONV, 42, false, sealed, len, out), -1);
	assert_int_equal(dm_x25519_open(a, dk, CONV, 43, false, sealed, len, out), -1);
	assert_int_equal(dm_x25519_open(a, dk, CONV, 42, true, sealed, len, out), -1);
	assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(
	                 out, &pt_len, NULL, sealed + 5 + 24, len - 5 - 24,
	                 (const unsigned char *)ad, strlen(ad), sealed + 5, dk), 0);
	assert_int_equal(pt_len, DM_X25519_BYTES);
	assert_memory_equal(out, pk, sizeof(pk));
}

/* A key sql/016 copied from accounts.x25519_sealed: the account's field. */
static void test_legacy_side_key_opens_as_the_accounts_field(void **state)
{
	struct arena *a = *state;
	const struct crypto_field account = { "accounts", "x25519_public", "42", 42 };
	unsigned char dk[CRYPTO_KEY_BYTES], pk[DM_X25519_BYTES], out[DM_X25519_BYTES];
	unsigned char *sealed;
	size_t len = 0;

	crypto_data_key_new(dk);
	randombytes_buf(pk, sizeof(pk));
	sealed = crypto_seal(a, dk, CRYPTO_DATA_KEY_VERSION, &account, pk, sizeof(pk), &len);
	assert_non_null(sealed);
	assert_int_equal(dm_x25519_open(a, dk, CONV, 42, true, sealed, len, out), 0);
	assert_memory_equal(out, pk, sizeof(pk));
	assert_int_equal(dm_x25519_open(a, dk, CONV, 42, false, sealed, len, out), -1);
	assert_int_equal(dm_x25519_open(a, dk, CONV, 43, true, sealed, len, out), -1);
}

static void test_x25519_parse_takes_usable_keys_only(void **state)
{
	unsigned char sk[32], pk[DM_X25519_BYTES], got[DM_X25519_BYTES];
	const char *zero = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	const char *one = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	char text[64];

	(void)state;
	randombytes_buf(sk, sizeof(sk));
	crypto_scalarmult_base(pk, sk);
	sodium_bin2base64(text, sizeof(text), pk, sizeof(pk),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	assert_int_equal(dm_x25519_parse(text, strlen(text), got), 0);
	assert_memory_equal(got, pk, sizeof(pk));
	assert_int_equal(dm_x25519_parse(zero, strlen(zero), got), -1);
	assert_int_equal(dm_x25519_parse(one, strlen(one), got), -1);
	assert_int_equal(dm_x25519_parse(text, strlen(text) - 1, got), -1);
	assert_int_equal(dm_x25519_parse("not a key", 9, got), -1);
	assert_int_equal(dm_x25519_parse("", 0, got), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_key_copy_opens_for_its_conversation_and_participant_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_opens_for_its_conversation_and_message_only,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_format_is_the_documented_one, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_side_key_opens_for_its_conversation_and_account_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_legacy_side_key_opens_as_the_accounts_field,
		                                setup, teardown),
		cmocka_unit_test(test_x25519_parse_takes_usable_keys_only),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
