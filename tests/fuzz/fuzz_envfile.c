/*
 * libFuzzer target: the env file (SOTTO_ENV_FILE) and every setting read
 * from it. Each input is written as the file (a memfd, mode 0600, opened
 * by config_load through /proc/self/fd) and loaded with nothing else set:
 * config_load never crashes or leaks; it fails with a one-line message,
 * or succeeds with a configuration inside the documented bounds (secrets
 * of CONFIG_SECRET_MIN bytes or more, except in the development mode).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int env_fd = -1;

/* The variables of the caller that config_load would read besides the file. */
static void clean_environment(void)
{
	static const char *const keep[] = { "PATH", "HOME", "ASAN_OPTIONS", "UBSAN_OPTIONS",
	                                    "LSAN_OPTIONS" };
	char **copy;
	size_t n = 0;

	for (char **e = environ; *e != NULL; e++)
		n++;
	copy = calloc(n + 1, sizeof(*copy));
	if (copy == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		copy[i] = environ[i];
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(copy[i], '=');
		size_t len = eq != NULL ? (size_t)(eq - copy[i]) : strlen(copy[i]);
		bool kept = false;
		char name[256];

		for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++)
			kept |= strlen(keep[k]) == len && strncmp(keep[k], copy[i], len) == 0;
		if (kept || len >= sizeof(name))
			continue;
		memcpy(name, copy[i], len);
		name[len] = '\0';
		unsetenv(name);
	}
	free(copy);
}

static void setup(void)
{
	char path[64];

	clean_environment();
	env_fd = memfd_create("sotto-fuzz-env", MFD_CLOEXEC);
	if (env_fd < 0 || fchmod(env_fd, 0600) != 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", env_fd);
	if (setenv("SOTTO_ENV_FILE", path, 1) != 0)
		abort();
}

static void check_loaded(const struct config *cfg)
{
	/* SOTTO_DEV=1 takes a weak secret with a warning, never an empty one. */
	const size_t secret_min = cfg->dev ? 1 : CONFIG_SECRET_MIN;

	if (cfg->database_url == NULL || cfg->redis_url == NULL || cfg->listen_path == NULL ||
	    cfg->workers < 2 || cfg->workers > 64 || cfg->body_max_bytes < 1024 ||
	    cfg->json_max_depth < 1 || cfg->n_cors_origins > CONFIG_MAX_ORIGINS ||
	    cfg->n_content_keys > CONFIG_MAX_CONTENT_KEYS ||
	    cfg->jwt_secret_len < secret_min || cfg->jwt_secret_len > sizeof(cfg->jwt_secret) ||
	    cfg->ip_hmac_key_len < secret_min || cfg->ip_hmac_key_len > sizeof(cfg->ip_hmac_key) ||
	    cfg->admin_review_token == NULL || cfg->admin_ui_token == NULL)
		__builtin_trap();
	for (int c = 0; c < RATE__MAX; c++)
		if (cfg->rate[c].count > 0 && cfg->rate[c].seconds == 0)
			__builtin_trap();
	for (int p = 0; p < POW__MAX; p++)
		if (cfg->pow[p] < 0 || cfg->pow[p] > 32)
			__builtin_trap();
	for (size_t i = 0; i < cfg->n_cors_origins; i++)
		if (cfg->cors_origins[i] == NULL)
			__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	char err[256];

	if (env_fd < 0)
		setup();
	if (ftruncate(env_fd, 0) != 0 || pwrite(env_fd, data, size, 0) != (ssize_t)size)
		abort();
	if (config_load(&cfg, err, sizeof(err)) == 0) {
		check_loaded(&cfg);
		config_free(&cfg);
	} else if (err[0] == '\0' || memchr(err, '\n', strnlen(err, sizeof(err))) != NULL) {
		__builtin_trap(); /* every refusal says why, on one line */
	}
	return 0;
}
