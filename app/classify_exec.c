/*
 * classify_exec.c — the external classifier child of `sotto moderate` (protocol
 * and failure handling in classify_exec.h).
 *
 * One child at a time, one request in flight: a line out, a line back,
 * within one deadline. Pipes are non-blocking and every wait is a poll()
 * bounded by that deadline, so a child that hangs, stops reading or
 * floods its output never stalls the queue. A failed child is killed
 * with its whole process group (it runs in its own) and reaped at once,
 * so no zombie and no stray grandchild is left behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "config.h"
#include "log.h"
#include "classify_exec.h"
#include "util.h"

#define CLASSIFY_EXEC_EXIT_WAIT_MS 200   /* grace for a child whose stdin we closed */
#define CLASSIFY_EXEC_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

struct classify_exec {
	char *storage;                              /* the words of argv */
	char *argv[CONFIG_MODERATION_CMD_ARGS + 1];
	int timeout_ms;
	int stop_fd;
	pid_t pid;                                  /* 0 = no child */
	int to_child;                               /* its stdin */
	int from_child;                             /* its stdout */
	char line[CLASSIFY_EXEC_LINE_MAX + 1];             /* answer being read */
	size_t line_len;
	uint64_t not_before_us;                     /* no start before (backoff) */
	int backoff_ms;
};

int classify_exec_split(const char *cmd, char **argv, size_t max_args, char **storage)
{
	char *s, *p;
	size_t n = 0;

	*storage = NULL;
	if ((s = strdup(cmd != NULL ? cmd : "")) == NULL)
		return -1;
	for (p = s; *p != '\0';) {
		while (*p == ' ')
			*p++ = '\0';
		if (*p == '\0')
			break;
		if (n == max_args) {
			free(s);
			return -1;
		}
		argv[n++] = p;
		while (*p != '\0' && *p != ' ')
			p++;
	}
	argv[n] = NULL;
	*storage = s;
	return (int)n;
}

struct classify_exec *classify_exec_new(const char *cmd, int timeout_ms, int stop_fd)
{
	struct classify_exec *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if (classify_exec_split(cmd, c->argv, CONFIG_MODERATION_CMD_ARGS, &c->storage) <= 0) {
		free(c->storage);
		free(c);
		return NULL;
	}
	c->timeout_ms = timeout_ms;
	c->stop_fd = stop_fd;
	c->to_child = c->from_child = -1;
	c->backoff_ms = CLASSIFY_EXEC_BACKOFF_MIN_MS;
	return c;
}

/* Milliseconds until deadline (monotonic µs), at least 0. */
static int ms_left(uint64_t deadline)
{
	uint64_t now = util_now_us();

	return now >= deadline ? 0 : (int)((deadline - now + 999) / 1000);
}

/* Wait on the children's pid without blocking for longer than ms; true when reaped. */
static bool reap_within(pid_t pid, int ms)
{
	uint64_t deadline = util_now_us() + (uint64_t)ms * 1000;

	for (;;) {
		pid_t r = waitpid(pid, NULL, WNOHANG);

		if (r == pid || (r < 0 && errno != EINTR))
			return true;
		if (util_now_us() >= deadline)
			return false;
		usleep(10000);
	}
}

