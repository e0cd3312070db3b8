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
 * The script runs with EVALSHA (cache_eval(): loaded once per process,
 * again after NOSCRIPT), so its text does not travel with every call.
 *
 * Keys are "rl:<CLASS>:" + base64url(BLAKE2b-128 keyed with the
 * rate-limit key over a domain-tagged bucket id), so Redis never holds
 * an IP address or an account id.
 *
 * Local allowance. The round trip is most of what a cheap request costs,
 * so a worker that keeps seeing a key takes a few requests at a time: when
 * the script allows a request it also reserves up to m more on every key
 * of the decision (their TAT moves by (1 + m) * T, as if m more requests
 * had just arrived) and tells the worker m. The worker keeps, per key, in
 * a small direct-mapped table (rl_local): the allowance left, the TAT the
 * reservation left in Redis (its mark), and the RateLimit-* numbers as of
 * the sync. While every key of a decision has a live entry with allowance,
 * the decision is admitted locally: no Redis call, headers from the
 * snapshot. An entry lives RL_LIFETIME_US from when its sync was sent, so
 * a limit change, a SCRIPT FLUSH or another host's traffic is seen within
 * that. m = min(ramp, RL_GRANT_MAX, floor(remaining / (2 * workers))),
 * where ramp is 0 for a key this worker did not sync within the lifetime
 * or did not use up, else twice its last grant (at least 1): a key seen
 * now and then never gets an allowance, a hot one gets 32 at its 7th sync.
 *
 * Invariant: a request admitted locally was charged in Redis before it
 * was admitted, by the same atomic script, which checked the limit with
 * every other worker's outstanding reservations already in the TAT. So
 * however workers interleave, admitted plus reserved requests never exceed
 * what the script alone would allow: local admission adds no over-
 * admission in the burst sense (a burst of count + 1 from any mix of
 * workers gets exactly count). Everything that can lose an entry (a slot
 * collision, a Redis error or timeout, a worker exiting, fork) loses a
 * reservation, which over-charges the key by at most RL_GRANT_MAX and
 * ages out like requests would; nothing can under-charge it. (Charging
 * after the fact instead would not be safe: one worker could spend the
 * whole remaining room in syncs while another still held an allowance the
 * script never saw, over-admitting up to (workers - 1) * RL_GRANT_MAX.)
 * The factor 2 * workers keeps any one worker from holding more than a
 * 1/(2W) share of what is left, so the others can still be served.
 *
 * Two bounded effects remain. (1) A reserved request counts as arriving
 * at the sync, up to RL_LIFETIME_US before it is admitted, and GCRA
 * forgets old arrivals. The reserved slots sit behind the current
 * request's, at least T after the sync, so they cannot age before T has
 * passed: with T >= 1 s (count <= seconds, e.g. 20/60) there is no effect
 * at all; with a faster limit the TAT can run at most 1 s - T behind,
 * i.e. at most ceil(1 s / T) - 1 extra requests (4 for 300/60), and only
 * when the key is that close to its limit. (2) Allowance not used within
 * the lifetime is given back at the worker's next sync of that key, but
 * only if the key's TAT is still exactly the mark (nobody charged it
 * since), because only then is subtracting it exact. Otherwise it stays
 * charged and the client may be refused up to that many requests early
 * until it ages out; the ramp keeps this to at most twice what the worker
 * actually used in the previous lifetime.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <sodium.h>

#include "arena.h"
#include "cache.h"
#include "config.h"
#include "log.h"
#include "ratelimit.h"
#include "util.h"

#define RL_HASH_BYTES 16
#define RL_KEY_BYTES 32              /* hmac_key length */
#define RL_MAX_KEYS 4                /* 3 IPv6 prefixes + the account */
#define RL_KEY_MAX 96
#define RL_ACCOUNT_MAX 256           /* longer ids are a caller bug; refuse */
#define RL_SLOTS 256                 /* local table entries, direct-mapped */
#define RL_GRANT_MAX 32              /* largest local allowance */
#define RL_LIFETIME_US 1000000u      /* an allowance is usable this long */

