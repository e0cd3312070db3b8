/*
 * handlers_system.c — GET /health, GET /config, GET /metrics.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cache.h"
#include "config.h"
#include "context.h"
#include "db.h"
#include "handlers.h"
#include "json.h"
#include "pow.h"
#include "router.h"
#include "shm.h"
#include "util.h"

static struct db_stmt stmt_ping = { "health_ping", "SELECT 1", 0, 0 };

/*
 * GET /health: each dependency answers one round trip. 503 when any is
 * down, so a load balancer takes this host out; "rate_limits" says what
 * the rate limiter does meanwhile (reads fail open, writes closed).
 */
int handle_health(struct request *req)
{
	struct context *ctx = req->ctx;
	const char *ping[] = { "PING" };
	redisReply *pong;
	bool db_ok, redis_ok;
	json_object *o;

	db_ok = db_ready(ctx->db) &&
	        db_exec(ctx->db, req->arena, &stmt_ping, NULL, NULL) != NULL;
	pong = cache_command(ctx->cache, req->arena, 1, ping, NULL);
	redis_ok = pong != NULL && pong->type == REDIS_REPLY_STATUS;
	o = json_object_new_object();
	if (o == NULL)
		return http_oom(req);
	json_object_object_add(o, "status",
	                       json_object_new_string(db_ok && redis_ok ? "ok" : "degraded"));
	json_object_object_add(o, "db", json_object_new_string(db_ok ? "ok" : "down"));
	json_object_object_add(o, "redis", json_object_new_string(redis_ok ? "ok" : "down"));
	json_object_object_add(o, "rate_limits",
	                       json_object_new_string(redis_ok ? "enforced"
	                                              : "reads_open_writes_closed"));
	if (!(db_ok && redis_ok))
		http_header_add(req, "Retry-After", "2");
	return http_reply(req, db_ok && redis_ok ? 200 : 503, o);
}

/* The public settings as JSON, with pow[a] as each action's current difficulty. */
static json_object *config_object(const struct config *cfg, const int pow_now[POW__MAX])
{
	json_object *root = json_object_new_object();
	json_object *pow = json_object_new_object();
	json_object *limits = json_object_new_object();
	json_object *rates = json_object_new_object();
	json_object *features = json_object_new_object();

	for (int a = 0; a < POW__MAX; a++)
		json_object_object_add(pow, config_pow_name((enum pow_action)a),
		                       json_object_new_int(pow_now[a]));
	json_object_object_add(limits, "post_max_chars",
	                       json_object_new_int(cfg->post_max_chars));
	json_object_object_add(limits, "body_max_bytes",
	                       json_object_new_int64((int64_t)cfg->body_max_bytes));
	json_object_object_add(limits, "page_max", json_object_new_int(100));
	json_object_object_add(limits, "group_max_members",
	                       json_object_new_int(cfg->group_max_members));
	for (int c = 0; c < RATE__MAX; c++) {
		json_object *r = json_object_new_object();

		json_object_object_add(r, "count", json_object_new_int64(cfg->rate[c].count));
		json_object_object_add(r, "seconds", json_object_new_int64(cfg->rate[c].seconds));
		json_object_object_add(rates, config_rate_name((enum rate_class)c), r);
	}
	json_object_object_add(limits, "rate", rates);
	json_object_object_add(features, "pow_algorithm", json_object_new_string("sha256"));
	json_object_object_add(root, "pow", pow);
	json_object_object_add(root, "limits", limits);
	json_object_object_add(root, "features", features);
	return root;
}

/*
 * GET /config: public settings. Everything but the proof-of-work
 * difficulties changes only with a reload, which replaces the worker, so
 * the serialized text is cached per worker (this route is the benchmark
 * reference) and rebuilt only when some action's current difficulty
 * (pow_difficulty, which follows the load) differs from the cached one.
 * The cache is process-wide static state: one worker serves one request
 * at a time.
 */
