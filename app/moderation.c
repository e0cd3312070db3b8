/*
 * moderation.c — placeholder until issue 5 lands (scaffold).
 */
#include "moderation.h"

int moderation_overview(struct request *req, json_object *out)
{
	(void)req;
	json_object_object_add(out, "moderation_pending", json_object_new_int(0));
	json_object_object_add(out, "recent_flags", json_object_new_array());
	return 0;
}
