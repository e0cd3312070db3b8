/*
 * config_source.c — the env file, the process environment and systemd
 * credential files, read once per load and wiped after (the rules are in
 * config_source.h).
 */
#include "config_source.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define ENV_FILE_MAX (1024 * 1024)   /* bytes; a settings file is tiny */
#define CRED_FILE_MAX (64 * 1024)

int config_source_vfail(struct config_source *src, const char *fmt, va_list ap)
{
	if (src->err != NULL && src->errlen > 0)
		vsnprintf(src->err, src->errlen, fmt, ap);
	return -1;
}

int config_source_fail(struct config_source *src, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	config_source_vfail(src, fmt, ap);
	va_end(ap);
	return -1;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_space(char c) { return c == ' ' || c == '\t'; }

static int secret_index(const struct config_source *src, const char *name)
{
	for (size_t i = 0; i < src->n_secret_names; i++)
		if (strcmp(src->secret_names[i], name) == 0)
			return (int)i;
	return -1;
}

const char *config_source_get(const struct config_source *src, const char *name)
{
	int si = secret_index(src, name);
	const char *v = NULL;

	if (si >= 0 && src->cred[si] != NULL)
		v = src->cred[si];
	else if ((v = getenv(name)) == NULL)
		for (size_t i = src->n_file_vars; i > 0 && v == NULL; i--)
			if (strcmp(src->file_vars[i - 1].name, name) == 0)
				v = src->file_vars[i - 1].value;
	return (v != NULL && v[0] != '\0') ? v : NULL;
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
static int env_file_parse(struct config_source *src, char *text)
{
	size_t n_lines = 1, line_no = 0;
	char *line = text;

	for (const char *c = text; *c != '\0'; c++)
		n_lines += (*c == '\n');
	src->file_vars = calloc(n_lines, sizeof(*src->file_vars));
	if (src->file_vars == NULL)
		return config_source_fail(src, "env file (SOTTO_ENV_FILE): out of memory");

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
			return config_source_fail(src, "env file (SOTTO_ENV_FILE) line %zu: "
			                          "expected NAME=VALUE", line_no);
		while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || is_digit(*p) || *p == '_')
			p++;
		if (*p != '=')
			return config_source_fail(src, "env file (SOTTO_ENV_FILE) line %zu: "
			                          "expected NAME=VALUE", line_no);
		*p++ = '\0';
		while (is_space(*p))
			p++;
		value = p;
		vlen = strlen(value);
		if (vlen > 0 && (value[0] == '"' || value[0] == '\'')) {
			char q = value[0];

			if (vlen < 2 || value[vlen - 1] != q || memchr(value + 1, q, vlen - 2) != NULL)
				return config_source_fail(src, "env file (SOTTO_ENV_FILE) line %zu: "
				                          "unbalanced quotes in %.64s", line_no, name);
			value[vlen - 1] = '\0';
			value++;
		}
		src->file_vars[src->n_file_vars].name = name;
		src->file_vars[src->n_file_vars].value = value;
		src->n_file_vars++;
	}
	return 0;
}

/* Load SOTTO_ENV_FILE (taken from the environment only) when it is set. */
static int env_file_load(struct config_source *src)
{
	const char *path = getenv("SOTTO_ENV_FILE");
	size_t len;

	if (path == NULL || path[0] == '\0')
		return 0;
	if (read_file_capped(path, ENV_FILE_MAX, &src->file_buf, &len, &src->file_alloc,
	                     &src->file_mode) != 0) {
		if (errno == EFBIG)
			return config_source_fail(src, "env file (SOTTO_ENV_FILE): larger than %d bytes",
			                          ENV_FILE_MAX);
		if (errno == EINVAL)
			return config_source_fail(src, "env file (SOTTO_ENV_FILE): not a regular text file");
		return config_source_fail(src, "env file (SOTTO_ENV_FILE): cannot read: %s",
		                          strerror(errno));
	}
	return env_file_parse(src, src->file_buf);
}

