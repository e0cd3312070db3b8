/*
 * http.c — request helpers: methods, reasons, the error format, response
 * headers (Retry-After on 503), percent-decoding and query strings.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <fcgiapp.h>

#include "arena.h"
#include "db.h"
#include "http.h"
#include "util.h"
#include "json.h"
#include "context.h"

static const char *const method_names[HTTP__MAX] = {
	[HTTP_GET] = "GET",       [HTTP_HEAD] = "HEAD",     [HTTP_POST] = "POST",
	[HTTP_PUT] = "PUT",       [HTTP_PATCH] = "PATCH",   [HTTP_DELETE] = "DELETE",
	[HTTP_OPTIONS] = "OPTIONS",
};

enum http_method http_method_parse(const char *s)
{
	if (s == NULL)
		return HTTP_UNKNOWN;
	for (int m = 0; m < HTTP__MAX; m++)
		if (strcmp(s, method_names[m]) == 0)
			return (enum http_method)m;
	return HTTP_UNKNOWN;
}

const char *http_method_name(enum http_method m)
{
	return m < HTTP__MAX ? method_names[m] : "OTHER";
}

const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 428: return "Precondition Required";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default:  return "Unknown";
	}
}

int http_oauth_error(struct request *req, int status, const char *error,
                     const char *description)
{
	json_object *root = json_new_object(req->arena);

	req->reply = root;
	req->reply_raw = NULL;
	if (root == NULL)
		return status;
	json_object_object_add(root, "error", json_object_new_string(error));
	json_object_object_add(root, "error_description", json_object_new_string(description));
	return status;
}

/*
 * The RFC 6749 error code (section 5.2, and RFC 8628's slow_down for a
 * rate limit) nearest to an error of status on a token endpoint.
 */
static const char *oauth_error_for(int status)
{
	if (status == 401)
		return "invalid_client";
	if (status == 429)
		return "slow_down";
	if (status == 503)
		return "temporarily_unavailable";
	if (status >= 500)
		return "server_error";
	return "invalid_request";
}

int http_error_reason(struct request *req, int status, const char *code,
                      const char *message, const char *reason)
{
	json_object *root, *err;

	if (req->oauth_errors)
		return http_oauth_error(req, status, oauth_error_for(status), message);
	root = json_new_object(req->arena);
	err = json_object_new_object();

	if (root == NULL || err == NULL) {
		json_object_put(err);
		req->reply = NULL;
		return status;
	}
	json_object_object_add(err, "code", json_object_new_string(code));
	json_object_object_add(err, "message", json_object_new_string(message));
	if (reason != NULL)
		json_object_object_add(err, "reason", json_object_new_string(reason));
	json_object_object_add(root, "error", err);
	req->reply = root;
	req->reply_raw = NULL;
	return status;
}

int http_error(struct request *req, int status, const char *code,
               const char *message)
{
	return http_error_reason(req, status, code, message, NULL);
}

int http_oom(struct request *req)
{
	return http_error(req, 500, "internal", "out of memory");
}

int http_unavailable(struct request *req, const char *message, int retry_after)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%d", retry_after);
	http_header_add(req, "Retry-After", buf);
	return http_error(req, 503, "unavailable", message);
}

int http_db_failure(struct request *req)
{
	if (db_down(req->db))
		return http_unavailable(req, "the database is unavailable",
		                    HTTP_RETRY_AFTER_DOWN);
	if (db_unconfirmed(req->db))
		return http_unavailable(req, "the database could not confirm the write; "
		                        "look before sending it again", HTTP_RETRY_AFTER_BUSY);
	if (db_busy(req->db))
		return http_unavailable(req, "the database is busy; nothing was written",
		                    HTTP_RETRY_AFTER_BUSY);
	return http_error(req, 500, "internal", "internal error");
}

int http_reply(struct request *req, int status, json_object *obj)
{
	if (obj != NULL &&
	    arena_defer(req->arena, json_release, obj) != 0) {
		return http_oom(req);
	}
	req->reply = obj;
	return status;
}

int http_reply_member(struct request *req, int status, const char *key, json_object *value)
{
	json_object *o = value != NULL ? json_object_new_object() : NULL;

	if (o == NULL) {
		json_object_put(value);
		return http_oom(req);
	}
	json_object_object_add(o, key, value);
	return http_reply(req, status, o);
}

int http_header_add(struct request *req, const char *name, const char *value)
{
	struct http_header *h;

	if (req->n_headers >= HTTP_MAX_HEADERS)
		return -1;
	h = &req->headers[req->n_headers];
	h->name = arena_strdup(req->arena, name);
	h->value = arena_strdup(req->arena, value);
	if (h->name == NULL || h->value == NULL)
		return -1;
	req->n_headers++;
	return 0;
}

const char *http_query(const struct request *req, const char *name)
{
	for (size_t i = 0; i < req->n_query; i++)
		if (strcmp(req->query[i].name, name) == 0)
			return req->query[i].value;
	return NULL;
}

const char *http_param(const struct request *req, size_t i)
{
	return i < req->n_params ? req->params[i] : NULL;
}

const char *http_env(const struct request *req, const char *cgi_name)
{
	const FCGX_Request *fr = req->fcgi;

	if (fr == NULL)
		return NULL;
	return FCGX_GetParam(cgi_name, fr->envp);
}

