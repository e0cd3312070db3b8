/*
 * test_password.c — the dummy hash that unknown accounts are verified
 * against must cost what a real hash costs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "password.h"

/* Same algorithm and parameters as today's hashes: same verification time. */
static void dummy_hash_uses_todays_parameters(void **state)
{
	(void)state;
	assert_int_equal(strncmp(password_dummy_hash, "$argon2id$", 10), 0);
	assert_int_equal(crypto_pwhash_str_needs_rehash(password_dummy_hash,
	                                                crypto_pwhash_OPSLIMIT_INTERACTIVE,
	                                                crypto_pwhash_MEMLIMIT_INTERACTIVE), 0);
}

/* A well-formed hash: verifying against it runs the full computation and fails. */
static void dummy_hash_verifies_and_matches_nothing(void **state)
{
	(void)state;
	assert_int_equal(crypto_pwhash_str_verify(password_dummy_hash, "correct horse battery",
	                                          strlen("correct horse battery")), -1);
	assert_int_equal(crypto_pwhash_str_verify(password_dummy_hash, "", 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dummy_hash_uses_todays_parameters),
		cmocka_unit_test(dummy_hash_verifies_and_matches_nothing),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
