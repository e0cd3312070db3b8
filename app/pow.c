/*
 * pow.c — proof of work: checking solutions, adaptive difficulty, and the
 * shared X-PoW check that dispatch.c runs for routes with a pow action.
 *
 * A solution is a nonce such that
 *
 *     SHA-256("sotto-pow:" action ":" challenge ":" nonce)
 *
 * starts with at least `difficulty` zero bits, most significant bit of the
 * first byte first (docs/openapi.yaml, POST /pow/challenge).
 *
 * Load is the proofs verified (work actually done, never challenges
 * merely asked for, which cost nothing), counted per action and per minute in shared memory
 * (shm->pow_load, a ring of SHM_POW_MINUTES slots; slot = minute % ring).
 * Each slot remembers which minute it counts, so a slot left over from an
 * earlier lap of the ring reads as zero and nothing needs clearing on a
 * timer. The minute stored in a slot only ever moves forward.
 */
#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "cache.h"
#include "cachemac.h"
#include "config.h"
#include "context.h"
#include "http.h"
#include "log.h"
#include "pow.h"
#include "router.h"
#include "shm.h"
#include "util.h"

#define POW_PREFIX "sotto-pow:"
#define POW_DIGEST_BITS 256
#define POW_CHALLENGE_CHARS 22       /* base64url of POW_CHALLENGE_BYTES, no padding */
#define POW_BASELINE_MINUTES 60      /* the hour before the previous minute */
#define POW_ADAPT_THRESHOLD 4        /* current >= 4 x ref starts adding bits */

_Static_assert(POW_BASELINE_MINUTES + 2 <= SHM_POW_MINUTES,
               "the ring must hold this minute, the previous one and the baseline hour");
_Static_assert((POW_CHALLENGE_BYTES * 4 + 2) / 3 == POW_CHALLENGE_CHARS,
               "challenge text length must match POW_CHALLENGE_BYTES");

int pow_leading_zero_bits(const unsigned char digest[32])
{
	int bits = 0;

	for (size_t i = 0; i < 32; i++) {
		unsigned char b = digest[i];

		if (b == 0) {
			bits += 8;
			continue;
		}
		while ((b & 0x80u) == 0) {
			bits++;
			b = (unsigned char)(b << 1);
		}
		break;
	}
	return bits;
}

/* True when s is 1..POW_NONCE_MAX_DIGITS ASCII digits and nothing else. */
static bool pow_nonce_valid(const char *s)
{
	size_t n;

	if (s == NULL)
		return false;
	n = strspn(s, "0123456789");
	return n >= 1 && n <= POW_NONCE_MAX_DIGITS && s[n] == '\0';
}

/*
 * A malformed nonce, a NULL argument or a difficulty outside 0..256 is
 * never a solution. Difficulty 0 accepts any well-formed nonce without
 * hashing.
 */
bool pow_solution_ok(const char *action, const char *challenge, const char *nonce,
                     int difficulty)
{
	crypto_hash_sha256_state st;
	unsigned char digest[crypto_hash_sha256_BYTES];

	if (action == NULL || challenge == NULL || !pow_nonce_valid(nonce) ||
	    difficulty < 0 || difficulty > POW_DIGEST_BITS)
		return false;
	if (difficulty == 0)
		return true;
	/* libsodium's SHA-256 functions cannot fail; their return value is always 0. */
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)POW_PREFIX,
	                          sizeof(POW_PREFIX) - 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)action, strlen(action));
	crypto_hash_sha256_update(&st, (const unsigned char *)":", 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)challenge, strlen(challenge));
	crypto_hash_sha256_update(&st, (const unsigned char *)":", 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)nonce, strlen(nonce));
	crypto_hash_sha256_final(&st, digest);
	return pow_leading_zero_bits(digest) >= difficulty;
}