/* Close the pipes; SIGKILL the child's group unless it exits within grace_ms; reap it. */
static void child_stop(struct classify_exec *c, int grace_ms)
{
	if (c->to_child >= 0)
		close(c->to_child);
	if (c->from_child >= 0)
		close(c->from_child);
	c->to_child = c->from_child = -1;
	c->line_len = 0;
	if (c->pid <= 0)
		return;
	if (grace_ms <= 0 || !reap_within(c->pid, grace_ms)) {
		kill(-c->pid, SIGKILL);
		kill(c->pid, SIGKILL);   /* in case it had not reached setpgid() yet */
		while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	/* A grandchild that left the group is not ours to chase; one that stayed is dead. */
	kill(-c->pid, SIGKILL);
	c->pid = 0;
}

/* After a failure: kill the child, and start the next one only after the backoff. */
static void child_failed(struct classify_exec *c, const char *why)
{
	child_stop(c, 0);
	log_msg(LOG_WARN, "classifier command: %s; killed, built-in score used, next start in "
	        "%d ms", why, c->backoff_ms);
	c->not_before_us = util_now_us() + (uint64_t)c->backoff_ms * 1000;
	c->backoff_ms = c->backoff_ms >= CLASSIFY_EXEC_BACKOFF_MAX_MS / 2 ? CLASSIFY_EXEC_BACKOFF_MAX_MS
	                                                           : c->backoff_ms * 2;
}

/* In the child, after fork(): never returns. Only async-signal-safe calls. */
static void child_exec(struct classify_exec *c, pid_t parent, int in_fd, int out_fd,
                       char *const *envp)
{
	sigset_t none;
	int sigs[] = { SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD };

	setpgid(0, 0);
	/* A moderator killed outright (SIGKILL, OOM) takes its command along. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(127);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0)
		_exit(127);
	/* Nothing else: not the database socket, not the signal pipe. */
	close_range(3, ~0U, 0);
	execvpe(c->argv[0], c->argv, envp);
	_exit(127);
}

/* Start the child. 0, or -1 (logged; the backoff applies). */
static int child_start(struct classify_exec *c)
{
	const char *path = getenv("PATH");
	char path_env[1024], lang_env[] = "LANG=C.UTF-8";
	char *envp[] = { path_env, lang_env, NULL };
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };
	pid_t parent = getpid();

	snprintf(path_env, sizeof(path_env), "PATH=%s",
	         path != NULL && strlen(path) < sizeof(path_env) - 6 ? path : CLASSIFY_EXEC_DEFAULT_PATH);
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
		log_msg(LOG_ERROR, "classifier command: pipe: %s", strerror(errno));
		goto fail;
	}
	c->pid = fork();
	if (c->pid < 0) {
		log_msg(LOG_ERROR, "classifier command: fork: %s", strerror(errno));
		c->pid = 0;
		goto fail;
	}
	if (c->pid == 0)
		child_exec(c, parent, in[0], out[1], envp);
	setpgid(c->pid, c->pid);   /* both sides: no race with the first kill */
	close(in[0]);
	close(out[1]);
	c->to_child = in[1];
	c->from_child = out[0];
	if (fcntl(c->to_child, F_SETFL, O_NONBLOCK) != 0 ||
	    fcntl(c->from_child, F_SETFL, O_NONBLOCK) != 0) {
		child_failed(c, "cannot set up its pipes");
		return -1;
	}
	c->line_len = 0;
	log_msg(LOG_INFO, "classifier command started");
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	child_failed(c, "cannot be started");
	return -1;
}

/*
 * Wait until fd is ready for events, the deadline passes or stop_fd
 * turns readable. 1 ready, 0 timed out, -1 stop or error.
 */
static int wait_fd(struct classify_exec *c, int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = events },
		                       { .fd = c->stop_fd, .events = POLLIN } };
		int n = poll(p, c->stop_fd >= 0 ? 2 : 1, ms_left(deadline));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (c->stop_fd >= 0 && (p[1].revents & POLLIN)))
			return -1;
		if (n == 0)
			return 0;
		return 1;   /* POLLERR / POLLHUP too: the read or write says what happened */
	}
}

/* Write all of buf before the deadline. NULL, or why not. */
static const char *send_all(struct classify_exec *c, const char *buf, size_t len, uint64_t deadline)
{
	while (len > 0) {
		ssize_t n = write(c->to_child, buf, len);
		int w;

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return "it stopped reading (exited?)";
		if ((w = wait_fd(c, c->to_child, POLLOUT, deadline)) <= 0)
			return w == 0 ? "timed out reading the post" : "interrupted";
	}
	return NULL;
}

