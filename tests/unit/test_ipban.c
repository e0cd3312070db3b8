/*
 * test_ipban.c — IP-prefix bans: every textual form of an address down to
 * its prefix (golden vectors: IPv4, IPv6 full and compressed, IPv4-mapped
 * dotted and hex), what is refused, the prefix text moderators see, IPv6
 * prefixes widened to a /48..64, and the lookup token (keyed BLAKE2b with
 * domain separation; the expected values were computed with Python's
 * hashlib.blake2b).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "ipban.h"

/* One address, the prefix it denotes and how that prefix is shown. */
struct vector {
	const char *addr;
	enum ipban_family family;
	const char *bytes_hex;   /* the /24 or /64 */
	const char *text;
};

static const struct vector golden[] = {
	{ "192.0.2.1", IPBAN_V4, "c00002", "192.0.2.0/24" },
	{ "192.0.2.255", IPBAN_V4, "c00002", "192.0.2.0/24" },
	{ "127.0.1.5", IPBAN_V4, "7f0001", "127.0.1.0/24" },
	{ "0.0.0.0", IPBAN_V4, "000000", "0.0.0.0/24" },
	{ "255.255.255.255", IPBAN_V4, "ffffff", "255.255.255.0/24" },
	/* IPv4-mapped IPv6, dotted and hex, any case: the IPv4 address */
	{ "::ffff:192.0.2.1", IPBAN_V4, "c00002", "192.0.2.0/24" },
	{ "::FFFF:192.0.2.77", IPBAN_V4, "c00002", "192.0.2.0/24" },
	{ "::ffff:c000:201", IPBAN_V4, "c00002", "192.0.2.0/24" },
	{ "0:0:0:0:0:ffff:c000:0201", IPBAN_V4, "c00002", "192.0.2.0/24" },
	{ "::ffff:7f00:105", IPBAN_V4, "7f0001", "127.0.1.0/24" },
	/* IPv6: every spelling of one /64 gives the same prefix and text */
	{ "2001:db8:1:2::1", IPBAN_V6, "20010db800010002", "2001:db8:1:2::/64" },
	{ "2001:0db8:0001:0002:0000:0000:0000:0001", IPBAN_V6, "20010db800010002",
	  "2001:db8:1:2::/64" },
	{ "2001:DB8:1:2:ffff:ffff:ffff:ffff", IPBAN_V6, "20010db800010002", "2001:db8:1:2::/64" },
	{ "2001:db8:1:2:3:4:5:6", IPBAN_V6, "20010db800010002", "2001:db8:1:2::/64" },
	{ "2001:db8:1:2::192.0.2.1", IPBAN_V6, "20010db800010002", "2001:db8:1:2::/64" },
	{ "2001:db8::", IPBAN_V6, "20010db800000000", "2001:db8::/64" },
	{ "2001:db8:0:0:1::", IPBAN_V6, "20010db800000000", "2001:db8::/64" },
	{ "2001:db8:0:1::9", IPBAN_V6, "20010db800000001", "2001:db8:0:1::/64" },
	{ "2001:0:0:1::", IPBAN_V6, "2001000000000001", "2001:0:0:1::/64" },
	{ "fe80::1", IPBAN_V6, "fe80000000000000", "fe80::/64" },
	{ "::1", IPBAN_V6, "0000000000000000", "::/64" },
	{ "::", IPBAN_V6, "0000000000000000", "::/64" },
	/* IPv4-compatible (deprecated) and NAT64 forms stay IPv6 */
	{ "::192.0.2.1", IPBAN_V6, "0000000000000000", "::/64" },
	{ "64:ff9b::192.0.2.1", IPBAN_V6, "0064ff9b00000000", "64:ff9b::/64" },
	{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", IPBAN_V6, "ffffffffffffffff",
	  "ffff:ffff:ffff:ffff::/64" },
};

static void test_golden_prefixes_and_texts(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(golden) / sizeof(golden[0]); i++) {
		const struct vector *v = &golden[i];
		struct ipban_prefix p;
		char text[IPBAN_TEXT_MAX], hex[17];

		if (ipban_prefix_parse(v->addr, &p) != 0)
			fail_msg("%s did not parse", v->addr);
		assert_int_equal(p.family, v->family);
		assert_int_equal(p.len, v->family == IPBAN_V4 ? 3 : 8);
		sodium_bin2hex(hex, sizeof(hex), p.bytes, p.len);
		if (strcmp(hex, v->bytes_hex) != 0)
			fail_msg("%s: prefix %s, want %s", v->addr, hex, v->bytes_hex);
		assert_int_equal(ipban_prefix_text(&p, text), 0);
		if (strcmp(text, v->text) != 0)
			fail_msg("%s: text %s, want %s", v->addr, text, v->text);
	}
}

