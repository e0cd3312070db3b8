/*
 * dispatch.h — one request from accept to response.
 *
 * dispatch_request() runs the shared checks the route flags ask for
 * (CORS, admin token, rate limits, body size and type, database,
 * JSON body) in one place, calls the handler, writes the response with
 * the standard headers, and records metrics and the access log line.
 */
#ifndef SOTTO_DISPATCH_H
#define SOTTO_DISPATCH_H

#include <fcgiapp.h>

struct context;

/* Serve the request in fr. Never fails: every error becomes a response. */
void dispatch_request(struct context *ctx, FCGX_Request *fr);

#endif
