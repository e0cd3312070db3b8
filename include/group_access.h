/*
 * group_access.h — the caller's membership of the group a request names,
 * shared by the group routes (handlers_groups.c, handlers_group_messages.c).
 *
 * Anyone who is not a current member gets 404 not_found, the answer for a
 * group that does not exist, so a route tells outsiders nothing.
 */
#ifndef SOTTO_GROUP_ACCESS_H
#define SOTTO_GROUP_ACCESS_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

struct request;

struct group_access {
	int64_t pk;
	const char *id;                 /* public group id (arena) */
	int64_t epoch;                  /* current epoch */
	int64_t key_epoch;              /* latest epoch with a complete key set */
	int64_t member_count;
	int64_t member_pk;              /* the caller's membership; 0: none (join only) */
	const char *member_id;          /* the caller's member id (arena), NULL when none */
	bool admin;
	int64_t joined_epoch;
};

/*
 * The group of path parameter 0 and the caller's membership, read without
 * a lock. 0, or the status it set (404 when the caller is not a member).
 */
int group_member_or_reply(struct request *req, struct group_access *g)
    __attribute__((warn_unused_result));

/*
 * As group_member_or_reply, in a transaction it opens, with the group row
 * locked until commit (sql/018's lock order). On 0 the transaction is
 * open; on a status it has been rolled back.
 */
int group_lock_or_reply(struct request *req, struct group_access *g)
    __attribute__((warn_unused_result));

/*
 * Open a transaction and lock the group whose pk is pk_text; the caller
 * need not be a member (g->member_pk 0). 0 with the transaction open, or
 * the status it set (404 when the group is gone), rolled back.
 */
int group_lock_pk_or_reply(struct request *req, const char *pk_text, struct group_access *g)
    __attribute__((warn_unused_result));

/*
 * Note the events an SQL push of sql/018 returned, rows first.. of
 * (account, seq, [type,] data text), for publishing after the commit
 * (events_note); type NULL means column 2 holds each row's type. Never
 * fails the request: the queue has the events.
 */
void group_note_events(struct request *req, const PGresult *res, int first, const char *type);

/* Roll the open transaction back and return status. */
int group_rollback(struct request *req, int status);

#endif
