/*
 * ipban.c — placeholder until issue 5 lands (scaffold).
 */
#include "ipban.h"

int ipban_overview(struct request *req, json_object *out)
{
	(void)req;
	json_object_object_add(out, "bans", json_object_new_array());
	return 0;
}