/* NULL and unknown names are POW_NONE; names match exactly (lower case). */
enum pow_action pow_action_parse(const char *name)
{
	if (name == NULL)
		return POW_NONE;
	for (int a = 0; a < POW__MAX; a++)
		if (strcmp(name, config_pow_name((enum pow_action)a)) == 0)
			return (enum pow_action)a;
	return POW_NONE;
}

/*
 * With q = floor(current / ref), current >= 2^k x ref exactly when
 * q >= 2^k, so the answer is floor(log2(q)) - 1 once q >= 4, and no
 * product can overflow. A ref of 0 (min_rate 0 and no baseline) is
 * taken as 1. max_extra <= 0 turns adaptation off.
 */
int pow_adaptive_extra(uint64_t current, uint64_t baseline, uint32_t min_rate,
                       int max_extra)
{
	uint64_t ref = baseline > min_rate ? baseline : min_rate;
	uint64_t q;
	int log2q;

	if (max_extra <= 0)
		return 0;
	if (ref == 0)
		ref = 1;
	q = current / ref;
	if (q < POW_ADAPT_THRESHOLD)
		return 0;
	log2q = 63 - __builtin_clzll(q);
	return log2q - 1 < max_extra ? log2q - 1 : max_extra;
}

/* Events counted in `minute` by a ring; 0 when its slot counts another minute. */
static uint64_t ring_count(const struct shm_pow_minute ring[SHM_POW_MINUTES], uint64_t minute)
{
	const struct shm_pow_minute *s = &ring[minute % SHM_POW_MINUTES];

	/* Acquire pairs with the takeover's exchange: the zeroed count is visible. */
	if (atomic_load_explicit(&s->minute, memory_order_acquire) != minute)
		return 0;
	return atomic_load_explicit(&s->count, memory_order_relaxed);
}

/*
 * Count one event of now_s in a ring. The fast path is one relaxed
 * increment. A slot still counting an older
 * minute is taken over: its count is zeroed first and then its minute moved
 * forward with a compare-exchange, so no reader ever sees the new minute
 * with the old lap's count. Workers racing at the minute boundary may lose
 * counts: one that saw the old minute but zeroes late wipes the increments
 * made since the takeover (a handful, more only if it was descheduled in
 * between). The figure is a load estimate that can only err low, so that
 * is acceptable. A slot already on a
 * later minute (the wall clock stepped back an hour or more) is left alone
 * and the event goes uncounted.
 */
