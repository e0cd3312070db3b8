/*
 * handlers_admin.c — GET /admin/overview (UI token).
 *
 * The pool-wide figures come from the shared-memory region every worker
 * writes into (shm.h), so they describe the whole pool, not the worker
 * that happens to answer. The moderation and ban parts are built by their
 * own modules (moderation_overview, ipban_overview), which know their
 * tables and what may be shown of them.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "context.h"
#include "handlers.h"
#include "ipban.h"
#include "json.h"
#include "moderation.h"
#include "router.h"
#include "shm.h"

/* Microseconds as milliseconds with three decimals (a JSON number). */
static json_object *ms_json(uint32_t us)
{
	char text[32];

	snprintf(text, sizeof(text), "%.3f", (double)us / 1000.0);
	return json_object_new_double_s((double)us / 1000.0, text);
}

/*
 * {"p50", "p95", "window", "samples"}: percentiles of the last
 * SHM_LATENCY_RING requests of the pool, in milliseconds; "samples" is how
 * many requests the ring holds (fewer than the window right after start).
 * NULL when out of memory.
 */
static json_object *latency_json(const struct shm_region *r)
{
	json_object *o = json_object_new_object();
	size_t n = 0;
	uint32_t p50 = shm_latency_percentile(r, 50.0, &n);
	uint32_t p95 = shm_latency_percentile(r, 95.0, NULL);

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "p50", ms_json(p50));
	json_object_object_add(o, "p95", ms_json(p95));
	json_object_object_add(o, "window", json_object_new_int(SHM_LATENCY_RING));
	json_object_object_add(o, "samples", json_object_new_int64((int64_t)n));
	return o;
}

/*
 * {"<status>": N, ...}: requests answered by the pool since it started,
 * summed over every route (and unrouted requests), by status code; codes
 * shm.h does not list individually are summed under "other". Codes never
 * answered are absent. NULL when out of memory.
 */
static json_object *status_counts_json(const struct shm_region *r)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	for (int s = 0; s < SHM_STATUS__MAX; s++) {
		uint64_t n = 0;
		int code = shm_status_code((enum shm_status)s);
		char key[16];

		for (size_t i = 0; i <= route_count; i++)
			n += atomic_load_explicit(&r->requests[i][s], memory_order_relaxed);
		if (n == 0)
			continue;
		if (code != 0)
			snprintf(key, sizeof(key), "%d", code);
		else
			snprintf(key, sizeof(key), "other");
		json_object_object_add(o, key, json_object_new_int64((int64_t)n));
	}
	return o;
}

/* {"configured": N, "alive": N} from the master's view of the pool. */
static json_object *workers_json(const struct shm_region *r)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "configured",
	                       json_object_new_int(atomic_load(&r->workers_configured)));
	json_object_object_add(o, "alive",
	                       json_object_new_int(atomic_load(&r->workers_alive)));
	return o;
}

/*
 * GET /admin/overview: latency and status counts of the whole pool, the
 * moderation queue's pending count and latest flags, the active bans, and
 * the workers. The route's flags have checked the UI token.
 */
int handle_admin_overview(struct request *req)
{
	const struct shm_region *r = req->ctx->shm;
	json_object *o = json_new_object(req->arena);  /* the arena owns it */
	json_object *latency, *counts, *workers;
	int status;

	if (o == NULL)
		return http_oom(req);
	latency = latency_json(r);
	counts = status_counts_json(r);
	workers = workers_json(r);
	if (latency == NULL || counts == NULL || workers == NULL) {
		json_object_put(latency);
		json_object_put(counts);
		json_object_put(workers);
		return http_oom(req);
	}
	json_object_object_add(o, "latency_ms", latency);
	json_object_object_add(o, "status_counts", counts);
	json_object_object_add(o, "workers", workers);
	if ((status = moderation_overview(req, o)) != 0)
		return status;
	if ((status = ipban_overview(req, o)) != 0)
		return status;
	req->reply = o;
	return 200;
}
