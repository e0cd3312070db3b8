/*
 * pow.h — proof of work, exactly as docs/openapi.yaml describes it.
 *
 * A client asks POST /pow/challenge for a challenge bound to an action,
 * finds a nonce (decimal ASCII, 1..20 digits) such that
 *
 *     SHA-256("sotto-pow:" action ":" challenge ":" nonce)
 *
 * has at least `difficulty` leading zero bits (most significant bit of
 * the first byte first), and sends `X-PoW: <challenge>:<nonce>` with the
 * action. Challenges live in Redis as "pow:<challenge>" -> "<action>:<bits>"
 * and are consumed atomically (GETDEL), so each works once.
 *
 * Difficulty adapts to load: proofs verified per action (work done, not
 * challenges asked for, which are free) are counted per minute in shared
 * memory (pool-wide, per host). See pow_adaptive_extra() for the rule.
 *
 * Login and registration also adapt to the password-hash slots
 * (password.h): while password checks keep finding every slot busy (at
 * least POW_BUSY_MIN of them in the sliding minute), both need at least
 * SOTTO_PWHASH_BUSY_POW bits even when their floor is 0, more as the busy
 * count keeps doubling. A flood that solves no proof of work then gets
 * 428 before any hash is run, and the slots go to clients that did work.
 */
#ifndef SOTTO_POW_H
#define SOTTO_POW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct arena;
struct request;
struct shm_region;

#define POW_CHALLENGE_TTL 300     /* seconds a challenge stays valid */
#define POW_CHALLENGE_BYTES 16    /* random bytes; 22 base64url characters */
#define POW_NONCE_MAX_DIGITS 20
#define POW_DIFFICULTY_MAX 32     /* bits; adaptive difficulty never exceeds it */
#define POW_BUSY_MIN 4            /* busy password checks a minute that mean saturated */

/* Leading zero bits of a SHA-256 digest (0..256). */
int pow_leading_zero_bits(const unsigned char digest[32]);

/*
 * True when nonce solves challenge for action at difficulty. The nonce must
 * be 1..20 ASCII digits; challenge and action are used as given. False for
 * any other nonce, a NULL argument, or a difficulty outside 0..256;
 * difficulty 0 accepts every well-formed nonce.
 */
bool pow_solution_ok(const char *action, const char *challenge, const char *nonce,
                     int difficulty);

/* The action named by its lower-case name, or POW_NONE (also for NULL). */
enum pow_action pow_action_parse(const char *name);

/*
 * Extra bits over the configured floor for the observed load: `current`
 * is proofs verified in the last minute, `baseline` the mean per minute over
 * the hour before. Let ref = max(baseline, min_rate). Below 4 x ref the
 * answer is 0; from there every doubling adds one bit
 * (4x -> 1, 8x -> 2, 16x -> 3 ...), capped at max_extra. max_extra <= 0
 * means no adaptation (always 0); a ref of 0 is taken as 1.
 */
int pow_adaptive_extra(uint64_t current, uint64_t baseline, uint32_t min_rate,
                       int max_extra);

/*
 * Count one proof verified for action at now_s (seconds since the epoch)
 * in shm->pow_load. Lock-free; a race at a minute boundary may lose a
 * count (see pow.c). POW_NONE is ignored.
 */
void pow_note_verified(struct shm_region *shm, enum pow_action action, uint64_t now_s);

/*
 * Count one password check that found every hash slot busy at now_s
 * (password.c), in shm->pwhash_busy. Lock-free like pow_note_verified.
 */
void pow_note_hash_busy(struct shm_region *shm, uint64_t now_s);

/*
 * What the saturation of the hash slots asks of action now: 0 for actions
 * other than login and register, when SOTTO_PWHASH_BUSY_POW is 0, or when
 * fewer than POW_BUSY_MIN checks found every slot busy in the sliding
 * minute; else max(floor, SOTTO_PWHASH_BUSY_POW) + pow_adaptive_extra(busy,
 * 0, SOTTO_ADAPTIVE_POW_MIN_RATE, SOTTO_ADAPTIVE_POW_MAX_EXTRA), at most
 * POW_DIFFICULTY_MAX. Reads shm only.
 */
int pow_busy_difficulty(const struct shm_region *shm, const struct config *cfg,
                        enum pow_action action, uint64_t now_s);

/*
 * The difficulty a challenge for action needs now: the larger of
 * pow_busy_difficulty() and the load difficulty, which is 0 when the floor
 * (SOTTO_POW_<ACTION>) is 0 or action is POW_NONE, else
 * floor + pow_adaptive_extra(current, baseline, SOTTO_ADAPTIVE_POW_MIN_RATE,
 * SOTTO_ADAPTIVE_POW_MAX_EXTRA), at most POW_DIFFICULTY_MAX. current is
 * this minute's count plus the previous minute's weighted by the share of
 * it inside the last 60 seconds; baseline the mean of the 60 minutes
 * before those two. Reads shm only.
 */
int pow_difficulty(const struct shm_region *shm, const struct config *cfg,
                   enum pow_action action, uint64_t now_s);

/*
 * The shared check for routes with a pow action (dispatch.c): nothing to
 * do when the action's floor is 0 and pow_busy_difficulty() is 0;
 * otherwise X-PoW must carry a solved, unused challenge for that action,
 * of at least pow_busy_difficulty() bits. Sets req->pow_bits. Returns 0 to go on, or the error
 * status it set: 428 pow_required (no or empty header), 403 pow_invalid
 * (malformed, unknown, expired, reused, other action, too few bits),
 * 503 (Redis down), 500 (out of memory). A well-formed header consumes its
 * challenge whatever the outcome; a malformed one never reaches Redis.
 */
int pow_verify_or_reply(struct request *req);

#endif
