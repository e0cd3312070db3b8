/*
 * dispatch.c — the request pipeline, in this order:
 *
 *   parse → CORS → IP ban → route lookup (404/405) → admin token → global rate
 *   limit (by IP) → database → bearer token → its scopes → the route's rate
 *   class (by IP and account) → body size and type → JSON or form body →
 *   proof of work → which database answers (standby.h) → handler → the
 *   account's read-your-writes mark → response
 *
 * The ban check comes before routing, so a banned address gets 403 banned
 * on every path, known or not; only for a banned address are the
 * exemptions looked up: a route flagged ROUTE_NO_BAN (/health) and a valid
 * X-Admin-Token of either kind.
 *
 * Proof of work comes last so that a request refused for any other reason
 * does not spend the client's solved challenge.
 *
 * Every check that applies to many routes lives here, driven by the
 * route's flags; handlers never repeat them. Each step either passes or
 * sets the error response and returns its status.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "arena.h"
#include "auth.h"
#include "cache.h"
#include "config.h"
#include "context.h"
#include "db.h"
#include "dispatch.h"
#include "events.h"
#include "guard.h"
#include "http.h"
#include "ipban.h"
#include "json.h"
#include "log.h"
#include "pow.h"
#include "ratelimit.h"
#include "router.h"
#include "scope.h"
#include "shm.h"
#include "standby.h"
#include "util.h"

static const char cors_allow_headers[] =
	"Authorization, Content-Type, X-PoW, X-Admin-Token, DPoP";
static const char cors_expose_headers[] =
	"X-Request-Id, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, "
	"WWW-Authenticate";

/* nginx's $request_id when well-formed (32 hex), else a fresh random one. */
static void set_request_id(struct request *req)
{
	const char *given = http_env(req, "REQUEST_ID");
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[16];

	if (given != NULL && strlen(given) == 32 &&
	    strspn(given, "0123456789abcdef") == 32) {
		memcpy(req->request_id, given, 33);
		return;
	}
	randombytes_buf(rnd, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++) {
		req->request_id[2 * i] = hex[rnd[i] >> 4];
		req->request_id[2 * i + 1] = hex[rnd[i] & 15];
	}
	req->request_id[32] = '\0';
}

/*
 * Method, path and query from the FastCGI params. REQUEST_URI is the raw
 * target as the client sent it; nginx has already rejected malformed ones.
 */
static int parse_target_or_reply(struct request *req)
{
	const char *uri = http_env(req, "REQUEST_URI");
	const char *q;

	req->method = http_method_parse(http_env(req, "REQUEST_METHOD"));
	req->origin = http_env(req, "HTTP_ORIGIN");
	req->remote_addr = http_env(req, "REMOTE_ADDR");
	if (uri == NULL || uri[0] != '/')
		return http_error(req, 400, "bad_request", "malformed request target");
	q = strchr(uri, '?');
	if (q == NULL) {
		req->path = uri;
		return 0;
	}
	req->path = arena_strndup(req->arena, uri, (size_t)(q - uri));
	if (req->path == NULL)
		return http_oom(req);
	if (http_parse_query(req, q + 1) != 0)
		return http_error(req, 400, "bad_request", "malformed query string");
	return 0;
}

/* CORS response headers for an allowed Origin; nothing for others. */
static void add_cors_headers(struct request *req)
{
	if (req->origin == NULL ||
	    !config_origin_allowed(req->ctx->cfg, req->origin))
		return;
	http_header_add(req, "Access-Control-Allow-Origin", req->origin);
	http_header_add(req, "Access-Control-Expose-Headers", cors_expose_headers);
}

/* OPTIONS: answer preflights for known paths (204), 404 for unknown ones. */
static int options_reply(struct request *req, unsigned allow_mask)
{
	const char *allow;

	if (allow_mask == 0)
		return http_error(req, 404, "not_found", "no such resource");
	allow_mask |= 1u << HTTP_OPTIONS;
	allow = route_allow_header(req->arena, allow_mask);
	http_header_add(req, "Allow", allow);
	if (req->origin != NULL && config_origin_allowed(req->ctx->cfg, req->origin)) {
		http_header_add(req, "Access-Control-Allow-Methods", allow);
		http_header_add(req, "Access-Control-Allow-Headers", cors_allow_headers);
		http_header_add(req, "Access-Control-Max-Age", "600");
	}
	return 204;
}

