/*
 * ipban.c — IP-prefix bans: parsing an address down to its prefix, the
 * keyed lookup token, the sealed prefix text, and the per-worker cache the
 * pipeline checks every request against (see ipban.h for the contract).
 *
 * The cache belongs to the worker's context (ctx->ipban): a sorted array
 * of the first IPBAN_CACHE_TOKEN bytes of each active ban's token with
 * the day it stops applying. 16 bytes of a keyed 256-bit hash
 * keep the chance of a false match below 2^-100 for any realistic number
 * of bans. Duplicates (one prefix banned twice) are merged at load,
 * keeping the later expiry. The tokens do not say their prefix length, so
 * the cache also keeps which IPv6 lengths wider than the /64 some active
 * ban uses (ip_bans.prefix_bits): an IPv6 client is looked up at its /64
 * and at each of those, and at no other.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <sodium.h>

#include "arena.h"
#include "config.h"
#include "context.h"
#include "crypto.h"
#include "db.h"
#include "http.h"
#include "ipban.h"
#include "keys.h"
#include "log.h"
#include "shm.h"
#include "util.h"

#define TOKEN_CONTEXT "ipbanhsh"   /* keys_derive context of the token key */
#define SEAL_CONTEXT "ipbanenc"    /* keys_derive context of the prefix seal key */
#define IPBAN_CACHE_TOKEN 16
#define PERMANENT INT64_MAX
#define OVERVIEW_MAX 100           /* bans shown by GET /admin/overview */
#define V6_WIDTHS (IPBAN_V6_BITS - IPBAN_V6_BITS_MIN)   /* the /48 to the /63 */

struct ban_entry {
	unsigned char token[IPBAN_CACHE_TOKEN];
	int64_t expires_day;           /* applies while today < expires_day */
};

/* A worker's ban list (ctx->ipban) and the key of its tokens. */
struct ipban_cache {
	bool keyed;
	unsigned char token_key[32];

	struct ban_entry *entries;     /* sorted by token, unique; malloc'ed */
	size_t n;
	uint32_t v6_wide;              /* bit b: some ban is an IPv6 /(IPBAN_V6_BITS_MIN + b) */
	bool loaded;                   /* a load has succeeded since start */
	bool failing;                  /* the last load failed (logged once) */
	uint64_t shm_gen;              /* pool generation the cache reflects */
	int64_t db_gen;                /* database generation the cache reflects */
	int64_t day;                   /* the day the cache was loaded or checked */
	uint64_t next_check_us;        /* monotonic time of the next database poll */
};

struct ipban_cache *ipban_cache_new(void)
{
	return calloc(1, sizeof(struct ipban_cache));
}

void ipban_cache_free(struct ipban_cache *cache)
{
	if (cache == NULL)
		return;
	sodium_memzero(cache->token_key, sizeof(cache->token_key));
	free(cache->entries);
	free(cache);
}

static struct db_stmt stmt_generation = {
	"ipban_generation", "SELECT generation FROM ip_ban_state", 0, 0
};
static struct db_stmt stmt_active = {
	"ipban_active",
	"SELECT token, expires_day, prefix_bits FROM ip_bans WHERE key_version = $1 "
	"AND (expires_day IS NULL OR expires_day > $2)", 2, 0
};
static struct db_stmt stmt_overview = {
	"ipban_overview",
	"SELECT " IPBAN_ROW_COLUMNS " FROM ip_bans b "
	"WHERE b.expires_day IS NULL OR b.expires_day > $1 ORDER BY b.pk DESC LIMIT $2", 2, 0
};

/* ---- prefixes --------------------------------------------------------------- */

