/*
 * test_config.c — settings parsing, precedence and validation (app/config.c).
 *
 * Every test starts from an environment with no sotto variables and its own
 * temporary directory for env files and credentials.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"

#define MAX_FILES 16

static char tmpdir[64];
static char *files[MAX_FILES];
static size_t n_files;
static char err[512];

/* Unset every variable config_load could read, so tests do not leak into each other. */
static void clean_env(void)
{
	static const char *const names[] = {
		"JWT_SECRET", "IP_HMAC_KEY", "CONTENT_KEYS", "ADMIN_REVIEW_TOKEN", "ADMIN_UI_TOKEN",
		"DATABASE_URL", "REDIS_URL", "CREDENTIALS_DIRECTORY",
	};
	char *doomed[256];
	size_t n = 0;

	for (char **e = environ; *e != NULL && n < 256; e++) {
		if (strncmp(*e, "SOTTO_", 6) == 0) {
			size_t len = strcspn(*e, "=");

			doomed[n] = strndup(*e, len);
			assert_non_null(doomed[n]);
			n++;
		}
	}
	for (size_t i = 0; i < n; i++) {
		unsetenv(doomed[i]);
		free(doomed[i]);
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unsetenv(names[i]);
}

static int setup(void **state)
{
	(void)state;
	clean_env();
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sotto-test-config-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	n_files = 0;
	err[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < n_files; i++) {
		unlink(files[i]);
		free(files[i]);
	}
	n_files = 0;
	rmdir(tmpdir);
	clean_env();
	return 0;
}

/* Write content to tmpdir/name with the given mode; returns the path (owned here). */
static const char *write_file(const char *name, const char *content, mode_t mode)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
	assert_true(n_files < MAX_FILES);
	files[n_files] = strdup(path);
	assert_non_null(files[n_files]);
	return files[n_files++];
}

static void b64(char *out, size_t cap, const unsigned char *bin, size_t len, int variant)
{
	assert_non_null(sodium_bin2base64(out, cap, bin, len, variant));
}

static void random_b64(char *out, size_t cap, size_t nbytes)
{
	unsigned char bin[64];

	assert_true(nbytes <= sizeof(bin));
	randombytes_buf(bin, nbytes);
	b64(out, cap, bin, nbytes, sodium_base64_VARIANT_ORIGINAL);
}

/* The smallest environment config_load accepts outside dev mode. */
static void set_required_env(void)
{
	char secret[128], ck[160];
	unsigned char hmac[32];
	char hex[65];

	setenv("DATABASE_URL", "postgresql:///sotto?host=/tmp", 1);
	setenv("REDIS_URL", "unix:///tmp/redis.sock", 1);
	random_b64(secret, sizeof(secret), 32);
	setenv("JWT_SECRET", secret, 1);
	randombytes_buf(hmac, sizeof(hmac));
	sodium_bin2hex(hex, sizeof(hex), hmac, sizeof(hmac));
	setenv("IP_HMAC_KEY", hex, 1);
	random_b64(secret, sizeof(secret), 32);
	snprintf(ck, sizeof(ck), "1:%s", secret);
	setenv("CONTENT_KEYS", ck, 1);
}

static void load_ok(struct config *cfg)
{
	int rc = config_load(cfg, err, sizeof(err));

	if (rc != 0)
		print_error("config_load failed: %s\n", err);
	assert_int_equal(rc, 0);
}

/* config_load must fail, say `needle`, and leave cfg zeroed and safe to free. */
static void load_fails_naming(const char *needle)
{
	struct config cfg;
	static const struct config zero;

	memset(&cfg, 0xa5, sizeof(cfg));
	err[0] = '\0';
	assert_int_equal(config_load(&cfg, err, sizeof(err)), -1);
	if (strstr(err, needle) == NULL)
		print_error("error \"%s\" does not mention \"%s\"\n", err, needle);
	assert_non_null(strstr(err, needle));
	assert_null(strchr(err, '\n'));
	assert_memory_equal(&cfg, &zero, sizeof(cfg));
	config_free(&cfg);
}

/* ---- rate parsing ---- */

static void test_rate_parse_accepts_count_per_seconds(void **state)
{
	struct rate_limit r;

	(void)state;
	assert_int_equal(config_parse_rate("10/60", &r), 0);
	assert_int_equal(r.count, 10);
	assert_int_equal(r.seconds, 60);
	assert_int_equal(config_parse_rate("100000000/31536000", &r), 0);
	assert_int_equal(r.count, 100000000);
	assert_int_equal(r.seconds, 31536000);
}

static void test_rate_parse_zero_count_or_off_disables_class(void **state)
{
	struct rate_limit r = {7, 7};

	(void)state;
	assert_int_equal(config_parse_rate("0/1", &r), 0);
	assert_int_equal(r.count, 0);
	r.count = 7;
	assert_int_equal(config_parse_rate("off", &r), 0);
	assert_int_equal(r.count, 0);
	assert_true(r.seconds >= 1);
}

static void test_rate_parse_rejects_zero_second_window(void **state)
{
	struct rate_limit r = {7, 7};

	(void)state;
	assert_int_equal(config_parse_rate("10/0", &r), -1);
	assert_int_equal(r.count, 7);
	assert_int_equal(r.seconds, 7);
}

static void test_rate_parse_rejects_malformed_text(void **state)
{
	static const char *const bad[] = {
		"abc", "5/", "/60", "5", "", "/", "5/60/1", "-5/60", "+5/60", "5/-60", "5/60x",
		"0x10/60", "5.0/60", "OFF", "off/60", "5//60",
	};
	struct rate_limit r = {7, 7};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (config_parse_rate(bad[i], &r) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(r.count, 7);
	}
	assert_int_equal(config_parse_rate(NULL, &r), -1);
}