int handle_config(struct request *req)
{
	static char *cached;
	static size_t cached_len;
	static int cached_pow[POW__MAX];
	const struct context *ctx = req->ctx;
	uint64_t now_s = util_wall_us() / 1000000;
	int pow_now[POW__MAX];

	for (int a = 0; a < POW__MAX; a++)
		pow_now[a] = pow_difficulty(ctx->shm, ctx->cfg, (enum pow_action)a, now_s);
	if (cached == NULL || memcmp(pow_now, cached_pow, sizeof(pow_now)) != 0) {
		json_object *o = config_object(ctx->cfg, pow_now);
		size_t len = 0;
		const char *s = o != NULL ? json_dump(o, &len) : NULL;

		free(cached);
		cached = s != NULL ? strdup(s) : NULL;
		cached_len = len;
		memcpy(cached_pow, pow_now, sizeof(pow_now));
		json_object_put(o);
		if (cached == NULL)
			return http_oom(req);
	}
	req->reply_raw = cached;
	req->reply_raw_len = cached_len;
	req->reply_type = "application/json";
	return 200;
}

/* A growable text buffer in the request arena. */
struct text {
	struct arena *arena;
	char *buf;
	size_t len, cap;
	bool failed;
};

static void text_printf(struct text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		t->failed = true;
		return;
	}
	if ((size_t)n >= t->cap - t->len) {
		size_t cap = (t->cap + (size_t)n) * 2;
		char *bigger = arena_alloc(t->arena, cap);

		if (bigger == NULL) {
			t->failed = true;
			return;
		}
		memcpy(bigger, t->buf, t->len);
		t->buf = bigger;
		t->cap = cap;
		va_start(ap, fmt);
		vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
	}
	t->len += (size_t)n;
}

static void metrics_requests(struct text *t, const struct shm_region *r)
{
	text_printf(t, "# HELP sotto_requests_total Requests served, by route and status.\n"
	               "# TYPE sotto_requests_total counter\n");
	for (size_t i = 0; i <= route_count; i++) {
		const char *method = i < route_count ? http_method_name(route_table[i].method) : "";
		const char *route = i < route_count ? route_table[i].pattern : "unmatched";

		for (int s = 0; s < SHM_STATUS__MAX; s++) {
			uint64_t n = atomic_load_explicit(&r->requests[i][s], memory_order_relaxed);
			int code = shm_status_code((enum shm_status)s);

			if (n == 0)
				continue;
			if (code != 0)
				text_printf(t, "sotto_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %llu\n",
				            method, route, code, (unsigned long long)n);
			else
				text_printf(t, "sotto_requests_total{method=\"%s\",route=\"%s\",status=\"other\"} %llu\n",
				            method, route, (unsigned long long)n);
		}
	}
}

static void metrics_latency(struct text *t, const struct shm_region *r)
{
	static const uint32_t bounds_us[] = {
#define X(us) us,
		SHM_LATENCY_BUCKETS_US
#undef X
	};
	uint64_t cumulative = 0;

	text_printf(t, "# HELP sotto_request_duration_seconds Time from accept to response.\n"
	               "# TYPE sotto_request_duration_seconds histogram\n");
	for (int b = 0; b < SHM_BUCKET__MAX; b++) {
		cumulative += atomic_load_explicit(&r->latency_buckets[b], memory_order_relaxed);
		if (b < SHM_BUCKET_INF)
			text_printf(t, "sotto_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
			            (double)bounds_us[b] / 1e6, (unsigned long long)cumulative);
		else
			text_printf(t, "sotto_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
			            (unsigned long long)cumulative);
	}
	text_printf(t, "sotto_request_duration_seconds_sum %.6f\n",
	            (double)atomic_load_explicit(&r->latency_sum_us, memory_order_relaxed) / 1e6);
	text_printf(t, "sotto_request_duration_seconds_count %llu\n",
	            (unsigned long long)atomic_load_explicit(&r->latency_count, memory_order_relaxed));
}

static void metrics_gauge(struct text *t, const char *name, const char *type,
                          const char *help, unsigned long long value)
{
	text_printf(t, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type,
	            name, value);
}

/* Workers of the pool inside a request now. */
static unsigned long long metrics_busy(const struct shm_region *r)
{
	unsigned long long busy = 0;

	for (int i = 0; i < SHM_MAX_WORKERS; i++)
		if (atomic_load(&r->workers[i].pid) != 0 && atomic_load(&r->workers[i].busy) != 0)
			busy++;
	return busy;
}

static long long gauge_pid(const struct shm_worker *w)
{
	return atomic_load(&w->pid);
}