static void ring_note(struct shm_pow_minute ring[SHM_POW_MINUTES], uint64_t now_s)
{
	uint64_t minute = now_s / 60;
	struct shm_pow_minute *s = &ring[minute % SHM_POW_MINUTES];
	uint64_t seen = atomic_load_explicit(&s->minute, memory_order_acquire);

	if (seen != minute) {
		if (seen > minute)
			return;
		atomic_store_explicit(&s->count, 0, memory_order_relaxed);
		/* Losing the exchange means another worker moved it: forward to minute. */
		if (!atomic_compare_exchange_strong_explicit(&s->minute, &seen, minute,
		                                             memory_order_acq_rel,
		                                             memory_order_acquire) &&
		    seen != minute)
			return;
	}
	atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

/*
 * A ring's events in the sliding minute before now_s: this minute plus
 * the previous one weighted by the part of it still inside the window.
 */
static uint64_t ring_current(const struct shm_pow_minute ring[SHM_POW_MINUTES], uint64_t now_s)
{
	uint64_t minute = now_s / 60, into = now_s % 60;
	uint64_t current = ring_count(ring, minute);

	if (minute >= 1)
		current += ring_count(ring, minute - 1) * (60 - into) / 60;
	return current;
}

void pow_note_verified(struct shm_region *shm, enum pow_action action, uint64_t now_s)
{
	assert(shm != NULL);
	if (action < 0 || action >= POW__MAX)
		return;
	ring_note(shm->pow_load[action], now_s);
}

void pow_note_hash_busy(struct shm_region *shm, uint64_t now_s)
{
	assert(shm != NULL);
	ring_note(shm->pwhash_busy, now_s);
}

/*
 * The difficulty the load of action asks for: current as ring_current
 * counts it; baseline the mean per minute over minutes m-2 .. m-61,
 * computed only when current could add a bit at all (it cannot below
 * 4 x min_rate), which keeps GET /config cheap.
 */
static int load_difficulty(const struct shm_region *shm, const struct config *cfg,
                           enum pow_action action, uint64_t now_s)
{
	uint64_t minute = now_s / 60;
	uint64_t current, sum = 0;
	uint32_t min_rate;
	int floor, extra;

	if (cfg->pow[action] <= 0)
		return 0;
	floor = cfg->pow[action];
	if (floor >= POW_DIFFICULTY_MAX)
		return POW_DIFFICULTY_MAX;
	if (cfg->pow_adapt_max_extra <= 0)
		return floor;
	min_rate = cfg->pow_adapt_min_rate > 0 ? (uint32_t)cfg->pow_adapt_min_rate : 0;
	current = ring_current(shm->pow_load[action], now_s);
	if (current / POW_ADAPT_THRESHOLD < (min_rate > 0 ? min_rate : 1))
		return floor;
	for (uint64_t k = 2; k < 2 + POW_BASELINE_MINUTES && k <= minute; k++)
		sum += ring_count(shm->pow_load[action], minute - k);
	extra = pow_adaptive_extra(current, sum / POW_BASELINE_MINUTES, min_rate,
	                           cfg->pow_adapt_max_extra);
	return floor + extra < POW_DIFFICULTY_MAX ? floor + extra : POW_DIFFICULTY_MAX;
}

int pow_busy_difficulty(const struct shm_region *shm, const struct config *cfg,
                        enum pow_action action, uint64_t now_s)
{
	uint64_t busy;
	int base, extra;

	assert(shm != NULL && cfg != NULL);
	if ((action != POW_LOGIN && action != POW_REGISTER) || cfg->pwhash_busy_pow <= 0)
		return 0;
	busy = ring_current(shm->pwhash_busy, now_s);
	if (busy < POW_BUSY_MIN)
		return 0;
	base = cfg->pow[action] > cfg->pwhash_busy_pow ? cfg->pow[action] : cfg->pwhash_busy_pow;
	extra = pow_adaptive_extra(busy, 0, cfg->pow_adapt_min_rate > 0 ?
	                           (uint32_t)cfg->pow_adapt_min_rate : 0, cfg->pow_adapt_max_extra);
	return base + extra < POW_DIFFICULTY_MAX ? base + extra : POW_DIFFICULTY_MAX;
}

int pow_difficulty(const struct shm_region *shm, const struct config *cfg,
                   enum pow_action action, uint64_t now_s)
{
	int load, busy;

	assert(shm != NULL && cfg != NULL);
	if (action < 0 || action >= POW__MAX)
		return 0;
	load = load_difficulty(shm, cfg, action, now_s);
	busy = pow_busy_difficulty(shm, cfg, action, now_s);
	return busy > load ? busy : load;
}

/* True when s is exactly POW_CHALLENGE_CHARS base64url characters. */
static bool pow_challenge_valid(const char *s, size_t len)
{
	static const char b64url[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

	if (len != POW_CHALLENGE_CHARS)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\0' || strchr(b64url, s[i]) == NULL)
			return false;
	return true;
}

/*
 * Split a stored challenge record "<action>:<bits>" into its action
 * (compared with want) and difficulty. False when malformed or for
 * another action.
 */
static bool pow_record_matches(const char *record, size_t len, const char *want,
                               int *difficulty)
{
	size_t n = strlen(want);
	int64_t bits;

	if (len <= n + 1 || memcmp(record, want, n) != 0 || record[n] != ':' ||
	    memchr(record, '\0', len) != NULL)
		return false;
	/* Redis string replies are NUL-terminated by hiredis. */
	if (util_parse_int64(record + n + 1, 0, POW_DIGEST_BITS, &bits) != 0)
		return false;
	*difficulty = (int)bits;
	return true;
}

/*
 * The challenge is consumed (GETDEL) before the nonce is looked at, so a
 * challenge is single-use even when the nonce is wrong or the challenge
 * belongs to another action: a client that fails must ask for a new one.
 * While hash slots are saturated a login or registration needs a proof
 * even with a floor of 0, and one at least as hard as the saturation asks
 * for: challenges issued before (easy, or at difficulty 0) cannot be kept
 * for the moment they would let a flood through.
 * Replies with 428/403/503/500 (see pow.h) and returns that status, or
 * returns 0 when the request may go on.
 */
int pow_verify_or_reply(struct request *req)
{
	struct context *ctx = req->ctx;
	enum pow_action action = req->route->pow;
	const char *header, *colon, *nonce, *argv[2], *record;
	char *challenge;
	redisReply *r;
	int difficulty, busy;

	if (action == POW_NONE)
		return 0;
	busy = pow_busy_difficulty(ctx->shm, ctx->cfg, action, util_wall_us() / 1000000);
	if (ctx->cfg->pow[action] == 0 && busy == 0)
		return 0;
	header = http_env(req, "HTTP_X_POW");
	if (header == NULL || header[0] == '\0')
		return http_error(req, 428, "pow_required",
		                  "this action needs proof of work: send X-PoW");
	colon = strchr(header, ':');
	if (colon == NULL || !pow_challenge_valid(header, (size_t)(colon - header)) ||
	    !pow_nonce_valid(colon + 1))
		return http_error(req, 403, "pow_invalid",
		                  "X-PoW must be <challenge>:<nonce>");
	nonce = colon + 1;
	challenge = arena_strndup(req->arena, header, (size_t)(colon - header));
	argv[0] = "GETDEL";
	argv[1] = challenge != NULL ? arena_printf(req->arena, "pow:%s", challenge) : NULL;
	if (argv[1] == NULL)
		return http_oom(req);
	r = cache_command(ctx->cache, req->arena, 2, argv, NULL);
	if (r == NULL && !cache_down(ctx->cache))
		return http_oom(req);
	if (r == NULL)
		return http_unavailable(req, "proof of work is unavailable", HTTP_RETRY_AFTER_DOWN);
	if (r->type == REDIS_REPLY_NIL)
		return http_error(req, 403, "pow_invalid",
		                  "unknown, expired or already used challenge");
	if (r->type != REDIS_REPLY_STRING) {
		log_msg(LOG_ERROR, "pow: GETDEL answered reply type %d", r->type);
		return http_unavailable(req, "proof of work is unavailable", HTTP_RETRY_AFTER_DOWN);
	}
	/* Only what this server sealed under this key counts (cachemac.h). */
	record = cachemac_open(ctx->keys.redis, argv[1], "", r->str, r->len,
	                       (int64_t)(util_wall_us() / 1000000));
	if (record == NULL)
		return http_error(req, 403, "pow_invalid",
		                  "unknown, expired or already used challenge");
	if (!pow_record_matches(record, strlen(record), config_pow_name(action), &difficulty))
		return http_error(req, 403, "pow_invalid",
		                  "the challenge is not for this action");
	if (!pow_solution_ok(config_pow_name(action), challenge, nonce, difficulty))
		return http_error(req, 403, "pow_invalid",
		                  "the nonce does not solve the challenge");
	if (difficulty < busy)
		return http_error(req, 403, "pow_invalid",
		                  "password checks are saturated and need a harder challenge: "
		                  "ask for a new one");
	req->pow_bits = difficulty;
	if (difficulty > 0)
		pow_note_verified(ctx->shm, action, util_wall_us() / 1000000);
	return 0;
}