/* True when X-Admin-Token equals either configured (non-empty) admin token. */
static bool admin_token_any(const struct request *req)
{
	const struct config *cfg = req->ctx->cfg;
	const char *given = http_env(req, "HTTP_X_ADMIN_TOKEN");
	bool review, ui;

	if (given == NULL)
		return false;
	review = cfg->admin_review_token != NULL && cfg->admin_review_token[0] != '\0' &&
	         util_secret_equal(given, cfg->admin_review_token);
	ui = cfg->admin_ui_token != NULL && cfg->admin_ui_token[0] != '\0' &&
	     util_secret_equal(given, cfg->admin_ui_token);
	return review || ui;
}

/*
 * 403 banned for a request from a banned prefix (ipban.h), unless its
 * route is exempt (ROUTE_NO_BAN) or it carries a valid admin token.
 */
static int ban_or_reply(struct request *req)
{
	unsigned allow = 0;
	int idx;

	if (!ipban_applies(req) || admin_token_any(req))
		return 0;
	idx = route_lookup(route_table, route_count, req->arena, req->method, req->path,
	                   req->params, &req->n_params, &allow);
	if (idx >= 0 && (route_table[idx].flags & ROUTE_NO_BAN))
		return 0;
	return http_error(req, 403, "banned", "requests from this network are banned");
}

static int route_or_reply(struct request *req)
{
	unsigned allow = 0;
	int idx = route_lookup(route_table, route_count, req->arena,
	                       req->method, req->path, req->params,
	                       &req->n_params, &allow);

	if (req->method == HTTP_OPTIONS)
		return options_reply(req, idx == -1 ? 0 : allow);
	if (idx == -1)
		return http_error(req, 404, "not_found", "no such resource");
	if (idx == -2) {
		http_header_add(req, "Allow", route_allow_header(req->arena, allow));
		return http_error(req, 405, "method_not_allowed",
		                  "method not allowed on this resource");
	}
	req->route = &route_table[idx];
	req->route_index = idx;
	req->oauth_errors = (req->route->flags & ROUTE_FORM) != 0;
	return 0;
}

/*
 * X-Admin-Token against the configured token of the route's kind. An
 * empty configured token disables the routes (404, as if absent).
 */
static int admin_or_reply(struct request *req)
{
	const struct config *cfg = req->ctx->cfg;
	const char *want;
	const char *given;

	if (req->route->flags & ROUTE_ADMIN_REVIEW)
		want = cfg->admin_review_token;
	else if (req->route->flags & ROUTE_ADMIN_UI)
		want = cfg->admin_ui_token;
	else
		return 0;
	if (want == NULL || want[0] == '\0')
		return http_error(req, 404, "not_found", "no such resource");
	given = http_env(req, "HTTP_X_ADMIN_TOKEN");
	if (given == NULL || !util_secret_equal(given, want))
		return http_error(req, 401, "unauthorized", "missing or invalid admin token");
	return 0;
}

static void add_ratelimit_headers(struct request *req,
                                  const struct ratelimit_result *r)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%u", r->limit);
	http_header_add(req, "RateLimit-Limit", buf);
	snprintf(buf, sizeof(buf), "%u", r->remaining);
	http_header_add(req, "RateLimit-Remaining", buf);
	snprintf(buf, sizeof(buf), "%u", r->reset_s);
	http_header_add(req, "RateLimit-Reset", buf);
}

/* Reads without an account fail open while Redis is down; everything else closed. */
static bool fails_open(const struct request *req)
{
	return (req->method == HTTP_GET || req->method == HTTP_HEAD) &&
	       !(req->route->flags & (ROUTE_WRITE | ROUTE_AUTH)) &&
	       req->account_id == NULL;
}

/*
 * Take a token of one class. The headers describe the most specific
 * class the route has (its own class when it has one, else GLOBAL).
 */
