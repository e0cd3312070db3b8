/*
 * config_types.c — parsing each kind of setting value (config_types.h),
 * and the pure parsers the rest of the program shares (config.h).
 */
#include "config_types.h"
#include "log.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define RATE_COUNT_MAX 100000000
#define RATE_SECONDS_MAX 31536000    /* one year */
#define ADMIN_TOKEN_MIN 32           /* characters, outside dev mode */
#define ADMIN_TOKEN_MAX 1024
/* Stored in PostgreSQL integer columns next to wrapped keys: keep it in int4. */
#define CONTENT_KEY_VERSION_MAX ((uint64_t)INT32_MAX)
#define FLAG_HOLD_WEIGHT_MIN 0.01
#define FLAG_HOLD_WEIGHT_MAX 1000.0

int config_fail(struct config_reader *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	config_source_vfail(&r->src, fmt, ap);
	va_end(ap);
	return -1;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_space(char c) { return c == ' ' || c == '\t'; }

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

char config_to_upper(char c)
{
	return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
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

/* ---- types: each parses a value (or a default) into its slot ---------- */

static int parse_flag(struct config_reader *ld, const struct config_slot *t, const char *v)
{
	if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
		return config_fail(ld, "%s: expected 0 or 1", t->name);
	*(bool *)t->field = v[0] == '1';
	return 0;
}

/* A whole number in the row's [min,max]. */
static int parse_number(struct config_reader *ld, const struct config_slot *t, const char *v,
                        uint64_t *out)
{
	if (parse_u64(v, strlen(v), t->max, out) != 0 || *out < t->min)
		return config_fail(ld, "%s: expected a whole number from %llu to %llu", t->name,
		            (unsigned long long)t->min, (unsigned long long)t->max);
	return 0;
}

static int parse_int(struct config_reader *ld, const struct config_slot *t, const char *v)
{
	uint64_t n;

	if (parse_number(ld, t, v, &n) != 0)
		return -1;
	*(int *)t->field = (int)n;
	return 0;
}

static int parse_size(struct config_reader *ld, const struct config_slot *t, const char *v)
{
	uint64_t n;

	if (parse_number(ld, t, v, &n) != 0)
		return -1;
	*(size_t *)t->field = (size_t)n;
	return 0;
}

/* A copy of the text: printable, no control characters. */
static int parse_text(struct config_reader *ld, const struct config_slot *t, const char *v)
{
	char **out = t->field;

	for (const char *c = v; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return config_fail(ld, "%s: contains a control character", t->name);
	*out = strdup(v);
	if (*out == NULL)
		return config_fail(ld, "%s: out of memory", t->name);
	return 0;
}

static int parse_rate(struct config_reader *ld, const struct config_slot *t, const char *v)
{
	if (config_parse_rate(v, t->field) != 0)
		return config_fail(ld, "%s: expected count/seconds (count 0..%u, seconds 1..%u) or off",
		            t->name, (unsigned)RATE_COUNT_MAX, (unsigned)RATE_SECONDS_MAX);
	return 0;
}

/* A plain decimal number ("1.5": digits, at most one '.') in the weight bounds. */
static int parse_weight(struct config_reader *ld, const struct config_slot *t, const char *v)
{
	const char *dot = strchr(v, '.');
	char *end = NULL;
	double w = 0;

	if (v[0] != '.' && v[strlen(v) - 1] != '.' && strlen(v) <= 16 &&
	    strspn(v, "0123456789.") == strlen(v) && (dot == NULL || strchr(dot + 1, '.') == NULL))
		w = strtod(v, &end);
	if (end == NULL || *end != '\0' || !(w >= FLAG_HOLD_WEIGHT_MIN && w <= FLAG_HOLD_WEIGHT_MAX))
		return config_fail(ld, "%s: expected a decimal number from %.2f to %.0f", t->name,
		            FLAG_HOLD_WEIGHT_MIN, FLAG_HOLD_WEIGHT_MAX);
	*(double *)t->field = w;
	return 0;
}

/*
 * "off" (aux false: score only, never hold; the threshold reads 1), or a
 * decimal in (0, 1] with at most six decimals: "0.8", "1"; ".75" is not.
 */
static int parse_threshold(struct config_reader *ld, const struct config_slot *t, const char *v)
{
	double th = 0, scale = 1;
	size_t i = 0;

	*(bool *)t->aux = strcmp(v, "off") != 0;
	if (strcmp(v, "off") == 0) {
		*(double *)t->field = 1;
		return 0;
	}
	if (v[0] == '0' || v[0] == '1') {
		th = v[0] - '0';
		i = 1;
		if (v[1] == '.' && is_digit(v[2]))
			for (i = 2; is_digit(v[i]) && i < 8; i++) {
				scale /= 10;
				th += (v[i] - '0') * scale;
			}
	}
	if (i == 0 || v[i] != '\0' || th <= 0 || th > 1)
		return config_fail(ld, "%s: expected a decimal above 0 and at most 1 (e.g. 0.8), or off",
		            t->name);
	*(double *)t->field = th;
	return 0;
}

/* Master key material (field: max bytes, aux: its length); weak is an error outside dev. */
static int parse_key(struct config_reader *ld, const struct config_slot *t, const char *v)
{
	size_t cap = (size_t)t->max, *len = t->aux;

	if (config_decode_secret(v, t->field, cap, len) != 0)
		return config_fail(ld, "%s: not base64 or hex, or longer than %zu bytes", t->name, cap);
	if (!config_secret_strong(t->field, *len)) {
		if (!ld->dev)
			return config_fail(ld, "%s is weak: need at least %d random bytes", t->name,
			            CONFIG_SECRET_MIN);
		log_msg(LOG_WARN, "%s is weak; accepted because SOTTO_DEV=1", t->name);
	}
	return 0;
}

/* ---- types holding secrets or lists ------------------------------------ */

/* CONTENT_KEYS: "<version>:<key>[,...]", versions unique in 1..INT32_MAX, 32-byte keys. */
static int parse_content_keys(struct config_reader *ld, const struct config_slot *t, const char *v)
{
	struct content_key *keys = t->field;
	size_t *n_keys = t->aux;
	unsigned char tmp[64];
	char *copy = NULL, *item, *save = NULL;
	size_t copylen = 0, item_no = 0;
	int rc = -1;

	copylen = strlen(v);
	copy = strdup(v);
	if (copy == NULL) {
		rc = config_fail(ld, "CONTENT_KEYS: out of memory");
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
			rc = config_fail(ld, "CONTENT_KEYS: item %zu is not <version>:<key>", item_no);
			goto out;
		}
		if (parse_u64(item, (size_t)(colon - item), CONTENT_KEY_VERSION_MAX, &version) != 0 ||
		    version == 0) {
			rc = config_fail(ld, "CONTENT_KEYS: item %zu: version must be a whole number from 1 to %llu",
			          item_no, (unsigned long long)CONTENT_KEY_VERSION_MAX);
			goto out;
		}
		if (config_decode_secret(colon + 1, tmp, sizeof(tmp), &keylen) != 0 ||
		    keylen != sizeof(keys[0].key)) {
			rc = config_fail(ld, "CONTENT_KEYS: key version %llu must be exactly 32 bytes as base64 or hex",
			          (unsigned long long)version);
			goto out;
		}
		for (size_t k = 0; k < *n_keys; k++) {
			if (keys[k].version == version) {
				rc = config_fail(ld, "CONTENT_KEYS: version %llu appears twice",
				          (unsigned long long)version);
				goto out;
			}
		}
		if (*n_keys == CONFIG_MAX_CONTENT_KEYS) {
			rc = config_fail(ld, "CONTENT_KEYS: more than %d keys", CONFIG_MAX_CONTENT_KEYS);
			goto out;
		}
		if (!config_secret_strong(tmp, keylen)) {
			if (!ld->dev) {
				rc = config_fail(ld, "CONTENT_KEYS: key version %llu is weak: need 32 random bytes",
				          (unsigned long long)version);
				goto out;
			}
			log_msg(LOG_WARN, "CONTENT_KEYS key version %llu is weak; accepted because SOTTO_DEV=1",
			        (unsigned long long)version);
		}
		keys[*n_keys].version = (uint32_t)version;
		memcpy(keys[*n_keys].key, tmp, keylen);
		(*n_keys)++;
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
static int parse_token(struct config_reader *ld, const struct config_slot *t, const char *v)
{
	const char *name = t->name;
	char **out = t->field;
	bool seen[128] = {false};
	size_t len = strlen(v), distinct = 0;

	if (len > ADMIN_TOKEN_MAX)
		return config_fail(ld, "%s: longer than %d characters", name, ADMIN_TOKEN_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x21 || c > 0x7e)
			return config_fail(ld, "%s: must be printable ASCII without spaces", name);
		distinct += !seen[c];
		seen[c] = true;
	}
	if (len > 0 && (len < ADMIN_TOKEN_MIN || distinct < 8)) {
		if (!ld->dev)
			return config_fail(ld, "%s is weak: need at least %d random characters (or leave it "
			            "empty to disable those routes)", name, ADMIN_TOKEN_MIN);
		log_msg(LOG_WARN, "%s is weak; accepted because SOTTO_DEV=1", name);
	}
	*out = strdup(v);
	if (*out == NULL)
		return config_fail(ld, "%s: out of memory", name);
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

/* One https origin, or "" (none). */
static int parse_origin(struct config_reader *ld, const struct config_slot *t, const char *v)
{
	char **out = t->field;

	if (v[0] != '\0' && (strncmp(v, "https://", 8) != 0 || !origin_valid(v)))
		return config_fail(ld, "%s: not an origin like https://sotto.example[:port] "
		                   "(lower case, no default port, nothing after)", t->name);
	*out = strdup(v);
	if (*out == NULL)
		return config_fail(ld, "%s: out of memory", t->name);
	return 0;
}

/* SOTTO_CORS_ORIGINS: a comma list of distinct origins ("" = none). */
static int parse_origins(struct config_reader *ld, const struct config_slot *t, const char *v)
{
	char **origins = t->field;
	size_t *n = t->aux;
	char *copy, *item, *next;
	size_t item_no = 0;
	int rc = -1;

	if (v[0] == '\0')
		return 0;
	copy = strdup(v);
	if (copy == NULL)
		return config_fail(ld, "SOTTO_CORS_ORIGINS: out of memory");
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
			rc = config_fail(ld, "SOTTO_CORS_ORIGINS: item %zu is not an origin like "
			          "https://app.example (scheme://host[:port], lower case, no path, "
			          "no default port)", item_no);
			goto out;
		}
		for (size_t i = 0; i < *n; i++) {
			if (strcmp(origins[i], item) == 0) {
				rc = config_fail(ld, "SOTTO_CORS_ORIGINS: item %zu repeats an earlier origin",
				          item_no);
				goto out;
			}
		}
		if (*n == CONFIG_MAX_ORIGINS) {
			rc = config_fail(ld, "SOTTO_CORS_ORIGINS: more than %d origins", CONFIG_MAX_ORIGINS);
			goto out;
		}
		origins[*n] = strdup(item);
		if (origins[*n] == NULL) {
			rc = config_fail(ld, "SOTTO_CORS_ORIGINS: out of memory");
			goto out;
		}
		(*n)++;
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

/* ---- the types ---------------------------------------------------------- */


const struct config_type config_type_flag = { "0 or 1", parse_flag, "0 or 1", "" };
const struct config_type config_type_int = { "integer", parse_int, NULL, "" };
const struct config_type config_type_bytes = { "bytes", parse_size, NULL, "" };
const struct config_type config_type_text = { "text", parse_text, "", "" };
const struct config_type config_type_path = { "path", parse_text, "", "" };
const struct config_type config_type_rate = {
	"count/seconds", parse_rate,
	"count 0.." UTIL_STR(RATE_COUNT_MAX) ", seconds 1.." UTIL_STR(RATE_SECONDS_MAX) "; 0/1 or off = no limit",
	"",
};
const struct config_type config_type_weight = {
	"decimal", parse_weight, UTIL_STR(FLAG_HOLD_WEIGHT_MIN) ".." UTIL_STR(FLAG_HOLD_WEIGHT_MAX), "",
};
const struct config_type config_type_threshold = {
	"decimal or off", parse_threshold, "above 0, at most 1, up to 6 decimals; or off", "",
};
const struct config_type config_type_key = {
	"key", parse_key, UTIL_STR(CONFIG_SECRET_MIN) "..64 random bytes, base64 or hex",
	" (" UTIL_STR(CONFIG_SECRET_MIN) "+ random bytes as base64 or hex, e.g. "
	"`openssl rand -base64 32`)",
};
const struct config_type config_type_keys = {
	"key list", parse_content_keys,
	"1.." UTIL_STR(CONFIG_MAX_CONTENT_KEYS) " items <version 1..2147483647>:<32 random bytes, "
	"base64 or hex>", " (e.g. 1:<32 random bytes as base64>)",
};
const struct config_type config_type_token = {
	"token", parse_token, "empty, or " UTIL_STR(ADMIN_TOKEN_MIN) ".." UTIL_STR(ADMIN_TOKEN_MAX)
	" printable ASCII characters", "",
};
const struct config_type config_type_origin = {
	"origin", parse_origin, "empty, or https://host[:port] (lower case, no default port)", "",
};
const struct config_type config_type_origins = {
	"origin list", parse_origins, "up to " UTIL_STR(CONFIG_MAX_ORIGINS)
	" comma-separated scheme://host[:port] (lower case, no default port)", "",
};

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