static void test_the_prefix_text_parses_back_to_the_same_prefix(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(golden) / sizeof(golden[0]); i++) {
		struct ipban_prefix p, q;
		char text[IPBAN_TEXT_MAX];

		assert_int_equal(ipban_prefix_parse(golden[i].addr, &p), 0);
		assert_int_equal(ipban_prefix_text(&p, text), 0);
		*strchr(text, '/') = '\0';
		assert_int_equal(ipban_prefix_parse(text, &q), 0);
		assert_int_equal(p.family, q.family);
		assert_memory_equal(p.bytes, q.bytes, p.len);
	}
}

static void test_refuses_everything_but_one_plain_address(void **state)
{
	static const char *bad[] = {
		"", " ", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", " 1.2.3.4",
		"01.2.3.4", "1.2.3.04", "1.2.3.4/24", "0x7f.0.0.1", "127.1", "2130706433",
		"1.2.3.4\n", "fe80::1%eth0", "fe80::1%1", "[::1]", "[2001:db8::1]:443",
		"2001:db8::1::2", "2001:db8:1:2:3:4:5:6:7", "2001:db8:1:2:3:4:5", ":::",
		"2001:db8::g", "12345::", "::ffff:1.2.3", "::ffff:1.2.3.4.5", "1.2.3.4::",
		"localhost", "example.org", "2001:db8::/64", "-1.2.3.4", "+1.2.3.4",
		/* overlong: 46 characters, longer than any address */
		"0000:0000:0000:0000:0000:ffff:192.168.100.2281",
		"0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000",
	};
	struct ipban_prefix p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ipban_prefix_parse(bad[i], &p) != -1)
			fail_msg("%s was accepted", bad[i]);
	assert_int_equal(ipban_prefix_parse(NULL, &p), -1);
}

static void test_longest_valid_text_is_accepted(void **state)
{
	struct ipban_prefix p;

	(void)state;
	/* 45 characters: INET6_ADDRSTRLEN - 1 */
	assert_int_equal(ipban_prefix_parse("0000:0000:0000:0000:0000:ffff:255.255.255.255", &p), 0);
	assert_int_equal(p.family, IPBAN_V4);
}

static void test_token_is_keyed_blake2b_over_the_domain_separated_prefix(void **state)
{
	unsigned char key[32], token[IPBAN_TOKEN_BYTES];
	char hex[2 * IPBAN_TOKEN_BYTES + 1];
	struct ipban_prefix p;

	(void)state;
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)i;
	assert_int_equal(ipban_prefix_parse("192.0.2.200", &p), 0);
	ipban_token(key, &p, token);
	sodium_bin2hex(hex, sizeof(hex), token, sizeof(token));
	assert_string_equal(hex, "eb647023fe5f202caa4a023cb3ffc4cc6e33b136e44ca05822b6c52fd752e513");
	assert_int_equal(ipban_prefix_parse("2001:db8:1:2::abcd", &p), 0);
	ipban_token(key, &p, token);
	sodium_bin2hex(hex, sizeof(hex), token, sizeof(token));
	assert_string_equal(hex, "6ce837218080aab91b6030c8001c1093360c982285d4aa520b98bcd9ae70db4b");
}

static void test_token_same_for_every_form_and_differs_by_key_and_family(void **state)
{
	unsigned char key[32] = { 1 }, key2[32] = { 2 };
	unsigned char a[IPBAN_TOKEN_BYTES], b[IPBAN_TOKEN_BYTES];
	struct ipban_prefix p, q;

	(void)state;
	assert_int_equal(ipban_prefix_parse("127.0.1.5", &p), 0);
	assert_int_equal(ipban_prefix_parse("::ffff:127.0.1.99", &q), 0);
	ipban_token(key, &p, a);
	ipban_token(key, &q, b);
	assert_memory_equal(a, b, sizeof(a));
	ipban_token(key2, &p, b);
	assert_memory_not_equal(a, b, sizeof(a));
	/* a /64 whose bytes begin 7f 00 01 00 ... as 127.0.1.0/24's do */
	assert_int_equal(ipban_prefix_parse("7f00:100::", &q), 0);
	ipban_token(key, &q, b);
	assert_memory_not_equal(a, b, sizeof(a));
}

/* One IPv6 address widened to a length, and what that gives. */
struct wide_vector {
	const char *addr;
	unsigned bits;
	const char *bytes_hex;
	const char *text;
};

static const struct wide_vector wide_golden[] = {
	{ "2001:db8:1:2::1", 48, "20010db80001", "2001:db8:1::/48" },
	{ "2001:db8:abcd:ef12::1", 52, "20010db8abcde0", "2001:db8:abcd:e000::/52" },
	{ "2001:db8:abcd:ef12::1", 56, "20010db8abcdef", "2001:db8:abcd:ef00::/56" },
	{ "2001:db8:abcd:ef12::1", 60, "20010db8abcdef10", "2001:db8:abcd:ef10::/60" },
	{ "2001:db8:abcd:ef13::1", 63, "20010db8abcdef12", "2001:db8:abcd:ef12::/63" },
	{ "2001:db8:abcd:ef13::1", 64, "20010db8abcdef13", "2001:db8:abcd:ef13::/64" },
	{ "ffff:ffff:ffff:ffff::", 49, "ffffffffffff80", "ffff:ffff:ffff:8000::/49" },
};

