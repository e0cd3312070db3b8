/*
 * nchan.c — see nchan.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "nchan.h"
#include "util.h"

#define NCHAN_HEAD_MAX 512
#define NCHAN_BODY_MAX (64 * 1024)

static bool channel_valid(const char *c)
{
	size_t n = strlen(c);

	return n >= 1 && n <= NCHAN_CHANNEL_MAX &&
	       strspn(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                 "0123456789_-") == n;
}

/* Milliseconds left before deadline (µs, monotonic); 0 when past. */
static int ms_left(uint64_t deadline)
{
	uint64_t now = util_now_us();

	return now >= deadline ? 0 : (int)((deadline - now + 999) / 1000);
}

/* Wait for events on fd until deadline. 0 when ready, -1 on timeout or error. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int rc, left;

	for (;;) {
		left = ms_left(deadline);
		if (left == 0)
			return -1;
		rc = poll(&p, 1, left);
		if (rc > 0)
			return (p.revents & (events | POLLHUP)) != 0 ? 0 : -1;
		if (rc == 0 || errno != EINTR)
			return -1;
	}
}

static int connect_unix(const char *path, uint64_t deadline)
{
	struct sockaddr_un addr;
	int fd, err = 0;
	socklen_t elen = sizeof(err);

	if (strlen(path) >= sizeof(addr.sun_path))
		return -1;
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
		return fd;
	if ((errno == EINPROGRESS || errno == EAGAIN) && wait_fd(fd, POLLOUT, deadline) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0)
		return fd;
	close(fd);
	return -1;
}

static int send_all(int fd, const char *buf, size_t len, uint64_t deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(fd, POLLOUT, deadline) != 0)
				return -1;
		} else {
			return -1;
		}
	}
	return 0;
}

/* Read until the status line is complete; its code, or -1. */
static int read_status(int fd, uint64_t deadline)
{
	char buf[64];
	size_t have = 0;
	int code;

	while (have < sizeof(buf) - 1 && memchr(buf, '\n', have) == NULL) {
		ssize_t n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);

		if (n > 0) {
			have += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(fd, POLLIN, deadline) != 0)
				return -1;
		} else {
			break;
		}
	}
	buf[have] = '\0';
	if (sscanf(buf, "HTTP/1.%*1[01] %3d", &code) != 1)
		return -1;
	return code;
}

/*
 * One request to the publisher location of channel: method with body
 * (may be empty). The HTTP status, or -1 when nchan could not be asked.
 */
static int nchan_request(const char *socket_path, int timeout_ms, const char *method,
                         const char *channel, const char *body, size_t len)
{
	uint64_t deadline = util_now_us() + (uint64_t)timeout_ms * 1000;
	char head[NCHAN_HEAD_MAX];
	int fd, n, code = -1;

	if (socket_path == NULL || socket_path[0] == '\0' || !channel_valid(channel) ||
	    len > NCHAN_BODY_MAX)
		return -1;
	n = snprintf(head, sizeof(head),
	             "%s /pub/%s HTTP/1.0\r\nHost: localhost\r\n"
	             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
	             method, channel, len);
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	fd = connect_unix(socket_path, deadline);
	if (fd < 0)
		return -1;
	if (send_all(fd, head, (size_t)n, deadline) == 0 &&
	    send_all(fd, body, len, deadline) == 0)
		code = read_status(fd, deadline);
	close(fd);
	return code;
}

int nchan_publish(const char *socket_path, int timeout_ms, const char *channel,
                  const char *body, size_t len)
{
	int code = nchan_request(socket_path, timeout_ms, "POST", channel, body, len);

	return code >= 200 && code <= 299 ? 0 : -1;
}

int nchan_close(const char *socket_path, int timeout_ms, const char *channel)
{
	int code = nchan_request(socket_path, timeout_ms, "DELETE", channel, "", 0);

	/* 404: no such channel, nobody was listening. */
	return (code >= 200 && code <= 299) || code == 404 ? 0 : -1;
}
