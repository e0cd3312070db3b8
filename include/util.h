/*
 * util.h — small shared helpers: time, randomness, encodings, comparison.
 */
#ifndef SOTTO_UTIL_H
#define SOTTO_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

/* Monotonic clock in microseconds. */
uint64_t util_now_us(void);
/* Wall clock in microseconds (for rate limits shared across processes). */
uint64_t util_wall_us(void);
/* Whole days since 1970-01-01 UTC. */
int64_t util_today(void);

/* base64url without padding. Encoded string into the arena; NULL on OOM. */
char *util_b64url_encode(struct arena *a, const unsigned char *bin, size_t len);
/* Decode; -1 on malformed input or when it would exceed cap. */
int util_b64url_decode(const char *text, size_t text_len, unsigned char *out,
                       size_t cap, size_t *out_len)
    __attribute__((warn_unused_result));

/* n random bytes as base64url text (an opaque public id). */
char *util_random_id(struct arena *a, size_t n_bytes);

/* A macro's value as a string literal, at compile time: UTIL_STR(N) is "8"
 * for #define N 8 (in messages and in text parameters). */
#define UTIL_STR(x) UTIL_STR_(x)
#define UTIL_STR_(x) #x

#define UTIL_PUBLIC_ID_BYTES 16   /* posts, flags, review items, bans, conversations */
#define UTIL_PUBLIC_ID_CHARS 22   /* their base64url text */

/* True when s[0..len) has the shape of a public id: UTIL_PUBLIC_ID_CHARS base64url characters. */
bool util_public_id_valid(const char *s, size_t len);

/* Constant-time equality of two NUL-terminated secrets (length leaks only via the max). */
bool util_secret_equal(const char *a, const char *b);

/* Strict decimal parse into [min,max]; -1 on anything else. */
int util_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out)
    __attribute__((warn_unused_result));

/*
 * The decimal digits of v (with '-' when negative) at p, without a NUL;
 * returns how many (at most UTIL_INT64_CHARS). For text written in bulk
 * (a feed page, a list of pks), where snprintf's format parsing costs
 * more than the digits.
 */
#define UTIL_INT64_CHARS 20
size_t util_put_int64(char *p, int64_t v);

/* The text s (without its NUL) at p; returns strlen(s). The caller has made room. */
size_t util_put_text(char *p, const char *s);
/* 0..15 for a hex digit (either case), -1 for anything else. */
int util_hex_value(char c);
/*
 * n bytes from the 2n hex digits (either case) at hex into out: 0, or -1
 * at a character that is not one (out then holds part of the bytes). Not
 * constant-time (sodium_hex2bin is): for what is no secret, such as
 * ciphertext read back from the database, where it runs over every byte.
 */
int util_hex_decode(const char *hex, size_t n, unsigned char *out)
    __attribute__((warn_unused_result));

/* True when s[0..len) is valid UTF-8 without NUL. */
bool util_utf8_valid(const char *s, size_t len);

/*
 * Keep key material out of core files and away from ptrace by the same
 * user (RLIMIT_CORE 0, PR_SET_DUMPABLE 0); failures are logged, not fatal.
 */
void util_no_core_dumps(void);

#endif