int ipban_prefix_parse(const char *text, struct ipban_prefix *p)
{
	static const unsigned char mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};
	unsigned char addr[16];

	memset(p, 0, sizeof(*p));
	if (text == NULL || text[0] == '\0' || strnlen(text, IPBAN_ADDR_MAX + 1) > IPBAN_ADDR_MAX)
		return -1;
	if (inet_pton(AF_INET, text, addr) == 1) {
		p->family = IPBAN_V4;
		p->bits = IPBAN_V4_BITS;
		memcpy(p->bytes, addr, 3);
		p->len = 3;
		return 0;
	}
	if (inet_pton(AF_INET6, text, addr) != 1)
		return -1;
	if (memcmp(addr, mapped, sizeof(mapped)) == 0) {
		/* RFC 4291 2.5.5.2: an IPv4 client seen through an IPv6 socket */
		p->family = IPBAN_V4;
		p->bits = IPBAN_V4_BITS;
		memcpy(p->bytes, addr + 12, 3);
		p->len = 3;
		return 0;
	}
	p->family = IPBAN_V6;
	p->bits = IPBAN_V6_BITS;
	memcpy(p->bytes, addr, 8);
	p->len = 8;
	return 0;
}

int ipban_prefix_widen(struct ipban_prefix *p, unsigned bits)
{
	size_t len = (bits + 7) / 8;

	if (p->family != IPBAN_V6 || bits < IPBAN_V6_BITS_MIN || bits > p->bits)
		return -1;
	memset(p->bytes + len, 0, sizeof(p->bytes) - len);
	if (bits % 8 != 0)
		p->bytes[len - 1] &= (unsigned char)(0xff << (8 - bits % 8));
	p->bits = bits;
	p->len = len;
	return 0;
}

/* A prefix as ipban_prefix_parse and ipban_prefix_widen leave it. */
static bool prefix_valid(const struct ipban_prefix *p)
{
	if (p->family == IPBAN_V4)
		return p->bits == IPBAN_V4_BITS && p->len == 3;
	return p->family == IPBAN_V6 && p->bits >= IPBAN_V6_BITS_MIN &&
	       p->bits <= IPBAN_V6_BITS && p->len == (p->bits + 7) / 8;
}

int ipban_prefix_text(const struct ipban_prefix *p, char out[IPBAN_TEXT_MAX])
{
	unsigned char addr[16] = { 0 };
	char buf[INET6_ADDRSTRLEN];
	int af = p->family == IPBAN_V4 ? AF_INET : AF_INET6;

	if (!prefix_valid(p))
		return -1;
	memcpy(addr, p->bytes, p->len);
	/* glibc's inet_ntop compresses as RFC 5952 4.2 asks: the longest run of
	 * zero groups (the first of equal ones), never a single group. */
	if (inet_ntop(af, addr, buf, sizeof(buf)) == NULL)
		return -1;
	if (snprintf(out, IPBAN_TEXT_MAX, "%s/%u", buf, p->bits) >= IPBAN_TEXT_MAX)
		return -1;
	return 0;
}

void ipban_token(const unsigned char key[32], const struct ipban_prefix *p,
                 unsigned char out[IPBAN_TOKEN_BYTES])
{
	unsigned char in[5 + 8];

	/* Domain separation: prefixes of other families or lengths never share
	 * an input ("v4/24", "v6/48" .. "v6/64": always 5 bytes). */
	in[0] = 'v';
	in[1] = p->family == IPBAN_V4 ? '4' : '6';
	in[2] = '/';
	in[3] = (unsigned char)('0' + p->bits / 10 % 10);
	in[4] = (unsigned char)('0' + p->bits % 10);
	memcpy(in + 5, p->bytes, p->len);
	crypto_generichash(out, IPBAN_TOKEN_BYTES, in, 5 + p->len, key, 32);
}

const unsigned char *ipban_token_key(struct request *req)
{
	const struct config *cfg = req->ctx->cfg;
	struct ipban_cache *cache = req->ctx->ipban;

	if (cache->keyed)
		return cache->token_key;
	if (keys_derive(cache->token_key, cfg->ip_hmac_key, cfg->ip_hmac_key_len,
	                TOKEN_CONTEXT, IPBAN_KEY_VERSION) != 0)
		return NULL;
	if (mlock(cache->token_key, sizeof(cache->token_key)) != 0)
		log_msg(LOG_WARN, "mlock of the ban token key failed");
	cache->keyed = true;
	return cache->token_key;
}

