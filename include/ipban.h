/*
 * ipban.h — IP-prefix bans (issue 5): what other modules need.
 */
#ifndef SOTTO_IPBAN_H
#define SOTTO_IPBAN_H

#include <json-c/json.h>

struct request;

/*
 * For GET /admin/overview: add "bans" (the active bans: ban_id, prefix
 * decrypted, reason, day, expires_day) to out. Returns 0, or the error
 * status it set on req.
 */
int ipban_overview(struct request *req, json_object *out);

#endif
