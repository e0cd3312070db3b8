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

struct worker;
struct request;

/* Serve the request in fr. Never fails: every error becomes a response. */
void dispatch_request(struct worker *w, FCGX_Request *fr);

/* 503 unavailable (with Retry-After) when the database is down or busy
 * (db_busy), else 500 internal. */
int dispatch_db_failure(struct request *req);

/* 503 unavailable with Retry-After: seconds. */
int dispatch_unavailable(struct request *req, const char *message, int retry_after);

#endif