/*
 * KEYS[i]: bucket keys. ARGV[1]: the most requests to reserve for the
 * caller after this one (its ramp), ARGV[2]: the share divisor 2 * workers.
 * Per key, ARGV[4i-1 .. 4i+2]: the emission interval T and the burst
 * window count * T (microseconds), the caller's unspent allowance to give
 * back, and the mark its reservation left (given back only when the TAT
 * is still exactly that). Returns {allowed, now, granted, tat_1 .. tat_n}
 * with each TAT as it was before this request (after any give-back, 0 =
 * none). A denied request writes only give-backs. Numbers stay below
 * 2^53, exact in Lua's doubles; string.format('%d') keeps them out of
 * exponent form. A key expires a second after it would be fully
 * replenished anyway.
 */
static const char rl_script[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
	"local grant = tonumber(ARGV[1])\n"
	"local share = tonumber(ARGV[2])\n"
	"local out = {1, now, 0}\n"
	"local iv, tat, back = {}, {}, {}\n"
	"for i = 1, #KEYS do\n"
	"  local a = 4 * i - 1\n"
	"  local burst = tonumber(ARGV[a + 1])\n"
	"  local unspent = tonumber(ARGV[a + 2])\n"
	"  iv[i] = tonumber(ARGV[a])\n"
	"  tat[i] = tonumber(redis.call('GET', KEYS[i]) or 0) or 0\n"
	"  back[i] = unspent > 0 and tat[i] == tonumber(ARGV[a + 3])\n"
	"  if back[i] then tat[i] = tat[i] - unspent * iv[i] end\n"
	"  out[i + 3] = tat[i]\n"
	"  local due = math.max(tat[i], now) + iv[i]\n"
	"  if due - burst > now then out[1] = 0 end\n"
	"  local room = math.floor((now + burst - due) / iv[i])\n"
	"  grant = math.min(grant, math.floor(room / share))\n"
	"end\n"
	"if out[1] == 1 then out[3] = math.max(grant, 0) end\n"
	"for i = 1, #KEYS do\n"
	"  local new = tat[i]\n"
	"  if out[1] == 1 then new = math.max(new, now) + (1 + out[3]) * iv[i] end\n"
	"  if out[1] == 1 or back[i] then\n"
	"    local ttl = math.ceil(math.max(new - now, 0) / 1000) + 1000\n"
	"    redis.call('SET', KEYS[i], string.format('%d', new),\n"
	"               'PX', string.format('%d', ttl))\n"
	"  end\n"
	"end\n"
	"return out\n";

static struct cache_script rl_eval_script = CACHE_SCRIPT(rl_script);

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

/* lim with its count scaled by mult (saturating). */
static struct rate_limit rl_scaled(const struct rate_limit *lim, uint32_t mult)
{
	struct rate_limit s = *lim;
	uint64_t n = (uint64_t)lim->count * mult;

	s.count = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	return s;
}


/* ---- one decision ----------------------------------------------------- */

/* The keys of one decision, each with its own limit (class limit x bucket multiplier). */
struct rl_decision {
	int n;
	char key[RL_MAX_KEYS][RL_KEY_MAX];
	struct rate_limit lim[RL_MAX_KEYS];
	uint64_t interval[RL_MAX_KEYS];
	uint64_t burst[RL_MAX_KEYS];
};

/*
 * Fill d for class cls: the buckets of ip (an unparsable or missing
 * address shares one bucket) and, when not NULL, the account. 0, or -1
 * on an overlong account id (a caller bug) or a hashing failure.
 */
static int rl_decision_init(struct rl_decision *d, enum rate_class cls,
                            const struct rate_limit *lim, const unsigned char *hmac_key,
                            const char *ip, const char *account_id)
{
	struct ip_bucket b[3];
	int n = ratelimit_ip_buckets(ip, b);

	if (n < 0) {
		/* e.g. a unix-socket peer */
		bucket_set(&b[0], "unknown", (const unsigned char *)"", 0, 1);
		n = 1;
	}
	for (int i = 0; i < n; i++) {
		if (rl_key(d->key[i], cls, hmac_key, "", b[i].bytes, b[i].len) != 0)
			return -1;
		d->lim[i] = rl_scaled(lim, b[i].multiplier);
	}
	if (account_id != NULL) {
		size_t len = strnlen(account_id, RL_ACCOUNT_MAX);

		if (len == RL_ACCOUNT_MAX ||
		    rl_key(d->key[n], cls, hmac_key, "acct", account_id, len) != 0)
			return -1;
		d->lim[n] = *lim;
		n++;
	}
	d->n = n;
	for (int i = 0; i < n; i++)
		gcra_params(&d->lim[i], &d->interval[i], &d->burst[i]);
	return 0;
}

/*
 * The decision's RateLimit-* numbers from per-key results k[0..n): when
 * allowed, the key with the fewest requests left (the later reset on a
 * tie); when denied, the key that stays closed longest.
 */
static void rl_fold(const struct ratelimit_result *k, int n, bool allowed,
                    const struct rate_limit *lim, struct ratelimit_result *out)
{
	const struct ratelimit_result *best = NULL;

	for (int i = 0; i < n; i++) {
		if (allowed) {
			if (best == NULL || k[i].remaining < best->remaining ||
			    (k[i].remaining == best->remaining && k[i].reset_s > best->reset_s))
				best = &k[i];
		} else if (!k[i].allowed) {
			if (best == NULL || k[i].retry_after_s > best->retry_after_s)
				best = &k[i];
		}
	}
	memset(out, 0, sizeof(*out));
	out->allowed = allowed;
	out->limit = lim->count;
	if (best != NULL) {
		out->remaining = allowed ? best->remaining : 0;
		out->reset_s = best->reset_s;
		out->retry_after_s = allowed ? 0 : best->retry_after_s;
	}
	if (out->remaining >= lim->count)
		out->remaining = lim->count > 0 ? lim->count - 1 : 0;
	if (!allowed && out->retry_after_s == 0)
		out->retry_after_s = 1;
}

/* ---- this worker's local allowances ----------------------------------- */

struct rl_entry {
	char key[RL_KEY_MAX];   /* "" = free */
	uint64_t synced_us;     /* monotonic, when the last sync was sent; 0 = never */
	uint64_t mark;          /* the TAT that sync left in Redis */
	uint32_t allowance;     /* reserved in Redis by that sync, not yet admitted */
	uint32_t granted;       /* what that sync reserved, for the ramp */
	uint32_t spent;         /* admitted locally since */
	uint32_t remaining;     /* this key's RateLimit-Remaining after the sync */
	uint64_t reset_us;      /* until fully replenished, as of the sync */
};

/*
 * One table per process, and so per worker: each forked worker has its
 * own copy. A child must not spend reservations its parent holds (both
 * would admit the same reserved request), so a fork empties the child's.
 */
static struct {
	int hooked;             /* 0 not yet, 1 fork hook in place, -1 failed: no allowances */
	struct rl_entry slot[RL_SLOTS];
} rl_local;

static void rl_local_clear(void)
{
	memset(rl_local.slot, 0, sizeof(rl_local.slot));
}

/* True when allowances may be granted: the fork hook is in place. */
static bool rl_local_usable(void)
{
	if (rl_local.hooked == 0)
		rl_local.hooked = pthread_atfork(NULL, NULL, rl_local_clear) == 0 ? 1 : -1;
	return rl_local.hooked == 1;
}

/* key's slot (FNV-1a over the key text); a colliding key evicts it. */
static struct rl_entry *rl_slot(const char *key)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	return &rl_local.slot[h % RL_SLOTS];
}

