/*
 * ratelimit.c — GCRA (the generic cell rate algorithm, ITU-T I.371) over
 * Redis, all keys of one decision in one atomic Lua script.
 *
 * For a limit of `count` requests per `seconds`, every request moves the
 * key's theoretical arrival time (TAT) forward by the emission interval
 * T = seconds / count; a request is allowed when the new TAT is at most
 * count * T ahead of now. A fresh key therefore takes a burst of exactly
 * `count` requests, then one every T, and is fully replenished `seconds`
 * after the burst. One integer per key is all the state.
 *
 * The script reads every key, allows only if every key allows, and then
 * writes all of them; a denied request writes nothing, so hammering a
 * limit does not push the TAT further out. `now` is Redis's TIME, so
 * workers (and hosts) with skewed clocks agree. The script answers with
 * now and each key's previous TAT; C runs ratelimit_gcra() on them to
 * derive the RateLimit-* numbers, so the arithmetic lives in one
 * testable function and the script repeats only its comparison.
 *
 * The script is sent once with SCRIPT LOAD and run with EVALSHA. Its
 * SHA1 is the same on every server and connection, so it is kept
 * process-wide; a server that no longer has it (restart, SCRIPT FLUSH,
 * another Redis after failover) answers NOSCRIPT, and the script is
 * loaded again and the call retried once. That covers a new connection
 * too, without a SCRIPT LOAD per connect.
 *
 * Keys are "rl:<CLASS>:" + base64url(BLAKE2b-128 keyed with the
 * rate-limit key over a domain-tagged bucket id), so Redis never holds
 * an IP address or an account id.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <sodium.h>

#include "arena.h"
#include "cache.h"
#include "config.h"
#include "log.h"
#include "ratelimit.h"

#define RL_HASH_BYTES 16
#define RL_KEY_BYTES 32              /* hmac_key length */
#define RL_MAX_KEYS 4                /* 3 IPv6 prefixes + the account */
#define RL_KEY_MAX 96
#define RL_ACCOUNT_MAX 256           /* longer ids are a caller bug; refuse */

/*
 * KEYS[i]: bucket keys. ARGV[2i-1]: emission interval T in microseconds,
 * ARGV[2i]: the burst window count * T. Returns {allowed, now, tat_1 ..
 * tat_n} (previous TATs, 0 = none). Numbers stay below 2^53, exact in
 * Lua's doubles; string.format('%d') keeps them out of exponent form.
 * A key expires a second after it would be fully replenished anyway.
 */
