/*
 * scope.h — what a token may do (docs/oauth.md, "Scopes").
 *
 * Tokens from the /auth routes carry every scope and SCOPE_FIRST_PARTY; tokens an
 * OAuth client obtained carry the scopes the person approved and never
 * SCOPE_FIRST_PARTY, which alone may delete the account, change its
 * password or approve another client. The dispatcher compares a route's
 * scope flags (router.h) with the token's scopes once, before the handler.
 */
#ifndef SOTTO_SCOPE_H
#define SOTTO_SCOPE_H

#include <stdbool.h>
#include <stddef.h>

struct arena;

enum scope {
	SCOPE_READ        = 1u << 0, /* feed, posts, communities, own account */
	SCOPE_WRITE       = 1u << 1, /* posts, replies, votes, flags, communities */
	SCOPE_DM          = 1u << 2, /* conversations, groups, events */
	SCOPE_ACCOUNT     = 1u << 3, /* export, sessions */
	SCOPE_FIRST_PARTY = 1u << 4, /* a token from the /auth routes: everything */
};

#define SCOPE_CLIENT_ALL (SCOPE_READ | SCOPE_WRITE | SCOPE_DM | SCOPE_ACCOUNT)
#define SCOPE_ALL (SCOPE_CLIENT_ALL | SCOPE_FIRST_PARTY)
#define SCOPE_TEXT_MAX 64   /* longest scope parameter accepted */

/*
 * Parse an OAuth scope parameter (RFC 6749 section 3.3: names separated
 * by single spaces) into *out. Only "read", "write", "dm" and "account",
 * each at most once, no leading, trailing or doubled space, at most
 * SCOPE_TEXT_MAX bytes; an empty text is no scope at all. 0, or -1.
 */
int scope_parse(const char *text, unsigned *out) __attribute__((warn_unused_result));

/* The client scopes of bits as a scope parameter ("read write"), on the arena. */
char *scope_text(struct arena *a, unsigned bits);

/* True when granted holds every scope of needed. */
bool scope_allows(unsigned granted, unsigned needed);

#endif
