/*
 * cache.c — one Redis connection per worker (hiredis 0.14, blocking API
 * with socket timeouts).
 *
 * A connection that fails in any way (I/O error, timeout, protocol
 * error) is freed at once: after a timeout the late reply would
 * otherwise be read as the answer to the next command. After a failed
 * connect the next attempt waits CACHE_RETRY_MS, longer after a slow
 * failure (a connection that worked and then died is replaced at once). Before a connection is
 * reused it is probed with a zero-timeout poll(): in this request/reply
 * mode nothing may arrive unasked, so a readable socket means the
 * server closed it (restart, timeout, CLIENT KILL), and a fresh
 * connection is opened in the same call instead of failing a request.
 *
 * Sentinel mode (cache_new_sentinel): before every connect the Sentinels
 * are asked, in turn starting with the one that answered last, for the
 * address of the master they agree on; the server found there must say
 * it is a master (ROLE) or the attempt fails. A reply READONLY (a master
 * demoted under our feet), NOREPLICAS (a master cut off from its
 * replicas) or LOADING counts as a lost connection: it is dropped and
 * the next attempt asks the Sentinels again.
 *
 * Credentials in the URL (redis://user:pass@host, unix://:pass@/path) are
 * sent with AUTH right after connect (Redis 6 ACL user, or requirepass
 * when the user is empty), or given apart for the master the Sentinels
 * name (REDIS_MASTER_USER, REDIS_MASTER_PASSWORD); they are never logged
 * and wiped when freed.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/un.h>

#include <hiredis/hiredis.h>
#include <sodium.h>

#include "arena.h"
#include "cache.h"
#include "log.h"
#include "util.h"

#define CACHE_DEFAULT_PORT 6379
#define CACHE_DEFAULT_TIMEOUT_MS 100
#define CACHE_MAX_DB 100000

struct cache_sentinel {
	char *host;
	int port;
};

struct cache {
	char *host;            /* TCP host, or NULL for a unix socket */
	int port;
	struct cache_sentinel sentinels[CACHE_MAX_SENTINELS];
	size_t n_sentinels;    /* 0: connect to host:port or path as given */
	size_t sentinel_next;  /* the one to ask first */
	char *master_name;     /* Sentinel mode: the master's name */
	int (*on_connect)(struct cache *, void *);
	void *on_connect_arg;
	char *path;            /* unix socket path, or NULL */
	int db;                /* SELECTed after connect when non-zero */
	char *user;            /* AUTH user (ACL), or NULL for the default user */
	char *pass;            /* AUTH password, or NULL: no AUTH */
	int timeout_ms;
	redisContext *ctx;
	uint64_t retry_at_us;  /* monotonic; no connect attempt before this */
	bool down;
};

static void cache_reply_free(void *p)
{
	freeReplyObject(p);
}

