/*
 * config.c — settings from built-in defaults, the env file named by
 * SOTTO_ENV_FILE, the process environment and systemd credentials
 * ($CREDENTIALS_DIRECTORY/<NAME>, secret names only), in that order of
 * precedence. Every setting is read through lookup(), so they all follow
 * the same rules; every value is validated here, once, so the rest of the
 * program can trust struct config.
 *
 * Conventions for values:
 * - A variable set to the empty string counts as not set: defaults apply,
 *   required settings are missing, admin tokens are disabled. A higher
 *   source that sets "" still hides a lower one.
 * - Numbers are plain decimal digits: no sign, no spaces, no suffix.
 * - Error lines name the variable and never repeat its value.
 */
#include "cache.h"
#include "config.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#define ENV_FILE_MAX (1024 * 1024)   /* bytes; a settings file is tiny */
#define CRED_FILE_MAX (64 * 1024)
#define RATE_COUNT_MAX 100000000u
#define RATE_SECONDS_MAX 31536000u   /* one year */
#define POW_BITS_MAX 32
#define ADMIN_TOKEN_MIN 32           /* characters, outside dev mode */
#define ADMIN_TOKEN_MAX 1024
/* Stored in PostgreSQL integer columns next to wrapped keys: keep it in int4. */
#define CONTENT_KEY_VERSION_MAX ((uint64_t)INT32_MAX)
#define VAR_NAME_MAX 128

static const char *const rate_names[RATE__MAX] = {
	[RATE_GLOBAL] = "GLOBAL", [RATE_REGISTER] = "REGISTER", [RATE_LOGIN] = "LOGIN",
	[RATE_POST] = "POST",     [RATE_VOTE] = "VOTE",         [RATE_FLAG] = "FLAG",
	[RATE_DM] = "DM",         [RATE_COMMUNITY] = "COMMUNITY",
};

static const struct rate_limit rate_defaults[RATE__MAX] = {
	[RATE_GLOBAL] = {300, 60},   [RATE_REGISTER] = {5, 3600}, [RATE_LOGIN] = {10, 60},
	[RATE_POST] = {30, 3600},    [RATE_VOTE] = {120, 60},     [RATE_FLAG] = {30, 3600},
	[RATE_DM] = {60, 60},        [RATE_COMMUNITY] = {5, 86400},
};

static const char *const pow_names[POW__MAX] = {
	[POW_REGISTER] = "register", [POW_LOGIN] = "login", [POW_POST] = "post",
	[POW_REPLY] = "reply",       [POW_VOTE] = "vote",   [POW_FLAG] = "flag",
	[POW_DM] = "dm",             [POW_COMMUNITY] = "community",
};

static const int pow_defaults[POW__MAX] = {
	[POW_REGISTER] = 18, [POW_LOGIN] = 0, [POW_POST] = 16, [POW_REPLY] = 14,
	[POW_VOTE] = 0,      [POW_FLAG] = 14, [POW_DM] = 14,   [POW_COMMUNITY] = 18,
};

/* The names that may also come from $CREDENTIALS_DIRECTORY. */
static const char *const secret_names[] = {
	"JWT_SECRET", "IP_HMAC_KEY", "CONTENT_KEYS", "ADMIN_REVIEW_TOKEN",
	"ADMIN_UI_TOKEN", "DATABASE_URL", "REDIS_URL",
};
#define N_SECRET_NAMES (sizeof(secret_names) / sizeof(secret_names[0]))

struct env_var {
	const char *name;   /* both point into loader.file_buf */
	const char *value;
};

/* Everything config_load reads before validating; wiped when done. */
struct loader {
	char *file_buf;               /* env file text, split in place */
	size_t file_alloc;
	mode_t file_mode;
	struct env_var *file_vars;    /* in file order; the last one of a name wins */
	size_t n_file_vars;
	char *cred[N_SECRET_NAMES];   /* credential file contents, or NULL */
	size_t cred_alloc[N_SECRET_NAMES];
	bool dev;
	char *err;
	size_t errlen;
};

