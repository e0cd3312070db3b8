/*
 * http.h — the request object handlers see, and the one way to answer.
 *
 * A handler reads req (params, query, parsed JSON body, account) and
 * returns an HTTP status after setting req->reply (a json_object owned
 * by the request arena) or calling http_error(). The dispatcher writes
 * the response, headers included; handlers never write to the socket.
 */
#ifndef SOTTO_HTTP_H
#define SOTTO_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

struct account;
struct event_note;
struct arena;
struct route;
struct context;
struct db;

enum http_method {
	HTTP_GET = 0,
	HTTP_HEAD,
	HTTP_POST,
	HTTP_PUT,
	HTTP_PATCH,
	HTTP_DELETE,
	HTTP_OPTIONS,
	HTTP__MAX,
	HTTP_UNKNOWN = HTTP__MAX
};

#define HTTP_RETRY_AFTER_DOWN 2 /* seconds a client should wait while a dependency is down */
#define HTTP_RETRY_AFTER_BUSY 1 /* ... and after the database gave up on a busy moment */

#define HTTP_MAX_PARAMS 4
#define HTTP_MAX_QUERY 32
#define HTTP_MAX_HEADERS 24
#define HTTP_MAX_FORM 16        /* pairs of a form body */
#define HTTP_FORM_NAME_MAX 64   /* bytes of a form parameter's name */

struct query_param {
	const char *name;  /* percent-decoded, NUL-terminated, arena-owned */
	const char *value; /* percent-decoded; "" when the pair had no '=' */
};

struct http_header {
	const char *name;
	const char *value;
};

struct request {
	struct arena *arena;        /* owns every pointer below */
	struct context *ctx;        /* connections, keys and caches of this process */
	void *fcgi;                 /* FCGX_Request *, for params and streams */

	enum http_method method;
	const char *path;           /* raw path, without the query */
	const char *origin;         /* Origin header or NULL */
	const char *remote_addr;    /* nginx REMOTE_ADDR; memory only, never stored */
	char request_id[33];        /* 32 hex chars */

	const struct route *route;  /* matched route, NULL before routing */
	int route_index;            /* index in the route table, -1 if none */
	const char *params[HTTP_MAX_PARAMS]; /* {param} values, decoded */
	size_t n_params;

	struct query_param query[HTTP_MAX_QUERY];
	size_t n_query;

	const char *body;           /* raw body bytes (NUL-terminated copy), or NULL */
	size_t body_len;
	json_object *json;          /* parsed body when the route takes JSON */
	struct query_param form[HTTP_MAX_FORM]; /* parsed body when the route takes a form */
	size_t n_form;
	bool oauth_errors;          /* errors in RFC 6749's format (a ROUTE_FORM route) */

	/* the database this request's statements go to: ctx->db, or for a
	 * ROUTE_STANDBY read the standby may answer, ctx->db_read (standby.h) */
	struct db *db;

	/* set by the auth check when a valid bearer token is present */
	struct account *account;    /* arena-owned; NULL when anonymous */
	const char *account_id;     /* public account id, NULL when anonymous */
	int64_t account_pk;         /* internal key; never leaves the server */

	/* response */
	json_object *reply;         /* body to send, arena-owned; NULL = no body */
	const char *reply_raw;      /* alternative non-JSON body (e.g. /metrics) */
	size_t reply_raw_len;
	const char *reply_type;     /* Content-Type of reply_raw */
	/* or a JSON body written piece by piece after the headers (no
	 * Content-Length); returns 0, or -1 having cut the body short, which
	 * leaves invalid JSON rather than a document that looks whole */
	int (*reply_stream)(struct request *req);
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t n_headers;
	bool ratelimit_failed_open; /* Redis was down and a read went through */
	int pow_bits;               /* difficulty of the proof of work it solved, 0 = none */

	/* events pushed by this request, published after it (events.c) */
	struct event_note *events;
	/* the repetition window this request opened, closed again when its
	 * write did not happen (guard_settle) */
	char *guard_key;
};

typedef int (*http_handler)(struct request *req);

/* Write len bytes of a streamed body (reply_stream). 0 or -1. */
int http_stream_write(struct request *req, const char *data, size_t len)
    __attribute__((warn_unused_result));

/* Method name -> enum; HTTP_UNKNOWN for anything else. */
enum http_method http_method_parse(const char *s);
const char *http_method_name(enum http_method m);

/* Reason phrase for a status code ("OK", "Not Found", ...). */
const char *http_reason(int status);

