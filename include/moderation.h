/*
 * moderation.h — what other modules need from moderation (issue 5).
 */
#ifndef SOTTO_MODERATION_H
#define SOTTO_MODERATION_H

#include <json-c/json.h>

struct request;

/*
 * For GET /admin/overview: add "moderation_pending" (pending queue items)
 * and "recent_flags" (the latest flags, no identities: post id, reason,
 * day) to out. Returns 0, or the error status it set on req.
 */
int moderation_overview(struct request *req, json_object *out);

#endif
