/*
 * handlers_bans.c — placeholder until its issue lands (scaffold).
 */
#include "handlers.h"

int handle_ban_create(struct request *req)
{
	return http_error(req, 404, "not_found", "not implemented yet");
}

int handle_ban_list(struct request *req)
{
	return http_error(req, 404, "not_found", "not implemented yet");
}

int handle_ban_delete(struct request *req)
{
	return http_error(req, 404, "not_found", "not implemented yet");
}

