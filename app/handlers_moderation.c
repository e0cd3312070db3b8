/*
 * handlers_moderation.c — placeholder until its issue lands (scaffold).
 */
#include "handlers.h"

int handle_flag_create(struct request *req)
{
	return http_error(req, 404, "not_found", "not implemented yet");
}

int handle_queue_list(struct request *req)
{
	return http_error(req, 404, "not_found", "not implemented yet");
}

int handle_queue_decide(struct request *req)
{
	return http_error(req, 404, "not_found", "not implemented yet");
}

int handle_modlog_list(struct request *req)
{
	return http_error(req, 404, "not_found", "not implemented yet");
}