/* ---- the sealed prefix text ----------------------------------------------------- */

static void prefix_field(struct crypto_field *f, const char *ban_id)
{
	f->table = "ip_bans";
	f->column = "prefix";
	f->row = ban_id;
	f->owner = 0;              /* a server-owned value: no account */
}

unsigned char *ipban_seal_prefix(struct arena *a, const struct config *cfg,
                                 const char *ban_id, const char *text,
                                 size_t *len, uint32_t *version)
{
	struct crypto_field f;

	prefix_field(&f, ban_id);
	return crypto_seal_server(a, cfg, SEAL_CONTEXT, &f, text, strlen(text), len, version);
}

/* The prefix text of a row, opened; NULL when it cannot be. */
static const char *open_prefix(struct request *req, const char *ban_id, uint32_t version,
                               const unsigned char *sealed, size_t len)
{
	struct crypto_field f;
	unsigned char *pt = NULL;
	size_t pt_len = 0;

	prefix_field(&f, ban_id);
	if (crypto_open_server(req->arena, req->ctx->cfg, SEAL_CONTEXT, version, &f, sealed, len,
	                       &pt, &pt_len) != 0)
		return NULL;
	return (const char *)pt;
}

enum { COL_ID, COL_SEALED, COL_SEAL_VERSION, COL_REASON, COL_DAY, COL_EXPIRES };

