/*
 * guard.h — guardrails that run before any write of user text (posts,
 * replies, community text, DMs): one module, one answer format.
 *
 * A text is refused with 422 content_rejected and a "reason" inside
 * "error" when it is (checked in this order, the first that applies is
 * the reason):
 *   "invalid_utf8"       not valid UTF-8 (RFC 3629: no overlong forms, no
 *                        surrogates, nothing above U+10FFFF). JSON parsing
 *                        already refuses most of it; text from other
 *                        sources is checked
 *   "control_characters" NUL, a C0 control other than newline and tab
 *                        (so CR too), DEL, or a C1 control U+0080..U+009F
 *   "empty"              nothing but white space: Unicode White_Space and
 *                        the invisible characters used to fake a blank
 *                        text (zero-width space/joiners, word joiner, BOM,
 *                        Hangul fillers, braille blank)
 *   "too_long"           more than max_chars Unicode characters (code
 *                        points, not bytes)
 *   "too_many_links"     more than SOTTO_GUARD_MAX_LINKS links. A link is
 *                        an occurrence of "http://", "https://" or "www.",
 *                        ASCII case-insensitive; a "www." right after
 *                        "://" belongs to that link and is not counted again
 *   "blocked_term"       contains a term of the blocklist file
 *                        (SOTTO_GUARD_BLOCKLIST) as a substring, ASCII
 *                        case-insensitive (other bytes must match exactly)
 *   "repeated"           the same text (after trimming ASCII white space
 *                        and ASCII case folding) written by the same
 *                        account, for the same kind, within
 *                        SOTTO_GUARD_REPEAT_WINDOW seconds (Redis, keyed
 *                        by a keyed hash: the text is never stored)
 *
 * Nothing here logs or stores the text, a blocklist term, or the file.
 */
#ifndef SOTTO_GUARD_H
#define SOTTO_GUARD_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct request;

#define GUARD_BLOCKLIST_MAX_TERMS 10000
#define GUARD_BLOCKLIST_MAX_BYTES (1024 * 1024)   /* the whole file */

/* "rep:" + 64 hex digits of BLAKE2b-256; buffers need one more for NUL. */
#define GUARD_REPEAT_KEY_CHARS (4 + 64)

/*
 * The pure checks (no I/O, no allocation): NULL when text[0..len) passes,
 * else the reason (a static string from the list above). text may hold
 * NUL bytes (refused). A negative max_links counts as 0. blocklist may be
 * NULL when n_blocklist is 0; empty terms are ignored. Terms may come in
 * any order; in ASCII-case-folded byte order (as guard_load_blocklist
 * keeps them) they are found by binary search, O(len * log n_blocklist)
 * for ordinary terms, else each term is tried, O(len * n_blocklist).
 */
const char *guard_check(const char *text, size_t len, size_t max_chars, int max_links,
                        const char *const *blocklist, size_t n_blocklist);

/*
 * Every check for a text the request's account is about to write, the
 * repetition window included (remembered on success, so call it once per
 * write, right before the write; forgotten again by guard_settle() when
 * the request does not succeed). kind separates windows ("post",
 * "community", "dm"...). Uses the worker's loaded blocklist,
 * cfg->guard_max_links and cfg->guard_repeat_window_s; the window is
 * skipped for anonymous requests and when the window is 0. Returns 0 to
 * go on, or the status it set: 422 content_rejected (with the reason),
 * 503 unavailable when Redis is unreachable (the write must not happen
 * unchecked), 500 when out of memory.
 */
int guard_text_or_reply(struct request *req, const char *kind, const char *text,
                        size_t len, size_t max_chars);

/* One of several fields written together (a community's title and description). */
struct guard_text {
	const char *text;
	size_t len;
	size_t max_chars;
};

/*
 * guard_text_or_reply() for fields written together: every field passes
 * the checks before the repetition window (over all of them at once) is
 * touched, so a request refused for one field can be sent again fixed.
 */
int guard_texts_or_reply(struct request *req, const char *kind,
                         const struct guard_text *texts, size_t n);

/*
 * The repetition window's Redis key into out (NUL-terminated):
 * "rep:" + hex(BLAKE2b-256 keyed with key over
 * kind 0x00 account_id 0x00 normalized text), where normalized is
 * text[0..len) trimmed of ASCII white space and ASCII-lowercased.
 * Pure; 0, or -1 if libsodium refuses (it does not for these sizes).
 */
int guard_repeat_key(char out[GUARD_REPEAT_KEY_CHARS + 1], const unsigned char key[32],
                     const char *kind, const char *account_id, const char *text,
                     size_t len) __attribute__((warn_unused_result));

/*
 * Load the blocklist file named by cfg->guard_blocklist
 * (SOTTO_GUARD_BLOCKLIST; "" = no blocklist) into this process's table,
 * once per worker at start: one term per line, trimmed of ASCII white
 * space, ASCII-lowercased; blank lines and lines starting with '#' are
 * skipped; the table is sorted. The file must be valid UTF-8 without NUL, at most
 * GUARD_BLOCKLIST_MAX_BYTES, with at most GUARD_BLOCKLIST_MAX_TERMS terms.
 * 0 (the new table replaces the old one), or -1 when the file cannot be
 * read or breaks a rule (logged without its content; the old table stays).
 */
int guard_load_blocklist(const struct config *cfg) __attribute__((warn_unused_result));

/*
 * The loaded table, in ASCII-case-folded byte order: its size, and
 * *terms (owned by this module, valid until the next load) when terms
 * is not NULL.
 */
size_t guard_blocklist_terms(const char *const **terms);

/*
 * After the response: when the request did not succeed (status not 2xx),
 * its text was not written, so the repetition window it opened is closed
 * again and the same text may be sent again at once (a retry after a 503
 * is not a repeat). Best effort: with Redis gone the window stays.
 */
void guard_settle(struct request *req, int status);

#endif
