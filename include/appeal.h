/*
 * appeal.h — the appeal every removal opens (sql/028_appeals.sql,
 * docs/moderation.md).
 *
 * A removal decision (app/handlers_moderation.c) opens the removal's one
 * appeal, unfiled, and puts its id in the author's moderation.decision
 * event; an overriding decision that undoes the removal voids it. Filing
 * and deciding appeals are the routes of app/handlers_appeals.c.
 */
#ifndef SOTTO_APPEAL_H
#define SOTTO_APPEAL_H

struct request;

#define APPEAL_ID_BYTES 16

/*
 * Inside the decision's transaction: open the appeal of the removal of
 * review item item_pk on post post_pk, decided by community (its pk as
 * text; NULL: the instance), which took trust_taken (>= 0) from the
 * author. Its window ends SOTTO_APPEAL_DAYS after today. Returns the new
 * appeal's public id (arena text), or NULL when the database failed or
 * memory ran out.
 */
const char *appeal_open(struct request *req, const char *item_pk, const char *post_pk,
                        const char *community, double trust_taken);

/*
 * Inside the decision's transaction: void the live appeal of item_pk (its
 * removal was undone by the instance's decision). 0 or -1.
 */
int appeal_void(struct request *req, const char *item_pk) __attribute__((warn_unused_result));

#endif