/*
 * Set the contract's error body {"error":{"code","message"}} and return
 * status, so handlers can write `return http_error(req, 404, "not_found", "...")`.
 */
int http_error(struct request *req, int status, const char *code,
               const char *message);

/*
 * An error in RFC 6749's format (section 5.2): {"error": error,
 * "error_description": description}; returns status. On a route that
 * answers in that format (req->oauth_errors), http_error() comes here
 * too, its code mapped to the nearest of the RFC's.
 */
int http_oauth_error(struct request *req, int status, const char *error,
                     const char *description);

/* 500 internal "out of memory": http_error() for an allocation that failed. */
int http_oom(struct request *req);

/* 503 unavailable with Retry-After: seconds. */
int http_unavailable(struct request *req, const char *message, int retry_after);

/* 503 unavailable (with Retry-After) when the database is down or busy
 * (db_busy), else 500 internal. */
int http_db_failure(struct request *req);

/* http_error() plus "reason" inside "error" (content_rejected). */
int http_error_reason(struct request *req, int status, const char *code,
                      const char *message, const char *reason);

/* Set req->reply to obj (ownership moves to the arena) and return status. */
int http_reply(struct request *req, int status, json_object *obj);

/*
 * Reply {"<key>": value} with status; value's ownership moves to the
 * reply. A NULL value (out of memory upstream) is a 500.
 */
int http_reply_member(struct request *req, int status, const char *key, json_object *value);

/* Add a response header; name and value are copied into the arena. 0 / -1 when full. */
int http_header_add(struct request *req, const char *name, const char *value);

/* Value of query parameter name, or NULL. */
const char *http_query(const struct request *req, const char *name);

/*
 * Value of form parameter name, or NULL when absent or empty (RFC 6749
 * section 3.1: a parameter without a value is treated as omitted).
 */
const char *http_form(const struct request *req, const char *name);

/*
 * Parse an application/x-www-form-urlencoded body (body[0..len), no NUL)
 * into out[0..max), *n pairs, on arena a, as strictly as a JSON body is
 * read: every pair is name=value with a non-empty name of at most
 * HTTP_FORM_NAME_MAX bytes, '+' is a space, percent escapes are valid
 * and decode to UTF-8 without NUL, no name appears twice (RFC 6749
 * section 3.1), at most max pairs. 0, or -1 with *why set to a message.
 */
int http_parse_form(struct arena *a, const char *body, size_t len, struct query_param *out,
                    size_t max, size_t *n, const char **why)
    __attribute__((warn_unused_result));

/* Value of the {param} at position i of the matched pattern. */
const char *http_param(const struct request *req, size_t i);

/* A request header by its CGI name (e.g. "HTTP_AUTHORIZATION"), or NULL. */
const char *http_env(const struct request *req, const char *cgi_name);

/*
 * How many times the request carries cgi_name: nginx passes a header
 * sent twice as two params, and http_env() sees only the first.
 */
size_t http_env_count(const struct request *req, const char *cgi_name);

/*
 * This server's origin (the OAuth issuer, the start of DPoP's htu):
 * SOTTO_PUBLIC_ORIGIN when set; otherwise as the client reached it,
 * "https://" + HTTP_HOST + ":" + SERVER_PORT unless 443. nginx passes
 * HTTP_HOST as its $host (Debian's fastcgi_params: the request's host,
 * lowercased, without a port) and SERVER_PORT as the port it accepted
 * the connection on. NULL when the host is absent or not a plain name
 * or address of at most 255 bytes, or on OOM.
 */
const char *http_self_origin(const struct request *req);

/*
 * Percent-decode src[0..len) into a new arena string. '+' is a space only
 * when plus_is_space (query strings). Fails (NULL) on a bad escape, an
 * encoded NUL or a result that is not valid UTF-8, which no valid input
 * contains: the router answers such a path 404, the query parser 400.
 */
char *http_percent_decode(struct arena *a, const char *src, size_t len,
                          bool plus_is_space);

/*
 * s percent-encoded for a query component (RFC 3986 section 2: every
 * byte but the unreserved characters escaped), on the arena; NULL on OOM.
 */
char *http_percent_encode(struct arena *a, const char *s);

/*
 * Split a query string into req->query (decoded). Returns 0, or -1 when
 * malformed or when there are more than HTTP_MAX_QUERY pairs.
 */
int http_parse_query(struct request *req, const char *qs)
    __attribute__((warn_unused_result));

#endif
