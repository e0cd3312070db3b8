/*
 * handlers_events.c — placeholder until its issue lands (scaffold).
 */
#include "handlers.h"

int handle_events_list(struct request *req)
{
	return http_error(req, 404, "not_found", "not implemented yet");
}

int handle_events_ack(struct request *req)
{
	return http_error(req, 404, "not_found", "not implemented yet");
}

int handle_events_ticket(struct request *req)
{
	return http_error(req, 404, "not_found", "not implemented yet");
}

int handle_events_stream(struct request *req)
{
	return http_error(req, 404, "not_found", "not implemented yet");
}