/* key's entry, or NULL when its slot is free or holds another key. */
static struct rl_entry *rl_find(const char *key)
{
	struct rl_entry *e = rl_slot(key);

	return strcmp(e->key, key) == 0 ? e : NULL;
}

/* Synced within the lifetime: its allowance may be spent. */
static bool rl_live(const struct rl_entry *e, uint64_t now)
{
	return e != NULL && e->synced_us != 0 && now - e->synced_us < RL_LIFETIME_US;
}

/* One key's RateLimit-* numbers now: its sync's, less what was spent since. */
static void rl_snapshot(const struct rl_entry *e, uint64_t interval, uint64_t now,
                        struct ratelimit_result *k)
{
	uint64_t owed = e->reset_us + (uint64_t)e->spent * interval;
	uint64_t gone = now - e->synced_us;

	memset(k, 0, sizeof(*k));
	k->allowed = true;
	k->remaining = e->remaining > e->spent ? e->remaining - e->spent : 0;
	k->reset_s = ceil_s(owed > gone ? owed - gone : 0);
}

/*
 * Admit the decision from local allowance when every key has a live entry
 * with some left: spend one on each, fill *out from the snapshots, true.
 * False, with nothing changed, when Redis must be asked.
 */
static bool rl_admit_local(const struct rl_decision *d, const struct rate_limit *lim,
                           uint64_t now, struct ratelimit_result *out)
{
	struct rl_entry *e[RL_MAX_KEYS];
	struct ratelimit_result k[RL_MAX_KEYS];

	for (int i = 0; i < d->n; i++) {
		e[i] = rl_find(d->key[i]);
		if (!rl_live(e[i], now) || e[i]->allowance == 0)
			return false;
	}
	for (int i = 0; i < d->n; i++) {
		e[i]->allowance--;
		e[i]->spent++;
		rl_snapshot(e[i], d->interval[i], now, &k[i]);
	}
	rl_fold(k, d->n, true, lim, out);
	return true;
}

