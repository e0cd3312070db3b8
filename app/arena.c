/*
 * arena.c — per-request bump allocator with deferred cleanups.
 *
 * Memory comes in chunks; the first chunk is kept across resets so a
 * typical request allocates nothing from malloc after warm-up. Large
 * allocations get a chunk of their own.
 *
 * A request's arena holds its body (passwords), decrypted text and keys'
 * neighbours: reset wipes every byte handed out (sodium_memzero of each
 * chunk's used part, not of its whole size) before the memory is reused or
 * freed. The unused part of a chunk is zero already (chunks come from
 * calloc and are wiped on reset), so arena_alloc need not clear memory:
 * the wipe replaces the memset it used to do.
 *
 * Chunks past the first go back to a spare list at reset, wiped, up to
 * ARENA_SPARE_MAX bytes, and the next request that overflows takes one
 * from there instead of calloc zeroing a new one (a feed page took four
 * or five a request); beyond that they are freed, so one huge request
 * does not keep its memory.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"

#define ARENA_CHUNK 16384
#define ARENA_ALIGN 16
#define ARENA_SPARE_MAX (256 * 1024)

struct chunk {
	struct chunk *next;
	size_t size;     /* usable bytes in data */
	size_t used;
	_Alignas(ARENA_ALIGN) unsigned char data[];
};

struct cleanup {
	struct cleanup *next;
	void (*fn)(void *);
	void *p;
};

struct arena {
	struct chunk *head;       /* current chunk; the last in the list is the kept one */
	struct cleanup *cleanups; /* newest first */
	size_t used;
	struct chunk *spare;      /* wiped chunks for the next requests */
	size_t spare_bytes;       /* their sizes' sum, at most ARENA_SPARE_MAX */
};

static struct chunk *chunk_new(size_t size)
{
	struct chunk *c = calloc(1, sizeof(*c) + size);

	if (c == NULL)
		return NULL;
	c->next = NULL;
	c->size = size;
	c->used = 0;
	return c;
}

struct arena *arena_new(void)
{
	struct arena *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->head = chunk_new(ARENA_CHUNK);
	if (a->head == NULL) {
		free(a);
		return NULL;
	}
	return a;
}

void arena_reset(struct arena *a)
{
	while (a->cleanups != NULL) {
		struct cleanup *c = a->cleanups;

		a->cleanups = c->next;
		c->fn(c->p);
	}
	/* Every chunk but the first one ever made (the list tail), wiped, to the spares or freed. */
	while (a->head->next != NULL) {
		struct chunk *c = a->head;

		a->head = c->next;
		sodium_memzero(c->data, c->used);
		c->used = 0;
		if (a->spare_bytes + c->size <= ARENA_SPARE_MAX) {
			c->next = a->spare;
			a->spare = c;
			a->spare_bytes += c->size;
		} else {
			free(c);
		}
	}
	sodium_memzero(a->head->data, a->head->used);
	a->head->used = 0;
	a->used = 0;
}

void arena_free(struct arena *a)
{
	if (a == NULL)
		return;
	arena_reset(a);
	while (a->spare != NULL) {
		struct chunk *c = a->spare;

		a->spare = c->next;
		free(c);
	}
	free(a->head);
	free(a);
}

/* A spare chunk with room for need bytes, unlinked, or NULL. */
static struct chunk *spare_take(struct arena *a, size_t need)
{
	for (struct chunk **p = &a->spare; *p != NULL; p = &(*p)->next) {
		struct chunk *c = *p;

		if (c->size >= need) {
			*p = c->next;
			a->spare_bytes -= c->size;
			return c;
		}
	}
	return NULL;
}

void *arena_alloc(struct arena *a, size_t n)
{
	size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	struct chunk *c = a->head;
	void *p;

	if (n == 0)
		need = ARENA_ALIGN;
	if (need < n)
		return NULL; /* overflow */
	if (c->size - c->used < need) {
		size_t size = need > ARENA_CHUNK / 2 ? need : ARENA_CHUNK;

		c = spare_take(a, need);
		if (c == NULL && (c = chunk_new(size)) == NULL)
			return NULL;
		c->next = a->head;
		a->head = c;
	}
	p = c->data + c->used;
	c->used += need;
	a->used += need;
	return p;    /* zero: see the top of this file */
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p;

	if (n == SIZE_MAX)
		return NULL;
	p = arena_alloc(a, n + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

/*
 * Printed straight into the current chunk when it fits (one pass, the
 * common case); otherwise measured, allocated and printed again. A
 * failed attempt is wiped, so the chunk's unused part stays zero.
 */
char *arena_printf(struct arena *a, const char *fmt, ...)
{
	struct chunk *c = a->head;
	size_t room = c->size - c->used;
	char *at = (char *)c->data + c->used, *p;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(at, room, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < room) {
		/* used and size are multiples of ARENA_ALIGN: the bytes just printed */
		p = arena_alloc(a, (size_t)n + 1);
		assert(p == at);
		return p;
	}
	sodium_memzero(at, room);
	if (n < 0)
		return NULL;
	p = arena_alloc(a, (size_t)n + 1);
	if (p == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

char *arena_i64(struct arena *a, int64_t v)
{
	char buf[24];               /* INT64_MIN is 20 characters */
	int n = snprintf(buf, sizeof(buf), "%" PRId64, v);

	return n < 0 ? NULL : arena_strndup(a, buf, (size_t)n);
}

int arena_defer(struct arena *a, void (*fn)(void *), void *p)
{
	struct cleanup *c;

	if (p == NULL)
		return 0;
	c = arena_alloc(a, sizeof(*c));
	if (c == NULL) {
		fn(p);
		return -1;
	}
	c->fn = fn;
	c->p = p;
	c->next = a->cleanups;
	a->cleanups = c;
	return 0;
}

size_t arena_used(const struct arena *a)
{
	return a->used;
}