static int take_or_reply(struct request *req, enum rate_class cls, bool report)
{
	struct context *ctx = req->ctx;
	const struct rate_limit *lim = &ctx->cfg->rate[cls];
	struct ratelimit_result r;
	char buf[16];

	if (lim->count == 0)
		return 0;
	if (ratelimit_take(ctx->cache, req->arena, cls, lim, ctx->keys.ratelimit,
	                   req->remote_addr, cls == RATE_GLOBAL ? NULL : req->account_id,
	                   ctx->cfg->workers, &r) != 0) {
		if (fails_open(req)) {
			req->ratelimit_failed_open = true;
			atomic_fetch_add_explicit(&ctx->shm->ratelimit_fail_open, 1,
			                          memory_order_relaxed);
			return 0;
		}
		return http_unavailable(req, "rate limiting is unavailable",
		                        HTTP_RETRY_AFTER_DOWN);
	}
	if (!r.allowed || report)
		add_ratelimit_headers(req, &r);
	if (r.allowed)
		return 0;
	snprintf(buf, sizeof(buf), "%u", r.retry_after_s);
	http_header_add(req, "Retry-After", buf);
	return http_error(req, 429, "rate_limited", "too many requests, slow down");
}

/* GLOBAL, by IP, before anything costs a database or Redis lookup. */
static int global_rate_or_reply(struct request *req)
{
	return take_or_reply(req, RATE_GLOBAL, req->route->rate == RATE_NONE);
}

/* The route's own class, by IP and (once known) account. */
static int class_rate_or_reply(struct request *req)
{
	if (req->route->rate == RATE_NONE || req->ratelimit_failed_open)
		return 0;
	return take_or_reply(req, req->route->rate, true);
}

