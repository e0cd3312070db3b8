/*
 * nchan.h — publish one message to an nginx nchan publisher location, or
 * close a channel.
 *
 * HTTP/1.0 POST (or DELETE) /pub/<channel> over a unix socket (nginx's publisher
 * server listens only there), with a non-blocking connect and one overall
 * deadline, so a dead or stuck nginx costs a request at most timeout_ms.
 * No library: the request and the status line are all it takes.
 */
#ifndef SOTTO_NCHAN_H
#define SOTTO_NCHAN_H

#include <stddef.h>

#define NCHAN_CHANNEL_MAX 64   /* [A-Za-z0-9_-], as the nginx locations match */

/*
 * POST body[0..len) (Content-Type: application/json) to channel at the
 * publisher socket path. 0 when nchan answered 2xx (201 delivered or
 * stored, 202 stored with no subscriber), -1 on anything else (no socket,
 * refused, timeout, a non-2xx status, a bad channel).
 */
int nchan_publish(const char *socket_path, int timeout_ms, const char *channel,
                  const char *body, size_t len) __attribute__((warn_unused_result));

/*
 * Delete channel at the publisher socket: nchan closes every subscriber's
 * connection to it (WebSocket close, EventSource end). 0 when it was
 * deleted or did not exist, -1 when nchan could not be asked.
 */
int nchan_close(const char *socket_path, int timeout_ms, const char *channel)
    __attribute__((warn_unused_result));

#endif
