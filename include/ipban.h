/*
 * ipban.h — IP-prefix bans: prefixes, lookup tokens, the sealed
 * prefix text, and the per-worker cache every request is checked against.
 *
 * An address is canonicalized first (an IPv4-mapped IPv6 address, dotted
 * "::ffff:1.2.3.4" or hex "::ffff:102:304", is the IPv4 address), then cut
 * to its /24 (IPv4) or /64 (IPv6); a ban may widen an IPv6 prefix to a /48
 * at most. The prefix is matched by a token:
 *   BLAKE2b-256 keyed with keys_derive(IP_HMAC_KEY, "ipbanhsh", IPBAN_KEY_VERSION)
 *   over "v4/24" + 3 bytes, or "v6/NN" + the NN/8 bytes (rounded up, the
 *   bits past NN zero) of an IPv6 /NN
 * and shown to moderators from a sealed copy of its text (sql/007_bans.sql,
 * sql/025_ban_widths_notes.sql).
 * The address itself lives in memory for one request only.
 *
 * The cache (one per worker, ctx->ipban): the tokens of the active bans in a
 * sorted array, loaded from PostgreSQL and reloaded when the pool's shared
 * generation (shm) moves (a change made by this pool: seen by every worker
 * at its next request) or when the database's generation moves (checked at
 * most every IPBAN_RECHECK_MS: other hosts, `sotto cleanup`, psql). With
 * no bans a request costs one atomic load and a clock read; with bans, one
 * keyed hash of 8 or 13 bytes and a binary search, and for an IPv6 client
 * one more of each per other prefix length some active ban uses.
 */
#ifndef SOTTO_IPBAN_H
#define SOTTO_IPBAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>
#include <libpq-fe.h>

struct arena;
struct config;
struct ipban_cache;
struct request;
struct shm_region;

#define IPBAN_KEY_VERSION 1      /* subkey id of IP_HMAC_KEY the tokens use */
#define IPBAN_TOKEN_BYTES 32
#define IPBAN_ADDR_MAX 45        /* longest address text accepted (INET6_ADDRSTRLEN - 1) */
#define IPBAN_TEXT_MAX 48        /* prefix text with "/64" and NUL fits */
#define IPBAN_V4_BITS 24         /* an IPv4 ban is always the /24 */
#define IPBAN_V6_BITS_MIN 48     /* the widest IPv6 prefix a ban may take */
#define IPBAN_V6_BITS 64         /* an IPv6 address's own prefix, the default ban */
#define IPBAN_RECHECK_MS 2000    /* database generation polled at most this often */

enum ipban_family { IPBAN_V4 = 4, IPBAN_V6 = 6 };

struct ipban_prefix {
	enum ipban_family family;
	unsigned bits;               /* IPBAN_V4_BITS, or IPBAN_V6_BITS_MIN..IPBAN_V6_BITS */
	unsigned char bytes[8];      /* the first bits of the address, the rest zero */
	size_t len;                  /* bytes that hold them: 3, or 6 to 8 */
};

/*
 * Parse an address as inet_pton does (AF_INET, else AF_INET6; nothing
 * else: no zone id, no brackets, no white space, at most IPBAN_ADDR_MAX
 * characters) and cut it to its prefix. 0, or -1 (text may be NULL).
 */
int ipban_prefix_parse(const char *text, struct ipban_prefix *p)
    __attribute__((warn_unused_result));

/*
 * Widen an IPv6 prefix to its first bits (IPBAN_V6_BITS_MIN..p->bits).
 * 0, or -1 (p unchanged): an IPv4 prefix, or bits out of that range.
 */
int ipban_prefix_widen(struct ipban_prefix *p, unsigned bits)
    __attribute__((warn_unused_result));

/*
 * The prefix as moderators see it: "1.2.3.0/24", or the IPv6 prefix in
 * RFC 5952 compressed form ("2001:db8:1:2::/64", "2001:db8:1::/48").
 * out has IPBAN_TEXT_MAX bytes.
 * 0, or -1 (never for a parsed prefix).
 */
int ipban_prefix_text(const struct ipban_prefix *p, char out[IPBAN_TEXT_MAX])
    __attribute__((warn_unused_result));

/* The lookup token of p under key (a subkey, see ipban_token_key). */
void ipban_token(const unsigned char key[32], const struct ipban_prefix *p,
                 unsigned char out[IPBAN_TOKEN_BYTES]);

/*
 * The worker's token key, derived from IP_HMAC_KEY on first use and kept
 * (mlock'ed) in its ban cache. NULL when it cannot be derived.
 */
const unsigned char *ipban_token_key(struct request *req);

/* An empty ban cache for a worker's context, or NULL when out of memory. */
struct ipban_cache *ipban_cache_new(void);

/* Wipe the token key and free the cache. NULL is allowed. */
void ipban_cache_free(struct ipban_cache *cache);

/*
 * Seal the prefix text of ban id (its public id) with the newest content
 * key: the sealed bytes on arena a (*len), *version the content key
 * version used. NULL when no content key is configured or out of memory.
 */
unsigned char *ipban_seal_prefix(struct arena *a, const struct config *cfg,
                                 const char *ban_id, const char *text,
                                 size_t *len, uint32_t *version);

/*
 * A ban row as the listings show it: {"ban_id", "prefix", "reason", "day",
 * "expires_day"|null}, from a result whose columns are IPBAN_ROW_COLUMNS.
 * NULL when the prefix cannot be opened (its content key version is gone)
 * or out of memory. (A page_row_fn: the last argument is not used.)
 */
#define IPBAN_ROW_COLUMNS "b.id, b.prefix_sealed, b.seal_version, b.reason, b.day, b.expires_day"
json_object *ipban_row_json(struct request *req, const PGresult *res, int row, void *unused);

/*
 * The shared check: true when the request's REMOTE_ADDR lies in an active
 * ban. Refreshes this worker's cache first when it may be stale. An
 * address that does not parse is never banned. If the list cannot be
 * loaded (database down), the last loaded list stays in force (none before
 * the first load): counted in shm ipban_load_failures and logged once.
 */
bool ipban_applies(struct request *req);

/* After a committed change to ip_bans: every worker of the pool reloads. */
void ipban_changed(struct shm_region *shm);

/*
 * For GET /admin/overview: add "bans" (the active bans: ban_id, prefix
 * decrypted, reason, day, expires_day) to out. Returns 0, or the error
 * status it set on req.
 */
int ipban_overview(struct request *req, json_object *out);

#endif
