/*
 * handlers_admin.c — placeholder until its issue lands (scaffold).
 */
#include "handlers.h"

int handle_admin_overview(struct request *req)
{
	return http_error(req, 404, "not_found", "not implemented yet");
}