/* True for media type want, any case, optionally followed by parameters. */
static bool is_type(const char *ct, const char *want)
{
	size_t n = strlen(want);

	if (ct == NULL || strncasecmp(ct, want, n) != 0)
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* The media type a route's body must have. */
static const char *body_type(const struct route *r)
{
	return (r->flags & ROUTE_FORM) ? "application/x-www-form-urlencoded" : "application/json";
}

/*
 * Enforce the body limit (413) and media type (415) for any request with
 * a body, then read the body when the route takes one.
 */
static int body_or_reply(struct request *req)
{
	const char *cl = http_env(req, "CONTENT_LENGTH");
	size_t limit = req->ctx->cfg->body_max_bytes;
	int64_t len = 0;
	char *buf;
	int got;

	if (cl != NULL && cl[0] != '\0' &&
	    util_parse_int64(cl, 0, INT64_MAX - 1, &len) != 0)
		return http_error(req, 400, "bad_request", "malformed Content-Length");
	if (len == 0)
		return 0;
	if ((uint64_t)len > limit)
		return http_error(req, 413, "payload_too_large", "request body too large");
	if (!is_type(http_env(req, "CONTENT_TYPE"), body_type(req->route)))
		return http_error(req, 415, "unsupported_media_type",
		                  (req->route->flags & ROUTE_FORM) ?
		                  "the body must be application/x-www-form-urlencoded" :
		                  "request bodies must be application/json");
	if (!(req->route->flags & (ROUTE_JSON | ROUTE_JSON_OPT | ROUTE_FORM)))
		return 0;
	buf = arena_alloc(req->arena, (size_t)len + 1);
	if (buf == NULL)
		return http_oom(req);
	got = FCGX_GetStr(buf, (int)len, ((FCGX_Request *)req->fcgi)->in);
	if (got != (int)len)
		return http_error(req, 400, "invalid_json", "request body ended early");
	buf[len] = '\0';
	req->body = buf;
	req->body_len = (size_t)len;
	return 0;
}

static int json_or_reply(struct request *req)
{
	const char *why = NULL;

	if (!(req->route->flags & (ROUTE_JSON | ROUTE_JSON_OPT)))
		return 0;
	if (req->body_len == 0 && (req->route->flags & ROUTE_JSON_OPT))
		return 0;
	if (req->body_len == 0)
		return http_error(req, 400, "invalid_json", "a JSON object body is required");
	req->json = json_parse_strict(req->arena, req->body, req->body_len,
	                              req->ctx->cfg->json_max_depth, &why);
	if (req->json == NULL)
		return http_error(req, 400, "invalid_json", why);
	if (!json_object_is_type(req->json, json_type_object))
		return http_error(req, 400, "invalid_json", "the body must be a JSON object");
	return 0;
}

/* A form body (ROUTE_FORM), parsed as strictly as JSON (http_parse_form). */
static int form_or_reply(struct request *req)
{
	const char *why = NULL;

	if (!(req->route->flags & ROUTE_FORM))
		return 0;
	if (http_parse_form(req->arena, req->body, req->body_len, req->form, HTTP_MAX_FORM,
	                    &req->n_form, &why) != 0)
		return http_error(req, 400, "bad_request", why);
	return 0;
}

/* The scopes (scope.h) a route's flags ask of a token. */
static unsigned route_scopes(unsigned flags)
{
	return ((flags & ROUTE_SCOPE_READ) ? SCOPE_READ : 0) |
	       ((flags & ROUTE_SCOPE_WRITE) ? SCOPE_WRITE : 0) |
	       ((flags & ROUTE_SCOPE_DM) ? SCOPE_DM : 0) |
	       ((flags & ROUTE_SCOPE_ACCOUNT) ? SCOPE_ACCOUNT : 0) |
	       ((flags & ROUTE_FIRST_PARTY) ? SCOPE_FIRST_PARTY : 0);
}

/*
 * 403 forbidden when the request's token lacks a scope its route asks
 * for: a client's token reaches only what the person approved, and never
 * the routes of the account's owner alone (ROUTE_FIRST_PARTY).
 */
static int scope_or_reply(struct request *req)
{
	if (req->account == NULL ||
	    scope_allows(req->account->token.scope, route_scopes(req->route->flags)))
		return 0;
	return http_error(req, 403, "forbidden", "this token's scopes do not allow this request");
}

static int database_or_reply(struct request *req)
{
	if (!(req->route->flags & ROUTE_DB))
		return 0;
	if (!db_ready(req->ctx->db))
		return http_unavailable(req, "the database is unavailable",
		                        HTTP_RETRY_AFTER_DOWN);
	return 0;
}

/*
 * The route's handler, on the database standby_route() picks. A read the
 * standby failed (it went away, replay cancelled the query) runs once more
 * on the primary from a clean reply: never a 503 the primary could have
 * answered. Such handlers only read, so running one twice changes nothing.
 */
static int handler_run(struct request *req)
{
	size_t n_headers = req->n_headers;
	int status;

	standby_route(req);
	status = req->route->handler(req);
	if (!standby_failed(req, status))
		return status;
	req->n_headers = n_headers;
	req->reply = NULL;
	req->reply_raw = NULL;
	req->reply_raw_len = 0;
	req->reply_type = NULL;
	req->reply_stream = NULL;
	return req->route->handler(req);
}

/* The pipeline. Returns the response status; req->reply holds the body. */
static int handle(struct request *req)
{
	int status;

	if ((status = parse_target_or_reply(req)) != 0)
		return status;
	add_cors_headers(req);
	if ((status = ban_or_reply(req)) != 0)
		return status;
	if ((status = route_or_reply(req)) != 0)
		return status;
	if ((status = admin_or_reply(req)) != 0)
		return status;
	if ((status = global_rate_or_reply(req)) != 0)
		return status;
	if ((status = database_or_reply(req)) != 0)
		return status;
	if ((status = auth_or_reply(req)) != 0)
		return status;
	if ((status = scope_or_reply(req)) != 0)
		return status;
	if ((status = class_rate_or_reply(req)) != 0)
		return status;
	if ((status = body_or_reply(req)) != 0)
		return status;
	if ((status = json_or_reply(req)) != 0)
		return status;
	if ((status = form_or_reply(req)) != 0)
		return status;
	if ((status = pow_verify_or_reply(req)) != 0)
		return status;
	return handler_run(req);
}

/* Append "Name: value\r\n" to the header block; false when it does not fit. */
static bool put_header(char *buf, size_t cap, size_t *len, const char *name,
                       const char *value)
{
	size_t n = strlen(name) + 2 + strlen(value) + 2;

	if (n >= cap - *len)
		return false;
	*len += util_put_text(buf + *len, name);
	*len += util_put_text(buf + *len, ": ");
	*len += util_put_text(buf + *len, value);
	*len += util_put_text(buf + *len, "\r\n");
	buf[*len] = '\0';
	return true;
}

/*
 * Write status, headers and body. Every response carries the standard
 * headers of the HTTP contract (docs/openapi.yaml); JSON responses also
 * the restrictive CSP.
 */
static void write_response(struct request *req, FCGX_Request *fr, int status)
{
	char head[4096];
	size_t len = 0;
	const char *body = NULL;
	size_t body_len = 0;
	const char *type = NULL;
	char num[32];
	bool ok = true;

	if (status != 204 && status != 304) {
		if (req->reply != NULL) {
			body = json_dump(req->reply, &body_len);
			type = "application/json";
		} else if (req->reply_raw != NULL) {
			body = req->reply_raw;
			body_len = req->reply_raw_len;
			type = req->reply_type;
		} else if (req->reply_stream != NULL) {
			type = "application/json";
		}
	}
	snprintf(num, sizeof(num), "%d %s", status, http_reason(status));
	ok &= put_header(head, sizeof(head), &len, "Status", num);
	if (type != NULL)
		ok &= put_header(head, sizeof(head), &len, "Content-Type", type);
	if (type != NULL && req->reply_stream == NULL) {
		snprintf(num, sizeof(num), "%zu", body_len);
		ok &= put_header(head, sizeof(head), &len, "Content-Length", num);
	}
	ok &= put_header(head, sizeof(head), &len, "X-Request-Id", req->request_id);
	ok &= put_header(head, sizeof(head), &len, "Cache-Control", "no-store");
	ok &= put_header(head, sizeof(head), &len, "X-Content-Type-Options", "nosniff");
	ok &= put_header(head, sizeof(head), &len, "Referrer-Policy", "no-referrer");
	if (type == NULL || strcmp(type, "application/json") == 0)
		ok &= put_header(head, sizeof(head), &len, "Content-Security-Policy",
		                 "default-src 'none'; frame-ancestors 'none'");
	if (req->origin != NULL)
		ok &= put_header(head, sizeof(head), &len, "Vary", "Origin");
	for (size_t i = 0; i < req->n_headers; i++)
		ok &= put_header(head, sizeof(head), &len, req->headers[i].name,
		                 req->headers[i].value);
	if (!ok)
		log_msg(LOG_ERROR, "response headers truncated");
	if (len + 2 < sizeof(head)) {
		memcpy(head + len, "\r\n", 2);
		len += 2;
	}
	FCGX_PutStr(head, (int)len, fr->out);
	if (body != NULL && req->method != HTTP_HEAD)
		FCGX_PutStr(body, (int)body_len, fr->out);
	if (req->reply_stream != NULL && type != NULL && req->method != HTTP_HEAD &&
	    req->reply_stream(req) != 0)
		log_msg(LOG_WARN, "a streamed body was cut short");
	/* json-c's text of the reply (decrypted messages maybe) is reprinted on every dump. */
	if (req->reply != NULL && body != NULL)
		sodium_memzero((char *)body, body_len);
}

void dispatch_request(struct context *ctx, FCGX_Request *fr)
{
	struct request req;
	uint64_t start = util_now_us();
	uint32_t took;
	int status;

	memset(&req, 0, sizeof(req));
	req.arena = ctx->arena;
	req.ctx = ctx;
	req.db = ctx->db;
	req.fcgi = fr;
	req.route_index = -1;
	set_request_id(&req);
	status = handle(&req);
	if (status < 100 || status > 599) {
		log_msg(LOG_ERROR, "handler returned invalid status %d", status);
		status = http_error(&req, 500, "internal", "internal error");
	}
	/* before the answer leaves, so the account's next read finds the mark */
	standby_note_write(&req, status);
	write_response(&req, fr, status);
	guard_settle(&req, status);
	events_flush(&req, status);
	took = (uint32_t)(util_now_us() - start);
	shm_record(ctx->shm, req.route_index, status, took);
	log_request(req.request_id, http_method_name(req.method),
	            req.route != NULL ? req.route->pattern : "-", status, took);
}
