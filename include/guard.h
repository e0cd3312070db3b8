/*
 * guard.h — guardrails that run before any write of user text (posts,
 * replies, community text, DMs): one module, one answer format.
 *
 * A text is refused with 422 content_rejected and a "reason" inside
 * "error" when it is:
 *   "empty"              nothing but white space
 *   "too_long"           more than max_chars Unicode characters
 *   "invalid_utf8"       not valid UTF-8 (JSON parsing already refuses
 *                        most of it; text from other sources is checked)
 *   "control_characters" NUL or any C0/C1 control character or DEL,
 *                        except newline and tab
 *   "too_many_links"     more than SOTTO_GUARD_MAX_LINKS links
 *                        ("http://", "https://" or "www.", any case)
 *   "blocked_term"       contains a term of the blocklist file
 *                        (SOTTO_GUARD_BLOCKLIST, one term per line,
 *                        matched case-insensitively for ASCII)
 *   "repeated"           the same text (after trimming and ASCII case
 *                        folding) written by the same account within
 *                        SOTTO_GUARD_REPEAT_WINDOW seconds (Redis, keyed
 *                        by a keyed hash: the text is never stored)
 */
#ifndef SOTTO_GUARD_H
#define SOTTO_GUARD_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct request;

/*
 * The pure checks (no I/O): NULL when text passes, else the reason.
 * blocklist may be NULL (no terms).
 */
const char *guard_check(const char *text, size_t len, size_t max_chars, int max_links,
                        const char *const *blocklist, size_t n_blocklist);

/*
 * Every check for a text the request's account is about to write, the
 * repetition window included (remembered on success, so call it once per
 * write, right before the write). kind separates windows ("post",
 * "community", "dm"...). Returns 0 to go on, or the status it set:
 * 422 content_rejected, 503 when Redis is unavailable.
 */
int guard_text_or_reply(struct request *req, const char *kind, const char *text,
                        size_t len, size_t max_chars);

/*
 * Load the blocklist file named by cfg (SOTTO_GUARD_BLOCKLIST) once per
 * worker, at start. 0, or -1 when the file cannot be read (logged).
 */
int guard_load_blocklist(const struct config *cfg) __attribute__((warn_unused_result));

#endif
