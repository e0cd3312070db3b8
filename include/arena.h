/*
 * arena.h — per-request memory.
 *
 * Everything a request allocates lives here: strings, parsed JSON,
 * PGresults and redisReplies (registered with their free function).
 * arena_reset() releases it all at once after the response is sent.
 * An arena is owned by exactly one worker and is not thread-safe.
 */
#ifndef SOTTO_ARENA_H
#define SOTTO_ARENA_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

/* A new arena, or NULL when out of memory. The caller owns it. */
struct arena *arena_new(void);

/* Release every allocation and run every registered cleanup (last first). */
void arena_reset(struct arena *a);

/* arena_reset(), then free the arena itself. NULL is allowed. */
void arena_free(struct arena *a);

/* n bytes aligned for any type, zero-filled; NULL when out of memory. */
void *arena_alloc(struct arena *a, size_t n) __attribute__((warn_unused_result));

/* Copies, NUL-terminated. NULL when out of memory. */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* v in decimal (a query parameter, a Redis argument). NULL when out of memory. */
char *arena_i64(struct arena *a, int64_t v);

/*
 * Run fn(p) at reset. Used to hand library objects (PGresult, json_object,
 * redisReply) to the arena. On failure fn(p) is called at once and -1 is
 * returned, so ownership always moves to the arena.
 */
int arena_defer(struct arena *a, void (*fn)(void *), void *p);

/* Bytes currently held (for tests and metrics). */
size_t arena_used(const struct arena *a);

#endif