const char *http_self_origin(const struct request *req)
{
	const char *host = http_env(req, "HTTP_HOST"), *port = http_env(req, "SERVER_PORT");
	int64_t p = 443;
	size_t n;

	if (req->ctx != NULL && req->ctx->cfg->public_origin[0] != '\0')
		return req->ctx->cfg->public_origin;
	if (host == NULL || (n = strnlen(host, 256)) == 0 || n > 255 ||
	    strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") != n)
		return NULL;
	if (port != NULL && port[0] != '\0' && util_parse_int64(port, 1, 65535, &p) != 0)
		return NULL;
	if (p == 443)
		return arena_printf(req->arena, "https://%s", host);
	return arena_printf(req->arena, "https://%s:%lld", host, (long long)p);
}

size_t http_env_count(const struct request *req, const char *cgi_name)
{
	const FCGX_Request *fr = req->fcgi;
	size_t n = 0, len = strlen(cgi_name);

	if (fr == NULL || fr->envp == NULL)
		return 0;
	for (char **e = fr->envp; *e != NULL; e++)
		if (strncmp(*e, cgi_name, len) == 0 && (*e)[len] == '=')
			n++;
	return n;
}

char *http_percent_decode(struct arena *a, const char *src, size_t len,
                          bool plus_is_space)
{
	char *out = arena_alloc(a, len + 1);
	size_t o = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		char c = src[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return NULL; /* truncated escape */
			hi = util_hex_value(src[i + 1]);
			lo = util_hex_value(src[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return NULL; /* bad escape, or an encoded NUL */
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus_is_space) {
			out[o++] = ' ';
		} else if (c == '\0') {
			return NULL;
		} else {
			out[o++] = c;
		}
	}
	out[o] = '\0';
	/* Text reaches PostgreSQL and JSON, which take UTF-8 only (RFC 3629). */
	return util_utf8_valid(out, o) ? out : NULL;
}

char *http_percent_encode(struct arena *a, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), o = 0;
	char *out = n < SIZE_MAX / 3 ? arena_alloc(a, 3 * n + 1) : NULL;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

int http_parse_query(struct request *req, const char *qs)
{
	const char *p = qs;

	req->n_query = 0;
	if (qs == NULL)
		return 0;
	while (*p != '\0') {
		const char *amp = strchr(p, '&');
		size_t len = amp != NULL ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		struct query_param *q;

		if (len > 0) {
			if (req->n_query >= HTTP_MAX_QUERY)
				return -1;
			q = &req->query[req->n_query];
			if (eq != NULL) {
				q->name = http_percent_decode(req->arena, p, (size_t)(eq - p), true);
				q->value = http_percent_decode(req->arena, eq + 1,
				                               len - (size_t)(eq - p) - 1, true);
			} else {
				q->name = http_percent_decode(req->arena, p, len, true);
				q->value = "";
			}
			if (q->name == NULL || q->value == NULL)
				return -1;
			req->n_query++;
		}
		if (amp == NULL)
			break;
		p = amp + 1;
	}
	return 0;
}

/* True when name appears among out[0..n). */
static bool form_has(const struct query_param *out, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(out[i].name, name) == 0)
			return true;
	return false;
}

int http_parse_form(struct arena *a, const char *body, size_t len, struct query_param *out,
                    size_t max, size_t *n, const char **why)
{
	size_t i = 0;

	*n = 0;
	*why = "malformed form body";
	while (i < len) {
		const char *p = body + i, *amp = memchr(p, '&', len - i);
		size_t pair = amp != NULL ? (size_t)(amp - p) : len - i;
		const char *eq = memchr(p, '=', pair);
		struct query_param q;

		if (eq == NULL || eq == p || (size_t)(eq - p) > 3 * HTTP_FORM_NAME_MAX)
			return -1;
		q.name = http_percent_decode(a, p, (size_t)(eq - p), true);
		q.value = http_percent_decode(a, eq + 1, pair - (size_t)(eq - p) - 1, true);
		/* the decoder refuses bad escapes, NUL and what is not UTF-8 */
		if (q.name == NULL || q.value == NULL || q.name[0] == '\0' ||
		    strlen(q.name) > HTTP_FORM_NAME_MAX)
			return -1;
		if (form_has(out, *n, q.name)) {
			*why = "a parameter appears more than once";
			return -1;
		}
		if (*n >= max) {
			*why = "too many parameters";
			return -1;
		}
		out[(*n)++] = q;
		i += pair + 1;
		if (amp != NULL && i == len)
			return -1;   /* a trailing '&' */
	}
	return 0;
}

const char *http_form(const struct request *req, const char *name)
{
	for (size_t i = 0; i < req->n_form; i++)
		if (strcmp(req->form[i].name, name) == 0)
			return req->form[i].value[0] != '\0' ? req->form[i].value : NULL;
	return NULL;
}

int http_stream_write(struct request *req, const char *data, size_t len)
{
	FCGX_Request *fr = req->fcgi;

	if (len > INT_MAX)
		return -1;
	return len == 0 || FCGX_PutStr(data, (int)len, fr->out) == (int)len ? 0 : -1;
}
