/*
 * trust.c — trust_adjust(): see trust.h.
 */
#include <stdio.h>
#include <stdlib.h>

#include "arena.h"
#include "auth.h"
#include "config.h"
#include "context.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "trust.h"
#include "util.h"

static struct db_stmt stmt_adjust = {
	"trust_adjust", "SELECT sotto_adjust_trust($1, $2)", 2, 0
};
/*
 * The account row is locked first (it comes first in the order of
 * sql/006), so the trust read here is the one sotto_adjust_trust moves.
 */
static struct db_stmt stmt_trust_lock = {
	"trust_lock", "SELECT trust FROM accounts WHERE pk = $1 FOR UPDATE", 1, 0
};

/* The change sotto_adjust_trust makes to trust (a real, clamped to 0..1). */
static double trust_change(double trust, double delta)
{
	double next = trust + delta;

	next = next < 0 ? 0 : next > 1 ? 1 : next;
	return (double)(float)next - (double)(float)trust;
}

const char *trust_established_day(struct request *req)
{
	return arena_i64(req->arena, util_today() - req->ctx->cfg->flag_min_age_days);
}

int trust_adjust(struct request *req, int64_t account_pk, double delta)
{
	double applied;

	return trust_adjust_applied(req, account_pk, delta, &applied);
}

int trust_adjust_applied(struct request *req, int64_t account_pk, double delta, double *applied)
{
	const char *params[2] = {
		arena_i64(req->arena, account_pk),
		arena_printf(req->arena, "%.6f", delta)
	};
	const unsigned char *hash;
	size_t len = 0;
	PGresult *res;

	if (params[0] == NULL || params[1] == NULL)
		return -1;
	*applied = 0;
	res = db_exec(req->ctx->db, req->arena, &stmt_trust_lock, params, NULL);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1)
		return 0;
	*applied = trust_change(strtod(PQgetvalue(res, 0, 0), NULL), delta);
	res = db_exec(req->ctx->db, req->arena, &stmt_adjust, params, NULL);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	hash = db_bytea_value(req->arena, res, 0, 0, &len);
	if (hash == NULL || len != AUTH_HASH_BYTES)
		return 0;
	if (auth_forget(req, hash) != 0)
		log_msg(LOG_WARN, "account record not dropped after a trust change; it expires by itself");
	return 1;
}