int config_source_check_mode(struct config_source *src, bool dev)
{
	bool holds_secret = false;

	if (src->file_buf == NULL)
		return 0;
	for (size_t i = 0; i < src->n_file_vars; i++)
		holds_secret |= secret_index(src, src->file_vars[i].name) >= 0 &&
		                src->file_vars[i].value[0] != '\0';
	if (src->file_mode & S_IWOTH) {
		if (!dev)
			return config_source_fail(src, "env file (SOTTO_ENV_FILE) is world-writable; "
			                          "chmod 600 it");
		log_msg(LOG_WARN, "env file is world-writable; accepted because SOTTO_DEV=1");
	}
	if (src->file_mode & S_IROTH) {
		if (holds_secret && !dev)
			return config_source_fail(src, "env file (SOTTO_ENV_FILE) holds secrets and is "
			                          "world-readable; chmod 600 it");
		log_msg(LOG_WARN, "env file is world-readable");
	}
	return 0;
}

/* Read $CREDENTIALS_DIRECTORY/<NAME> for each secret name; missing files are fine. */
static int credentials_load(struct config_source *src)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");

	if (dir == NULL || dir[0] == '\0')
		return 0;
	for (size_t i = 0; i < src->n_secret_names; i++) {
		const char *name = src->secret_names[i];
		char path[PATH_MAX];
		size_t len;
		int n = snprintf(path, sizeof(path), "%s/%s", dir, name);

		if (n < 0 || (size_t)n >= sizeof(path))
			return config_source_fail(src, "CREDENTIALS_DIRECTORY: path too long");
		if (read_file_capped(path, CRED_FILE_MAX, &src->cred[i], &len, &src->cred_alloc[i],
		                     NULL) != 0) {
			if (errno == ENOENT)
				continue;
			if (errno == EFBIG)
				return config_source_fail(src, "credential %s: larger than %d bytes", name,
				                          CRED_FILE_MAX);
			if (errno == EINVAL)
				return config_source_fail(src, "credential %s: not a regular text file", name);
			return config_source_fail(src, "credential %s: cannot read: %s", name,
			                          strerror(errno));
		}
		while (len > 0 && (src->cred[i][len - 1] == '\n' || src->cred[i][len - 1] == '\r'))
			src->cred[i][--len] = '\0';
	}
	return 0;
}

int config_source_open(struct config_source *src, const char *const *secret_names, size_t n,
                       char *err, size_t errlen)
{
	memset(src, 0, sizeof(*src));
	src->err = err;
	src->errlen = errlen;
	if (n > CONFIG_SOURCE_SECRETS_MAX)
		return config_source_fail(src, "too many secret settings");
	src->secret_names = secret_names;
	src->n_secret_names = n;
	return env_file_load(src) != 0 || credentials_load(src) != 0 ? -1 : 0;
}

void config_source_close(struct config_source *src)
{
	if (src->file_buf != NULL) {
		sodium_memzero(src->file_buf, src->file_alloc);
		free(src->file_buf);
	}
	free(src->file_vars);
	for (size_t i = 0; i < CONFIG_SOURCE_SECRETS_MAX; i++) {
		if (src->cred[i] != NULL) {
			sodium_memzero(src->cred[i], src->cred_alloc[i]);
			free(src->cred[i]);
		}
	}
	sodium_memzero(src, sizeof(*src));
}

int config_source_each_name(struct config_source *src,
                            int (*check)(struct config_source *src, const char *name,
                                         size_t len))
{
	for (char **e = environ; e != NULL && *e != NULL; e++) {
		const char *eq = strchr(*e, '=');
		size_t len = eq != NULL ? (size_t)(eq - *e) : strlen(*e);

		if (check(src, *e, len) != 0)
			return -1;
	}
	for (size_t i = 0; i < src->n_file_vars; i++)
		if (check(src, src->file_vars[i].name, strlen(src->file_vars[i].name)) != 0)
			return -1;
	return 0;
}
