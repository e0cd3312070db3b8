/*
 * classify_exec.h — the external classifier of `sotto moderate`
 * (SOTTO_MODERATION_CMD): a child process speaking JSON lines.
 *
 * Protocol (docs/moderation.md, "Automatic moderation"): for each post, one line on
 * the child's stdin
 *     {"id": "<post public id>", "text": "<decrypted body>"}
 * and one line back on its stdout
 *     {"id": "<the same id>", "score": <number from 0 to 1>}
 * Other members of the reply are ignored. The child must answer each
 * line before the next is sent and flush its output after each answer.
 *
 * The command line is split on spaces (no shell, no quoting); the
 * program is looked up in PATH when it has no '/'. The child gets only
 * PATH and LANG=C.UTF-8 in its environment, stdin and stdout as pipes,
 * the moderator's stderr, no other file descriptor, and its own process
 * group (killed as a whole); it gets SIGKILL when the moderator dies.
 *
 * Failures (no answer within the timeout, a malformed or wrong answer, a
 * child that exits, cannot be started or stops reading) make
 * classify_exec_score() fail: the child's process group gets SIGKILL and is
 * reaped at once, and no new child is started before a backoff delay
 * (CLASSIFY_EXEC_BACKOFF_MIN_MS, doubling up to CLASSIFY_EXEC_BACKOFF_MAX_MS, back to
 * the minimum after an answer). Meanwhile classify_exec_score() fails at once,
 * so the caller falls back to the built-in score without waiting.
 */
#ifndef SOTTO_CLASSIFY_EXEC_H
#define SOTTO_CLASSIFY_EXEC_H

#include <stddef.h>
#include <sys/types.h>

#define CLASSIFY_EXEC_LINE_MAX 4096          /* bytes of one answer line */
#define CLASSIFY_EXEC_BACKOFF_MIN_MS 500
#define CLASSIFY_EXEC_BACKOFF_MAX_MS 30000

struct classify_exec;

/*
 * A handle for command line cmd (not started yet; the first
 * classify_exec_score() starts it). timeout_ms bounds each post, writing and
 * reading together. stop_fd, when >= 0, is polled too: readable means
 * "stop now" (the self-pipe of the signal handlers). NULL when cmd is
 * empty or out of memory. The caller frees it with classify_exec_free().
 */
struct classify_exec *classify_exec_new(const char *cmd, int timeout_ms, int stop_fd);

/* Close the child's stdin, give it a moment to exit, then SIGKILL; reap; free. */
void classify_exec_free(struct classify_exec *c);

/*
 * The child's score for one post: 0 with *score in [0, 1], or -1 (the
 * reason is logged, never the text; the child is killed when it was
 * running). id is the post's public id, text[0..len) its body.
 */
int classify_exec_score(struct classify_exec *c, const char *id, const char *text, size_t len,
                 double *score) __attribute__((warn_unused_result));

/*
 * Parse one answer line (without its newline): 0 with *score when it is
 * a JSON object whose "id" is id and whose "score" is a number in
 * [0, 1]; -1 otherwise. Pure.
 */
int classify_exec_parse_reply(const char *line, size_t len, const char *id, double *score)
    __attribute__((warn_unused_result));

/*
 * Split cmd on spaces into argv (NULL-terminated, at most max_args
 * words): *storage owns the words, argv points into it; the caller frees
 * *storage. Returns the word count, 0 for an empty line, -1 when there
 * are too many words or out of memory.
 */
int classify_exec_split(const char *cmd, char **argv, size_t max_args, char **storage);

#endif