static void test_rate_parse_rejects_overflow(void **state)
{
	static const char *const bad[] = {
		"4294967296/60", "99999999999999999999999/60", "18446744073709551616/60",
		"100000001/60", "5/31536001", "5/4294967296", "5/18446744073709551615",
	};
	struct rate_limit r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (config_parse_rate(bad[i], &r) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
}

static void test_rate_parse_rejects_whitespace(void **state)
{
	static const char *const bad[] = {
		" 5/60", "5/60 ", "5 /60", "5/ 60", "5/60\n", "\t5/60", " off", "off ",
	};
	struct rate_limit r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (config_parse_rate(bad[i], &r) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
}

/* ---- secret decoding and strength ---- */

static void test_decode_secret_accepts_standard_base64_with_or_without_padding(void **state)
{
	unsigned char bin[32], out[64];
	char text[64];
	size_t n = 0;

	(void)state;
	randombytes_buf(bin, sizeof(bin));
	b64(text, sizeof(text), bin, sizeof(bin), sodium_base64_VARIANT_ORIGINAL);
	assert_non_null(strchr(text, '='));
	assert_int_equal(config_decode_secret(text, out, sizeof(out), &n), 0);
	assert_int_equal(n, 32);
	assert_memory_equal(out, bin, 32);

	b64(text, sizeof(text), bin, sizeof(bin), sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	assert_int_equal(config_decode_secret(text, out, sizeof(out), &n), 0);
	assert_int_equal(n, 32);
	assert_memory_equal(out, bin, 32);

	/* '+' and '/' are the standard alphabet's own characters. */
	assert_int_equal(config_decode_secret("++//", out, sizeof(out), &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "\xfb\xef\xff", 3);
}

static void test_decode_secret_accepts_url_safe_base64(void **state)
{
	unsigned char bin[32], out[64];
	char text[64];
	size_t n = 0;

	(void)state;
	randombytes_buf(bin, sizeof(bin));
	b64(text, sizeof(text), bin, sizeof(bin), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	assert_int_equal(config_decode_secret(text, out, sizeof(out), &n), 0);
	assert_int_equal(n, 32);
	assert_memory_equal(out, bin, 32);

	b64(text, sizeof(text), bin, sizeof(bin), sodium_base64_VARIANT_URLSAFE);
	assert_int_equal(config_decode_secret(text, out, sizeof(out), &n), 0);
	assert_memory_equal(out, bin, 32);

	assert_int_equal(config_decode_secret("--__", out, sizeof(out), &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "\xfb\xef\xff", 3);
}

static void test_decode_secret_accepts_hex_in_either_case(void **state)
{
	unsigned char bin[32], out[64];
	char hex[65];
	size_t n = 0;

	(void)state;
	assert_int_equal(config_decode_secret("00ff10AB", out, sizeof(out), &n), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(out, "\x00\xff\x10\xab", 4);

	randombytes_buf(bin, sizeof(bin));
	sodium_bin2hex(hex, sizeof(hex), bin, sizeof(bin));
	assert_int_equal(config_decode_secret(hex, out, sizeof(out), &n), 0);
	assert_int_equal(n, 32);
	assert_memory_equal(out, bin, 32);
}

static void test_decode_secret_rejects_malformed_or_oversized_text(void **state)
{
	static const char *const bad[] = {
		"",            /* nothing */
		"abc",         /* odd-length hex: a truncated paste */
		"not base64!", /* outside both alphabets */
		"++-_",        /* standard and url-safe alphabets mixed */
		"QUJD=",       /* padding where none belongs */
		"QQ===",       /* too much padding */
		"QUJ",         /* non-zero trailing bits */
		"QUJD QUJD",   /* embedded space */
		"QU=JD",       /* padding in the middle */
	};
	unsigned char bin[33], out[32];
	char text[64];
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (config_decode_secret(bad[i], out, sizeof(out), &n) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	/* 33 bytes do not fit a 32-byte buffer, as base64 or as hex. */
	randombytes_buf(bin, sizeof(bin));
	b64(text, sizeof(text), bin, sizeof(bin), sodium_base64_VARIANT_ORIGINAL);
	assert_int_equal(config_decode_secret(text, out, sizeof(out), &n), -1);
	sodium_bin2hex(text, sizeof(text), bin, 31);
	assert_int_equal(config_decode_secret(text, out, 30, &n), -1);
	assert_int_equal(config_decode_secret(NULL, out, sizeof(out), &n), -1);
}

static void test_secret_strength_rejects_32_zero_bytes(void **state)
{
	unsigned char key[32] = {0};

	(void)state;
	assert_false(config_secret_strong(key, sizeof(key)));
	memset(key, 0xaa, sizeof(key));
	assert_false(config_secret_strong(key, sizeof(key)));
}

static void test_secret_strength_accepts_random_32_bytes(void **state)
{
	unsigned char key[64];

	(void)state;
	for (int i = 0; i < 100; i++) {
		randombytes_buf(key, sizeof(key));
		assert_true(config_secret_strong(key, 32));
		assert_true(config_secret_strong(key, 64));
	}
}

static void test_secret_strength_rejects_31_random_bytes(void **state)
{
	unsigned char key[31];

	(void)state;
	randombytes_buf(key, sizeof(key));
	assert_false(config_secret_strong(key, sizeof(key)));
	assert_false(config_secret_strong(NULL, 32));
}

static void test_secret_strength_rejects_short_repeating_pattern(void **state)
{
	unsigned char key[32];

	(void)state;
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)("0123456789abcde"[i % 15]);
	assert_false(config_secret_strong(key, sizeof(key)));
}

/* ---- loading ---- */

/*
 * The listing (`sotto check-config --list`) and the loader are one table:
 * every listed default, set explicitly, loads to the same configuration as
 * leaving it unset; every name is listed once; secrets list no value.
 */
static void test_every_listed_default_is_a_valid_value_of_its_setting(void **state)
{
	struct config_setting_doc d;
	struct config plain, explicit;
	size_t n = 0;

	(void)state;
	set_required_env();
	load_ok(&plain);
	for (size_t i = 0; config_setting_doc(i, &d); i++, n++) {
		struct config_setting_doc other;

		for (size_t j = 0; j < i; j++) {
			assert_true(config_setting_doc(j, &other));
			assert_string_not_equal(other.name, d.name);
		}
		assert_true(d.meaning[0] != '\0' && d.bounds[0] != '\0' && d.type != NULL);
		if (d.secret)
			assert_true(strcmp(d.def, "(required)") == 0 || strcmp(d.def, "(empty)") == 0);
		if (d.def[0] != '(')
			assert_int_equal(setenv(d.name, d.def, 1), 0);
	}
	/* 51 rows, two of them families: one setting per rate class and per action */
	assert_int_equal(n, 52 - 2 + RATE__MAX + POW__MAX);
	load_ok(&explicit);
	assert_int_equal(explicit.body_max_bytes, plain.body_max_bytes);
	assert_int_equal(explicit.rate[RATE_COMMUNITY].seconds, plain.rate[RATE_COMMUNITY].seconds);
	assert_int_equal(explicit.pow[POW_REPLY], plain.pow[POW_REPLY]);
	assert_true(explicit.flag_hold_weight == plain.flag_hold_weight);
	assert_int_equal(explicit.flag_min_age_days, plain.flag_min_age_days);
	assert_int_equal(explicit.rate[RATE_CHALLENGE].count, plain.rate[RATE_CHALLENGE].count);
	assert_true(explicit.moderation_threshold == plain.moderation_threshold);
	assert_string_equal(explicit.moderation_rules, plain.moderation_rules);
	assert_int_equal(explicit.event_ttl_days, plain.event_ttl_days);
	assert_int_equal(explicit.group_max_members, plain.group_max_members);
	assert_int_equal(plain.group_max_members, 256);
	assert_int_equal(explicit.token_lifetime_s, 900);
	assert_int_equal(explicit.refresh_lifetime_s, plain.refresh_lifetime_s);
	assert_int_equal(plain.refresh_lifetime_s, 30 * 86400);
	assert_int_equal(explicit.rate[RATE_REFRESH].count, plain.rate[RATE_REFRESH].count);
	config_free(&explicit);
	config_free(&plain);
}

static void test_load_applies_defaults_when_only_required_settings_given(void **state)
{
	struct config cfg;

	(void)state;
	set_required_env();
	load_ok(&cfg);
	assert_false(cfg.dev);
	assert_in_range(cfg.workers, 2, 64);
	assert_string_equal(cfg.listen_path, "/run/sotto/sotto.sock");
	assert_string_equal(cfg.socket_group, "");
	assert_int_equal(cfg.shutdown_timeout_ms, 10000);
	assert_string_equal(cfg.migrations_dir, "sql");
	assert_int_equal(cfg.body_max_bytes, 65536);
	assert_int_equal(cfg.json_max_depth, 16);
	assert_int_equal(cfg.n_cors_origins, 0);
	assert_string_equal(cfg.database_url, "postgresql:///sotto?host=/tmp");
	assert_int_equal(cfg.db_statement_timeout_ms, 5000);
	assert_string_equal(cfg.redis_url, "unix:///tmp/redis.sock");
	assert_int_equal(cfg.redis_timeout_ms, 100);
	assert_int_equal(cfg.rate[RATE_GLOBAL].count, 300);
	assert_int_equal(cfg.rate[RATE_GLOBAL].seconds, 60);
	assert_int_equal(cfg.rate[RATE_REGISTER].count, 5);
	assert_int_equal(cfg.rate[RATE_REGISTER].seconds, 3600);
	assert_int_equal(cfg.rate[RATE_COMMUNITY].seconds, 86400);
	assert_int_equal(cfg.rate[RATE_EXPORT].count, 10);
	assert_int_equal(cfg.rate[RATE_EXPORT].seconds, 3600);
	assert_int_equal(cfg.pwhash_wait_ms, 500);
	assert_int_equal(cfg.pwhash_busy_pow, 12);
	assert_int_equal(cfg.rate[RATE_CHALLENGE].count, 60);
	assert_int_equal(cfg.rate[RATE_CHALLENGE].seconds, 60);
	assert_int_equal(cfg.flag_min_age_days, 3);
	assert_int_equal(cfg.pow[POW_REGISTER], 18);
	assert_int_equal(cfg.pow[POW_LOGIN], 0);
	assert_int_equal(cfg.pow[POW_REPLY], 14);
	assert_int_equal(cfg.post_max_chars, 4000);
	assert_int_equal(cfg.jwt_secret_len, 32);
	assert_int_equal(cfg.ip_hmac_key_len, 32);
	assert_int_equal(cfg.n_content_keys, 1);
	assert_string_equal(cfg.admin_review_token, "");
	assert_string_equal(cfg.admin_ui_token, "");
	config_free(&cfg);
}

static void test_env_file_comments_quotes_and_export_are_understood(void **state)
{
	struct config cfg;

	(void)state;
	set_required_env();
	unsetenv("DATABASE_URL");
	setenv("SOTTO_ENV_FILE",
	       write_file("sotto.env",
	                  "# settings for tests\n"
	                  "\n"
	                  "   # an indented comment\n"
	                  "export SOTTO_WORKERS=3\n"
	                  "SOTTO_LISTEN=\"/tmp/quoted path.sock\"\n"
	                  "SOTTO_SOCKET_GROUP='www-data'\n"
	                  "SOTTO_MIGRATIONS_DIR=  /opt/sql  \r\n"
	                  "\t export\tSOTTO_RATE_LOGIN=3/60\n"
	                  "SOTTO_POW_POST=20\n"
	                  "SOTTO_CORS_ORIGINS=\"https://a.example, http://localhost:8080\"\n"
	                  "SOTTO_JSON_MAX_DEPTH=4\n"
	                  "SOTTO_JSON_MAX_DEPTH=8\n"
	                  "SOTTO_SOCKET_GROUP_UNUSED=''\n"
	                  "DATABASE_URL=postgresql://u:p#x@db/sotto",
	                  0600),
	       1);
	load_ok(&cfg);
	assert_int_equal(cfg.workers, 3);
	assert_string_equal(cfg.listen_path, "/tmp/quoted path.sock");
	assert_string_equal(cfg.socket_group, "www-data");
	assert_string_equal(cfg.migrations_dir, "/opt/sql");
	assert_int_equal(cfg.rate[RATE_LOGIN].count, 3);
	assert_int_equal(cfg.rate[RATE_LOGIN].seconds, 60);
	assert_int_equal(cfg.pow[POW_POST], 20);
	assert_int_equal(cfg.n_cors_origins, 2);
	assert_int_equal(cfg.json_max_depth, 8); /* the last assignment wins */
	assert_string_equal(cfg.database_url, "postgresql://u:p#x@db/sotto"); /* '#' is literal */
	config_free(&cfg);
}

static void test_env_file_secrets_are_read(void **state)
{
	struct config cfg;
	unsigned char bin[32];
	char text[64], line[128];

	(void)state;
	set_required_env();
	unsetenv("JWT_SECRET");
	randombytes_buf(bin, sizeof(bin));
	b64(text, sizeof(text), bin, sizeof(bin), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	snprintf(line, sizeof(line), "JWT_SECRET='%s'\n", text);
	setenv("SOTTO_ENV_FILE", write_file("sotto.env", line, 0600), 1);
	load_ok(&cfg);
	assert_int_equal(cfg.jwt_secret_len, 32);
	assert_memory_equal(cfg.jwt_secret, bin, 32);
	config_free(&cfg);
}

static void test_env_file_malformed_line_is_reported_by_number(void **state)
{
	(void)state;
	set_required_env();
	setenv("SOTTO_ENV_FILE",
	       write_file("a.env", "# fine\nSOTTO_WORKERS=3\nthis line has no equals sign\n", 0600), 1);
	load_fails_naming("line 3");

	setenv("SOTTO_ENV_FILE", write_file("b.env", "SOTTO_WORKERS=3\nSOTTO_LISTEN=\"/tmp/x\n", 0600), 1);
	load_fails_naming("line 2");

	setenv("SOTTO_ENV_FILE", write_file("c.env", "1SOTTO=3\n", 0600), 1);
	load_fails_naming("line 1");

	setenv("SOTTO_ENV_FILE", write_file("d.env", "\n\n\nSOTTO_WORKERS = 3\n", 0600), 1);
	load_fails_naming("line 4");

	setenv("SOTTO_ENV_FILE", write_file("e.env", "export\n", 0600), 1);
	load_fails_naming("line 1");
}

static void test_env_file_error_does_not_echo_a_secret(void **state)
{
	static const char secret[] = "c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw";

	(void)state;
	set_required_env();
	setenv("SOTTO_ENV_FILE",
	       write_file("sotto.env", "JWT_SECRET 'c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw'\n", 0600),
	       1);
	load_fails_naming("line 1");
	assert_null(strstr(err, secret));
	assert_null(strstr(err, "c2VjcmV0"));
}

static void test_env_file_missing_or_oversized_is_an_error(void **state)
{
	char path[PATH_MAX];
	char *big;

	(void)state;
	set_required_env();
	snprintf(path, sizeof(path), "%s/does-not-exist.env", tmpdir);
	setenv("SOTTO_ENV_FILE", path, 1);
	load_fails_naming("SOTTO_ENV_FILE");

	big = malloc((1u << 20) + 2);
	assert_non_null(big);
	memset(big, '#', (1u << 20) + 1);
	big[(1u << 20) + 1] = '\0';
	setenv("SOTTO_ENV_FILE", write_file("big.env", big, 0600), 1);
	free(big);
	load_fails_naming("larger than");

	setenv("SOTTO_ENV_FILE", tmpdir, 1); /* a directory */
	load_fails_naming("SOTTO_ENV_FILE");
}

static void test_env_file_world_readable_with_secrets_refused_outside_dev(void **state)
{
	struct config cfg;
	const char *path;

	(void)state;
	set_required_env();
	path = write_file("sotto.env", "SOTTO_WORKERS=3\nADMIN_UI_TOKEN=9f86d081884c7d659a2feaa0c55ad015\n",
	                  0644);
	setenv("SOTTO_ENV_FILE", path, 1);
	load_fails_naming("world-readable");
	assert_null(strstr(err, "9f86d081"));

	/* Without secrets (an empty one is none) a readable file is only a warning. */
	path = write_file("plain.env", "SOTTO_WORKERS=3\nADMIN_UI_TOKEN=\n", 0644);
	setenv("SOTTO_ENV_FILE", path, 1);
	load_ok(&cfg);
	assert_int_equal(cfg.workers, 3);
	config_free(&cfg);

	path = write_file("open.env", "SOTTO_WORKERS=3\n", 0666);
	setenv("SOTTO_ENV_FILE", path, 1);
	load_fails_naming("world-writable");
}

static void test_env_file_world_readable_accepted_in_dev(void **state)
{
	struct config cfg;

	(void)state;
	set_required_env();
	/* SOTTO_DEV may itself come from the file. */
	setenv("SOTTO_ENV_FILE", write_file("dev.env", "SOTTO_DEV=1\nADMIN_UI_TOKEN=9f86d081884c7d659a2feaa0c55ad015\n", 0644), 1);
	load_ok(&cfg);
	assert_true(cfg.dev);
	config_free(&cfg);
}

static void test_environment_beats_env_file(void **state)
{
	struct config cfg;

	(void)state;
	set_required_env();
	setenv("SOTTO_ENV_FILE",
	       write_file("sotto.env", "SOTTO_WORKERS=3\nSOTTO_POST_MAX_CHARS=100\n"
	                               "SOTTO_MIGRATIONS_DIR=/from/file\n", 0600),
	       1);
	setenv("SOTTO_WORKERS", "5", 1);
	setenv("SOTTO_POST_MAX_CHARS", "", 1); /* set-but-empty hides the file, default applies */
	load_ok(&cfg);
	assert_int_equal(cfg.workers, 5);
	assert_int_equal(cfg.post_max_chars, 4000);
	assert_string_equal(cfg.migrations_dir, "/from/file");
	config_free(&cfg);
}

static void test_credentials_beat_environment_and_lose_trailing_newline(void **state)
{
	struct config cfg;
	unsigned char bin[32];
	char text[64], content[80];

	(void)state;
	set_required_env();
	setenv("CREDENTIALS_DIRECTORY", tmpdir, 1);
	setenv("DATABASE_URL", "postgresql://env/db", 1);
	write_file("DATABASE_URL", "postgresql://cred/db\n", 0400);
	randombytes_buf(bin, sizeof(bin));
	b64(text, sizeof(text), bin, sizeof(bin), sodium_base64_VARIANT_ORIGINAL);
	snprintf(content, sizeof(content), "%s\r\n", text);
	write_file("JWT_SECRET", content, 0400);
	write_file("ADMIN_UI_TOKEN", "0123456789abcdef0123456789ABCDEF-token\n", 0400);
	/* Only secret names come from credentials. */
	write_file("SOTTO_WORKERS", "7\n", 0400);
	setenv("SOTTO_WORKERS", "3", 1);
	load_ok(&cfg);
	assert_string_equal(cfg.database_url, "postgresql://cred/db");
	assert_int_equal(cfg.jwt_secret_len, 32);
	assert_memory_equal(cfg.jwt_secret, bin, 32);
	assert_string_equal(cfg.admin_ui_token, "0123456789abcdef0123456789ABCDEF-token");
	assert_int_equal(cfg.workers, 3);
	config_free(&cfg);
}

static void test_missing_database_url_is_an_error(void **state)
{
	(void)state;
	set_required_env();
	unsetenv("DATABASE_URL");
	load_fails_naming("DATABASE_URL");
	setenv("DATABASE_URL", "", 1);
	load_fails_naming("DATABASE_URL");
}

static void test_missing_or_malformed_redis_url_is_an_error(void **state)
{
	struct config cfg;

	(void)state;
	set_required_env();
	unsetenv("REDIS_URL");
	load_fails_naming("REDIS_URL");
	setenv("REDIS_URL", "http://localhost:6379", 1);
	load_fails_naming("REDIS_URL");
	setenv("REDIS_URL", "unix://relative.sock", 1);
	load_fails_naming("REDIS_URL");
	setenv("REDIS_URL", "redis://127.0.0.1:6379/0", 1);
	load_ok(&cfg);
	config_free(&cfg);
}

static void test_redis_sentinels_replace_redis_url_and_need_a_master_name(void **state)
{
	struct config cfg;

	(void)state;
	set_required_env();
	setenv("REDIS_SENTINELS", "10.0.0.1:26379,[fd00::2]:26379,sentinel-c:26380", 1);
	setenv("REDIS_MASTER_NAME", "sotto", 1);
	load_fails_naming("REDIS_SENTINELS");      /* REDIS_URL is set too */
	unsetenv("REDIS_URL");
	load_ok(&cfg);
	assert_string_equal(cfg.redis_sentinels, "10.0.0.1:26379,[fd00::2]:26379,sentinel-c:26380");
	assert_string_equal(cfg.redis_master_name, "sotto");
	assert_string_equal(cfg.redis_url, "");
	config_free(&cfg);
	unsetenv("REDIS_MASTER_NAME");
	load_fails_naming("REDIS_MASTER_NAME");
	setenv("REDIS_MASTER_NAME", "two words", 1);
	load_fails_naming("REDIS_MASTER_NAME");
	setenv("REDIS_MASTER_NAME", "sotto", 1);
	static const char *const bad[] = {
		"10.0.0.1", "10.0.0.1:0", "10.0.0.1:65536", ":26379", "a:1,,b:2", "a:1,",
		"fd00::2:26379x", "[fd00::2:26379", "user@host:26379",
		"a:1,b:1,c:1,d:1,e:1,f:1,g:1,h:1,i:1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("REDIS_SENTINELS", bad[i], 1);
		load_fails_naming("REDIS_SENTINELS");
	}
	/* The master's credentials go with the Sentinels only, a user with a password. */
	setenv("REDIS_SENTINELS", "10.0.0.1:26379", 1);
	setenv("REDIS_MASTER_USER", "sotto", 1);
	load_fails_naming("REDIS_MASTER_USER");
	setenv("REDIS_MASTER_PASSWORD", "s3cret", 1);
	load_ok(&cfg);
	assert_string_equal(cfg.redis_master_user, "sotto");
	assert_string_equal(cfg.redis_master_password, "s3cret");
	config_free(&cfg);
	setenv("REDIS_MASTER_USER", "so:tto", 1);
	load_fails_naming("REDIS_MASTER_USER");
	unsetenv("REDIS_MASTER_USER");
	unsetenv("REDIS_SENTINELS");
	setenv("REDIS_URL", "redis://127.0.0.1:6379", 1);
	load_fails_naming("REDIS_MASTER_PASSWORD");
	assert_null(strstr(err, "s3cret"));
	unsetenv("REDIS_MASTER_PASSWORD");
	unsetenv("REDIS_MASTER_NAME");
}

/* Credentials: an ACL user or requirepass, %XX escapes; never echoed in an error. */
static void test_redis_url_takes_credentials_and_never_echoes_them(void **state)
{
	static const char *const good[] = {
		"redis://sotto:s3cret@127.0.0.1:6379/0", "redis://:s3cret@localhost",
		"redis://sotto:a%2Fb%40c@[::1]:6380", "unix://sotto:s3cret@/run/redis.sock?db=2",
		"unix://:s3cret@/run/redis.sock",
	};
	static const char *const bad[] = {
		"redis://s3cret@127.0.0.1", "redis://sotto:@127.0.0.1",
		"redis://sotto:s3cret%2@127.0.0.1", "redis://sotto:s3cret%00x@127.0.0.1",
		"redis://sotto:s3cret@", "unix://sotto:s3cret@relative.sock",
		"unix://sotto:s3cret@", "redis://a:s3cret@b:s3cret@127.0.0.1",
	};
	struct config cfg;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		set_required_env();
		setenv("REDIS_URL", good[i], 1);
		load_ok(&cfg);
		config_free(&cfg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set_required_env();
		setenv("REDIS_URL", bad[i], 1);
		load_fails_naming("REDIS_URL");
		assert_null(strstr(err, "s3cret"));
	}
}

static void test_weak_secret_refused_outside_dev_without_echoing_it(void **state)
{
	static const char zeros[] =
	    "0000000000000000000000000000000000000000000000000000000000000000";
	char short_key[64];

	(void)state;
	set_required_env();
	setenv("JWT_SECRET", zeros, 1);
	load_fails_naming("JWT_SECRET");
	assert_null(strstr(err, "00000000"));

	set_required_env();
	random_b64(short_key, sizeof(short_key), 16);
	setenv("IP_HMAC_KEY", short_key, 1);
	load_fails_naming("IP_HMAC_KEY");
	assert_null(strstr(err, short_key));

	set_required_env();
	setenv("JWT_SECRET", "not a secret!", 1);
	load_fails_naming("JWT_SECRET");
	assert_null(strstr(err, "not a secret"));
}

static void test_weak_secret_accepted_in_dev_mode(void **state)
{
	struct config cfg;
	char ck[80];

	(void)state;
	set_required_env();
	setenv("SOTTO_DEV", "1", 1);
	setenv("JWT_SECRET", "0000000000000000000000000000000000000000000000000000000000000000", 1);
	setenv("IP_HMAC_KEY", "c2hvcnQ", 1);
	snprintf(ck, sizeof(ck), "1:%064d", 0);
	setenv("CONTENT_KEYS", ck, 1);
	setenv("ADMIN_REVIEW_TOKEN", "dev", 1);
	load_ok(&cfg);
	assert_true(cfg.dev);
	assert_int_equal(cfg.jwt_secret_len, 32);
	assert_int_equal(cfg.ip_hmac_key_len, 5);
	assert_string_equal(cfg.admin_review_token, "dev");
	config_free(&cfg);
}

static void test_missing_secret_refused_even_in_dev_mode(void **state)
{
	(void)state;
	set_required_env();
	setenv("SOTTO_DEV", "1", 1);
	unsetenv("JWT_SECRET");
	load_fails_naming("JWT_SECRET");
	set_required_env();
	unsetenv("CONTENT_KEYS");
	load_fails_naming("CONTENT_KEYS");
	set_required_env();
	setenv("IP_HMAC_KEY", "", 1);
	load_fails_naming("IP_HMAC_KEY");
}

static void test_content_keys_newest_version_is_chosen(void **state)
{
	struct config cfg;
	unsigned char k3[32], k7[32], k5[32];
	char t3[64], t7[65], t5[64], all[256];
	const struct content_key *newest;

	(void)state;
	set_required_env();
	randombytes_buf(k3, 32);
	randombytes_buf(k7, 32);
	randombytes_buf(k5, 32);
	b64(t3, sizeof(t3), k3, 32, sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2hex(t7, sizeof(t7), k7, 32);
	b64(t5, sizeof(t5), k5, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	snprintf(all, sizeof(all), "3:%s, 7:%s ,5:%s", t3, t7, t5);
	setenv("CONTENT_KEYS", all, 1);
	load_ok(&cfg);
	assert_int_equal(cfg.n_content_keys, 3);
	newest = config_content_key_newest(&cfg);
	assert_non_null(newest);
	assert_int_equal(newest->version, 7);
	assert_memory_equal(newest->key, k7, 32);
	config_free(&cfg);
}

static void test_content_keys_duplicate_version_refused(void **state)
{
	char a[64], b[64], all[160];

	(void)state;
	set_required_env();
	random_b64(a, sizeof(a), 32);
	random_b64(b, sizeof(b), 32);
	snprintf(all, sizeof(all), "2:%s,2:%s", a, b);
	setenv("CONTENT_KEYS", all, 1);
	load_fails_naming("appears twice");
	assert_non_null(strstr(err, "CONTENT_KEYS"));
	assert_null(strstr(err, a));
	assert_null(strstr(err, b));
}

static void test_content_keys_malformed_items_refused(void **state)
{
	static const struct { const char *before, *after; } shapes[] = {
		{"0:", ""},          /* version 0 */
		{"2147483648:", ""}, /* beyond int4 */
		{"-1:", ""}, {"x:", ""}, {" :", ""}, {"", ""}, {"1", ""},
		{"1:", ","},         /* empty trailing item */
		{"1:", ",,2:AAAA"},
		{",1:", ""},
	};
	char key[64], short_key[64], all[200];

	(void)state;
	set_required_env();
	random_b64(key, sizeof(key), 32);
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		snprintf(all, sizeof(all), "%s%s%s", shapes[i].before, key, shapes[i].after);
		setenv("CONTENT_KEYS", all, 1);
		load_fails_naming("CONTENT_KEYS");
		assert_null(strstr(err, key));
	}
	random_b64(short_key, sizeof(short_key), 31);
	snprintf(all, sizeof(all), "1:%s", short_key);
	setenv("CONTENT_KEYS", all, 1);
	load_fails_naming("exactly 32 bytes");

	snprintf(all, sizeof(all), "1:%064d", 0);
	setenv("CONTENT_KEYS", all, 1);
	load_fails_naming("weak");
}

static void test_content_key_limit_is_enforced(void **state)
{
	char key[64], all[2048];
	size_t off = 0;

	(void)state;
	set_required_env();
	for (int v = 1; v <= CONFIG_MAX_CONTENT_KEYS + 1; v++) {
		random_b64(key, sizeof(key), 32);
		off += (size_t)snprintf(all + off, sizeof(all) - off, "%s%d:%s", v > 1 ? "," : "", v, key);
	}
	assert_true(off < sizeof(all));
	setenv("CONTENT_KEYS", all, 1);
	load_fails_naming("more than");
}

static void test_cors_origins_allow_exact_matches_only(void **state)
{
	struct config cfg;

	(void)state;
	set_required_env();
	setenv("SOTTO_CORS_ORIGINS", "https://app.example, http://localhost:8080,https://[::1]:8443", 1);
	load_ok(&cfg);
	assert_int_equal(cfg.n_cors_origins, 3);
	assert_true(config_origin_allowed(&cfg, "https://app.example"));
	assert_true(config_origin_allowed(&cfg, "http://localhost:8080"));
	assert_true(config_origin_allowed(&cfg, "https://[::1]:8443"));
	assert_false(config_origin_allowed(&cfg, "https://app.example/"));
	assert_false(config_origin_allowed(&cfg, "HTTPS://APP.EXAMPLE"));
	assert_false(config_origin_allowed(&cfg, "http://app.example"));
	assert_false(config_origin_allowed(&cfg, "https://evil.app.example"));
	assert_false(config_origin_allowed(&cfg, "https://app.example.evil"));
	assert_false(config_origin_allowed(&cfg, "http://localhost"));
	assert_false(config_origin_allowed(&cfg, "null"));
	assert_false(config_origin_allowed(&cfg, ""));
	assert_false(config_origin_allowed(&cfg, NULL));
	config_free(&cfg);
}

static void test_cors_origins_invalid_entries_refused(void **state)
{
	static const char *const bad[] = {
		"https://app.example/", "https://app.example/path", "app.example", "ftp://x.example",
		"https://app.example:443", "http://app.example:80", "https://App.example", "*",
		"null", "https://a.example,,https://b.example", "https://a.example,",
		"https://x.example:0", "https://x.example:65536", "https://x.example:08080",
		"https://u@x.example", "https://x.example?q", "https://-x.example", "https://x..example",
		"https://", "https://[::1", "https://a.example,https://a.example",
	};

	(void)state;
	set_required_env();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("SOTTO_CORS_ORIGINS", bad[i], 1);
		load_fails_naming("SOTTO_CORS_ORIGINS");
	}
}

static void test_public_origin_is_one_https_origin(void **state)
{
	static const char *const bad[] = {
		"http://sotto.example", "https://sotto.example/", "https://sotto.example/api",
		"https://Sotto.example", "https://sotto.example:443", "sotto.example",
		"https://a.example,https://b.example", "https://u@sotto.example", "https://",
	};
	struct config cfg;

	(void)state;
	set_required_env();
	load_ok(&cfg);
	assert_string_equal(cfg.public_origin, "");
	config_free(&cfg);
	setenv("SOTTO_PUBLIC_ORIGIN", "https://sotto.example:8443", 1);
	load_ok(&cfg);
	assert_string_equal(cfg.public_origin, "https://sotto.example:8443");
	config_free(&cfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("SOTTO_PUBLIC_ORIGIN", bad[i], 1);
		load_fails_naming("SOTTO_PUBLIC_ORIGIN");
	}
	unsetenv("SOTTO_PUBLIC_ORIGIN");
}

static void test_cors_origin_limit_is_enforced(void **state)
{
	char all[1024];
	size_t off = 0;

	(void)state;
	set_required_env();
	for (int i = 0; i <= CONFIG_MAX_ORIGINS; i++)
		off += (size_t)snprintf(all + off, sizeof(all) - off, "%shttps://h%d.example",
		                        i > 0 ? "," : "", i);
	setenv("SOTTO_CORS_ORIGINS", all, 1);
	load_fails_naming("more than");
}

static void test_unknown_rate_class_or_pow_action_refused(void **state)
{
	(void)state;
	set_required_env();
	setenv("SOTTO_RATE_FOO", "1/1", 1);
	load_fails_naming("SOTTO_RATE_FOO");
	unsetenv("SOTTO_RATE_FOO");

	setenv("SOTTO_RATE_", "1/1", 1);
	load_fails_naming("SOTTO_RATE_");
	unsetenv("SOTTO_RATE_");

	setenv("SOTTO_POW_POSTS", "1", 1);
	load_fails_naming("SOTTO_POW_POSTS");
	unsetenv("SOTTO_POW_POSTS");

	setenv("SOTTO_POW_post", "1", 1); /* names are upper-case */
	load_fails_naming("SOTTO_POW_post");
	unsetenv("SOTTO_POW_post");

	setenv("SOTTO_ENV_FILE", write_file("sotto.env", "SOTTO_RATE_LOGINS=1/1\n", 0600), 1);
	load_fails_naming("SOTTO_RATE_LOGINS");
}

static void test_rate_and_pow_settings_are_applied_and_checked(void **state)
{
	struct config cfg;

	(void)state;
	set_required_env();
	setenv("SOTTO_RATE_LOGIN", "3/60", 1);
	setenv("SOTTO_RATE_GLOBAL", "off", 1);
	setenv("SOTTO_RATE_DM", "0/1", 1);
	setenv("SOTTO_POW_COMMUNITY", "0", 1);
	setenv("SOTTO_POW_REGISTER", "32", 1);
	load_ok(&cfg);
	assert_int_equal(cfg.rate[RATE_LOGIN].count, 3);
	assert_int_equal(cfg.rate[RATE_LOGIN].seconds, 60);
	assert_int_equal(cfg.rate[RATE_GLOBAL].count, 0);
	assert_int_equal(cfg.rate[RATE_DM].count, 0);
	assert_int_equal(cfg.rate[RATE_VOTE].count, 120);
	assert_int_equal(cfg.pow[POW_COMMUNITY], 0);
	assert_int_equal(cfg.pow[POW_REGISTER], 32);
	config_free(&cfg);

	setenv("SOTTO_POW_POST", "33", 1);
	load_fails_naming("SOTTO_POW_POST");
	unsetenv("SOTTO_POW_POST");
	setenv("SOTTO_RATE_VOTE", "5/0", 1);
	load_fails_naming("SOTTO_RATE_VOTE");
}

static void test_numeric_settings_out_of_range_refused(void **state)
{
	static const struct { const char *name, *value; } bad[] = {
		{"SOTTO_BODY_MAX_BYTES", "1023"},       {"SOTTO_BODY_MAX_BYTES", "16777217"},
		{"SOTTO_BODY_MAX_BYTES", "64k"},        {"SOTTO_BODY_MAX_BYTES", "-1"},
		{"SOTTO_BODY_MAX_BYTES", " 65536"},     {"SOTTO_BODY_MAX_BYTES", "99999999999999999999999"},
		{"SOTTO_JSON_MAX_DEPTH", "0"},          {"SOTTO_JSON_MAX_DEPTH", "65"},
		{"SOTTO_WORKERS", "1"},                 {"SOTTO_WORKERS", "65"},
		{"SOTTO_WORKERS", "two"},               {"SOTTO_DEV", "yes"},
		{"SOTTO_DEV", "2"},                     {"SOTTO_SHUTDOWN_TIMEOUT_MS", "600001"},
		{"SOTTO_REDIS_TIMEOUT_MS", "0"},        {"SOTTO_DB_STATEMENT_TIMEOUT_MS", "0"},
		{"SOTTO_POST_MAX_CHARS", "0"},          {"SOTTO_POST_MAX_CHARS", "4000.5"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set_required_env();
		setenv(bad[i].name, bad[i].value, 1);
		load_fails_naming(bad[i].name);
		unsetenv(bad[i].name);
	}
}

static void test_numeric_settings_accept_their_bounds(void **state)
{
	struct config cfg;

	(void)state;
	set_required_env();
	setenv("SOTTO_BODY_MAX_BYTES", "1024", 1);
	setenv("SOTTO_JSON_MAX_DEPTH", "1", 1);
	setenv("SOTTO_WORKERS", "2", 1);
	setenv("SOTTO_POST_MAX_CHARS", "10", 1);
	setenv("SOTTO_SHUTDOWN_TIMEOUT_MS", "0", 1);
	load_ok(&cfg);
	assert_int_equal(cfg.body_max_bytes, 1024);
	assert_int_equal(cfg.json_max_depth, 1);
	assert_int_equal(cfg.workers, 2);
	assert_int_equal(cfg.shutdown_timeout_ms, 0);
	config_free(&cfg);

	setenv("SOTTO_BODY_MAX_BYTES", "16777216", 1);
	setenv("SOTTO_JSON_MAX_DEPTH", "64", 1);
	setenv("SOTTO_WORKERS", "64", 1);
	setenv("SOTTO_DEV", "0", 1);
	load_ok(&cfg);
	assert_int_equal(cfg.body_max_bytes, 16777216);
	assert_int_equal(cfg.json_max_depth, 64);
	assert_int_equal(cfg.workers, 64);
	assert_false(cfg.dev);
	config_free(&cfg);
}

static void test_admin_token_must_be_long_outside_dev_and_empty_disables(void **state)
{
	struct config cfg;

	(void)state;
	set_required_env();
	setenv("ADMIN_REVIEW_TOKEN", "short-token", 1);
	load_fails_naming("ADMIN_REVIEW_TOKEN");
	assert_null(strstr(err, "short-token"));

	setenv("ADMIN_REVIEW_TOKEN", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1);
	load_fails_naming("ADMIN_REVIEW_TOKEN");

	setenv("ADMIN_REVIEW_TOKEN", "0123456789abcdef 0123456789abcdef", 1);
	load_fails_naming("ADMIN_REVIEW_TOKEN");

	setenv("ADMIN_REVIEW_TOKEN", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b", 1);
	setenv("ADMIN_UI_TOKEN", "", 1);
	load_ok(&cfg);
	assert_string_equal(cfg.admin_review_token, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b");
	assert_string_equal(cfg.admin_ui_token, "");
	config_free(&cfg);

	setenv("SOTTO_DEV", "1", 1);
	setenv("ADMIN_UI_TOKEN", "short-token", 1);
	load_ok(&cfg);
	assert_string_equal(cfg.admin_ui_token, "short-token");
	config_free(&cfg);
}

static void test_listen_path_longer_than_sockaddr_refused(void **state)
{
	char path[200];

	(void)state;
	set_required_env();
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	setenv("SOTTO_LISTEN", path, 1);
	load_fails_naming("SOTTO_LISTEN");
}

static void test_config_reloads_twice_in_one_process(void **state)
{
	struct config a, b;

	(void)state;
	set_required_env();
	setenv("SOTTO_CORS_ORIGINS", "https://a.example", 1);
	load_ok(&a);
	setenv("SOTTO_WORKERS", "4", 1);
	setenv("SOTTO_CORS_ORIGINS", "https://b.example,https://c.example", 1);
	load_ok(&b);
	assert_int_equal(b.workers, 4);
	assert_true(config_origin_allowed(&a, "https://a.example"));
	assert_false(config_origin_allowed(&b, "https://a.example"));
	assert_true(config_origin_allowed(&b, "https://c.example"));
	config_free(&a);
	load_ok(&a);
	assert_int_equal(a.workers, 4);
	config_free(&a);
	config_free(&b);
}

static void test_config_free_is_safe_on_zeroed_and_freed_config_and_wipes_keys(void **state)
{
	struct config cfg;
	static const unsigned char zero[64];

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	config_free(&cfg);
	config_free(NULL);
	assert_null(config_content_key_newest(&cfg));

	set_required_env();
	load_ok(&cfg);
	config_free(&cfg);
	assert_memory_equal(cfg.jwt_secret, zero, sizeof(cfg.jwt_secret));
	assert_memory_equal(cfg.ip_hmac_key, zero, sizeof(cfg.ip_hmac_key));
	assert_memory_equal(cfg.content_keys[0].key, zero, 32);
	assert_int_equal(cfg.n_content_keys, 0);
	assert_null(cfg.database_url);
	config_free(&cfg); /* twice is harmless */
}

static void test_class_and_action_names_match_variable_suffixes(void **state)
{
	(void)state;
	assert_string_equal(config_rate_name(RATE_GLOBAL), "GLOBAL");
	assert_string_equal(config_rate_name(RATE_COMMUNITY), "COMMUNITY");
	assert_string_equal(config_rate_name(RATE_EXPORT), "EXPORT");
	assert_string_equal(config_rate_name(RATE_CHALLENGE), "CHALLENGE");
	assert_string_equal(config_pow_name(POW_REPLY), "reply");
	assert_string_equal(config_pow_name(POW_COMMUNITY), "community");
	assert_non_null(config_rate_name(RATE_NONE));
	assert_non_null(config_pow_name(POW__MAX));
}

/* ---- moderation (issue 5) ---- */
static void test_flag_hold_weight_default_decimal_and_bounds(void **state)
{
	static const char *const bad[] = {
		"0", "0.001", "1000.5", ".5", "1.", "1.2.3", "-1", "+1", " 1", "1e2", "nan",
		"inf", "0x10", "1,5", "99999999999999999",
	};
	struct config cfg;

	(void)state;
	set_required_env();
	load_ok(&cfg);
	assert_true(cfg.flag_hold_weight == 1.5);
	config_free(&cfg);
	setenv("SOTTO_FLAG_HOLD_WEIGHT", "0.75", 1);
	load_ok(&cfg);
	assert_true(cfg.flag_hold_weight == 0.75);
	config_free(&cfg);
	setenv("SOTTO_FLAG_HOLD_WEIGHT", "1000", 1);
	load_ok(&cfg);
	assert_true(cfg.flag_hold_weight == 1000.0);
	config_free(&cfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("SOTTO_FLAG_HOLD_WEIGHT", bad[i], 1);
		load_fails_naming("SOTTO_FLAG_HOLD_WEIGHT");
	}
	unsetenv("SOTTO_FLAG_HOLD_WEIGHT");
}
/* ---- end moderation ---- */

/* ---- automatic moderation (`sotto moderate`) ---- */

static void test_moderation_settings_defaults_and_values(void **state)
{
	struct config cfg;

	(void)state;
	set_required_env();
	load_ok(&cfg);
	assert_true(cfg.moderation_hold);
	assert_true(cfg.moderation_threshold > 0.8 - 1e-9 && cfg.moderation_threshold < 0.8 + 1e-9);
	assert_string_equal(cfg.moderation_rules, "data/moderation.rules");
	assert_string_equal(cfg.moderation_cmd, "");
	assert_int_equal(cfg.moderation_cmd_timeout_ms, 2000);
	assert_int_equal(cfg.moderation_batch, 32);
	config_free(&cfg);

	setenv("SOTTO_MODERATION_THRESHOLD", "0.125", 1);
	setenv("SOTTO_MODERATION_RULES", "/dev/null", 1);
	setenv("SOTTO_MODERATION_CMD", "/usr/bin/python3 model.py --fast", 1);
	setenv("SOTTO_MODERATION_CMD_TIMEOUT_MS", "10", 1);
	setenv("SOTTO_MODERATION_BATCH", "1000", 1);
	load_ok(&cfg);
	assert_true(cfg.moderation_hold);
	assert_true(cfg.moderation_threshold > 0.125 - 1e-9 && cfg.moderation_threshold < 0.125 + 1e-9);
	assert_string_equal(cfg.moderation_rules, "/dev/null");
	assert_string_equal(cfg.moderation_cmd, "/usr/bin/python3 model.py --fast");
	assert_int_equal(cfg.moderation_cmd_timeout_ms, 10);
	assert_int_equal(cfg.moderation_batch, 1000);
	config_free(&cfg);

	setenv("SOTTO_MODERATION_THRESHOLD", "1", 1);
	load_ok(&cfg);
	assert_true(cfg.moderation_hold && cfg.moderation_threshold == 1);
	config_free(&cfg);
	setenv("SOTTO_MODERATION_THRESHOLD", "off", 1);
	load_ok(&cfg);
	assert_false(cfg.moderation_hold);
	config_free(&cfg);
}

/*
 * Reads from a standby: unset by default (every read on the primary); a
 * write's mark must outlive the lag a standby may have and still get reads.
 */
static void test_read_your_writes_must_outlast_the_lag_bound(void **state)
{
	struct config cfg;

	(void)state;
	set_required_env();
	load_ok(&cfg);
	assert_string_equal(cfg.database_read_url, "");
	assert_int_equal(cfg.read_max_lag_ms, 1000);
	assert_int_equal(cfg.read_your_writes_s, 5);
	config_free(&cfg);
	setenv("SOTTO_READ_MAX_LAG_MS", "2000", 1);
	setenv("SOTTO_READ_YOUR_WRITES_S", "2", 1);
	load_fails_naming("SOTTO_READ_YOUR_WRITES_S");
	setenv("SOTTO_READ_YOUR_WRITES_S", "3", 1);
	load_ok(&cfg);
	assert_int_equal(cfg.read_your_writes_s, 3);
	config_free(&cfg);
	setenv("SOTTO_READ_MAX_LAG_MS", "5001", 1);
	load_fails_naming("SOTTO_READ_MAX_LAG_MS");
	unsetenv("SOTTO_READ_MAX_LAG_MS");
	unsetenv("SOTTO_READ_YOUR_WRITES_S");
}

static void test_moderation_settings_out_of_range_refused(void **state)
{
	static const char *const bad_thresholds[] = {
		"0", "0.0", "1.5", "2", "-0.5", ".5", "0.", "0.1234567", "0,8", "on", " 0.8", "1e-1",
	};
	char words[40 * 3];

	(void)state;
	set_required_env();
	for (size_t i = 0; i < sizeof(bad_thresholds) / sizeof(bad_thresholds[0]); i++) {
		setenv("SOTTO_MODERATION_THRESHOLD", bad_thresholds[i], 1);
		load_fails_naming("SOTTO_MODERATION_THRESHOLD");
	}
	unsetenv("SOTTO_MODERATION_THRESHOLD");
	setenv("SOTTO_MODERATION_CMD_TIMEOUT_MS", "9", 1);
	load_fails_naming("SOTTO_MODERATION_CMD_TIMEOUT_MS");
	unsetenv("SOTTO_MODERATION_CMD_TIMEOUT_MS");
	setenv("SOTTO_MODERATION_BATCH", "0", 1);
	load_fails_naming("SOTTO_MODERATION_BATCH");
	unsetenv("SOTTO_MODERATION_BATCH");
	setenv("SOTTO_MODERATION_CMD", "   ", 1);
	load_fails_naming("SOTTO_MODERATION_CMD");
	words[0] = '\0';
	for (int i = 0; i < 33; i++)
		strcat(words, "ab ");
	setenv("SOTTO_MODERATION_CMD", words, 1);
	load_fails_naming("SOTTO_MODERATION_CMD");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_rate_parse_accepts_count_per_seconds),
		T(test_rate_parse_zero_count_or_off_disables_class),
		T(test_rate_parse_rejects_zero_second_window),
		T(test_rate_parse_rejects_malformed_text),
		T(test_rate_parse_rejects_overflow),
		T(test_rate_parse_rejects_whitespace),
		T(test_decode_secret_accepts_standard_base64_with_or_without_padding),
		T(test_decode_secret_accepts_url_safe_base64),
		T(test_decode_secret_accepts_hex_in_either_case),
		T(test_decode_secret_rejects_malformed_or_oversized_text),
		T(test_secret_strength_rejects_32_zero_bytes),
		T(test_secret_strength_accepts_random_32_bytes),
		T(test_secret_strength_rejects_31_random_bytes),
		T(test_secret_strength_rejects_short_repeating_pattern),
		T(test_every_listed_default_is_a_valid_value_of_its_setting),
		T(test_load_applies_defaults_when_only_required_settings_given),
		T(test_env_file_comments_quotes_and_export_are_understood),
		T(test_env_file_secrets_are_read),
		T(test_env_file_malformed_line_is_reported_by_number),
		T(test_env_file_error_does_not_echo_a_secret),
		T(test_env_file_missing_or_oversized_is_an_error),
		T(test_env_file_world_readable_with_secrets_refused_outside_dev),
		T(test_env_file_world_readable_accepted_in_dev),
		T(test_environment_beats_env_file),
		T(test_credentials_beat_environment_and_lose_trailing_newline),
		T(test_missing_database_url_is_an_error),
		T(test_missing_or_malformed_redis_url_is_an_error),
		T(test_redis_sentinels_replace_redis_url_and_need_a_master_name),
		T(test_redis_url_takes_credentials_and_never_echoes_them),
		T(test_weak_secret_refused_outside_dev_without_echoing_it),
		T(test_weak_secret_accepted_in_dev_mode),
		T(test_missing_secret_refused_even_in_dev_mode),
		T(test_content_keys_newest_version_is_chosen),
		T(test_content_keys_duplicate_version_refused),
		T(test_content_keys_malformed_items_refused),
		T(test_content_key_limit_is_enforced),
		T(test_cors_origins_allow_exact_matches_only),
		T(test_cors_origins_invalid_entries_refused),
		T(test_cors_origin_limit_is_enforced),
		T(test_public_origin_is_one_https_origin),
		T(test_unknown_rate_class_or_pow_action_refused),
		T(test_rate_and_pow_settings_are_applied_and_checked),
		T(test_numeric_settings_out_of_range_refused),
		T(test_numeric_settings_accept_their_bounds),
		T(test_admin_token_must_be_long_outside_dev_and_empty_disables),
		T(test_listen_path_longer_than_sockaddr_refused),
		T(test_config_reloads_twice_in_one_process),
		T(test_config_free_is_safe_on_zeroed_and_freed_config_and_wipes_keys),
		T(test_class_and_action_names_match_variable_suffixes),
		T(test_moderation_settings_defaults_and_values),
		T(test_moderation_settings_out_of_range_refused),
		T(test_flag_hold_weight_default_decimal_and_bounds),
		T(test_read_your_writes_must_outlast_the_lag_bound),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
