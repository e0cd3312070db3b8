/*
 * handlers_dm.c — placeholder until its issue lands (scaffold).
 */
#include "handlers.h"

int handle_dm_start(struct request *req)
{
	return http_error(req, 404, "not_found", "not implemented yet");
}

int handle_dm_list(struct request *req)
{
	return http_error(req, 404, "not_found", "not implemented yet");
}

int handle_dm_messages(struct request *req)
{
	return http_error(req, 404, "not_found", "not implemented yet");
}

int handle_dm_send(struct request *req)
{
	return http_error(req, 404, "not_found", "not implemented yet");
}