static void test_ipv6_prefix_widens_to_48_through_64_with_the_rest_zero(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(wide_golden) / sizeof(wide_golden[0]); i++) {
		const struct wide_vector *v = &wide_golden[i];
		struct ipban_prefix p, q;
		char hex[17], text[IPBAN_TEXT_MAX], *slash;

		assert_int_equal(ipban_prefix_parse(v->addr, &p), 0);
		assert_int_equal(ipban_prefix_widen(&p, v->bits), 0);
		assert_int_equal(p.bits, v->bits);
		sodium_bin2hex(hex, sizeof(hex), p.bytes, p.len);
		assert_string_equal(hex, v->bytes_hex);
		assert_int_equal(ipban_prefix_text(&p, text), 0);
		assert_string_equal(text, v->text);
		/* the text, parsed and widened again, is the same prefix */
		slash = strchr(text, '/');
		*slash = '\0';
		assert_int_equal(ipban_prefix_parse(text, &q), 0);
		assert_int_equal(ipban_prefix_widen(&q, v->bits), 0);
		assert_int_equal(q.len, p.len);
		assert_memory_equal(q.bytes, p.bytes, sizeof(p.bytes));
	}
}

static void test_widening_refuses_ipv4_and_lengths_outside_48_to_the_prefix(void **state)
{
	struct ipban_prefix p;

	(void)state;
	assert_int_equal(ipban_prefix_parse("192.0.2.1", &p), 0);
	assert_int_equal(ipban_prefix_widen(&p, 24), -1);
	assert_int_equal(ipban_prefix_widen(&p, 48), -1);
	assert_int_equal(ipban_prefix_parse("::ffff:192.0.2.1", &p), 0);
	assert_int_equal(ipban_prefix_widen(&p, 48), -1);
	assert_int_equal(ipban_prefix_parse("2001:db8:1:2::1", &p), 0);
	assert_int_equal(ipban_prefix_widen(&p, 47), -1);
	assert_int_equal(ipban_prefix_widen(&p, 65), -1);
	assert_int_equal(ipban_prefix_widen(&p, 0), -1);
	assert_int_equal(ipban_prefix_widen(&p, 56), 0);
	/* never narrower than it already is: the bits past it are gone */
	assert_int_equal(ipban_prefix_widen(&p, 60), -1);
	assert_int_equal(p.bits, 56);
}

static void test_wide_token_covers_its_length_and_never_equals_the_64s(void **state)
{
	unsigned char key[32], token[IPBAN_TOKEN_BYTES], t64[IPBAN_TOKEN_BYTES];
	char hex[2 * IPBAN_TOKEN_BYTES + 1];
	struct ipban_prefix p;

	(void)state;
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)i;
	assert_int_equal(ipban_prefix_parse("2001:db8:1:2::abcd", &p), 0);
	assert_int_equal(ipban_prefix_widen(&p, 48), 0);
	ipban_token(key, &p, token);
	sodium_bin2hex(hex, sizeof(hex), token, sizeof(token));
	assert_string_equal(hex, "43068964904e12a6acaf44cc3462eb491582bdac19590b13b5013ff884b20e15");
	assert_int_equal(ipban_prefix_parse("2001:db8:abcd:ef12::", &p), 0);
	assert_int_equal(ipban_prefix_widen(&p, 52), 0);
	ipban_token(key, &p, token);
	sodium_bin2hex(hex, sizeof(hex), token, sizeof(token));
	assert_string_equal(hex, "ce290da92e99654c80262a57c4e4e1139191002ee2b3cf6a82a36786e5b2d346");
	/* 2001:db8:1::/48 and 2001:db8:1::/64 share their bytes, not their token */
	assert_int_equal(ipban_prefix_parse("2001:db8:1::", &p), 0);
	ipban_token(key, &p, t64);
	assert_int_equal(ipban_prefix_widen(&p, 48), 0);
	ipban_token(key, &p, token);
	assert_memory_not_equal(token, t64, sizeof(token));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_prefixes_and_texts),
		cmocka_unit_test(test_the_prefix_text_parses_back_to_the_same_prefix),
		cmocka_unit_test(test_refuses_everything_but_one_plain_address),
		cmocka_unit_test(test_longest_valid_text_is_accepted),
		cmocka_unit_test(test_token_is_keyed_blake2b_over_the_domain_separated_prefix),
		cmocka_unit_test(test_token_same_for_every_form_and_differs_by_key_and_family),
		cmocka_unit_test(test_ipv6_prefix_widens_to_48_through_64_with_the_rest_zero),
		cmocka_unit_test(test_widening_refuses_ipv4_and_lengths_outside_48_to_the_prefix),
		cmocka_unit_test(test_wide_token_covers_its_length_and_never_equals_the_64s),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