/*
 * The most this sync may reserve: for each key, nothing unless this
 * worker synced it within the lifetime and has spent that allowance,
 * else twice the last grant (at least 1); the least over the keys,
 * capped at RL_GRANT_MAX. Nothing when workers < 1.
 */
static uint32_t rl_ramp(const struct rl_decision *d, int workers, uint64_t now)
{
	uint32_t cap = RL_GRANT_MAX;

	if (workers < 1 || !rl_local_usable())
		return 0;
	for (int i = 0; i < d->n; i++) {
		const struct rl_entry *e = rl_find(d->key[i]);
		uint32_t want;

		if (!rl_live(e, now) || e->allowance > 0)
			return 0;
		want = e->granted == 0 ? 1 : 2 * e->granted;
		if (want < cap)
			cap = want;
	}
	return cap;
}

/* ---- a sync: one EVALSHA ---------------------------------------------- */

struct rl_call {
	int argc;
	const char *argv[5 + 5 * RL_MAX_KEYS];
	size_t lens[5 + 5 * RL_MAX_KEYS];
	int nums;
	char num[3 + 4 * RL_MAX_KEYS][24];
};

static void rl_call_str(struct rl_call *call, const char *s, size_t len)
{
	call->argv[call->argc] = s;
	call->lens[call->argc] = len;
	call->argc++;
}

static void rl_call_num(struct rl_call *call, uint64_t v)
{
	char *s = call->num[call->nums++];

	rl_call_str(call, s, (size_t)snprintf(s, sizeof(call->num[0]), "%llu",
	                                      (unsigned long long)v));
}

/*
 * The script's arguments for d, asking to reserve up to cap. Hands back
 * each key's unspent allowance: from here on it is Redis's again (or, if
 * the call fails, lost, which can only over-charge).
 */
static void rl_call_build(struct rl_call *call, const struct rl_decision *d,
                          uint32_t cap, int workers)
{
	call->argc = 0;
	call->nums = 0;
	rl_call_str(call, NULL, 0);      /* EVALSHA and the script's SHA1: cache_eval() */
	rl_call_str(call, NULL, 0);
	rl_call_num(call, (uint64_t)d->n);
	for (int i = 0; i < d->n; i++)
		rl_call_str(call, d->key[i], strlen(d->key[i]));
	rl_call_num(call, cap);
	rl_call_num(call, 2 * (uint64_t)(workers > 1 ? workers : 1));
	for (int i = 0; i < d->n; i++) {
		struct rl_entry *e = rl_find(d->key[i]);

		rl_call_num(call, d->interval[i]);
		rl_call_num(call, d->burst[i]);
		rl_call_num(call, e != NULL ? e->allowance : 0);
		rl_call_num(call, e != NULL ? e->mark : 0);
		if (e != NULL)
			e->allowance = 0;
	}
}

struct rl_reply {
	bool allowed;
	uint32_t grant;
	uint64_t now;
	uint64_t tat[RL_MAX_KEYS];   /* before this request, after any give-back */
};