json_object *ipban_row_json(struct request *req, const PGresult *res, int row, void *unused)
{
	const char *id = PQgetvalue(res, row, COL_ID);
	const unsigned char *sealed;
	const char *prefix;
	int64_t version, day, expires = 0;
	size_t len = 0;
	json_object *o;

	(void)unused;
	sealed = db_bytea_value(req->arena, res, row, COL_SEALED, &len);
	if (sealed == NULL ||
	    util_parse_int64(PQgetvalue(res, row, COL_SEAL_VERSION), 1, UINT32_MAX, &version) != 0 ||
	    util_parse_int64(PQgetvalue(res, row, COL_DAY), 0, INT32_MAX, &day) != 0 ||
	    (!PQgetisnull(res, row, COL_EXPIRES) &&
	     util_parse_int64(PQgetvalue(res, row, COL_EXPIRES), 0, INT32_MAX, &expires) != 0))
		return NULL;
	prefix = open_prefix(req, id, (uint32_t)version, sealed, len);
	if (prefix == NULL) {
		log_msg(LOG_WARN, "a ban's prefix could not be opened; left out");
		return NULL;
	}
	if ((o = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(o, "ban_id", json_object_new_string(id));
	json_object_object_add(o, "prefix", json_object_new_string(prefix));
	json_object_object_add(o, "reason",
	                       json_object_new_string(PQgetvalue(res, row, COL_REASON)));
	json_object_object_add(o, "day", json_object_new_int64(day));
	json_object_object_add(o, "expires_day", PQgetisnull(res, row, COL_EXPIRES)
	                       ? NULL : json_object_new_int64(expires));
	return o;
}

/* ---- the per-worker cache ------------------------------------------------------- */

static int entry_cmp(const void *a, const void *b)
{
	return memcmp(a, b, IPBAN_CACHE_TOKEN);
}

/* The first IPBAN_CACHE_TOKEN bytes of a token in bytea hex output ("\x..."). */
static int token_from_hex(const char *hex, unsigned char out[IPBAN_CACHE_TOKEN])
{
	if (strlen(hex) != 2 + 2 * IPBAN_TOKEN_BYTES || hex[0] != '\\' || hex[1] != 'x')
		return -1;
	return util_hex_decode(hex + 2, IPBAN_CACHE_TOKEN, out);
}

/* Sort and merge duplicate tokens (the later expiry wins). Returns the new count. */
static size_t entries_normalize(struct ban_entry *e, size_t n)
{
	size_t out = 0;

	if (n == 0)
		return 0;
	qsort(e, n, sizeof(*e), entry_cmp);
	for (size_t i = 1; i < n; i++) {
		if (entry_cmp(&e[out], &e[i]) == 0) {
			if (e[i].expires_day > e[out].expires_day)
				e[out].expires_day = e[i].expires_day;
			continue;
		}
		e[++out] = e[i];
	}
	return out + 1;
}

/*
 * The IPv6 width of row i of res (column 2, prefix_bits: NULL for a /24 or
 * a /64) as a bit of ipban_cache.v6_wide, 0 for none; -1 when damaged.
 */
static int64_t row_width(const PGresult *res, int i)
{
	int64_t bits;

	if (PQgetisnull(res, i, 2))
		return 0;
	if (util_parse_int64(PQgetvalue(res, i, 2), IPBAN_V6_BITS_MIN, IPBAN_V6_BITS - 1, &bits) != 0)
		return -1;
	return (int64_t)1 << (bits - IPBAN_V6_BITS_MIN);
}

/* Replace the cache with the active bans of res (token, expires_day, prefix_bits). 0 or -1. */
static int cache_fill(struct ipban_cache *cache, const PGresult *res)
{
	size_t rows = (size_t)PQntuples(res), n = 0;
	struct ban_entry *e = rows > 0 ? malloc(rows * sizeof(*e)) : NULL;
	uint32_t wide = 0;

	if (rows > 0 && e == NULL)
		return -1;
	for (size_t i = 0; i < rows; i++) {
		int64_t expires = PERMANENT, width = row_width(res, (int)i);

		if (width < 0 || token_from_hex(PQgetvalue(res, (int)i, 0), e[n].token) != 0 ||
		    (!PQgetisnull(res, (int)i, 1) &&
		     util_parse_int64(PQgetvalue(res, (int)i, 1), 0, INT32_MAX, &expires) != 0))
			continue;          /* a damaged row bans nothing */
		e[n++].expires_day = expires;
		wide |= (uint32_t)width;
	}
	free(cache->entries);
	cache->entries = e;
	cache->n = entries_normalize(e, n);
	cache->v6_wide = wide;
	return 0;
}

/*
 * Poll the database generation; reload the active bans when it moved,
 * when the day changed, or when force. 0, or -1 (the cache is unchanged).
 */
static int cache_reload(struct request *req, bool force)
{
	struct context *ctx = req->ctx;
	struct ipban_cache *cache = ctx->ipban;
	int64_t today = util_today(), gen;
	char version[16], day[24];
	const char *params[2] = { version, day };
	PGresult *res;

	if (!db_ready(ctx->db))
		return -1;
	res = db_exec(ctx->db, req->arena, &stmt_generation, NULL, NULL);
	if (res == NULL || PQntuples(res) != 1 ||
	    util_parse_int64(PQgetvalue(res, 0, 0), INT64_MIN + 1, INT64_MAX - 1, &gen) != 0)
		return -1;
	if (!force && cache->loaded && gen == cache->db_gen && today == cache->day)
		return 0;
	snprintf(version, sizeof(version), "%d", IPBAN_KEY_VERSION);
	snprintf(day, sizeof(day), "%lld", (long long)today);
	res = db_exec(ctx->db, req->arena, &stmt_active, params, NULL);
	if (res == NULL || cache_fill(cache, res) != 0)
		return -1;
	cache->db_gen = gen;
	cache->day = today;
	cache->loaded = true;
	return 0;
}

/* Bring the cache up to date when the pool's generation moved or a poll is due. */
static void cache_refresh(struct request *req)
{
	struct shm_region *shm = req->ctx->shm;
	struct ipban_cache *cache = req->ctx->ipban;
	uint64_t gen = shm != NULL ? atomic_load_explicit(&shm->ipban_generation,
	                                                  memory_order_acquire) : 0;
	uint64_t now = util_now_us();
	bool force = gen != cache->shm_gen || !cache->loaded || cache->failing;

	if (gen == cache->shm_gen && now < cache->next_check_us)
		return;
	cache->shm_gen = gen;
	cache->next_check_us = now + (uint64_t)IPBAN_RECHECK_MS * 1000;
	if (cache_reload(req, force) == 0) {
		/* /metrics shows each worker's count: a reload that found the
		 * bans can be told from one that never happened. */
		if (shm != NULL)
			atomic_store_explicit(&shm->workers[req->ctx->slot].ipban_loaded,
			                      (int64_t)cache->n, memory_order_relaxed);
		if (cache->failing)
			log_msg(LOG_INFO, "the ban list is loaded again");
		cache->failing = false;
		return;
	}
	if (shm != NULL)
		atomic_fetch_add_explicit(&shm->ipban_load_failures, 1, memory_order_relaxed);
	if (!cache->failing)
		log_msg(LOG_WARN, "the ban list could not be loaded; %s",
		        cache->loaded ? "the last loaded list stays in force"
		                     : "no ban applies until it can be");
	cache->failing = true;
}

/* True when the cache holds an active ban on exactly the prefix p. */
static bool cache_holds(const struct ipban_cache *cache, const unsigned char *key,
                        const struct ipban_prefix *p)
{
	unsigned char token[IPBAN_TOKEN_BYTES];
	const struct ban_entry *hit;

	ipban_token(key, p, token);
	hit = bsearch(token, cache->entries, cache->n, sizeof(*cache->entries), entry_cmp);
	/* The day moves between polls; the cache's day is at most a poll old. */
	return hit != NULL && (hit->expires_day == PERMANENT || cache->day < hit->expires_day);
}

bool ipban_applies(struct request *req)
{
	struct ipban_cache *cache = req->ctx->ipban;
	struct ipban_prefix p;
	const unsigned char *key;

	/* Hot path: nothing is wiped here, the prefix and its token are no
	 * more secret than REMOTE_ADDR itself, which libfcgi holds anyway
	 * until the request ends. */
	cache_refresh(req);
	if (cache->n == 0)
		return false;
	if (ipban_prefix_parse(req->remote_addr, &p) != 0 ||
	    (key = ipban_token_key(req)) == NULL)
		return false;
	if (cache_holds(cache, key, &p))
		return true;
	if (p.family != IPBAN_V6)
		return false;
	/* Narrowest first: each step widens the one before. */
	for (int b = V6_WIDTHS - 1; b >= 0; b--)
		if ((cache->v6_wide & (UINT32_C(1) << b)) != 0 &&
		    ipban_prefix_widen(&p, (unsigned)(IPBAN_V6_BITS_MIN + b)) == 0 &&
		    cache_holds(cache, key, &p))
			return true;
	return false;
}

void ipban_changed(struct shm_region *shm)
{
	if (shm != NULL)
		atomic_fetch_add_explicit(&shm->ipban_generation, 1, memory_order_release);
}

/* ---- the admin overview ----------------------------------------------------------- */

int ipban_overview(struct request *req, json_object *out)
{
	char day[24], limit[8];
	const char *params[2] = { day, limit };
	json_object *bans;
	PGresult *res;

	snprintf(day, sizeof(day), "%lld", (long long)util_today());
	snprintf(limit, sizeof(limit), "%d", OVERVIEW_MAX);
	res = db_exec(req->ctx->db, req->arena, &stmt_overview, params, NULL);
	if (res == NULL)
		return http_db_failure(req);
	if ((bans = json_object_new_array()) == NULL)
		return http_oom(req);
	for (int i = 0; i < PQntuples(res); i++) {
		json_object *b = ipban_row_json(req, res, i, NULL);

		if (b != NULL)
			json_object_array_add(bans, b);
	}
	json_object_object_add(out, "bans", bans);
	return 0;
}
