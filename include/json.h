/*
 * json.h — strict JSON input on top of json-c 0.16.
 *
 * Strict tokener with a depth limit and UTF-8 validation, the whole body
 * consumed, no NUL bytes, integers that fit. The getters check types and
 * say which field was wrong so handlers can answer 422 invalid_field.
 */
#ifndef SOTTO_JSON_H
#define SOTTO_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

struct arena;

/*
 * Parse body[0..len) strictly. Returns the object (registered on arena a,
 * so the caller does not free it), or NULL when the text is not one valid
 * JSON value within max_depth; *why then gets a short fixed reason.
 */
json_object *json_parse_strict(struct arena *a, const char *body, size_t len,
                               int max_depth, const char **why);

/*
 * Typed field access on an object. Each returns 1 when present with the
 * right type, 0 when absent (or JSON null), -1 when present with a wrong
 * type or out of range. json_get_int64 needs min > INT64_MIN and
 * max < INT64_MAX so that json-c's saturated overflow values are refused.
 */
int json_get_string(json_object *obj, const char *key, const char **out,
                    size_t *len);
int json_get_int64(json_object *obj, const char *key, int64_t min, int64_t max,
                   int64_t *out);
int json_get_bool(json_object *obj, const char *key, bool *out);
/* A base64url (no padding) string of exactly n bytes, decoded into out. */
int json_get_b64(json_object *obj, const char *key, unsigned char *out, size_t n);

/* json_object_put() with the signature arena_defer() takes. */
void json_release(void *obj);

/* A new object registered on the arena (freed at reset). NULL on OOM. */
json_object *json_new_object(struct arena *a);

/* Serialize without escaping '/', compact. Pointer valid until obj is freed. */
const char *json_dump(json_object *obj, size_t *len);

/*
 * s[0..len) as a JSON string, quotes included, written at out (at most
 * JSON_QUOTED_MAX(len) bytes, no NUL); returns how many bytes it wrote.
 * Escaped exactly as json_dump escapes a string (", \, \b \f \n \r \t,
 * other bytes below 0x20 as \u00xx, everything else as it is), so a
 * reply written as text reads byte for byte as if json-c had printed it.
 */
#define JSON_QUOTED_MAX(len) (6 * (len) + 2)
size_t json_quote(char *out, const char *s, size_t len);

#endif
