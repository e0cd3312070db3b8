/*
 * router.h — the static route table and its lookup.
 *
 * Each route names its method, a pattern whose segments are literal or
 * {param}, its handler and its flags. The shared checks in dispatch.c
 * read the flags (database, auth and the token's scopes, admin token, rate
 * class, proof of work, JSON or form body, which database answers a read);
 * handlers never repeat them.
 */
#ifndef SOTTO_ROUTER_H
#define SOTTO_ROUTER_H

#include <stddef.h>

#include "config.h"
#include "http.h"

enum route_flag {
	ROUTE_DB          = 1u << 0, /* needs PostgreSQL: 503 while it is down */
	ROUTE_AUTH        = 1u << 1, /* bearer token required (401 otherwise) */
	ROUTE_AUTH_OPT    = 1u << 2, /* bearer token read when present */
	ROUTE_JSON        = 1u << 3, /* body must be a JSON object */
	ROUTE_WRITE       = 1u << 4, /* changes state: rate limiter fails closed */
	ROUTE_ADMIN_REVIEW= 1u << 5, /* X-Admin-Token == ADMIN_REVIEW_TOKEN */
	ROUTE_ADMIN_UI    = 1u << 6, /* X-Admin-Token == ADMIN_UI_TOKEN */
	ROUTE_NO_BAN      = 1u << 7, /* bans do not apply (/health) */
	ROUTE_NO_LOG_BODY = 1u << 8, /* reserved: never log anything of the body */
	ROUTE_JSON_OPT    = 1u << 9, /* body, when sent, must be a JSON object */
	ROUTE_FORM        = 1u << 10, /* body must be application/x-www-form-urlencoded
	                                 (req->form); errors in RFC 6749's format */
	/* What a token must allow (scope.h); a route taking a token names one or more. */
	ROUTE_SCOPE_READ    = 1u << 11,
	ROUTE_SCOPE_WRITE   = 1u << 12,
	ROUTE_SCOPE_DM      = 1u << 13,
	ROUTE_SCOPE_ACCOUNT = 1u << 14,
	ROUTE_FIRST_PARTY   = 1u << 15, /* only tokens of the /auth routes, never a client's */
	ROUTE_ANY_SCOPE     = 1u << 16, /* any valid token (logout) */
	ROUTE_STANDBY       = 1u << 17, /* a lag-tolerant read a standby may answer
	                                   (standby.h); never a write, a token's or a
	                                   session's check, nor what must be exact */
};

#define ROUTE_SCOPES (ROUTE_SCOPE_READ | ROUTE_SCOPE_WRITE | ROUTE_SCOPE_DM | \
                      ROUTE_SCOPE_ACCOUNT | ROUTE_FIRST_PARTY | ROUTE_ANY_SCOPE)

struct route {
	enum http_method method;
	const char *pattern;        /* "/posts/{id}/vote" */
	http_handler handler;
	unsigned flags;
	enum rate_class rate;       /* class on top of GLOBAL, or RATE_NONE */
	enum pow_action pow;        /* required proof of work, or POW_NONE */
};

extern const struct route route_table[];
extern const size_t route_count;

/*
 * Find the route for method and path in table[0..n). On a match returns its index and
 * fills params (decoded into the arena) and *n_params. Returns -1 when no
 * pattern matches (404) and -2 when a pattern matches but not the method
 * (405); then *allow_mask has bit (1 << method) set for each allowed method.
 */
int route_lookup(const struct route *table, size_t n, struct arena *a,
                 enum http_method method, const char *path,
                 const char **params, size_t *n_params, unsigned *allow_mask);

/* "GET, HEAD, POST" for an allow mask, into the arena. */
const char *route_allow_header(struct arena *a, unsigned allow_mask);

#endif
