/*
 * config_types.h — the kinds of value a setting can hold (a whole number,
 * a path, a rate, a key...): how each is parsed, checked and described.
 * The settings themselves are the table in config.c; every default and
 * every value goes through the parser of its row's type.
 */
#ifndef SOTTO_CONFIG_TYPES_H
#define SOTTO_CONFIG_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config_source.h"

struct rate_limit {
	uint32_t count;   /* requests allowed per window; 0 = class disabled */
	uint32_t seconds; /* window length */
};

#define CONFIG_SECRET_MIN 32  /* bytes of key material, after decoding */
#define CONFIG_MAX_ORIGINS 16
#define CONFIG_MAX_CONTENT_KEYS 16

struct content_key {
	uint32_t version;
	unsigned char key[32];
};

/* "count/seconds" -> *out. 0 on success, -1 on malformed or out-of-range input. */
int config_parse_rate(const char *s, struct rate_limit *out)
    __attribute__((warn_unused_result));

/*
 * Decode a secret written as base64 (standard or url-safe, padding optional)
 * or hex into out (capacity outcap); *outlen gets the byte count.
 * Returns 0, or -1 when malformed or too long.
 */
int config_decode_secret(const char *text, unsigned char *out, size_t outcap,
                         size_t *outlen) __attribute__((warn_unused_result));

/* True when key material looks random enough: >= CONFIG_SECRET_MIN bytes, not repetitive. */
bool config_secret_strong(const unsigned char *key, size_t len);

/* One config_load in progress. */
struct config_reader {
	struct config_source src;
	bool dev;            /* SOTTO_DEV=1: weak secrets are warnings, not errors */
};

/* Where one setting's value goes, and its bounds. */
struct config_slot {
	const char *name;    /* the variable, for error lines */
	void *field;         /* in struct config */
	void *aux;           /* the second field of two-field types, or NULL */
	uint64_t min, max;   /* bounds of numbers; max = capacity of a key */
};

struct config_type {
	const char *name;                   /* the listing's type column */
	/* Parse v into the slot: 0, or -1 with the error line written. */
	int (*parse)(struct config_reader *r, const struct config_slot *t, const char *v);
	const char *bounds;                 /* NULL: "min..max" of the row */
	const char *required_hint;          /* appended to "<NAME> is required" */
};

extern const struct config_type config_type_flag;       /* "0" or "1" -> bool */
extern const struct config_type config_type_int;        /* min..max -> int */
extern const struct config_type config_type_bytes;      /* min..max -> size_t */
extern const struct config_type config_type_text;       /* printable -> char * (owned) */
extern const struct config_type config_type_path;       /* as text */
extern const struct config_type config_type_rate;       /* -> struct rate_limit */
extern const struct config_type config_type_weight;     /* decimal -> double */
extern const struct config_type config_type_threshold;  /* -> double, aux bool "on" */
extern const struct config_type config_type_key;        /* -> bytes[max], aux size_t */
extern const struct config_type config_type_keys;       /* -> content_key[], aux count */
extern const struct config_type config_type_token;      /* -> char * (owned) */
extern const struct config_type config_type_origin;     /* -> char *, "" = none */
extern const struct config_type config_type_origins;    /* -> char *[], aux count */

/* Write one error line for r's caller; returns -1 for `return config_fail(...)`. */
int config_fail(struct config_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* a-z upper-cased, anything else as it is. */
char config_to_upper(char c);

#endif