static long long gauge_ipban_loaded(const struct shm_worker *w)
{
	return atomic_load(&w->ipban_loaded);
}

static long long gauge_heap_used(const struct shm_worker *w)
{
	return (long long)atomic_load(&w->heap_used);
}

static long long gauge_heap_free(const struct shm_worker *w)
{
	return (long long)atomic_load(&w->heap_free);
}

/* The gauge name: value() of each running worker's slot, labelled with the slot. */
static void metrics_per_worker(struct text *t, const struct shm_region *r, const char *name,
                               const char *help,
                               long long (*value)(const struct shm_worker *w))
{
	text_printf(t, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
	for (int i = 0; i < SHM_MAX_WORKERS; i++)
		if (atomic_load(&r->workers[i].pid) != 0)
			text_printf(t, "%s{worker=\"%d\"} %lld\n", name, i, value(&r->workers[i]));
}

/*
 * Per worker, by pool slot: its pid (to match /proc/PID), the active bans
 * in its cached list (-1 before it loads it at its first request), and its
 * heap (heap_report in worker.c): the bytes it has malloc'ed and not freed,
 * and the bytes malloc keeps for it unused; their sum is what its heap
 * costs the machine (tests/bench/soak.sh samples them).
 */
static void metrics_workers(struct text *t, const struct shm_region *r)
{
	metrics_per_worker(t, r, "sotto_worker_pid", "Process id of the worker in a pool slot.",
	                   gauge_pid);
	metrics_per_worker(t, r, "sotto_ipban_loaded",
	                   "Active IP bans in a worker's cached list (-1: not loaded yet).",
	                   gauge_ipban_loaded);
	metrics_per_worker(t, r, "sotto_worker_heap_bytes",
	                   "Bytes a worker has allocated and not freed (glibc mallinfo2).",
	                   gauge_heap_used);
	metrics_per_worker(t, r, "sotto_worker_heap_free_bytes",
	                   "Bytes malloc holds for a worker unused: freed chunks and an untrimmed top.",
	                   gauge_heap_free);
}

/* GET /metrics: Prometheus text format 0.0.4 from the pool's shared memory. */
int handle_metrics(struct request *req)
{
	const struct shm_region *r = req->ctx->shm;
	struct text t = { .arena = req->arena, .cap = 8192 };

	t.buf = arena_alloc(req->arena, t.cap);
	if (t.buf == NULL)
		return http_oom(req);
	metrics_requests(&t, r);
	metrics_latency(&t, r);
	metrics_gauge(&t, "sotto_workers_configured", "gauge", "Workers the pool should run.",
	              (unsigned long long)atomic_load(&r->workers_configured));
	metrics_gauge(&t, "sotto_workers_alive", "gauge", "Workers running now.",
	              (unsigned long long)atomic_load(&r->workers_alive));
	metrics_gauge(&t, "sotto_worker_restarts_total", "counter",
	              "Workers respawned after dying.",
	              (unsigned long long)atomic_load(&r->worker_restarts));
	metrics_gauge(&t, "sotto_reloads_total", "counter", "Configuration reloads (SIGHUP).",
	              (unsigned long long)atomic_load(&r->reloads));
	metrics_gauge(&t, "sotto_ratelimit_fail_open_total", "counter",
	              "Reads let through while Redis was unavailable.",
	              (unsigned long long)atomic_load(&r->ratelimit_fail_open));
	metrics_gauge(&t, "sotto_workers_busy", "gauge",
	              "Workers inside a request now (this /metrics request included).",
	              metrics_busy(r));
	metrics_gauge(&t, "sotto_events_publish_failed_total", "counter",
	              "Real-time event publishes to nchan that failed (the queue kept them).",
	              (unsigned long long)atomic_load(&r->events_publish_failed));
	metrics_gauge(&t, "sotto_ipban_load_failures_total", "counter",
	              "Ban list loads that failed (the last loaded list stayed in force).",
	              (unsigned long long)atomic_load(&r->ipban_load_failures));
	metrics_workers(&t, r);
	if (t.failed)
		return http_oom(req);
	req->reply_raw = t.buf;
	req->reply_raw_len = t.len;
	req->reply_type = "text/plain; version=0.0.4; charset=utf-8";
	return 200;
}