/* Check the script's answer for n keys (grant at most cap) into *rep. 0 or -1. */
static int rl_parse(const redisReply *r, int n, uint32_t cap, struct rl_reply *rep)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements != (size_t)n + 3)
		return -1;
	for (size_t i = 0; i < r->elements; i++)
		if (r->element[i]->type != REDIS_REPLY_INTEGER || r->element[i]->integer < 0)
			return -1;
	if (r->element[2]->integer > cap)
		return -1;
	rep->allowed = r->element[0]->integer == 1;
	rep->now = (uint64_t)r->element[1]->integer;
	rep->grant = (uint32_t)r->element[2]->integer;
	for (int i = 0; i < n; i++)
		rep->tat[i] = (uint64_t)r->element[i + 3]->integer;
	return 0;
}

/*
 * Record a sync's outcome for each key of d, taking over its slot: the
 * reservation (grant, mark) and the snapshot when allowed, no allowance
 * when denied. next[i]: key i's TAT after this request alone. sent: when
 * the sync was sent, before Redis ran it; the lifetime counts from there.
 */
static void rl_remember(const struct rl_decision *d, const struct rl_reply *rep,
                        const uint64_t *next, const struct ratelimit_result *k,
                        uint64_t sent)
{
	for (int i = 0; i < d->n; i++) {
		struct rl_entry *e = rl_slot(d->key[i]);

		memset(e, 0, sizeof(*e));
		memcpy(e->key, d->key[i], strlen(d->key[i]) + 1);
		e->synced_us = sent;
		if (!rep->allowed)
			continue;
		e->allowance = e->granted = rep->grant;
		e->mark = next[i] + (uint64_t)rep->grant * d->interval[i];
		e->remaining = k[i].remaining;
		e->reset_us = next[i] > rep->now ? next[i] - rep->now : 0;
	}
}

/*
 * Ask Redis for the decision: one EVALSHA that gives back unspent
 * allowance, decides, and reserves up to the ramp's worth. Fills *out and
 * the local entries. 0, or -1 when Redis is unavailable or answers
 * nonsense (the handed-back allowance is then simply gone).
 */
static int rl_sync(struct cache *c, struct arena *a, const struct rl_decision *d,
                   const struct rate_limit *lim, int workers,
                   struct ratelimit_result *out)
{
	struct rl_call call;
	struct rl_reply rep;
	struct ratelimit_result k[RL_MAX_KEYS] = { 0 };
	uint64_t next[RL_MAX_KEYS], sent = util_now_us();
	uint32_t cap = rl_ramp(d, workers, sent);
	redisReply *r;

	rl_call_build(&call, d, cap, workers);
	r = cache_eval(c, a, &rl_eval_script, call.argc, call.argv, call.lens);
	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ERROR) {
		log_msg(LOG_ERROR, "ratelimit: script failed");
		return -1;
	}
	if (rl_parse(r, d->n, cap, &rep) != 0) {
		log_msg(LOG_ERROR, "ratelimit: malformed script reply");
		return -1;
	}
	for (int i = 0; i < d->n; i++)
		ratelimit_gcra(&d->lim[i], rep.tat[i], rep.now, &next[i], &k[i]);
	rl_fold(k, d->n, rep.allowed, lim, out);
	rl_remember(d, &rep, next, k, sent);
	return 0;
}

int ratelimit_take(struct cache *c, struct arena *a, enum rate_class cls,
                   const struct rate_limit *lim, const unsigned char *hmac_key,
                   const char *ip, const char *account_id, int workers,
                   struct ratelimit_result *out)
{
	struct rl_decision d;

	memset(out, 0, sizeof(*out));
	if (lim->count == 0) {
		out->allowed = true;
		return 0;
	}
	if (cls < 0 || cls >= RATE__MAX || hmac_key == NULL)
		return -1;
	if (rl_decision_init(&d, cls, lim, hmac_key, ip, account_id) != 0)
		return -1;
	if (rl_admit_local(&d, lim, util_now_us(), out))
		return 0;
	return rl_sync(c, a, &d, lim, workers, out);
}
