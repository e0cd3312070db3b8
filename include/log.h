/*
 * log.h — one JSON object per line on stderr.
 *
 * Fields: level, msg or request fields (request id, method, route pattern,
 * status, duration). Never an IP, a token, a password, an account id or
 * content: callers pass only fixed strings and numbers, and log_request()
 * takes the route pattern, not the path.
 */
#ifndef SOTTO_LOG_H
#define SOTTO_LOG_H

#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Component name for every line of this process ("master", "worker", "migrate"...). */
void log_set_component(const char *component);

/* A message line. fmt must not interpolate secrets, IPs, ids or content. */
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The access line for one request. */
void log_request(const char *request_id, const char *method,
                 const char *route_pattern, int status, uint32_t duration_us);

#endif