/* Read one line (without the newline) into c->line before the deadline. NULL, or why not. */
static const char *read_line(struct classify_exec *c, uint64_t deadline)
{
	for (;;) {
		char *nl = memchr(c->line, '\n', c->line_len);
		ssize_t n;
		int w;

		if (nl != NULL) {
			*nl = '\0';
			return nl == c->line + c->line_len - 1 ? NULL : "it answered more than one line";
		}
		if (c->line_len == CLASSIFY_EXEC_LINE_MAX)
			return "its answer is longer than allowed";
		n = read(c->from_child, c->line + c->line_len, CLASSIFY_EXEC_LINE_MAX - c->line_len);
		if (n > 0) {
			c->line_len += (size_t)n;
			continue;
		}
		if (n == 0)
			return "it exited";
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return "its output failed";
		if ((w = wait_fd(c, c->from_child, POLLIN, deadline)) <= 0)
			return w == 0 ? "timed out" : "interrupted";
	}
}

int classify_exec_parse_reply(const char *line, size_t len, const char *id, double *score)
{
	struct json_tokener *tok;
	json_object *obj = NULL, *v;
	int rc = -1;
	size_t end;
	double s;

	if (line == NULL || id == NULL || len == 0 || len > CLASSIFY_EXEC_LINE_MAX ||
	    !util_utf8_valid(line, len) || (tok = json_tokener_new_ex(4)) == NULL)
		return -1;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, line, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (obj == NULL || json_tokener_get_error(tok) != json_tokener_success)
		goto out;
	for (; end < len; end++)
		if (line[end] != ' ' && line[end] != '\t' && line[end] != '\r')
			goto out;
	if (!json_object_is_type(obj, json_type_object) ||
	    !json_object_object_get_ex(obj, "id", &v) || !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), id) != 0 ||
	    !json_object_object_get_ex(obj, "score", &v) ||
	    !(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
		goto out;
	s = json_object_get_double(v);
	if (!isfinite(s) || s < 0 || s > 1)
		goto out;
	*score = s;
	rc = 0;
out:
	json_object_put(obj);
	json_tokener_free(tok);
	return rc;
}

/* The request line for one post, newline included (json-c owns it via *obj). */
static const char *request_line(const char *id, const char *text, size_t len,
                                json_object **obj, size_t *out_len)
{
	json_object *o = json_object_new_object();
	const char *s;

	*obj = o;
	if (o == NULL)
		return NULL;
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "text", json_object_new_string_len(text, (int)len));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	/* json-c escapes control characters in strings: no raw newline inside. */
	*out_len = s != NULL ? strlen(s) : 0;
	return s;
}

int classify_exec_score(struct classify_exec *c, const char *id, const char *text, size_t len,
                 double *score)
{
	uint64_t deadline = util_now_us() + (uint64_t)c->timeout_ms * 1000;
	json_object *obj = NULL;
	const char *req, *why;
	size_t req_len = 0;
	int rc = -1;

	if (c->pid == 0 && (util_now_us() < c->not_before_us || child_start(c) != 0))
		return -1;
	if ((req = request_line(id, text, len, &obj, &req_len)) == NULL) {
		log_msg(LOG_ERROR, "classifier command: out of memory");
		goto out;
	}
	if ((why = send_all(c, req, req_len, deadline)) != NULL ||
	    (why = send_all(c, "\n", 1, deadline)) != NULL ||
	    (why = read_line(c, deadline)) != NULL) {
		child_failed(c, why);
		goto out;
	}
	if (classify_exec_parse_reply(c->line, strlen(c->line), id, score) != 0) {
		child_failed(c, "its answer is not {\"id\": <the post id>, \"score\": <0..1>}");
		goto out;
	}
	c->line_len = 0;
	c->backoff_ms = CLASSIFY_EXEC_BACKOFF_MIN_MS;
	rc = 0;
out:
	json_object_put(obj);
	return rc;
}

void classify_exec_free(struct classify_exec *c)
{
	if (c == NULL)
		return;
	child_stop(c, CLASSIFY_EXEC_EXIT_WAIT_MS);
	free(c->storage);
	free(c);
}
