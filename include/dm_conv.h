/*
 * dm_conv.h — a participant's direct-message conversation: finding it for
 * the caller (anyone else gets 404), opening the caller's copy of its key,
 * reading its messages, and the "conversations" section of the export.
 * The DM handlers (handlers_dm.c) and the export (export.h) build on it;
 * the keys and the message format are dm.h's.
 */
#ifndef SOTTO_DM_CONV_H
#define SOTTO_DM_CONV_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "dm.h"

struct request;

/* The caller's participation ("me"), its conversation, data key and the other side ("peer"). */
#define DM_CONV_FROM \
	"FROM dm_participants me JOIN dm_conversations c ON c.pk = me.conversation_pk " \
	"JOIN account_keys mk ON mk.account_pk = me.account_pk " \
	"LEFT JOIN dm_participants peer ON peer.conversation_pk = c.pk AND peer.side <> me.side "

/*
 * True when participant `who` (an SQL expression) blocked the other side of
 * conversation c (docs/blocks.md): c was started by a blocked author (from
 * one of who's posts, the only way it can have been), or from the very post
 * who blocked. A conversation who started from another post of a blocked
 * author is left alone: hiding it would tell who that the two posts share an
 * author. Such a conversation leaves who's list and takes messages that are
 * never delivered to who.
 */
#define DM_BLOCKED_BY(who) \
	"EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_pk = " who " " \
	"AND (b.author_pk = c.starter_pk OR b.post_pk = c.origin_post_pk))"

/* Columns of the row dm_conv_load_or_reply reads (struct conv's res). */
enum { CV_PK, CV_ID, CV_SIDE, CV_KEY, CV_KEY_VERSION, CV_KEY_WRAPPED, CV_E2E, CV_PEER,
       CV_PEER_BLOCKED };

/* Columns of a message row (dm_conv_messages_or_reply's *res). */
enum { MS_ID, MS_SEQ, MS_SENDER, MS_DAY, MS_BODY, MS_CIPHERTEXT, MS_NONCE };

struct conv {
	int64_t pk;
	const char *id;
	int side;                       /* the caller's side: 0 or 1 */
	bool e2e;
	int64_t peer_pk;                /* 0 when the peer's account is gone */
	bool peer_blocked;              /* the peer blocked the caller here: deliver nothing */
	const PGresult *res;            /* row `row`: the caller's sealed key (CV_* columns) */
	int row;
};

/*
 * The conversation id when the caller takes part in it and did not block
 * the other side in it (DM_BLOCKED_BY). 0, or the status it set (404 for
 * anyone else, as for no conversation).
 */
int dm_conv_load_or_reply(struct request *req, const char *id, struct conv *cv)
    __attribute__((warn_unused_result));

/*
 * The conversation key of the caller's copy into ck (the caller wipes
 * it). 0 or the status it set.
 */
int dm_conv_key_or_reply(struct request *req, const struct conv *cv,
                         unsigned char ck[DM_KEY_BYTES]) __attribute__((warn_unused_result));

/*
 * Messages of cv after seq, at most limit (-1: all), as JSON (*items),
 * with the raw result (*res: up to limit + 1 rows, so the caller sees
 * whether more follow). 0 or the status it set.
 */
int dm_conv_messages_or_reply(struct request *req, const struct conv *cv, int64_t after,
                              int limit, PGresult **res, json_object **items)
    __attribute__((warn_unused_result));

#endif
