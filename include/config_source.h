/*
 * config_source.h — where setting values come from, before any of them
 * is validated (config.c does that, row by row).
 *
 * Precedence, highest first: $CREDENTIALS_DIRECTORY/<NAME> (systemd
 * LoadCredential=, secret names only), the process environment, the env
 * file named by SOTTO_ENV_FILE (taken from the environment only). The
 * built-in default is config.c's business.
 *
 * Conventions for values:
 * - A variable set to the empty string counts as not set: defaults apply,
 *   required settings are missing, admin tokens are disabled. A higher
 *   source that sets "" still hides a lower one.
 * - Error lines name the variable and never repeat its value.
 */
#ifndef SOTTO_CONFIG_SOURCE_H
#define SOTTO_CONFIG_SOURCE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CONFIG_SOURCE_SECRETS_MAX 16   /* names that may come from credential files */

struct config_source_var {
	const char *name;   /* both point into file_buf */
	const char *value;
};

/* Everything read before validation; config_source_close wipes it. */
struct config_source {
	char *file_buf;               /* env file text, split in place */
	size_t file_alloc;
	mode_t file_mode;
	struct config_source_var *file_vars;   /* in file order; the last one of a name wins */
	size_t n_file_vars;
	const char *const *secret_names;       /* the caller's, outliving the source */
	size_t n_secret_names;
	char *cred[CONFIG_SOURCE_SECRETS_MAX]; /* credential file contents, or NULL */
	size_t cred_alloc[CONFIG_SOURCE_SECRETS_MAX];
	char *err;                    /* the caller's error buffer */
	size_t errlen;
};

/*
 * Read the env file and the credential files of secret_names[0..n) into
 * src (zeroed first). Errors go to err as one line. 0, or -1 with err
 * set; either way the caller calls config_source_close.
 */
int config_source_open(struct config_source *src, const char *const *secret_names, size_t n,
                       char *err, size_t errlen) __attribute__((warn_unused_result));

/* Wipe and free everything src read. */
void config_source_close(struct config_source *src);

/*
 * The value of name under the precedence above, "" folded into NULL (not
 * set). The pointer lives until src is closed or the environment changes.
 */
const char *config_source_get(const struct config_source *src, const char *name);

/*
 * An env file that anyone may rewrite decides the settings, and one that
 * anyone may read leaks the secrets in it: both are errors unless dev
 * (then logged). 0 or -1 with the error set.
 */
int config_source_check_mode(struct config_source *src, bool dev)
    __attribute__((warn_unused_result));

/*
 * Call check(src, name, len) for every variable name of the environment
 * and of the env file, stopping at the first that returns non-zero.
 */
int config_source_each_name(struct config_source *src,
                            int (*check)(struct config_source *src, const char *name,
                                         size_t len)) __attribute__((warn_unused_result));

/* Write one line into the caller's error buffer; returns -1 (for `return ...fail(...)`). */
int config_source_fail(struct config_source *src, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int config_source_vfail(struct config_source *src, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

#endif