/* Strict decimal in [0, max]. */
static int cache_parse_uint(const char *s, size_t len, long max, long *out)
{
	long v = 0;

	if (len == 0 || len > 9)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* A copy of s[0, n) with %XX escapes decoded (RFC 3986 §2.1); NULL when malformed. */
static char *cache_unescape(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		if (i + 2 >= n)
			goto fail;
		hi = util_hex_value(s[i + 1]);
		lo = util_hex_value(s[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			goto fail;
		*o++ = (char)(hi << 4 | lo);
		i += 2;
	}
	*o = '\0';
	return out;
fail:
	sodium_memzero(out, n + 1);
	free(out);
	return NULL;
}

/*
 * "[user]:pass@" at the start of *s: sets c->user (NULL when empty) and
 * c->pass and moves *s past the '@'. Nothing when there is no '@' before
 * the first '/'. -1 when malformed (no ':' or a bad escape).
 */
static int cache_parse_userinfo(struct cache *c, const char **s)
{
	const char *at = strchr(*s, '@'), *colon;
	size_t slash = strcspn(*s, "/");

	if (at == NULL || (size_t)(at - *s) > slash)
		return 0;
	colon = memchr(*s, ':', (size_t)(at - *s));
	if (colon == NULL || colon + 1 == at)
		return -1;
	if (colon > *s && (c->user = cache_unescape(*s, (size_t)(colon - *s))) == NULL)
		return -1;
	if ((c->pass = cache_unescape(colon + 1, (size_t)(at - colon - 1))) == NULL)
		return -1;
	*s = at + 1;
	return 0;
}

/* redis://[[user]:pass@]host[:port][/db]; host may be a bracketed IPv6 literal. */
static int cache_parse_tcp(struct cache *c, const char *s)
{
	const char *host, *host_end, *p, *slash;
	long v;

	if (cache_parse_userinfo(c, &s) != 0 || strpbrk(s, "@?#") != NULL)
		return -1;
	slash = strchr(s, '/');
	if (s[0] == '[') {
		host = s + 1;
		host_end = strchr(host, ']');
		if (host_end == NULL || (slash != NULL && slash < host_end))
			return -1;
		p = host_end + 1;
	} else {
		host = s;
		host_end = s + strcspn(s, ":/");
		p = host_end;
	}
	if (host_end == host)
		return -1;
	c->port = CACHE_DEFAULT_PORT;
	if (*p == ':') {
		const char *port = p + 1;
		size_t n = strcspn(port, "/");

		if (cache_parse_uint(port, n, 65535, &v) != 0 || v == 0)
			return -1;
		c->port = (int)v;
		p = port + n;
	}
	if (*p == '/') {
		p++;
		if (*p != '\0') {
			if (cache_parse_uint(p, strlen(p), CACHE_MAX_DB, &v) != 0)
				return -1;
			c->db = (int)v;
		}
	} else if (*p != '\0') {
		return -1;
	}
	c->host = strndup(host, (size_t)(host_end - host));
	return c->host != NULL ? 0 : -1;
}

/* unix://[[user]:pass@]/absolute/path[?db=N] */
static int cache_parse_unix(struct cache *c, const char *s)
{
	const char *q;
	size_t n;
	long v;

	if (s[0] != '/' && cache_parse_userinfo(c, &s) != 0)
		return -1;
	q = strchr(s, '?');
	n = q != NULL ? (size_t)(q - s) : strlen(s);
	if (s[0] != '/' || n < 2 || n >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -1;
	if (q != NULL) {
		if (strncmp(q, "?db=", 4) != 0 ||
		    cache_parse_uint(q + 4, strlen(q + 4), CACHE_MAX_DB, &v) != 0)
			return -1;
		c->db = (int)v;
	}
	c->path = strndup(s, n);
	return c->path != NULL ? 0 : -1;
}

/* "host:port" (host may be a bracketed IPv6 literal), len bytes of s. 0 or -1. */
static int cache_parse_hostport(const char *s, size_t len, char **host, int *port)
{
	const char *colon = NULL, *h = s, *h_end;
	long v;

	for (size_t i = len; i > 0; i--) {
		if (s[i - 1] == ':') {
			colon = s + i - 1;
			break;
		}
	}
	if (colon == NULL || colon == s)
		return -1;
	h_end = colon;
	if (s[0] == '[') {
		if (colon[-1] != ']' || colon - s < 3)
			return -1;
		h = s + 1;
		h_end = colon - 1;
	}
	for (const char *p = h; p < h_end; p++)
		if (*p == '/' || *p == '@' || *p == ' ' || *p == ',')
			return -1;
	if (cache_parse_uint(colon + 1, len - (size_t)(colon + 1 - s), 65535, &v) != 0 || v == 0)
		return -1;
	*host = strndup(h, (size_t)(h_end - h));
	*port = (int)v;
	return *host != NULL ? 0 : -1;
}

int cache_parse_sentinels(const char *list, char **hosts, int *ports, size_t max, size_t *n)
{
	const char *p = list;

	*n = 0;
	if (list == NULL || *list == '\0')
		return -1;
	for (;;) {
		size_t len = strcspn(p, ",");

		if (*n == max || cache_parse_hostport(p, len, &hosts[*n], &ports[*n]) != 0)
			goto fail;
		(*n)++;
		if (p[len] == '\0')
			return 0;
		p += len + 1;
	}
fail:
	for (size_t i = 0; i < *n; i++)
		free(hosts[i]);
	*n = 0;
	return -1;
}

struct cache *cache_new_sentinel(const char *sentinels, const char *master, const char *user,
                                 const char *pass, int timeout_ms)
{
	char *hosts[CACHE_MAX_SENTINELS];
	int ports[CACHE_MAX_SENTINELS];
	struct cache *c;
	size_t n;

	if (master == NULL || *master == '\0' || strlen(master) > CACHE_MASTER_NAME_MAX)
		return NULL;
	if (cache_parse_sentinels(sentinels, hosts, ports, CACHE_MAX_SENTINELS, &n) != 0)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		for (size_t i = 0; i < n; i++)
			free(hosts[i]);
		return NULL;
	}
	/* c owns the hosts from here: cache_free() releases them. */
	for (size_t i = 0; i < n; i++) {
		c->sentinels[i].host = hosts[i];
		c->sentinels[i].port = ports[i];
	}
	c->n_sentinels = n;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : CACHE_DEFAULT_TIMEOUT_MS;
	c->master_name = strdup(master);
	if (user != NULL && *user != '\0')
		c->user = strdup(user);
	if (pass != NULL && *pass != '\0')
		c->pass = strdup(pass);
	if (c->master_name == NULL || (user != NULL && *user != '\0' && c->user == NULL) ||
	    (pass != NULL && *pass != '\0' && c->pass == NULL) || (c->user != NULL && c->pass == NULL)) {
		cache_free(c);
		return NULL;
	}
	return c;
}

void cache_on_connect(struct cache *c, int (*fn)(struct cache *, void *), void *arg)
{
	c->on_connect = fn;
	c->on_connect_arg = arg;
}

struct cache *cache_new(const char *url, int timeout_ms)
{
	struct cache *c;
	int rc = -1;

	if (url == NULL)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : CACHE_DEFAULT_TIMEOUT_MS;
	if (strncmp(url, "redis://", 8) == 0)
		rc = cache_parse_tcp(c, url + 8);
	else if (strncmp(url, "unix://", 7) == 0)
		rc = cache_parse_unix(c, url + 7);
	if (rc != 0) {
		cache_free(c);
		return NULL;
	}
	return c;
}

void cache_free(struct cache *c)
{
	if (c == NULL)
		return;
	if (c->ctx != NULL)
		redisFree(c->ctx);
	free(c->host);
	free(c->path);
	for (size_t i = 0; i < c->n_sentinels; i++)
		free(c->sentinels[i].host);
	free(c->master_name);
	if (c->user != NULL) {
		sodium_memzero(c->user, strlen(c->user));
		free(c->user);
	}
	if (c->pass != NULL) {
		sodium_memzero(c->pass, strlen(c->pass));
		free(c->pass);
	}
	free(c);
}

static void cache_drop(struct cache *c)
{
	if (c->ctx != NULL) {
		redisFree(c->ctx);
		c->ctx = NULL;
	}
	c->down = true;
}

/* True when the idle connection has nothing to read (see the top of this file). */
static bool cache_alive(const redisContext *ctx)
{
	struct pollfd p = { .fd = ctx->fd, .events = POLLIN };

	if (ctx->err != 0 || ctx->fd < 0)
		return false;
	return poll(&p, 1, 0) == 0;
}

/* A set-up command (AUTH, SELECT) on the new connection: 0 when not refused, else -1. */
static int cache_setup_command(struct cache *c, int argc, const char **argv)
{
	redisReply *r = redisCommandArgv(c->ctx, argc, argv, NULL);
	int rc = r != NULL && r->type != REDIS_REPLY_ERROR ? 0 : -1;

	if (r != NULL)
		freeReplyObject(r);
	return rc;
}

/* AUTH [user] pass, when the URL had credentials. 0 or -1 (refused: logged, no secret). */
static int cache_auth(struct cache *c)
{
	const char *with_user[3] = { "AUTH", c->user, c->pass };
	const char *without[2] = { "AUTH", c->pass };

	if (c->pass == NULL)
		return 0;
	if (c->user != NULL ? cache_setup_command(c, 3, with_user) == 0
	                    : cache_setup_command(c, 2, without) == 0)
		return 0;
	log_msg(LOG_ERROR, "cache: Redis refused the credentials (%s)",
	        c->n_sentinels > 0 ? "REDIS_MASTER_USER, REDIS_MASTER_PASSWORD" : "REDIS_URL");
	return -1;
}

static struct timeval cache_timeval(const struct cache *c)
{
	struct timeval tv = {
		.tv_sec = c->timeout_ms / 1000,
		.tv_usec = (c->timeout_ms % 1000) * 1000,
	};

	return tv;
}

/* One command on ctx; the reply (caller frees) or NULL on failure. */
static redisReply *cache_ask(redisContext *ctx, int argc, const char **argv)
{
	redisReply *r = redisCommandArgv(ctx, argc, argv, NULL);

	if (r != NULL && ctx->err != 0) {
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/*
 * The master's address from one Sentinel: 0 with c->host and c->port
 * replaced, or -1 (unreachable, unknown master name, malformed answer).
 */
static int cache_ask_sentinel(struct cache *c, const struct cache_sentinel *s)
{
	const char *argv[3] = { "SENTINEL", "get-master-addr-by-name", c->master_name };
	struct timeval tv = cache_timeval(c);
	redisContext *ctx = redisConnectWithTimeout(s->host, s->port, tv);
	redisReply *r = NULL;
	char *host = NULL;
	long port;
	int rc = -1;

	if (ctx == NULL || ctx->err != 0 || redisSetTimeout(ctx, tv) != REDIS_OK)
		goto out;
	r = cache_ask(ctx, 3, argv);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING ||
	    r->element[0]->len == 0 || r->element[0]->len > 255 ||
	    cache_parse_uint(r->element[1]->str, r->element[1]->len, 65535, &port) != 0 || port == 0)
		goto out;
	if ((host = strndup(r->element[0]->str, r->element[0]->len)) == NULL)
		goto out;
	free(c->host);
	c->host = host;
	c->port = (int)port;
	rc = 0;
out:
	if (r != NULL)
		freeReplyObject(r);
	if (ctx != NULL)
		redisFree(ctx);
	return rc;
}

/* Ask the Sentinels in turn until one names the master. 0 or -1. */
static int cache_find_master(struct cache *c)
{
	for (size_t i = 0; i < c->n_sentinels; i++) {
		size_t k = (c->sentinel_next + i) % c->n_sentinels;

		if (cache_ask_sentinel(c, &c->sentinels[k]) == 0) {
			c->sentinel_next = k;
			return 0;
		}
	}
	log_msg(LOG_WARN, "cache: no Sentinel named the master");
	return -1;
}

/* True when the connected server says it is a master (ROLE). */
static bool cache_is_master(redisContext *ctx)
{
	const char *argv[1] = { "ROLE" };
	redisReply *r = cache_ask(ctx, 1, argv);
	bool master = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
	              r->element[0]->type == REDIS_REPLY_STRING &&
	              strcmp(r->element[0]->str, "master") == 0;

	if (r != NULL)
		freeReplyObject(r);
	return master;
}

/* One connect attempt with the configured timeout, then AUTH and SELECT. 0 or -1. */
static int cache_connect(struct cache *c)
{
	struct timeval tv = cache_timeval(c);

	if (c->n_sentinels > 0 && cache_find_master(c) != 0)
		return -1;
	if (c->path != NULL)
		c->ctx = redisConnectUnixWithTimeout(c->path, tv);
	else
		c->ctx = redisConnectWithTimeout(c->host, c->port, tv);
	if (c->ctx == NULL || c->ctx->err != 0)
		goto fail;
	/* The connect timeout does not cover commands in hiredis 0.14. */
	if (redisSetTimeout(c->ctx, tv) != REDIS_OK)
		goto fail;
	if (cache_auth(c) != 0)
		goto fail;
	if (c->db != 0) {
		char num[16];
		const char *argv[2] = { "SELECT", num };

		snprintf(num, sizeof(num), "%d", c->db);
		if (cache_setup_command(c, 2, argv) != 0)
			goto fail;
	}
	if (c->n_sentinels > 0 && !cache_is_master(c->ctx)) {
		log_msg(LOG_WARN, "cache: the server the Sentinels named is not a master");
		goto fail;
	}
	return 0;
fail:
	log_msg(LOG_WARN, "cache: connect failed (err=%d)", c->ctx ? c->ctx->err : -1);
	cache_drop(c);
	return -1;
}

/*
 * When to try again after a connect that started at `started` failed:
 * CACHE_RETRY_MS after it ended, or four times as long as it took when
 * it was slow (a timeout), so an unreachable Redis costs a worker at
 * most a fifth of its time.
 */
static uint64_t cache_retry_at(uint64_t started)
{
	uint64_t end = util_now_us(), wait = 4 * (end - started);

	if (wait < (uint64_t)CACHE_RETRY_MS * 1000)
		wait = (uint64_t)CACHE_RETRY_MS * 1000;
	return end + wait;
}

bool cache_ready(struct cache *c)
{
	uint64_t now;

	if (c->ctx != NULL) {
		if (cache_alive(c->ctx))
			return true;
		log_msg(LOG_WARN, "cache: connection lost");
		cache_drop(c);
	}
	now = util_now_us();
	/*
	 * Only failures are throttled: a connection that worked and then
	 * died gets one immediate reconnect, so the first request after a
	 * server restart does not fail.
	 */
	if (now < c->retry_at_us) {
		c->down = true;
		return false;
	}
	if (cache_connect(c) != 0) {
		c->retry_at_us = cache_retry_at(now);
		return false;
	}
	if (c->on_connect != NULL && c->on_connect(c, c->on_connect_arg) != 0) {
		log_msg(LOG_WARN, "cache: connection set-up failed");
		cache_drop(c);
		c->retry_at_us = cache_retry_at(now);
		return false;
	}
	c->retry_at_us = 0;
	c->down = false;
	log_msg(LOG_INFO, "cache: connected");
	return true;
}

/* An error reply that means "ask again where the master is" (top of this file). */
static bool cache_server_lost(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR &&
	       (strncmp(r->str, "READONLY", 8) == 0 || strncmp(r->str, "NOREPLICAS", 10) == 0 ||
	        strncmp(r->str, "LOADING", 7) == 0 || strncmp(r->str, "MASTERDOWN", 10) == 0);
}

redisReply *cache_command(struct cache *c, struct arena *a, int argc,
                          const char **argv, const size_t *lens)
{
	redisReply *r;

	if (!cache_ready(c))
		return NULL;
	r = redisCommandArgv(c->ctx, argc, argv, lens);
	if (r == NULL || c->ctx->err != 0) {
		/* Timeout, I/O or protocol error: the stream is out of step now. */
		log_msg(LOG_WARN, "cache: command failed (err=%d)", c->ctx->err);
		if (r != NULL)
			freeReplyObject(r);
		cache_drop(c);
		return NULL;
	}
	if (cache_server_lost(r)) {
		log_msg(LOG_WARN, "cache: the server is no longer a usable master");
		freeReplyObject(r);
		cache_drop(c);
		return NULL;
	}
	c->down = false;
	if (arena_defer(a, cache_reply_free, r) != 0)
		return NULL;    /* arena_defer() freed r */
	return r;
}

/* SCRIPT LOAD s into s->sha. 0, or -1 (Redis down or an unexpected answer). */
static int cache_script_load(struct cache *c, struct arena *a, struct cache_script *s)
{
	const char *argv[3] = { "SCRIPT", "LOAD", s->text };
	redisReply *r = cache_command(c, a, 3, argv, NULL);

	if (r == NULL)
		return -1;
	if (r->type != REDIS_REPLY_STRING || r->len != sizeof(s->sha) - 1) {
		log_msg(LOG_ERROR, "cache: SCRIPT LOAD answered type %d", r->type);
		return -1;
	}
	memcpy(s->sha, r->str, r->len);
	s->sha[r->len] = '\0';
	return 0;
}

redisReply *cache_eval(struct cache *c, struct arena *a, struct cache_script *s, int argc,
                       const char **argv, size_t *lens)
{
	redisReply *r;

	for (int round = 0; round < 2; round++) {
		if (s->sha[0] == '\0' && cache_script_load(c, a, s) != 0)
			return NULL;
		argv[0] = "EVALSHA";
		argv[1] = s->sha;
		if (lens != NULL) {
			lens[0] = 7;
			lens[1] = sizeof(s->sha) - 1;
		}
		r = cache_command(c, a, argc, argv, lens);
		if (r == NULL || r->type != REDIS_REPLY_ERROR || strncmp(r->str, "NOSCRIPT", 8) != 0)
			return r;
		s->sha[0] = '\0';
	}
	log_msg(LOG_ERROR, "cache: a script went missing right after it was loaded");
	return NULL;
}

bool cache_reply_is(const redisReply *r, int type)
{
	return r != NULL && r->type == type;
}

int cache_timeout_ms(const struct cache *c)
{
	return c->timeout_ms;
}

bool cache_down(const struct cache *c)
{
	return c->down;
}

bool cache_put_new(struct cache *c, struct arena *a, const char *key, const char *value,
                   int ttl_s)
{
	char ttl[16];
	const char *argv[6] = { "SET", key, value, "EX", ttl, "NX" };
	redisReply *r;

	snprintf(ttl, sizeof(ttl), "%d", ttl_s);
	r = cache_command(c, a, 6, argv, NULL);
	return r != NULL && r->type == REDIS_REPLY_STATUS;
}

int cache_wait_replica(struct cache *c, struct arena *a)
{
	const char *argv[3] = { "WAIT", "1", arena_i64(a, c->timeout_ms / 2 + 1) };
	redisReply *r;

	if (argv[2] == NULL)
		return -1;
	r = cache_command(c, a, 3, argv, NULL);
	return cache_reply_is(r, REDIS_REPLY_INTEGER) && r->integer >= 1 ? 0 : -1;
}