/* Write one line into the caller's error buffer; returns -1 for `return fail(...)`. */
static int fail(struct loader *ld, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(struct loader *ld, const char *fmt, ...)
{
	va_list ap;

	if (ld->err != NULL && ld->errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(ld->err, ld->errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_space(char c) { return c == ' ' || c == '\t'; }

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static char to_upper(char c) { return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c; }

static int secret_index(const char *name)
{
	for (size_t i = 0; i < N_SECRET_NAMES; i++)
		if (strcmp(secret_names[i], name) == 0)
			return (int)i;
	return -1;
}

/* Free a string after wiping it (URLs and tokens may hold passwords). */
static void free_str(char **p)
{
	if (*p != NULL) {
		sodium_memzero(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

/*
 * The value of name under the documented precedence: credential file (secret
 * names only), then the environment, then the env file. NULL when no source
 * sets it. The pointer lives until the loader is freed or the environment changes.
 */
static const char *lookup(const struct loader *ld, const char *name)
{
	int si = secret_index(name);
	const char *v;

	if (si >= 0 && ld->cred[si] != NULL)
		return ld->cred[si];
	v = getenv(name);
	if (v != NULL)
		return v;
	for (size_t i = ld->n_file_vars; i > 0; i--)
		if (strcmp(ld->file_vars[i - 1].name, name) == 0)
			return ld->file_vars[i - 1].value;
	return NULL;
}

/* lookup() with "" folded into "not set". */
static const char *lookup_set(const struct loader *ld, const char *name)
{
	const char *v = lookup(ld, name);

	return (v != NULL && v[0] != '\0') ? v : NULL;
}

/* Strict decimal s[0..len) into [0,max]: digits only, no sign or space. */
static int parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (!is_digit(s[i]))
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/*
 * Read a whole regular file of at most cap bytes into a NUL-terminated heap
 * buffer (*alloc bytes, to be wiped and freed by the caller). -1 with errno
 * set: ENOENT and friends from open, EINVAL not a regular file or holds a
 * NUL byte, EFBIG too large or growing while read.
 */
static int read_file_capped(const char *path, size_t cap, char **out, size_t *len,
                            size_t *alloc, mode_t *mode)
{
	struct stat st;
	char *buf = NULL;
	size_t size = 0, got = 0;
	int fd, rc = -1, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0)
		goto out;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto out;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > cap) {
		errno = EFBIG;
		goto out;
	}
	size = (size_t)st.st_size + 2;  /* one byte to notice growth, one for NUL */
	buf = malloc(size);
	if (buf == NULL)
		goto out;
	while (got < size - 1) {
		ssize_t n = read(fd, buf + got, size - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > (size_t)st.st_size) {
		errno = EFBIG;
		goto out;
	}
	buf[got] = '\0';
	if (memchr(buf, '\0', got) != NULL) {
		errno = EINVAL;
		goto out;
	}
	*out = buf;
	*len = got;
	*alloc = size;
	if (mode != NULL)
		*mode = st.st_mode;
	buf = NULL;
	rc = 0;
out:
	saved = errno;
	if (buf != NULL) {
		sodium_memzero(buf, size);
		free(buf);
	}
	close(fd);
	errno = saved;
	return rc;
}

/*
 * Split the env file text in place into name/value pairs. Accepted lines:
 * blank, "# comment", [export ]NAME=VALUE with NAME [A-Za-z_][A-Za-z0-9_]*.
 * VALUE is trimmed; a value wholly inside '...' or "..." loses the quotes
 * and is otherwise taken literally (no escapes, no inline comments).
 */
static int env_file_parse(struct loader *ld, char *text)
{
	size_t n_lines = 1, line_no = 0;
	char *line = text;

	for (const char *c = text; *c != '\0'; c++)
		n_lines += (*c == '\n');
	ld->file_vars = calloc(n_lines, sizeof(*ld->file_vars));
	if (ld->file_vars == NULL)
		return fail(ld, "env file (SOTTO_ENV_FILE): out of memory");

	while (line != NULL) {
		char *next = strchr(line, '\n');
		char *p = line, *name, *value, *end;
		size_t vlen;

		line_no++;
		if (next != NULL)
			*next++ = '\0';
		line = next;

		end = p + strlen(p);
		while (end > p && (end[-1] == '\r' || is_space(end[-1])))
			*--end = '\0';
		while (is_space(*p))
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		if (strncmp(p, "export", 6) == 0 && is_space(p[6])) {
			p += 6;
			while (is_space(*p))
				p++;
		}

		name = p;
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_'))
			return fail(ld, "env file (SOTTO_ENV_FILE) line %zu: expected NAME=VALUE", line_no);
		while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || is_digit(*p) || *p == '_')
			p++;
		if (*p != '=')
			return fail(ld, "env file (SOTTO_ENV_FILE) line %zu: expected NAME=VALUE", line_no);
		*p++ = '\0';
		while (is_space(*p))
			p++;
		value = p;
		vlen = strlen(value);
		if (vlen > 0 && (value[0] == '"' || value[0] == '\'')) {
			char q = value[0];

			if (vlen < 2 || value[vlen - 1] != q || memchr(value + 1, q, vlen - 2) != NULL)
				return fail(ld, "env file (SOTTO_ENV_FILE) line %zu: unbalanced quotes in %.64s",
				            line_no, name);
			value[vlen - 1] = '\0';
			value++;
		}
		ld->file_vars[ld->n_file_vars].name = name;
		ld->file_vars[ld->n_file_vars].value = value;
		ld->n_file_vars++;
	}
	return 0;
}

/* Load SOTTO_ENV_FILE (taken from the environment only) when it is set. */
static int env_file_load(struct loader *ld)
{
	const char *path = getenv("SOTTO_ENV_FILE");
	size_t len;

	if (path == NULL || path[0] == '\0')
		return 0;
	if (read_file_capped(path, ENV_FILE_MAX, &ld->file_buf, &len, &ld->file_alloc,
	                     &ld->file_mode) != 0) {
		if (errno == EFBIG)
			return fail(ld, "env file (SOTTO_ENV_FILE): larger than %d bytes", ENV_FILE_MAX);
		if (errno == EINVAL)
			return fail(ld, "env file (SOTTO_ENV_FILE): not a regular text file");
		return fail(ld, "env file (SOTTO_ENV_FILE): cannot read: %s", strerror(errno));
	}
	return env_file_parse(ld, ld->file_buf);
}

/*
 * A file that anyone may rewrite decides our settings, and one that anyone
 * may read leaks the secrets in it: refuse both outside dev mode.
 */
static int env_file_check_mode(struct loader *ld)
{
	bool holds_secret = false;

	if (ld->file_buf == NULL)
		return 0;
	for (size_t i = 0; i < ld->n_file_vars; i++)
		holds_secret |= secret_index(ld->file_vars[i].name) >= 0 &&
		                ld->file_vars[i].value[0] != '\0';
	if (ld->file_mode & S_IWOTH) {
		if (!ld->dev)
			return fail(ld, "env file (SOTTO_ENV_FILE) is world-writable; chmod 600 it");
		log_msg(LOG_WARN, "env file is world-writable; accepted because SOTTO_DEV=1");
	}
	if (ld->file_mode & S_IROTH) {
		if (holds_secret && !ld->dev)
			return fail(ld, "env file (SOTTO_ENV_FILE) holds secrets and is world-readable; chmod 600 it");
		log_msg(LOG_WARN, "env file is world-readable");
	}
	return 0;
}

/* Read $CREDENTIALS_DIRECTORY/<NAME> for each secret name; missing files are fine. */
static int credentials_load(struct loader *ld)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");

	if (dir == NULL || dir[0] == '\0')
		return 0;
	for (size_t i = 0; i < N_SECRET_NAMES; i++) {
		char path[PATH_MAX];
		size_t len;
		int n = snprintf(path, sizeof(path), "%s/%s", dir, secret_names[i]);

		if (n < 0 || (size_t)n >= sizeof(path))
			return fail(ld, "CREDENTIALS_DIRECTORY: path too long");
		if (read_file_capped(path, CRED_FILE_MAX, &ld->cred[i], &len, &ld->cred_alloc[i],
		                     NULL) != 0) {
			if (errno == ENOENT)
				continue;
			if (errno == EFBIG)
				return fail(ld, "credential %s: larger than %d bytes", secret_names[i],
				            CRED_FILE_MAX);
			if (errno == EINVAL)
				return fail(ld, "credential %s: not a regular text file", secret_names[i]);
			return fail(ld, "credential %s: cannot read: %s", secret_names[i], strerror(errno));
		}
		while (len > 0 && (ld->cred[i][len - 1] == '\n' || ld->cred[i][len - 1] == '\r'))
			ld->cred[i][--len] = '\0';
	}
	return 0;
}

static void loader_free(struct loader *ld)
{
	if (ld->file_buf != NULL) {
		sodium_memzero(ld->file_buf, ld->file_alloc);
		free(ld->file_buf);
	}
	free(ld->file_vars);
	for (size_t i = 0; i < N_SECRET_NAMES; i++) {
		if (ld->cred[i] != NULL) {
			sodium_memzero(ld->cred[i], ld->cred_alloc[i]);
			free(ld->cred[i]);
		}
	}
	sodium_memzero(ld, sizeof(*ld));
}

/* Typo protection: SOTTO_RATE_<X> and SOTTO_POW_<X> must name a known class/action. */
static int check_var_name(struct loader *ld, const char *name, size_t len)
{
	static const char rate_prefix[] = "SOTTO_RATE_", pow_prefix[] = "SOTTO_POW_";
	const size_t rl = sizeof(rate_prefix) - 1, pl = sizeof(pow_prefix) - 1;

	if (len >= rl && strncmp(name, rate_prefix, rl) == 0) {
		for (int c = 0; c < RATE__MAX; c++)
			if (strlen(rate_names[c]) == len - rl && strncmp(name + rl, rate_names[c], len - rl) == 0)
				return 0;
		return fail(ld, "%.*s: unknown rate class (known: GLOBAL REGISTER LOGIN POST VOTE "
		            "FLAG DM COMMUNITY)", (int)(len < VAR_NAME_MAX ? len : VAR_NAME_MAX), name);
	}
	if (len >= pl && strncmp(name, pow_prefix, pl) == 0) {
		for (int a = 0; a < POW__MAX; a++) {
			const char *an = pow_names[a];
			size_t k = 0;

			while (an[k] != '\0' && pl + k < len && to_upper(an[k]) == name[pl + k])
				k++;
			if (an[k] == '\0' && pl + k == len)
				return 0;
		}
		return fail(ld, "%.*s: unknown proof-of-work action (known: REGISTER LOGIN POST "
		            "REPLY VOTE FLAG DM COMMUNITY)",
		            (int)(len < VAR_NAME_MAX ? len : VAR_NAME_MAX), name);
	}
	return 0;
}

static int check_var_names(struct loader *ld)
{
	for (char **e = environ; e != NULL && *e != NULL; e++) {
		const char *eq = strchr(*e, '=');
		size_t len = eq != NULL ? (size_t)(eq - *e) : strlen(*e);

		if (check_var_name(ld, *e, len) != 0)
			return -1;
	}
	for (size_t i = 0; i < ld->n_file_vars; i++)
		if (check_var_name(ld, ld->file_vars[i].name, strlen(ld->file_vars[i].name)) != 0)
			return -1;
	return 0;
}

/* A whole number setting in [min,max]; def when not set. */
static int read_number(struct loader *ld, const char *name, uint64_t def, uint64_t min,
                       uint64_t max, uint64_t *out)
{
	const char *v = lookup_set(ld, name);

	if (v == NULL) {
		*out = def;
		return 0;
	}
	if (parse_u64(v, strlen(v), max, out) != 0 || *out < min)
		return fail(ld, "%s: expected a whole number from %llu to %llu", name,
		            (unsigned long long)min, (unsigned long long)max);
	return 0;
}

static int read_int(struct loader *ld, const char *name, int def, int min, int max, int *out)
{
	uint64_t v;

	if (read_number(ld, name, (uint64_t)def, (uint64_t)min, (uint64_t)max, &v) != 0)
		return -1;
	*out = (int)v;
	return 0;
}

/* A copy of the setting (or of def) into *out. required: missing is an error. */
static int read_string(struct loader *ld, const char *name, const char *def, bool required,
                       char **out)
{
	const char *v = lookup_set(ld, name);

	if (v == NULL && required)
		return fail(ld, "%s is required", name);
	if (v == NULL)
		v = def;
	for (const char *c = v; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return fail(ld, "%s: contains a control character", name);
	*out = strdup(v);
	if (*out == NULL)
		return fail(ld, "%s: out of memory", name);
	return 0;
}

/* Master key material: required in every mode; weak is an error outside dev. */
static int read_secret(struct loader *ld, const char *name, unsigned char *out, size_t cap,
                       size_t *outlen)
{
	const char *v = lookup_set(ld, name);

	if (v == NULL)
		return fail(ld, "%s is required (%d+ random bytes as base64 or hex, e.g. "
		            "`openssl rand -base64 32`)", name, CONFIG_SECRET_MIN);
	if (config_decode_secret(v, out, cap, outlen) != 0)
		return fail(ld, "%s: not base64 or hex, or longer than %zu bytes", name, cap);
	if (!config_secret_strong(out, *outlen)) {
		if (!ld->dev)
			return fail(ld, "%s is weak: need at least %d random bytes", name,
			            CONFIG_SECRET_MIN);
		log_msg(LOG_WARN, "%s is weak; accepted because SOTTO_DEV=1", name);
	}
	return 0;
}

/* CONTENT_KEYS: "<version>:<key>[,...]", versions unique in 1..INT32_MAX, 32-byte keys. */
static int read_content_keys(struct loader *ld, struct config *cfg)
{
	const char *v = lookup_set(ld, "CONTENT_KEYS");
	unsigned char tmp[64];
	char *copy = NULL, *item, *save = NULL;
	size_t copylen = 0, item_no = 0;
	int rc = -1;

	if (v == NULL) {
		rc = fail(ld, "CONTENT_KEYS is required (e.g. 1:<32 random bytes as base64>)");
		goto out;
	}
	copylen = strlen(v);
	copy = strdup(v);
	if (copy == NULL) {
		rc = fail(ld, "CONTENT_KEYS: out of memory");
		goto out;
	}
	/* strtok_r would merge empty items; walk the commas by hand. */
	for (item = copy; item != NULL; item = save) {
		char *colon, *end;
		uint64_t version;
		size_t keylen;

		item_no++;
		save = strchr(item, ',');
		if (save != NULL)
			*save++ = '\0';
		while (is_space(*item))
			item++;
		end = item + strlen(item);
		while (end > item && is_space(end[-1]))
			*--end = '\0';
		colon = strchr(item, ':');
		if (colon == NULL) {
			rc = fail(ld, "CONTENT_KEYS: item %zu is not <version>:<key>", item_no);
			goto out;
		}
		if (parse_u64(item, (size_t)(colon - item), CONTENT_KEY_VERSION_MAX, &version) != 0 ||
		    version == 0) {
			rc = fail(ld, "CONTENT_KEYS: item %zu: version must be a whole number from 1 to %llu",
			          item_no, (unsigned long long)CONTENT_KEY_VERSION_MAX);
			goto out;
		}
		if (config_decode_secret(colon + 1, tmp, sizeof(tmp), &keylen) != 0 ||
		    keylen != sizeof(cfg->content_keys[0].key)) {
			rc = fail(ld, "CONTENT_KEYS: key version %llu must be exactly 32 bytes as base64 or hex",
			          (unsigned long long)version);
			goto out;
		}
		for (size_t k = 0; k < cfg->n_content_keys; k++) {
			if (cfg->content_keys[k].version == version) {
				rc = fail(ld, "CONTENT_KEYS: version %llu appears twice",
				          (unsigned long long)version);
				goto out;
			}
		}
		if (cfg->n_content_keys == CONFIG_MAX_CONTENT_KEYS) {
			rc = fail(ld, "CONTENT_KEYS: more than %d keys", CONFIG_MAX_CONTENT_KEYS);
			goto out;
		}
		if (!config_secret_strong(tmp, keylen)) {
			if (!ld->dev) {
				rc = fail(ld, "CONTENT_KEYS: key version %llu is weak: need 32 random bytes",
				          (unsigned long long)version);
				goto out;
			}
			log_msg(LOG_WARN, "CONTENT_KEYS key version %llu is weak; accepted because SOTTO_DEV=1",
			        (unsigned long long)version);
		}
		cfg->content_keys[cfg->n_content_keys].version = (uint32_t)version;
		memcpy(cfg->content_keys[cfg->n_content_keys].key, tmp, keylen);
		cfg->n_content_keys++;
	}
	rc = 0;
out:
	sodium_memzero(tmp, sizeof(tmp));
	if (copy != NULL) {
		sodium_memzero(copy, copylen);
		free(copy);
	}
	return rc;
}

/* Admin tokens: "" disables the route family; otherwise long and printable. */
static int read_token(struct loader *ld, const char *name, char **out)
{
	const char *v = lookup_set(ld, name);
	bool seen[128] = {false};
	size_t len, distinct = 0;

	if (v == NULL)
		v = "";
	len = strlen(v);
	if (len > ADMIN_TOKEN_MAX)
		return fail(ld, "%s: longer than %d characters", name, ADMIN_TOKEN_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x21 || c > 0x7e)
			return fail(ld, "%s: must be printable ASCII without spaces", name);
		distinct += !seen[c];
		seen[c] = true;
	}
	if (len > 0 && (len < ADMIN_TOKEN_MIN || distinct < 8)) {
		if (!ld->dev)
			return fail(ld, "%s is weak: need at least %d random characters (or leave it "
			            "empty to disable those routes)", name, ADMIN_TOKEN_MIN);
		log_msg(LOG_WARN, "%s is weak; accepted because SOTTO_DEV=1", name);
	}
	*out = strdup(v);
	if (*out == NULL)
		return fail(ld, "%s: out of memory", name);
	return 0;
}

/* One DNS label run "a.b-c.d" or a bracketed IPv6 literal, lower case as browsers send it. */
static bool origin_host_valid(const char *h, size_t len)
{
	size_t label = 0;

	if (len == 0)
		return false;
	if (h[0] == '[') {
		if (len < 4 || h[len - 1] != ']')
			return false;
		for (size_t i = 1; i + 1 < len; i++)
			if (!(is_digit(h[i]) || (h[i] >= 'a' && h[i] <= 'f') || h[i] == ':' || h[i] == '.'))
				return false;
		return true;
	}
	if (len > 253)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? h[i] : '.';

		if (c == '.') {
			if (label == 0 || label > 63 || h[i - 1] == '-')
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || is_digit(c) || (c == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

/*
 * An origin as a browser serializes it (RFC 6454 section 6.1): http or
 * https, lower-case host, a port only when it is not the scheme's default,
 * nothing after. Anything else could never match the Origin header.
 */
static bool origin_valid(const char *s)
{
	const char *host, *port = NULL, *bracket;
	size_t hostlen;
	uint64_t portnum, default_port;

	if (strncmp(s, "https://", 8) == 0) {
		host = s + 8;
		default_port = 443;
	} else if (strncmp(s, "http://", 7) == 0) {
		host = s + 7;
		default_port = 80;
	} else {
		return false;
	}
	bracket = host[0] == '[' ? strchr(host, ']') : host;
	if (bracket == NULL)
		return false;
	port = strchr(bracket, ':');
	hostlen = port != NULL ? (size_t)(port - host) : strlen(host);
	if (!origin_host_valid(host, hostlen))
		return false;
	if (port == NULL)
		return true;
	port++;
	if (port[0] == '0' || parse_u64(port, strlen(port), 65535, &portnum) != 0 || portnum == 0)
		return false;
	return portnum != default_port;
}

static int read_cors(struct loader *ld, struct config *cfg)
{
	const char *v = lookup_set(ld, "SOTTO_CORS_ORIGINS");
	char *copy, *item, *next;
	size_t item_no = 0;
	int rc = -1;

	if (v == NULL)
		return 0;
	copy = strdup(v);
	if (copy == NULL)
		return fail(ld, "SOTTO_CORS_ORIGINS: out of memory");
	for (item = copy; item != NULL; item = next) {
		char *end;

		item_no++;
		next = strchr(item, ',');
		if (next != NULL)
			*next++ = '\0';
		while (is_space(*item))
			item++;
		end = item + strlen(item);
		while (end > item && is_space(end[-1]))
			*--end = '\0';
		if (!origin_valid(item)) {
			rc = fail(ld, "SOTTO_CORS_ORIGINS: item %zu is not an origin like "
			          "https://app.example (scheme://host[:port], lower case, no path, "
			          "no default port)", item_no);
			goto out;
		}
		if (config_origin_allowed(cfg, item)) {
			rc = fail(ld, "SOTTO_CORS_ORIGINS: item %zu repeats an earlier origin", item_no);
			goto out;
		}
		if (cfg->n_cors_origins == CONFIG_MAX_ORIGINS) {
			rc = fail(ld, "SOTTO_CORS_ORIGINS: more than %d origins", CONFIG_MAX_ORIGINS);
			goto out;
		}
		cfg->cors_origins[cfg->n_cors_origins] = strdup(item);
		if (cfg->cors_origins[cfg->n_cors_origins] == NULL) {
			rc = fail(ld, "SOTTO_CORS_ORIGINS: out of memory");
			goto out;
		}
		cfg->n_cors_origins++;
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

static int read_abuse(struct loader *ld, struct config *cfg)
{
	char name[VAR_NAME_MAX];

	for (int c = 0; c < RATE__MAX; c++) {
		const char *v;

		snprintf(name, sizeof(name), "SOTTO_RATE_%s", rate_names[c]);
		v = lookup_set(ld, name);
		cfg->rate[c] = rate_defaults[c];
		if (v != NULL && config_parse_rate(v, &cfg->rate[c]) != 0)
			return fail(ld, "%s: expected count/seconds (count 0..%u, seconds 1..%u) or off",
			            name, RATE_COUNT_MAX, RATE_SECONDS_MAX);
	}
	for (int a = 0; a < POW__MAX; a++) {
		size_t k = strlen("SOTTO_POW_");

		memcpy(name, "SOTTO_POW_", k);
		for (const char *p = pow_names[a]; *p != '\0'; p++)
			name[k++] = to_upper(*p);
		name[k] = '\0';
		if (read_int(ld, name, pow_defaults[a], 0, POW_BITS_MAX, &cfg->pow[a]) != 0)
			return -1;
	}
	if (read_int(ld, "SOTTO_GUARD_MAX_LINKS", 3, 0, 1000, &cfg->guard_max_links) != 0 ||
	    read_string(ld, "SOTTO_GUARD_BLOCKLIST", "", false, &cfg->guard_blocklist) != 0 ||
	    read_int(ld, "SOTTO_GUARD_REPEAT_WINDOW", 600, 0, 86400 * 7,
	             &cfg->guard_repeat_window_s) != 0 ||
	    read_int(ld, "SOTTO_FEED_SNAPSHOT_SHARE", 10, 0, 300, &cfg->feed_snapshot_share_s) != 0)
		return -1;
	if (read_int(ld, "SOTTO_ADAPTIVE_POW_MIN_RATE", 60, 1, 1000000,
	             &cfg->pow_adapt_min_rate) != 0 ||
	    read_int(ld, "SOTTO_ADAPTIVE_POW_MAX_EXTRA", 8, 0, 16, &cfg->pow_adapt_max_extra) != 0)
		return -1;
	return read_int(ld, "SOTTO_POST_MAX_CHARS", 4000, 1, 100000, &cfg->post_max_chars);
}

/* ---- moderation (issue 5) ---- */

#define FLAG_HOLD_WEIGHT_DEFAULT 1.5   /* three flags of neutral trust (0.5) */
#define FLAG_HOLD_WEIGHT_MIN 0.01
#define FLAG_HOLD_WEIGHT_MAX 1000.0

/* SOTTO_FLAG_HOLD_WEIGHT: a plain decimal number ("1.5": digits, at most one '.'). */
static int read_moderation(struct loader *ld, struct config *cfg)
{
	const char *v = lookup_set(ld, "SOTTO_FLAG_HOLD_WEIGHT");
	const char *dot;
	char *end = NULL;
	double w = 0;

	cfg->flag_hold_weight = FLAG_HOLD_WEIGHT_DEFAULT;
	if (v == NULL)
		return 0;
	dot = strchr(v, '.');
	if (v[0] != '.' && v[strlen(v) - 1] != '.' && strlen(v) <= 16 &&
	    strspn(v, "0123456789.") == strlen(v) && (dot == NULL || strchr(dot + 1, '.') == NULL))
		w = strtod(v, &end);
	if (end == NULL || *end != '\0' || !(w >= FLAG_HOLD_WEIGHT_MIN && w <= FLAG_HOLD_WEIGHT_MAX))
		return fail(ld, "SOTTO_FLAG_HOLD_WEIGHT: expected a decimal number from %.2f to %.0f",
		            FLAG_HOLD_WEIGHT_MIN, FLAG_HOLD_WEIGHT_MAX);
	cfg->flag_hold_weight = w;
	return 0;
}

/* ---- end moderation ---- */

/* ---- automatic moderation (`sotto moderate`) ---- */

/*
 * SOTTO_MODERATION_THRESHOLD: "off" (score only, never hold), or a
 * decimal in (0, 1] with at most six decimals: "0.8", "1", ".75" is not.
 */
static int read_moderation_threshold(struct loader *ld, struct config *cfg)
{
	const char *v = lookup_set(ld, "SOTTO_MODERATION_THRESHOLD");
	double t = 0, scale = 1;
	size_t i = 0;

	cfg->moderation_hold = true;
	cfg->moderation_threshold = 0.8;
	if (v == NULL)
		return 0;
	if (strcmp(v, "off") == 0) {
		cfg->moderation_hold = false;
		cfg->moderation_threshold = 1;
		return 0;
	}
	if (v[0] == '0' || v[0] == '1') {
		t = v[0] - '0';
		i = 1;
		if (v[1] == '.' && is_digit(v[2]))
			for (i = 2; is_digit(v[i]) && i < 8; i++) {
				scale /= 10;
				t += (v[i] - '0') * scale;
			}
	}
	if (i == 0 || v[i] != '\0' || t <= 0 || t > 1)
		return fail(ld, "SOTTO_MODERATION_THRESHOLD: expected a decimal above 0 and at most "
		            "1 (e.g. 0.8), or off");
	cfg->moderation_threshold = t;
	return 0;
}

/* The command line: printable, at most CONFIG_MODERATION_CMD_ARGS words. */
static int check_moderation_cmd(struct loader *ld, const char *cmd)
{
	size_t words = 0;

	if (strlen(cmd) > CONFIG_MODERATION_CMD_MAX)
		return fail(ld, "SOTTO_MODERATION_CMD: longer than %d bytes", CONFIG_MODERATION_CMD_MAX);
	for (const char *c = cmd; *c != '\0'; c++)
		words += *c != ' ' && (c == cmd || c[-1] == ' ');
	if (words > CONFIG_MODERATION_CMD_ARGS)
		return fail(ld, "SOTTO_MODERATION_CMD: more than %d words", CONFIG_MODERATION_CMD_ARGS);
	if (cmd[0] != '\0' && words == 0)
		return fail(ld, "SOTTO_MODERATION_CMD: only spaces");
	return 0;
}

static int read_classifier(struct loader *ld, struct config *cfg)
{
	if (read_moderation_threshold(ld, cfg) != 0 ||
	    read_string(ld, "SOTTO_MODERATION_RULES", "data/moderation.rules", false,
	                &cfg->moderation_rules) != 0 ||
	    read_string(ld, "SOTTO_MODERATION_CMD", "", false, &cfg->moderation_cmd) != 0 ||
	    read_int(ld, "SOTTO_MODERATION_CMD_TIMEOUT_MS", 2000, 10, 600000,
	             &cfg->moderation_cmd_timeout_ms) != 0 ||
	    read_int(ld, "SOTTO_MODERATION_BATCH", 32, 1, 1000, &cfg->moderation_batch) != 0)
		return -1;
	return check_moderation_cmd(ld, cfg->moderation_cmd);
}

static int read_accounts(struct loader *ld, struct config *cfg)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int def_hashes = cpus < 1 ? 1 : cpus > 64 ? 64 : (int)cpus;

	return read_int(ld, "SOTTO_TOKEN_LIFETIME", 3600, 60, 86400, &cfg->token_lifetime_s) != 0 ||
	       read_int(ld, "SOTTO_PWHASH_CONCURRENCY", def_hashes, 1, 64,
	                &cfg->pwhash_concurrency) != 0 ? -1 : 0;
}

static int read_process(struct loader *ld, struct config *cfg)
{
	struct sockaddr_un addr;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	/* A worker waits on PostgreSQL, Redis and each commit's WAL flush: README. */
	int def_workers = cpus < 1 ? 4 : cpus > 8 ? 32 : 4 * (int)cpus;

	if (read_int(ld, "SOTTO_WORKERS", def_workers, 2, 64, &cfg->workers) != 0 ||
	    read_string(ld, "SOTTO_LISTEN", "/run/sotto/sotto.sock", false, &cfg->listen_path) != 0 ||
	    read_string(ld, "SOTTO_SOCKET_GROUP", "", false, &cfg->socket_group) != 0 ||
	    read_int(ld, "SOTTO_SHUTDOWN_TIMEOUT_MS", 10000, 0, 600000,
	             &cfg->shutdown_timeout_ms) != 0 ||
	    read_string(ld, "SOTTO_MIGRATIONS_DIR", "sql", false, &cfg->migrations_dir) != 0)
		return -1;
	if (strlen(cfg->listen_path) >= sizeof(addr.sun_path))
		return fail(ld, "SOTTO_LISTEN: socket path longer than %zu bytes",
		            sizeof(addr.sun_path) - 1);
	for (const char *c = cfg->socket_group; *c != '\0'; c++)
		if (*c == ' ' || *c == '/' || *c == ':')
			return fail(ld, "SOTTO_SOCKET_GROUP: not a group name");
	return 0;
}

/*
 * Redis through Sentinel: REDIS_SENTINELS is host:port,... and
 * REDIS_MASTER_NAME is required with it; REDIS_URL must then be unset
 * (two answers to "where is Redis" would be one too many).
 */
static int read_sentinels(struct loader *ld, struct config *cfg)
{
	char *hosts[CACHE_MAX_SENTINELS];
	int ports[CACHE_MAX_SENTINELS];
	size_t n;

	if (lookup_set(ld, "REDIS_URL") != NULL)
		return fail(ld, "REDIS_URL and REDIS_SENTINELS: set one of them, not both");
	if (cache_parse_sentinels(cfg->redis_sentinels, hosts, ports, CACHE_MAX_SENTINELS, &n) != 0)
		return fail(ld, "REDIS_SENTINELS: expected host:port[,host:port...] (at most %d)",
		            CACHE_MAX_SENTINELS);
	for (size_t i = 0; i < n; i++)
		free(hosts[i]);
	if (read_string(ld, "REDIS_MASTER_NAME", NULL, true, &cfg->redis_master_name) != 0)
		return -1;
	if (cfg->redis_master_name[0] == '\0' ||
	    strlen(cfg->redis_master_name) > CACHE_MASTER_NAME_MAX ||
	    strpbrk(cfg->redis_master_name, " \t") != NULL)
		return fail(ld, "REDIS_MASTER_NAME: 1 to %d characters without spaces",
		            CACHE_MASTER_NAME_MAX);
	return 0;
}

static int read_request_and_storage(struct loader *ld, struct config *cfg)
{
	uint64_t body;
	const char *r;

	if (read_number(ld, "SOTTO_BODY_MAX_BYTES", 65536, 1024, 16u * 1024 * 1024, &body) != 0 ||
	    read_int(ld, "SOTTO_JSON_MAX_DEPTH", 16, 1, 64, &cfg->json_max_depth) != 0 ||
	    read_cors(ld, cfg) != 0 ||
	    read_string(ld, "DATABASE_URL", NULL, true, &cfg->database_url) != 0 ||
	    read_int(ld, "SOTTO_DB_STATEMENT_TIMEOUT_MS", 5000, 1, 600000,
	             &cfg->db_statement_timeout_ms) != 0 ||
	    read_string(ld, "REDIS_SENTINELS", "", false, &cfg->redis_sentinels) != 0 ||
	    read_string(ld, "REDIS_URL", "", cfg->redis_sentinels[0] == '\0', &cfg->redis_url) != 0 ||
	    read_int(ld, "SOTTO_REDIS_TIMEOUT_MS", 100, 1, 10000, &cfg->redis_timeout_ms) != 0)
		return -1;
	cfg->body_max_bytes = (size_t)body;
	if (cfg->redis_sentinels[0] != '\0')
		return read_sentinels(ld, cfg);
	r = cfg->redis_url;
	if (!((strncmp(r, "redis://", 8) == 0 && r[8] != '\0') ||
	      (strncmp(r, "unix:///", 8) == 0 && r[8] != '\0')))
		return fail(ld, "REDIS_URL: expected redis://host:port[/db] or unix:///path");
	return 0;
}

/* Events and real time: the nchan publisher socket and the queue's expiry. */
static int read_events(struct loader *ld, struct config *cfg)
{
	struct sockaddr_un addr;

	if (read_string(ld, "SOTTO_NCHAN_PUBLISH", "", false, &cfg->nchan_publish) != 0 ||
	    read_int(ld, "SOTTO_NCHAN_TIMEOUT_MS", 200, 1, 5000, &cfg->nchan_timeout_ms) != 0 ||
	    read_int(ld, "SOTTO_EVENT_TTL_DAYS", 14, 1, 3650, &cfg->event_ttl_days) != 0)
		return -1;
	if (strlen(cfg->nchan_publish) >= sizeof(addr.sun_path))
		return fail(ld, "SOTTO_NCHAN_PUBLISH: socket path longer than %zu bytes",
		            sizeof(addr.sun_path) - 1);
	if (cfg->nchan_publish[0] != '\0' && cfg->nchan_publish[0] != '/')
		return fail(ld, "SOTTO_NCHAN_PUBLISH: expected an absolute socket path or nothing");
	return 0;
}

/*
 * Fill *cfg (whatever it held is overwritten, not freed: pass a fresh or
 * config_free'd struct). On failure cfg is left zeroed, so config_free on it
 * is harmless. Loading again later (SIGHUP) into another struct re-reads
 * every source.
 */
int config_load(struct config *cfg, char *err, size_t errlen)
{
	struct loader ld;
	const char *dev;
	int rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	memset(&ld, 0, sizeof(ld));
	ld.err = err;
	ld.errlen = errlen;
	if (err != NULL && errlen > 0)
		err[0] = '\0';

	if (env_file_load(&ld) != 0 || credentials_load(&ld) != 0)
		goto out;
	dev = lookup_set(&ld, "SOTTO_DEV");
	if (dev != NULL && strcmp(dev, "0") != 0 && strcmp(dev, "1") != 0) {
		fail(&ld, "SOTTO_DEV: expected 0 or 1");
		goto out;
	}
	ld.dev = cfg->dev = dev != NULL && strcmp(dev, "1") == 0;

	if (env_file_check_mode(&ld) != 0 || check_var_names(&ld) != 0 ||
	    read_process(&ld, cfg) != 0 || read_request_and_storage(&ld, cfg) != 0 ||
	    read_abuse(&ld, cfg) != 0 || read_moderation(&ld, cfg) != 0 ||
	    read_classifier(&ld, cfg) != 0 ||
	    read_accounts(&ld, cfg) != 0 || read_events(&ld, cfg) != 0 ||
	    read_secret(&ld, "JWT_SECRET", cfg->jwt_secret, sizeof(cfg->jwt_secret),
	                &cfg->jwt_secret_len) != 0 ||
	    read_secret(&ld, "IP_HMAC_KEY", cfg->ip_hmac_key, sizeof(cfg->ip_hmac_key),
	                &cfg->ip_hmac_key_len) != 0 ||
	    read_content_keys(&ld, cfg) != 0 ||
	    read_token(&ld, "ADMIN_REVIEW_TOKEN", &cfg->admin_review_token) != 0 ||
	    read_token(&ld, "ADMIN_UI_TOKEN", &cfg->admin_ui_token) != 0)
		goto out;

	if (cfg->admin_review_token[0] != '\0' &&
	    strcmp(cfg->admin_review_token, cfg->admin_ui_token) == 0)
		log_msg(LOG_WARN, "ADMIN_REVIEW_TOKEN and ADMIN_UI_TOKEN are the same token");
	/* Up to 4 bytes per character, plus JSON framing. */
	if ((size_t)cfg->post_max_chars * 4 + 1024 > cfg->body_max_bytes)
		log_msg(LOG_WARN, "SOTTO_POST_MAX_CHARS may not fit in SOTTO_BODY_MAX_BYTES");
	rc = 0;
out:
	loader_free(&ld);
	if (rc != 0)
		config_free(cfg);
	return rc;
}

void config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	free_str(&cfg->listen_path);
	free_str(&cfg->socket_group);
	free_str(&cfg->migrations_dir);
	for (size_t i = 0; i < CONFIG_MAX_ORIGINS; i++)
		free_str(&cfg->cors_origins[i]);
	free_str(&cfg->database_url);
	free_str(&cfg->redis_url);
	free_str(&cfg->redis_sentinels);
	free_str(&cfg->redis_master_name);
	free_str(&cfg->admin_review_token);
	free_str(&cfg->admin_ui_token);
	free_str(&cfg->guard_blocklist);
	free_str(&cfg->moderation_rules);
	free_str(&cfg->moderation_cmd);
	free_str(&cfg->nchan_publish);
	/* Also wipes jwt_secret, ip_hmac_key and content_keys. */
	sodium_memzero(cfg, sizeof(*cfg));
}

int config_parse_rate(const char *s, struct rate_limit *out)
{
	const char *slash;
	uint64_t count, seconds;

	if (s == NULL || out == NULL)
		return -1;
	if (strcmp(s, "off") == 0) {
		out->count = 0;
		out->seconds = 1;
		return 0;
	}
	slash = strchr(s, '/');
	if (slash == NULL ||
	    parse_u64(s, (size_t)(slash - s), RATE_COUNT_MAX, &count) != 0 ||
	    parse_u64(slash + 1, strlen(slash + 1), RATE_SECONDS_MAX, &seconds) != 0 ||
	    seconds == 0)
		return -1;
	out->count = (uint32_t)count;
	out->seconds = (uint32_t)seconds;
	return 0;
}

/*
 * Text made only of hex digits is hex (an odd length is then an error, most
 * likely a truncated paste); anything else is base64, its alphabet (standard
 * or url-safe) and padding told by the characters present. libsodium rejects
 * mixed alphabets, wrong padding and non-zero trailing bits.
 */
int config_decode_secret(const char *text, unsigned char *out, size_t outcap,
                         size_t *outlen)
{
	size_t len, n = 0;
	bool all_hex = true, url = false;
	int variant;

	if (text == NULL || out == NULL || outlen == NULL)
		return -1;
	len = strlen(text);
	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		all_hex &= is_hex(text[i]);
		url |= text[i] == '-' || text[i] == '_';
	}
	if (all_hex) {
		if (len % 2 != 0 || len / 2 > outcap ||
		    sodium_hex2bin(out, outcap, text, len, NULL, &n, NULL) != 0 || n != len / 2)
			return -1;
		*outlen = n;
		return 0;
	}
	if (text[len - 1] == '=')
		variant = url ? sodium_base64_VARIANT_URLSAFE : sodium_base64_VARIANT_ORIGINAL;
	else
		variant = url ? sodium_base64_VARIANT_URLSAFE_NO_PADDING
		              : sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
	if (sodium_base642bin(out, outcap, text, len, NULL, &n, NULL, variant) != 0 || n == 0) {
		sodium_memzero(out, outcap);
		return -1;
	}
	*outlen = n;
	return 0;
}

/*
 * Catches placeholders and mistakes (all zeros, "aaaa...", a short repeating
 * pattern, a truncated key), not low entropy in general: 32 random bytes
 * show about 30 distinct values, and fewer than 16 essentially never happens.
 */
bool config_secret_strong(const unsigned char *key, size_t len)
{
	bool seen[256] = {false};
	size_t distinct = 0;

	if (key == NULL || len < CONFIG_SECRET_MIN)
		return false;
	for (size_t i = 0; i < CONFIG_SECRET_MIN; i++) {
		distinct += !seen[key[i]];
		seen[key[i]] = true;
	}
	return distinct >= 16;
}

const char *config_rate_name(enum rate_class c)
{
	return (c >= 0 && c < RATE__MAX) ? rate_names[c] : "NONE";
}

const char *config_pow_name(enum pow_action a)
{
	return (a >= 0 && a < POW__MAX) ? pow_names[a] : "none";
}

bool config_origin_allowed(const struct config *cfg, const char *origin)
{
	if (cfg == NULL || origin == NULL)
		return false;
	for (size_t i = 0; i < cfg->n_cors_origins; i++)
		if (strcmp(cfg->cors_origins[i], origin) == 0)
			return true;
	return false;
}

const struct content_key *config_content_key_newest(const struct config *cfg)
{
	const struct content_key *best = NULL;

	if (cfg == NULL)
		return NULL;
	for (size_t i = 0; i < cfg->n_content_keys; i++)
		if (best == NULL || cfg->content_keys[i].version > best->version)
			best = &cfg->content_keys[i];
	return best;
}
