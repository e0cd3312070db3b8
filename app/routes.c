/*
 * routes.c — the route table: every URL sotto answers, in one place.
 *
 * docs/openapi.yaml describes the same routes; tests/static checks that
 * the two agree. Flags drive the shared checks in dispatch.c.
 */
#include "handlers.h"
#include "router.h"
#include "shm.h"

#define R(m, p, h, f, rate, pow) { HTTP_##m, p, h, f, rate, pow }

const struct route route_table[] = {
	R(GET, "/health",  handle_health,  ROUTE_NO_BAN, RATE_NONE, POW_NONE),
	R(GET, "/config",  handle_config,  0,            RATE_NONE, POW_NONE),
	R(GET, "/metrics", handle_metrics, 0,            RATE_NONE, POW_NONE),
	R(POST, "/pow/challenge", handle_pow_challenge, ROUTE_JSON | ROUTE_WRITE,
	  RATE_NONE, POW_NONE),
};

const size_t route_count = sizeof(route_table) / sizeof(route_table[0]);

_Static_assert(sizeof(route_table) / sizeof(route_table[0]) <= SHM_MAX_ROUTES,
               "raise SHM_MAX_ROUTES");