static const char rl_script[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
	"local out = {1, now}\n"
	"local new = {}\n"
	"for i = 1, #KEYS do\n"
	"  local interval = tonumber(ARGV[2 * i - 1])\n"
	"  local burst = tonumber(ARGV[2 * i])\n"
	"  local tat = tonumber(redis.call('GET', KEYS[i]) or 0) or 0\n"
	"  out[i + 2] = tat\n"
	"  if tat < now then tat = now end\n"
	"  new[i] = tat + interval\n"
	"  if new[i] - burst > now then out[1] = 0 end\n"
	"end\n"
	"if out[1] == 1 then\n"
	"  for i = 1, #KEYS do\n"
	"    local ttl = math.ceil((new[i] - now) / 1000) + 1000\n"
	"    redis.call('SET', KEYS[i], string.format('%d', new[i]),\n"
	"               'PX', string.format('%d', ttl))\n"
	"  end\n"
	"end\n"
	"return out\n";

/* SHA1 of rl_script as SCRIPT LOAD reported it; "" = load before use. */
static char rl_sha[41];

/* T and the burst window count * T, in microseconds. T >= 1. */
static void gcra_params(const struct rate_limit *lim, uint64_t *interval,
                        uint64_t *burst)
{
	uint64_t period = (uint64_t)lim->seconds * 1000000u;
	uint64_t t = lim->count > 0 ? period / lim->count : period;

	if (t == 0)
		t = 1;
	*interval = t;
	*burst = t * lim->count;
}

/* Microseconds to whole seconds, rounded up, capped for the 32-bit fields. */
static uint32_t ceil_s(uint64_t us)
{
	uint64_t s = (us + 999999u) / 1000000u;

	return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

void ratelimit_gcra(const struct rate_limit *lim, uint64_t tat_us,
                    uint64_t now_us, uint64_t *new_tat_us,
                    struct ratelimit_result *out)
{
	uint64_t interval, burst, tat, next;

	memset(out, 0, sizeof(*out));
	out->limit = lim->count;
	*new_tat_us = tat_us;
	if (lim->count == 0) {
		out->allowed = true;
		return;
	}
	gcra_params(lim, &interval, &burst);
	tat = tat_us > now_us ? tat_us : now_us;
	next = tat + interval;
	if (next > now_us + burst) {
		/* Denied: the next request fits once next - burst has passed. */
		out->allowed = false;
		out->remaining = 0;
		out->reset_s = ceil_s(tat - now_us);
		out->retry_after_s = ceil_s(next - burst - now_us);
		if (out->retry_after_s == 0)
			out->retry_after_s = 1;
		return;
	}
	out->allowed = true;
	*new_tat_us = next;
	/* Whole intervals left in the window after this request. */
	out->remaining = (uint32_t)((now_us + burst - next) / interval);
	out->reset_s = ceil_s(next - now_us);
	out->retry_after_s = 0;
}

/* Append tag + n bytes to b; the tag separates the bucket kinds. */
static void bucket_set(struct ip_bucket *b, const char *tag,
                       const unsigned char *bytes, size_t n, uint32_t mult)
{
	size_t tl = strlen(tag);

	memcpy(b->bytes, tag, tl);
	memcpy(b->bytes + tl, bytes, n);
	b->len = tl + n;
	b->multiplier = mult;
}

int ratelimit_ip_buckets(const char *ip, struct ip_bucket out[3])
{
	struct in_addr v4;
	struct in6_addr v6;

	if (ip == NULL || strnlen(ip, INET6_ADDRSTRLEN) >= INET6_ADDRSTRLEN)
		return -1;
	if (inet_pton(AF_INET, ip, &v4) == 1) {
		bucket_set(&out[0], "v4/32", (const unsigned char *)&v4.s_addr, 4, 1);
		return 1;
	}
	if (inet_pton(AF_INET6, ip, &v6) != 1)
		return -1;
	if (IN6_IS_ADDR_V4MAPPED(&v6)) {
		/* ::ffff:a.b.c.d is the IPv4 client on a dual-stack socket. */
		bucket_set(&out[0], "v4/32", v6.s6_addr + 12, 4, 1);
		return 1;
	}
	/* A /64 is one subscriber's LAN; /56 and /48 are common site allocations. */
	bucket_set(&out[0], "v6/64", v6.s6_addr, 8, 1);
	bucket_set(&out[1], "v6/56", v6.s6_addr, 7, 4);
	bucket_set(&out[2], "v6/48", v6.s6_addr, 6, 16);
	return 3;
}

/*
 * "rl:<CLASS>:" + base64url(BLAKE2b-128_key(prefix || data)) into buf
 * (RL_KEY_MAX). 0 or -1.
 */
static int rl_key(char *buf, enum rate_class cls, const unsigned char *hmac_key,
                  const char *prefix, const void *data, size_t len)
{
	crypto_generichash_state st;
	unsigned char h[RL_HASH_BYTES];
	char b64[sodium_base64_ENCODED_LEN(RL_HASH_BYTES,
	                                   sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	const char *name = config_rate_name(cls);
	int n;

	if (crypto_generichash_init(&st, hmac_key, RL_KEY_BYTES, sizeof(h)) != 0 ||
	    crypto_generichash_update(&st, (const unsigned char *)prefix, strlen(prefix)) != 0 ||
	    crypto_generichash_update(&st, data, len) != 0 ||
	    crypto_generichash_final(&st, h, sizeof(h)) != 0)
		return -1;
	sodium_bin2base64(b64, sizeof(b64), h, sizeof(h),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	n = snprintf(buf, RL_KEY_MAX, "rl:%s:%s", name != NULL ? name : "X", b64);
	return n > 0 && n < RL_KEY_MAX ? 0 : -1;
}

/* SCRIPT LOAD into rl_sha. 0, or -1 (Redis down or unexpected answer). */
static int rl_load(struct cache *c, struct arena *a)
{
	const char *argv[3] = { "SCRIPT", "LOAD", rl_script };
	size_t lens[3] = { 6, 4, sizeof(rl_script) - 1 };
	redisReply *r = cache_command(c, a, 3, argv, lens);

	if (r == NULL)
		return -1;
	if (r->type != REDIS_REPLY_STRING || r->len != 40) {
		log_msg(LOG_ERROR, "ratelimit: SCRIPT LOAD answered type %d", r->type);
		return -1;
	}
	memcpy(rl_sha, r->str, 40);
	rl_sha[40] = '\0';
	return 0;
}

/*
 * EVALSHA the script (argv[1] is filled in here), loading it first when
 * needed and once more after NOSCRIPT. The reply (on arena a) or NULL.
 */
static redisReply *rl_eval(struct cache *c, struct arena *a, int argc,
                           const char **argv, size_t *lens)
{
	redisReply *r;

	for (int round = 0; round < 2; round++) {
		if (rl_sha[0] == '\0' && rl_load(c, a) != 0)
			return NULL;
		argv[1] = rl_sha;
		lens[1] = 40;
		r = cache_command(c, a, argc, argv, lens);
		if (r == NULL)
			return NULL;
		if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
			rl_sha[0] = '\0';
			continue;
		}
		return r;
	}
	log_msg(LOG_ERROR, "ratelimit: script missing after reload");
	return NULL;
}

/* lim with its count scaled by mult (saturating). */
static struct rate_limit rl_scaled(const struct rate_limit *lim, uint32_t mult)
{
	struct rate_limit s = *lim;
	uint64_t n = (uint64_t)lim->count * mult;

	s.count = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	return s;
}

/*
 * Fold the script's answer into *out: when allowed, the key with the
 * fewest requests left; when denied, the key that stays closed longest.
 * 0, or -1 on a malformed reply.
 */
static int rl_interpret(const redisReply *r, const struct rate_limit *lim,
                        const uint32_t *mult, int n, struct ratelimit_result *out)
{
	struct ratelimit_result best = { 0 }, k;
	bool allowed, have = false;
	uint64_t now, new_tat;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != (size_t)n + 2)
		return -1;
	for (size_t i = 0; i < r->elements; i++)
		if (r->element[i]->type != REDIS_REPLY_INTEGER || r->element[i]->integer < 0)
			return -1;
	allowed = r->element[0]->integer == 1;
	now = (uint64_t)r->element[1]->integer;

	for (int i = 0; i < n; i++) {
		struct rate_limit s = rl_scaled(lim, mult[i]);

		ratelimit_gcra(&s, (uint64_t)r->element[i + 2]->integer, now, &new_tat, &k);
		if (allowed) {
			if (!have || k.remaining < best.remaining ||
			    (k.remaining == best.remaining && k.reset_s > best.reset_s))
				best = k;
			have = true;
		} else if (!k.allowed) {
			if (!have || k.retry_after_s > best.retry_after_s)
				best = k;
			have = true;
		}
	}
	memset(out, 0, sizeof(*out));
	out->allowed = allowed;
	out->limit = lim->count;
	if (have) {
		out->remaining = allowed ? best.remaining : 0;
		out->reset_s = best.reset_s;
		out->retry_after_s = allowed ? 0 : best.retry_after_s;
	}
	if (out->remaining >= lim->count)
		out->remaining = lim->count > 0 ? lim->count - 1 : 0;
	if (!allowed && out->retry_after_s == 0)
		out->retry_after_s = 1;
	return 0;
}

static void rl_arg(const char **argv, size_t *lens, int *argc, const char *s, size_t len)
{
	argv[*argc] = s;
	lens[*argc] = len;
	(*argc)++;
}

int ratelimit_take(struct cache *c, struct arena *a, enum rate_class cls,
                   const struct rate_limit *lim, const unsigned char *hmac_key,
                   const char *ip, const char *account_id,
                   struct ratelimit_result *out)
{
	struct ip_bucket b[3];
	char keys[RL_MAX_KEYS][RL_KEY_MAX];
	char nums[RL_MAX_KEYS * 2][24];
	uint32_t mult[RL_MAX_KEYS];
	const char *argv[3 + RL_MAX_KEYS * 3];
	size_t lens[3 + RL_MAX_KEYS * 3];
	char numkeys[4];
	redisReply *r;
	int n, argc = 0;

	memset(out, 0, sizeof(*out));
	if (lim->count == 0) {
		out->allowed = true;
		return 0;
	}
	if (cls < 0 || cls >= RATE__MAX || hmac_key == NULL)
		return -1;

	n = ratelimit_ip_buckets(ip, b);
	if (n < 0) {
		/* Unparsable or missing address (e.g. a unix-socket peer): one shared bucket. */
		bucket_set(&b[0], "unknown", (const unsigned char *)"", 0, 1);
		n = 1;
	}
	for (int i = 0; i < n; i++) {
		if (rl_key(keys[i], cls, hmac_key, "", b[i].bytes, b[i].len) != 0)
			return -1;
		mult[i] = b[i].multiplier;
	}
	if (account_id != NULL) {
		size_t len = strnlen(account_id, RL_ACCOUNT_MAX);

		if (len == RL_ACCOUNT_MAX ||
		    rl_key(keys[n], cls, hmac_key, "acct", account_id, len) != 0)
			return -1;
		mult[n] = 1;
		n++;
	}

	rl_arg(argv, lens, &argc, "EVALSHA", 7);
	rl_arg(argv, lens, &argc, rl_sha, 40);   /* rl_eval() fills it in */
	rl_arg(argv, lens, &argc, numkeys,
	       (size_t)snprintf(numkeys, sizeof(numkeys), "%d", n));
	for (int i = 0; i < n; i++)
		rl_arg(argv, lens, &argc, keys[i], strlen(keys[i]));
	for (int i = 0; i < n; i++) {
		struct rate_limit s = rl_scaled(lim, mult[i]);
		uint64_t interval, burst;
		char *ti = nums[2 * i], *bu = nums[2 * i + 1];

		gcra_params(&s, &interval, &burst);
		rl_arg(argv, lens, &argc, ti, (size_t)snprintf(ti, sizeof(nums[0]), "%llu",
		                                               (unsigned long long)interval));
		rl_arg(argv, lens, &argc, bu, (size_t)snprintf(bu, sizeof(nums[0]), "%llu",
		                                               (unsigned long long)burst));
	}

	r = rl_eval(c, a, argc, argv, lens);
	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ERROR) {
		log_msg(LOG_ERROR, "ratelimit: script failed");
		return -1;
	}
	if (rl_interpret(r, lim, mult, n, out) != 0) {
		log_msg(LOG_ERROR, "ratelimit: malformed script reply");
		return -1;
	}
	return 0;
}
