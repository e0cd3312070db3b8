/*
 * log.c — JSON lines on stderr, one write(2) per line so lines from
 * several workers sharing stderr never interleave.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static const char *component = "sotto";

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_set_component(const char *name)
{
	component = name;
}

/* Append s to buf as JSON string content (escaped). Returns the new length. */
static size_t json_escape(char *buf, size_t len, size_t cap, const char *s)
{
	for (; *s != '\0' && len + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			buf[len++] = '\\';
			buf[len++] = (char)c;
		} else if (c < 0x20) {
			len += (size_t)snprintf(buf + len, cap - len, "\\u%04x", c);
		} else {
			buf[len++] = (char)c;
		}
	}
	return len;
}

static void emit(char *line, size_t len, size_t cap)
{
	if (len >= cap - 2)
		len = cap - 3;
	line[len++] = '}';
	line[len++] = '\n';
	/* A short write of a log line is not worth failing a request for. */
	if (write(STDERR_FILENO, line, len) < 0)
		return;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char msg[1024], line[2048];
	size_t len;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	len = (size_t)snprintf(line, sizeof(line),
	                       "{\"level\":\"%s\",\"component\":\"%s\",\"pid\":%d,\"msg\":\"",
	                       level_names[level], component, (int)getpid());
	len = json_escape(line, len, sizeof(line), msg);
	line[len++] = '"';
	emit(line, len, sizeof(line));
}

void log_request(const char *request_id, const char *method,
                 const char *route_pattern, int status, uint32_t duration_us)
{
	char line[512];
	size_t len;

	len = (size_t)snprintf(line, sizeof(line),
	                       "{\"level\":\"info\",\"component\":\"%s\",\"request_id\":\"",
	                       component);
	len = json_escape(line, len, sizeof(line), request_id);
	len += (size_t)snprintf(line + len, sizeof(line) - len, "\",\"method\":\"");
	len = json_escape(line, len, sizeof(line), method);
	len += (size_t)snprintf(line + len, sizeof(line) - len, "\",\"route\":\"");
	len = json_escape(line, len, sizeof(line), route_pattern);
	len += (size_t)snprintf(line + len, sizeof(line) - len,
	                        "\",\"status\":%d,\"duration_ms\":%.3f", status,
	                        (double)duration_us / 1000.0);
	emit(line, len, sizeof(line));
}
