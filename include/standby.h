/*
 * standby.h — lag-tolerant reads from a PostgreSQL standby, with
 * read-your-writes (docs/scaling.md).
 *
 * With DATABASE_READ_URL set, a worker has a second connection
 * (ctx->db_read) and a route flagged ROUTE_STANDBY may be answered from
 * it; everything else, and every such route while the standby cannot be
 * trusted, reads the primary (ctx->db). Unset, nothing here runs.
 *
 * How far behind the standby is, measured without clocks: every
 * STANDBY_CHECK_MS at most (only while such reads come) a worker asks the
 * primary for its WAL position (pg_current_wal_lsn) and keeps it with the
 * time it asked, then asks the standby how far it has replayed. A standby
 * that replayed the position the primary had at time t is at most now - t
 * behind; it answers reads only while that is within
 * SOTTO_READ_MAX_LAG_MS for one of the kept positions.
 *
 * Read-your-writes: after a write an account made (a ROUTE_WRITE route
 * answered 2xx) the primary's WAL insert position is kept in Redis under
 * "rw:<h>" (h: the account's keyed lookup hash, auth.h) for
 * SOTTO_READ_YOUR_WRITES_S seconds, before the answer leaves; the token
 * check reads it in its own round trip, and that account's reads go to the
 * primary until the standby has replayed that far.
 */
#ifndef SOTTO_STANDBY_H
#define SOTTO_STANDBY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;
struct request;

#define STANDBY_CHECK_MS 100
#define STANDBY_SAMPLES 64          /* primary positions kept: 6.4 s at one per check */
#define STANDBY_RETRY_MS 1000       /* after the standby failed, before trying again */
#define STANDBY_LSN_HEX 16          /* an LSN as Redis keeps it: 16 lower-case hex digits */

/* A WAL position of the primary and when (monotonic microseconds) it was read. */
struct standby_sample {
	uint64_t us;
	uint64_t lsn;
};

/*
 * PostgreSQL's text of an LSN ("16/B374D848": two groups of 1 to 8 hex
 * digits) into *lsn. 0, or -1 for anything else.
 */
int standby_lsn_parse(const char *text, uint64_t *lsn) __attribute__((warn_unused_result));

/*
 * Redis's text of an LSN (exactly STANDBY_LSN_HEX lower-case hex digits,
 * len bytes, so that Lua compares two of them as strings) into *lsn; out
 * gets the text of lsn (STANDBY_LSN_HEX + 1 bytes). 0, or -1.
 */
int standby_lsn_key_parse(const char *text, size_t len, uint64_t *lsn)
    __attribute__((warn_unused_result));
void standby_lsn_key_text(uint64_t lsn, char out[STANDBY_LSN_HEX + 1]);

/*
 * True when a standby that has replayed up to replay is, by the primary's
 * positions s[0..n) (in any order), at most bound_us behind at now_us: one
 * position read at or after now_us - bound_us is at or below replay.
 * With since_us (0 = any), only positions read at or after since_us count.
 */
bool standby_within(const struct standby_sample *s, size_t n, uint64_t replay,
                    uint64_t now_us, uint64_t bound_us, uint64_t since_us);

struct standby;

/* A worker's view of the standby behind read (not owned). NULL on OOM. */
struct standby *standby_new(struct db *read);
void standby_free(struct standby *s);

/*
 * The request's database for a ROUTE_STANDBY route: sets req->db to the
 * standby when one is configured, answers within the lag bound and has
 * replayed the requesting account's last write (req->account's mark);
 * leaves the primary otherwise, and for a request with a token its route
 * does not check (GET /communities: whose writes would it wait for?). Never fails: anything wrong with the
 * standby means the primary.
 */
void standby_route(struct request *req);

/*
 * After the handler: true when the standby failed the request in a way
 * the primary may not (connection lost, a query cancelled by replay);
 * then the standby is left alone for STANDBY_RETRY_MS and req->db is the
 * primary again, for the caller to run the handler once more.
 */
bool standby_failed(struct request *req, int status);

/*
 * True when what the request read from the standby cannot be older than
 * changes seen by since_us (monotonic): the standby had, before the
 * request read it, replayed a primary position read at or after since_us.
 * Always true for a request that read the primary.
 */
bool standby_covers(const struct request *req, uint64_t since_us);

/*
 * Before the answer to a write leaves: when the requesting account made
 * it (2xx on a ROUTE_WRITE route) and a standby is configured, mark the
 * account so that its reads go to the primary until a standby replayed
 * it. A failure is logged; the write stands.
 */
void standby_note_write(struct request *req, int status);

#endif
