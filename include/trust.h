/*
 * trust.h — moving an account's trust (0..1), for moderation decisions.
 *
 * Up-votes move trust in the database by themselves (sql/003 and 004:
 * votes_apply); a decision on a flagged post calls trust_adjust(), which
 * clamps, re-ranks every post of the author (sotto_adjust_trust, sql/004)
 * and drops the author's cached record so GET /me shows it at once.
 *
 * Only established accounts weigh on others: an account younger than
 * SOTTO_FLAG_MIN_AGE_DAYS or below neutral trust can flag (the flag opens
 * or joins a review item) and vote (the score moves), but its flags never
 * count towards holding a post and its up-votes never move the author's
 * trust, so a handful of fresh accounts can neither hide a post nor lift
 * one another.
 */
#ifndef SOTTO_TRUST_H
#define SOTTO_TRUST_H

#include <stdint.h>

struct request;

#define TRUST_REMOVED_POST (-0.1)   /* an upheld removal of one of the author's posts */

/*
 * The newest day_joined of an established account today, as arena text
 * for sotto_established(day_joined, trust, $n) (sql/017), which also asks
 * for neutral trust or more; NULL when out of memory. The statements read
 * trust and day_joined from the account row, not from the cached record,
 * so a trust change applies to the next flag or vote at once.
 */
const char *trust_established_day(struct request *req);

/*
 * Add delta to the trust of account pk (clamped to 0..1). Returns 1 when
 * the account exists, 0 when it does not, -1 when the database failed.
 */
int trust_adjust(struct request *req, int64_t account_pk, double delta)
    __attribute__((warn_unused_result));

/*
 * trust_adjust() that also sets *applied to the change actually made
 * (delta clamped at 0 and 1: a removal takes less from an account near
 * 0), so that an appeal can give back exactly what was taken.
 */
int trust_adjust_applied(struct request *req, int64_t account_pk, double delta, double *applied)
    __attribute__((warn_unused_result));

#endif
