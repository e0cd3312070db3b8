/*
 * config.c — every setting is one row of `settings` below: its name, type,
 * default, bounds, whether it is secret and what it means. One loop reads
 * them all (config_load) and one describes them all (config_setting_doc:
 * `sotto check-config --list`, docs/configuration.md), so a setting cannot
 * be read, defaulted or documented two ways. Where the values come from is
 * config_source.c; every value is validated here, once, so the rest of the
 * program can trust struct config.
 *
 * Defaults are written as text and parsed by the same code as the values,
 * except the ones that follow the number of cores (def_of).
 * Numbers are plain decimal digits: no sign, no spaces, no suffix.
 * Error lines name the variable and never repeat its value.
 */
#include "cache.h"
#include "config.h"
#include "config_source.h"
#include "config_types.h"
#include "log.h"
#include "util.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#define VAR_NAME_MAX 128
#define SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* One member of a family of settings (SOTTO_RATE_<CLASS>, SOTTO_POW_<ACTION>). */
struct member {
	const char *name;      /* as the API spells it; upper-cased in the variable */
	const char *def;
	const char *meaning;
};

static const struct member rate_classes[RATE__MAX] = {
	[RATE_GLOBAL] = {"GLOBAL", "300/60", "every routed request"},
	[RATE_REGISTER] = {"REGISTER", "5/3600", "POST /auth/register"},
	[RATE_LOGIN] = {"LOGIN", "10/60", "POST /auth/login, POST /me/password and DELETE /me"},
	[RATE_POST] = {"POST", "30/3600", "POST /posts and POST /posts/{id}/reply"},
	[RATE_VOTE] = {"VOTE", "120/60", "POST /posts/{id}/vote"},
	[RATE_FLAG] = {"FLAG", "30/3600", "POST /moderation/flag"},
	[RATE_DM] = {"DM", "60/60", "POST /dm/start_from_post and POST /dm/{id}/send"},
	[RATE_COMMUNITY] = {"COMMUNITY", "5/86400", "POST /communities"},
	[RATE_EXPORT] = {"EXPORT", "10/3600", "GET /me/export"},
	[RATE_GROUP] = {"GROUP", "10/3600", "POST /groups and POST /groups/join"},
	[RATE_BLOCK] = {"BLOCK", "10/86400", "POST /blocks (bounds probing with blocks)"},
	[RATE_MOD_INVITE] = {"MOD_INVITE", "20/86400", "POST /communities/{slug}/moderators/invites"},
	[RATE_MOD_JOIN] = {"MOD_JOIN", "10/3600",
	                   "POST /communities/{slug}/moderators/join (bounds guessing invites)"},
	[RATE_MOD_DECISION] = {"MOD_DECISION", "300/3600",
	                       "POST /communities/{slug}/queue/{item_id}/decision and "
	                       "PUT /communities/{slug}/rules"},
	[RATE_APPEAL] = {"APPEAL", "10/86400", "POST /moderation/appeals"},
	[RATE_CHALLENGE] = {"CHALLENGE", "60/60", "POST /pow/challenge"},
	[RATE_REFRESH] = {"REFRESH", "60/3600", "POST /auth/refresh"},
};

static const struct member pow_actions[POW__MAX] = {
	[POW_REGISTER] = {"register", "18", "POST /auth/register"},
	[POW_LOGIN] = {"login", "0", "POST /auth/login"},
	[POW_POST] = {"post", "16", "POST /posts"},
	[POW_REPLY] = {"reply", "14", "POST /posts/{id}/reply"},
	[POW_VOTE] = {"vote", "0", "POST /posts/{id}/vote"},
	[POW_FLAG] = {"flag", "14", "POST /moderation/flag"},
	[POW_DM] = {"dm", "14", "POST /dm/{id}/send"},
	[POW_COMMUNITY] = {"community", "18", "POST /communities"},
	[POW_GROUP] = {"group", "16", "POST /groups and POST /groups/join"},
};
enum { SETTING_SECRET = 1, SETTING_FIRST = 2 };

struct setting {
	const char *name;        /* the variable; a family's prefix ("SOTTO_RATE_") */
	const struct config_type *type;
	size_t offset;           /* of the field in struct config */
	size_t aux_offset;       /* of the second field, for two-field types */
	const char *def;         /* default as text; NULL = required */
	uint64_t min, max;       /* bounds of numbers; max = capacity of a key */
	unsigned flags;          /* SETTING_SECRET: may come from a credential file, never
	                            printed; SETTING_FIRST: read before the others */
	/* Text rows only: a rule on the stored string, after parsing; NULL = none. */
	int (*check)(struct config_reader *ld, const char *name, const char *value);
	const char *rule;        /* the bounds column when check is set */
	const struct member *family;   /* SOTTO_<PREFIX><MEMBER> rows, or NULL */
	const char *member_noun;       /* what a member is, for errors */
	size_t n_family;
	size_t stride;           /* between two members' fields */
	int (*def_of)(void);     /* a default that follows the machine; def describes it */
	const char *meaning;
};

/* Free a string after wiping it (URLs and tokens may hold passwords). */
static void free_str(char **p)
{
	if (*p != NULL) {
		sodium_memzero(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

/* ---- rules of single text settings, after parsing --------------------- */

static int check_listen(struct config_reader *ld, const char *name, const char *v)
{
	if (strlen(v) > SOCKET_PATH_MAX)
		return config_fail(ld, "%s: socket path longer than %zu bytes", name, SOCKET_PATH_MAX);
	return 0;
}

static int check_group(struct config_reader *ld, const char *name, const char *v)
{
	if (strpbrk(v, " /:") != NULL)
		return config_fail(ld, "%s: not a group name", name);
	return 0;
}

/* Parsed as the workers will; the message never repeats the URL (it may hold a password). */
static int check_redis_url(struct config_reader *ld, const char *name, const char *v)
{
	struct cache *probe;

	if (v[0] == '\0')
		return 0;  /* REDIS_SENTINELS instead (check_redis_choice) */
	probe = cache_new(v, 0);
	if (probe == NULL)
		return config_fail(ld, "%s: expected redis://[[user]:password@]host[:port][/db] "
		                   "or unix://[[user]:password@]/path[?db=N]", name);
	cache_free(probe);
	return 0;
}

static int check_redis_sentinels(struct config_reader *ld, const char *name, const char *v)
{
	char *hosts[CACHE_MAX_SENTINELS];
	int ports[CACHE_MAX_SENTINELS];
	size_t n;

	if (v[0] == '\0')
		return 0;
	if (cache_parse_sentinels(v, hosts, ports, CACHE_MAX_SENTINELS, &n) != 0)
		return config_fail(ld, "%s: expected host:port[,host:port...] (at most %d)", name,
		                   CACHE_MAX_SENTINELS);
	for (size_t i = 0; i < n; i++)
		free(hosts[i]);
	return 0;
}

static int check_master_name(struct config_reader *ld, const char *name, const char *v)
{
	if (strlen(v) > CACHE_MASTER_NAME_MAX || strpbrk(v, " \t") != NULL)
		return config_fail(ld, "%s: at most %d characters without spaces", name,
		                   CACHE_MASTER_NAME_MAX);
	return 0;
}

static int check_master_user(struct config_reader *ld, const char *name, const char *v)
{
	if (strlen(v) > CACHE_MASTER_NAME_MAX || strpbrk(v, " \t:") != NULL)
		return config_fail(ld, "%s: at most %d characters without spaces or ':'", name,
		                   CACHE_MASTER_NAME_MAX);
	return 0;
}

/* The message never repeats the password. */
static int check_master_password(struct config_reader *ld, const char *name, const char *v)
{
	if (strlen(v) > CACHE_PASSWORD_MAX)
		return config_fail(ld, "%s: at most %d bytes", name, CACHE_PASSWORD_MAX);
	return 0;
}

/*
 * A write's mark outlives the lag a standby may have and still get reads,
 * so once it is gone every standby that reads has replayed the write.
 */
static int check_read_bounds(struct config_reader *ld, const struct config *cfg)
{
	if ((int64_t)cfg->read_your_writes_s * 1000 <= cfg->read_max_lag_ms)
		return config_fail(ld, "SOTTO_READ_YOUR_WRITES_S must be longer than "
		                   "SOTTO_READ_MAX_LAG_MS");
	return 0;
}

/*
 * Where Redis is: REDIS_URL, or REDIS_SENTINELS with REDIS_MASTER_NAME;
 * exactly one of the two answers (two would be one too many). 0 or -1.
 */
static int check_redis_choice(struct config_reader *ld, const struct config *cfg)
{
	bool url = cfg->redis_url[0] != '\0', sentinels = cfg->redis_sentinels[0] != '\0';

	if (url && sentinels)
		return config_fail(ld, "REDIS_URL and REDIS_SENTINELS: set one of them, not both");
	if (!url && !sentinels)
		return config_fail(ld, "REDIS_URL is required (or REDIS_SENTINELS)");
	if (sentinels && cfg->redis_master_name[0] == '\0')
		return config_fail(ld, "REDIS_MASTER_NAME is required with REDIS_SENTINELS");
	if (!sentinels && (cfg->redis_master_user[0] != '\0' || cfg->redis_master_password[0] != '\0'))
		return config_fail(ld, "REDIS_MASTER_USER and REDIS_MASTER_PASSWORD go with "
		                   "REDIS_SENTINELS (REDIS_URL carries its own credentials)");
	if (cfg->redis_master_user[0] != '\0' && cfg->redis_master_password[0] == '\0')
		return config_fail(ld, "REDIS_MASTER_USER needs REDIS_MASTER_PASSWORD");
	return 0;
}

/* The command line: printable, at most CONFIG_MODERATION_CMD_ARGS words. */
static int check_moderation_cmd(struct config_reader *ld, const char *name, const char *cmd)
{
	size_t words = 0;

	if (strlen(cmd) > CONFIG_MODERATION_CMD_MAX)
		return config_fail(ld, "%s: longer than %d bytes", name, CONFIG_MODERATION_CMD_MAX);
	for (const char *c = cmd; *c != '\0'; c++)
		words += *c != ' ' && (c == cmd || c[-1] == ' ');
	if (words > CONFIG_MODERATION_CMD_ARGS)
		return config_fail(ld, "%s: more than %d words", name, CONFIG_MODERATION_CMD_ARGS);
	if (cmd[0] != '\0' && words == 0)
		return config_fail(ld, "%s: only spaces", name);
	return 0;
}

static int check_nchan(struct config_reader *ld, const char *name, const char *v)
{
	if (check_listen(ld, name, v) != 0)
		return -1;
	if (v[0] != '\0' && v[0] != '/')
		return config_fail(ld, "%s: expected an absolute socket path or nothing", name);
	return 0;
}

#define FIELD(f) offsetof(struct config, f)

/* Cores online, at least 1. */
static int cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
}

/* A worker waits on PostgreSQL, Redis and each commit's WAL flush: more workers than cores. */
static int default_workers(void)
{
	return cores() > 8 ? 32 : 4 * cores();
}

static int default_pwhash(void)
{
	return cores() > 64 ? 64 : cores();
}

/*
 * In reading order: SOTTO_DEV first (the weak-secret and file-mode rules
 * depend on it), then the process, the request layer and storage, abuse
 * limits, moderation, accounts, events, and the secrets.
 */
static const struct setting settings[] = {
	{ .name = "SOTTO_DEV", .type = &config_type_flag, .offset = FIELD(dev), .def = "0",
	  .flags = SETTING_FIRST,
	  .meaning = "1 in the development stack only: weak secrets and world-writable env "
	             "files are then accepted with a warning" },
	{ .name = "SOTTO_WORKERS", .type = &config_type_int, .offset = FIELD(workers),
	  .def = "(4 x cores, at most 32)", .def_of = default_workers, .min = 2, .max = 64,
	  .meaning = "worker processes; each serves one request at a time and mostly waits on "
	             "PostgreSQL, Redis and WAL flushes, so more workers than cores keep the "
	             "cores busy" },
	{ .name = "SOTTO_LISTEN", .type = &config_type_path, .offset = FIELD(listen_path),
	  .def = "/run/sotto/sotto.sock", .check = check_listen,
	  .rule = "at most 107 bytes",
	  .meaning = "FastCGI unix socket (ignored under systemd socket activation)" },
	{ .name = "SOTTO_SOCKET_GROUP", .type = &config_type_text, .offset = FIELD(socket_group),
	  .def = "", .check = check_group, .rule = "a group name (no space, '/' or ':')",
	  .meaning = "group of the socket (mode 0660), e.g. www-data; empty = keep" },
	{ .name = "SOTTO_SHUTDOWN_TIMEOUT_MS", .type = &config_type_int,
	  .offset = FIELD(shutdown_timeout_ms), .def = "10000", .min = 0, .max = 600000,
	  .meaning = "how long in-flight requests may take on stop or reload, milliseconds" },
	{ .name = "SOTTO_MIGRATIONS_DIR", .type = &config_type_path, .offset = FIELD(migrations_dir),
	  .def = "sql", .meaning = "where `sotto migrate` finds its NNN_*.sql files" },
	{ .name = "SOTTO_BODY_MAX_BYTES", .type = &config_type_bytes, .offset = FIELD(body_max_bytes),
	  .def = "65536", .min = 1024, .max = 16u * 1024 * 1024,
	  .meaning = "request body limit (413 above it)" },
	{ .name = "SOTTO_JSON_MAX_DEPTH", .type = &config_type_int, .offset = FIELD(json_max_depth),
	  .def = "16", .min = 1, .max = 64, .meaning = "JSON nesting limit (400 above it)" },
	{ .name = "SOTTO_CORS_ORIGINS", .type = &config_type_origins, .offset = FIELD(cors_origins),
	  .aux_offset = FIELD(n_cors_origins), .def = "",
	  .meaning = "origins allowed by CORS; empty = none" },
	{ .name = "SOTTO_PUBLIC_ORIGIN", .type = &config_type_origin, .offset = FIELD(public_origin),
	  .def = "",
	  .meaning = "the origin clients reach this server at, e.g. https://sotto.example: the "
	             "OAuth issuer and the URL DPoP proofs must name; empty = taken from each "
	             "request's Host and port (set it in production: docs/deployment.md)" },
	{ .name = "DATABASE_URL", .type = &config_type_text, .offset = FIELD(database_url),
	  .flags = SETTING_SECRET, .meaning = "libpq connection string or URL" },
	{ .name = "SOTTO_DB_STATEMENT_TIMEOUT_MS", .type = &config_type_int,
	  .offset = FIELD(db_statement_timeout_ms), .def = "5000", .min = 1, .max = 600000,
	  .meaning = "PostgreSQL statement_timeout, milliseconds; a statement that runs out of "
	             "it (or meets a deadlock or a lock it cannot get) is answered 503 with "
	             "Retry-After, nothing written" },
	{ .name = "DATABASE_READ_URL", .type = &config_type_text,
	  .offset = FIELD(database_read_url), .def = "", .flags = SETTING_SECRET,
	  .meaning = "libpq connection string of a standby for lag-tolerant reads (feed, posts, "
	             "communities, public logs), e.g. a host list with "
	             "target_session_attrs=prefer-standby; empty = every read on DATABASE_URL "
	             "(docs/scaling.md)" },
	{ .name = "SOTTO_READ_MAX_LAG_MS", .type = &config_type_int,
	  .offset = FIELD(read_max_lag_ms), .def = "1000", .min = 0, .max = 5000,
	  .meaning = "a standby further behind the primary than this, milliseconds, gets no "
	             "reads (with DATABASE_READ_URL)" },
	{ .name = "SOTTO_READ_YOUR_WRITES_S", .type = &config_type_int,
	  .offset = FIELD(read_your_writes_s), .def = "5", .min = 1, .max = 60,
	  .meaning = "how long after an account's write its reads wait for a standby to have "
	             "replayed it, seconds; more than SOTTO_READ_MAX_LAG_MS" },
	{ .name = "REDIS_URL", .type = &config_type_text, .offset = FIELD(redis_url),
	  .def = "", .flags = SETTING_SECRET, .check = check_redis_url,
	  .rule = "redis://[[user]:password@]host[:port][/db] or unix://[[user]:password@]/path[?db=N]",
	  .meaning = "the Redis server (rate limits, challenges, revocations); required unless "
	             "REDIS_SENTINELS is set" },
	{ .name = "REDIS_SENTINELS", .type = &config_type_text, .offset = FIELD(redis_sentinels),
	  .def = "", .check = check_redis_sentinels, .rule = "host:port[,host:port...], at most 8",
	  .meaning = "Redis Sentinels to ask for the master, instead of REDIS_URL: every connect "
	             "asks them again (docs/scaling.md)" },
	{ .name = "REDIS_MASTER_NAME", .type = &config_type_text,
	  .offset = FIELD(redis_master_name), .def = "", .check = check_master_name,
	  .rule = "at most 64 characters without spaces",
	  .meaning = "the name the Sentinels monitor; required with REDIS_SENTINELS" },
	{ .name = "REDIS_MASTER_USER", .type = &config_type_text,
	  .offset = FIELD(redis_master_user), .def = "", .check = check_master_user,
	  .rule = "at most 64 characters without spaces or ':'",
	  .meaning = "with REDIS_SENTINELS: the ACL user the master takes with AUTH (empty: "
	             "the default user); needs REDIS_MASTER_PASSWORD" },
	{ .name = "REDIS_MASTER_PASSWORD", .type = &config_type_text,
	  .offset = FIELD(redis_master_password), .def = "", .flags = SETTING_SECRET,
	  .check = check_master_password, .rule = "at most 512 bytes",
	  .meaning = "with REDIS_SENTINELS: the password the master takes with AUTH (empty: "
	             "no AUTH); the Sentinels are asked without one" },
	{ .name = "SOTTO_REDIS_TIMEOUT_MS", .type = &config_type_int, .offset = FIELD(redis_timeout_ms),
	  .def = "100", .min = 1, .max = 10000,
	  .meaning = "Redis connect and command timeout, milliseconds" },
	{ .name = "SOTTO_RATE_", .type = &config_type_rate, .offset = FIELD(rate),
	  .family = rate_classes, .member_noun = "rate class", .n_family = RATE__MAX,
	  .stride = sizeof(struct rate_limit),
	  .meaning = "rate limit, counted per IP prefix (IPv6: the /64, /56 and /48 at 1, 4 "
	             "and 16 times the count) and per account where the route has one" },
	{ .name = "SOTTO_POW_", .type = &config_type_int, .offset = FIELD(pow), .min = 0,
	  .max = 32, .family = pow_actions, .member_noun = "proof-of-work action",
	  .n_family = POW__MAX, .stride = sizeof(int),
	  .meaning = "proof-of-work floor in bits (0 = off)" },
	{ .name = "SOTTO_GUARD_MAX_LINKS", .type = &config_type_int, .offset = FIELD(guard_max_links),
	  .def = "3", .min = 0, .max = 1000, .meaning = "most links in one text" },
	{ .name = "SOTTO_GUARD_BLOCKLIST", .type = &config_type_path, .offset = FIELD(guard_blocklist),
	  .def = "", .meaning = "blocklist file: one term per line, # comments, matched "
	                        "case-insensitively; empty = no blocklist" },
	{ .name = "SOTTO_GUARD_REPEAT_WINDOW", .type = &config_type_int,
	  .offset = FIELD(guard_repeat_window_s), .def = "600", .min = 0, .max = 86400 * 7,
	  .meaning = "seconds in which one account cannot write the same text twice; 0 = off" },
	{ .name = "SOTTO_FEED_SNAPSHOT_SHARE", .type = &config_type_int,
	  .offset = FIELD(feed_snapshot_share_s), .def = "10", .min = 0, .max = 300,
	  .meaning = "seconds during which first pages of the ranked feed share one snapshot "
	             "and workers reuse rendered feed pages; 0 = neither" },
	{ .name = "SOTTO_ADAPTIVE_POW_MIN_RATE", .type = &config_type_int,
	  .offset = FIELD(pow_adapt_min_rate), .def = "60", .min = 1, .max = 1000000,
	  .meaning = "least reference rate (proofs verified per minute) of adaptive proof of work" },
	{ .name = "SOTTO_ADAPTIVE_POW_MAX_EXTRA", .type = &config_type_int,
	  .offset = FIELD(pow_adapt_max_extra), .def = "8", .min = 0, .max = 16,
	  .meaning = "most bits added to a floor under load; 0 = difficulty never adapts" },
	{ .name = "SOTTO_POST_MAX_CHARS", .type = &config_type_int, .offset = FIELD(post_max_chars),
	  .def = "4000", .min = 1, .max = 100000,
	  .meaning = "longest post, reply or direct message, in characters" },
	{ .name = "SOTTO_GROUP_MAX_MEMBERS", .type = &config_type_int,
	  .offset = FIELD(group_max_members), .def = "256", .min = 2, .max = 10000,
	  .meaning = "most members of one group; a join beyond it is refused (409)" },
	{ .name = "SOTTO_FLAG_HOLD_WEIGHT", .type = &config_type_weight,
	  .offset = FIELD(flag_hold_weight), .def = "1.5",
	  .meaning = "weighted flags that hold a post for review (1.5: three accounts of "
	             "neutral trust)" },
	{ .name = "SOTTO_FLAG_MIN_AGE_DAYS", .type = &config_type_int,
	  .offset = FIELD(flag_min_age_days), .def = "3", .min = 0, .max = 365,
	  .meaning = "days an account must have before its flags count towards holding a post "
	             "and its up-votes move trust (younger or below neutral trust: reviewed, "
	             "never weighed)" },
	{ .name = "SOTTO_APPEAL_DAYS", .type = &config_type_int,
	  .offset = FIELD(appeal_days), .def = "14", .min = 1, .max = 365,
	  .meaning = "days after a removal during which its author may appeal it; the removed "
	             "post's ciphertext is kept until then, and `sotto cleanup` empties it after" },
	{ .name = "SOTTO_MODERATION_THRESHOLD", .type = &config_type_threshold,
	  .offset = FIELD(moderation_threshold), .aux_offset = FIELD(moderation_hold),
	  .def = "0.8", .meaning = "score at which `sotto moderate` holds a post; off = score "
	                           "only, never hold" },
	{ .name = "SOTTO_MODERATION_RULES", .type = &config_type_path,
	  .offset = FIELD(moderation_rules), .def = "data/moderation.rules",
	  .meaning = "the classifier's rules file (installed: /etc/sotto/moderation.rules); "
	             "/dev/null = no built-in rules" },
	{ .name = "SOTTO_MODERATION_CMD", .type = &config_type_text, .offset = FIELD(moderation_cmd),
	  .def = "", .check = check_moderation_cmd,
	  .rule = "at most " UTIL_STR(CONFIG_MODERATION_CMD_MAX) " bytes and "
	          UTIL_STR(CONFIG_MODERATION_CMD_ARGS) " words",
	  .meaning = "external classifier command line, split on spaces (no shell); empty = "
	             "built-in rules only" },
	{ .name = "SOTTO_MODERATION_CMD_TIMEOUT_MS", .type = &config_type_int,
	  .offset = FIELD(moderation_cmd_timeout_ms), .def = "2000", .min = 10, .max = 600000,
	  .meaning = "the external command's time per post, milliseconds" },
	{ .name = "SOTTO_MODERATION_BATCH", .type = &config_type_int, .offset = FIELD(moderation_batch),
	  .def = "32", .min = 1, .max = 1000, .meaning = "posts per classifier transaction" },
	{ .name = "SOTTO_TOKEN_LIFETIME", .type = &config_type_int, .offset = FIELD(token_lifetime_s),
	  .def = "900", .min = 60, .max = 86400, .meaning = "access token lifetime, seconds" },
	{ .name = "SOTTO_REFRESH_LIFETIME", .type = &config_type_int,
	  .offset = FIELD(refresh_lifetime_s), .def = "2592000", .min = 86400, .max = 31536000,
	  .meaning = "seconds a refresh token keeps working unused, counted in whole days "
	             "(sessions keep no time of day): it dies at most a day earlier" },
	{ .name = "SOTTO_PWHASH_CONCURRENCY", .type = &config_type_int,
	  .offset = FIELD(pwhash_concurrency), .def = "(cores, at most 64)",
	  .def_of = default_pwhash, .min = 1, .max = 64,
	  .meaning = "Argon2id hashes running at once in the whole pool; a request finding "
	             "none free waits (SOTTO_PWHASH_WAIT_MS), then gets 503 with Retry-After" },
	{ .name = "SOTTO_PWHASH_WAIT_MS", .type = &config_type_int, .offset = FIELD(pwhash_wait_ms),
	  .def = "500", .min = 0, .max = 5000,
	  .meaning = "how long a password check may wait for a free hash slot, milliseconds; "
	             "requests that solved a proof of work are served first" },
	{ .name = "SOTTO_PWHASH_BUSY_POW", .type = &config_type_int, .offset = FIELD(pwhash_busy_pow),
	  .def = "12", .min = 0, .max = 32,
	  .meaning = "least login and register difficulty, bits, while password checks keep "
	             "finding every hash slot busy (even with a floor of 0); 0 = never raised" },
	{ .name = "SOTTO_NCHAN_PUBLISH", .type = &config_type_path, .offset = FIELD(nchan_publish),
	  .def = "", .check = check_nchan, .rule = "an absolute path of at most 107 bytes",
	  .meaning = "unix socket of nginx's nchan publisher; empty = events are only queued, "
	             "not pushed" },
	{ .name = "SOTTO_NCHAN_TIMEOUT_MS", .type = &config_type_int, .offset = FIELD(nchan_timeout_ms),
	  .def = "200", .min = 1, .max = 5000,
	  .meaning = "bound on one publish (connect, send, status line), milliseconds" },
	{ .name = "SOTTO_EVENT_TTL_DAYS", .type = &config_type_int, .offset = FIELD(event_ttl_days),
	  .def = "14", .min = 1, .max = 3650,
	  .meaning = "days an unacknowledged event is kept (`sotto cleanup` deletes older ones)" },
	{ .name = "JWT_SECRET", .type = &config_type_key, .offset = FIELD(jwt_secret),
	  .aux_offset = FIELD(jwt_secret_len), .max = sizeof(((struct config *)0)->jwt_secret),
	  .flags = SETTING_SECRET,
	  .meaning = "signs session tokens; changing it logs everyone out" },
	{ .name = "IP_HMAC_KEY", .type = &config_type_key, .offset = FIELD(ip_hmac_key),
	  .aux_offset = FIELD(ip_hmac_key_len), .max = sizeof(((struct config *)0)->ip_hmac_key),
	  .flags = SETTING_SECRET,
	  .meaning = "keys the hashes of IP prefixes, account ids and public keys; never change "
	             "it (accounts could no longer log in)" },
	{ .name = "CONTENT_KEYS", .type = &config_type_keys, .offset = FIELD(content_keys),
	  .aux_offset = FIELD(n_content_keys), .flags = SETTING_SECRET,
	  .meaning = "versioned master keys (1:<key>,2:<key>); the highest version wraps new "
	             "data keys, `sotto rotate-keys` moves the old ones to it" },
	{ .name = "ADMIN_REVIEW_TOKEN", .type = &config_type_token, .offset = FIELD(admin_review_token),
	  .def = "", .flags = SETTING_SECRET,
	  .meaning = "guards the moderation queue and bans; empty = those routes answer 404" },
	{ .name = "ADMIN_UI_TOKEN", .type = &config_type_token, .offset = FIELD(admin_ui_token),
	  .def = "", .flags = SETTING_SECRET,
	  .meaning = "guards /admin/*; empty = those routes answer 404" },
};
#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

/* ---- reading ------------------------------------------------------------ */

/* Append text upper-cased to the NUL-terminated buf (capacity cap), truncating. */
static void append_upper(char *buf, size_t cap, const char *text)
{
	size_t k = strlen(buf);

	for (const char *c = text; *c != '\0' && k + 1 < cap; c++)
		buf[k++] = config_to_upper(*c);
	buf[k] = '\0';
}

/* The variable of member i of s (the row's own name when it is no family). */
static void setting_name(const struct setting *s, size_t i, char *name, size_t cap)
{
	snprintf(name, cap, "%s", s->name);
	if (s->family != NULL)
		append_upper(name, cap, s->family[i].name);
}

/* Read member i of s (0 for a plain row) into cfg: value, else default, else "required". */
static int read_one(struct config_reader *ld, struct config *cfg, const struct setting *s, size_t i)
{
	char name[VAR_NAME_MAX], def_buf[24];
	struct config_slot t = { name, (char *)cfg + s->offset + i * s->stride,
	                         s->aux_offset != 0 ? (char *)cfg + s->aux_offset : NULL,
	                         s->min, s->max };
	const char *v;

	setting_name(s, i, name, sizeof(name));
	v = config_source_get(&ld->src, name);
	if (v == NULL && s->def_of != NULL) {
		snprintf(def_buf, sizeof(def_buf), "%d", s->def_of());
		v = def_buf;
	}
	if (v == NULL)
		v = s->family != NULL ? s->family[i].def : s->def;
	if (v == NULL)
		return config_fail(ld, "%s is required%s", name, s->type->required_hint);
	if (s->type->parse(ld, &t, v) != 0)
		return -1;
	return s->check != NULL ? s->check(ld, name, *(char **)t.field) : 0;
}

/* Every row whose SETTING_FIRST flag is `first`, in table order. */
static int read_settings(struct config_reader *ld, struct config *cfg, bool first)
{
	for (size_t r = 0; r < N_SETTINGS; r++) {
		const struct setting *s = &settings[r];

		if (((s->flags & SETTING_FIRST) != 0) != first)
			continue;
		for (size_t i = 0; i < (s->family != NULL ? s->n_family : 1); i++)
			if (read_one(ld, cfg, s, i) != 0)
				return -1;
	}
	return 0;
}

/* Typo protection: a variable with a family's prefix must name one of its members. */
static int check_var_name(struct config_source *src, const char *name, size_t len)
{
	for (size_t r = 0; r < N_SETTINGS; r++) {
		const struct setting *s = &settings[r];
		size_t pl = strlen(s->name);
		char known[256] = "";

		if (s->family == NULL || len < pl || strncmp(name, s->name, pl) != 0)
			continue;
		for (size_t i = 0; i < s->n_family; i++) {
			const char *mn = s->family[i].name;
			size_t k = 0;

			while (mn[k] != '\0' && pl + k < len && config_to_upper(mn[k]) == name[pl + k])
				k++;
			if (mn[k] == '\0' && pl + k == len)
				return 0;
		}
		for (size_t i = 0; i < s->n_family; i++) {
			if (i > 0)
				append_upper(known, sizeof(known), " ");
			append_upper(known, sizeof(known), s->family[i].name);
		}
		return config_source_fail(src, "%.*s: unknown %s (known: %s)",
		                          (int)(len < VAR_NAME_MAX ? len : VAR_NAME_MAX), name,
		                          s->member_noun, known);
	}
	return 0;
}

/*
 * Fill *cfg (whatever it held is overwritten, not freed: pass a fresh or
 * config_free'd struct). On failure cfg is left zeroed, so config_free on it
 * is harmless. Loading again later (SIGHUP) into another struct re-reads
 * every source.
 */
int config_load(struct config *cfg, char *err, size_t errlen)
{
	const char *secret_names[CONFIG_SOURCE_SECRETS_MAX];
	struct config_reader ld;
	size_t n_secrets = 0;
	int rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	memset(&ld, 0, sizeof(ld));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	for (size_t r = 0; r < N_SETTINGS && n_secrets < CONFIG_SOURCE_SECRETS_MAX; r++)
		if (settings[r].flags & SETTING_SECRET)
			secret_names[n_secrets++] = settings[r].name;

	if (config_source_open(&ld.src, secret_names, n_secrets, err, errlen) != 0 ||
	    read_settings(&ld, cfg, true) != 0)
		goto out;
	ld.dev = cfg->dev;
	if (config_source_check_mode(&ld.src, ld.dev) != 0 ||
	    config_source_each_name(&ld.src, check_var_name) != 0 ||
	    read_settings(&ld, cfg, false) != 0 || check_redis_choice(&ld, cfg) != 0 ||
	    check_read_bounds(&ld, cfg) != 0)
		goto out;

	if (cfg->admin_review_token[0] != '\0' &&
	    strcmp(cfg->admin_review_token, cfg->admin_ui_token) == 0)
		log_msg(LOG_WARN, "ADMIN_REVIEW_TOKEN and ADMIN_UI_TOKEN are the same token");
	/* Up to 4 bytes per character, plus JSON framing. */
	if ((size_t)cfg->post_max_chars * 4 + 1024 > cfg->body_max_bytes)
		log_msg(LOG_WARN, "SOTTO_POST_MAX_CHARS may not fit in SOTTO_BODY_MAX_BYTES");
	rc = 0;
out:
	config_source_close(&ld.src);
	if (rc != 0)
		config_free(cfg);
	return rc;
}

int config_load_or_report(struct config *cfg)
{
	char err[256];

	if (config_load(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "sotto: configuration error: %s\n", err);
		return -1;
	}
	return 0;
}

/* ---- describing ----------------------------------------------------------- */

bool config_setting_doc(size_t index, struct config_setting_doc *doc)
{
	const struct setting *s = NULL;
	size_t i = 0;
	const char *def;

	for (size_t r = 0; r < N_SETTINGS && s == NULL; r++) {
		size_t n = settings[r].family != NULL ? settings[r].n_family : 1;

		if (index < n) {
			s = &settings[r];
			i = index;
		}
		index -= index < n ? 0 : n;
	}
	if (s == NULL)
		return false;
	memset(doc, 0, sizeof(*doc));
	setting_name(s, i, doc->name, sizeof(doc->name));
	doc->type = s->type->name;
	def = s->family != NULL ? s->family[i].def : s->def;
	snprintf(doc->def, sizeof(doc->def), "%s",
	         def == NULL ? "(required)" : def[0] == '\0' ? "(empty)" : def);
	if (s->rule != NULL || s->type->bounds != NULL)
		snprintf(doc->bounds, sizeof(doc->bounds), "%s",
		         s->rule != NULL ? s->rule
		         : s->type->bounds[0] != '\0' ? s->type->bounds : "-");
	else
		snprintf(doc->bounds, sizeof(doc->bounds), "%llu..%llu",
		         (unsigned long long)s->min, (unsigned long long)s->max);
	doc->secret = (s->flags & SETTING_SECRET) != 0;
	if (s->family != NULL)
		snprintf(doc->meaning, sizeof(doc->meaning), "%s: %s", s->meaning,
		         s->family[i].meaning);
	else
		snprintf(doc->meaning, sizeof(doc->meaning), "%s", s->meaning);
	return true;
}
void config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	free_str(&cfg->listen_path);
	free_str(&cfg->socket_group);
	free_str(&cfg->migrations_dir);
	for (size_t i = 0; i < CONFIG_MAX_ORIGINS; i++)
		free_str(&cfg->cors_origins[i]);
	free_str(&cfg->public_origin);
	free_str(&cfg->database_url);
	free_str(&cfg->database_read_url);
	free_str(&cfg->redis_url);
	free_str(&cfg->redis_sentinels);
	free_str(&cfg->redis_master_name);
	free_str(&cfg->redis_master_user);
	free_str(&cfg->redis_master_password);
	free_str(&cfg->admin_review_token);
	free_str(&cfg->admin_ui_token);
	free_str(&cfg->guard_blocklist);
	free_str(&cfg->moderation_rules);
	free_str(&cfg->moderation_cmd);
	free_str(&cfg->nchan_publish);
	/* Also wipes jwt_secret, ip_hmac_key and content_keys. */
	sodium_memzero(cfg, sizeof(*cfg));
}
const char *config_rate_name(enum rate_class c)
{
	return (c >= 0 && c < RATE__MAX) ? rate_classes[c].name : "NONE";
}

const char *config_pow_name(enum pow_action a)
{
	return (a >= 0 && a < POW__MAX) ? pow_actions[a].name : "none";
}

bool config_origin_allowed(const struct config *cfg, const char *origin)
{
	if (cfg == NULL || origin == NULL)
		return false;
	for (size_t i = 0; i < cfg->n_cors_origins; i++)
		if (strcmp(cfg->cors_origins[i], origin) == 0)
			return true;
	return false;
}

const struct content_key *config_content_key_find(const struct config *cfg, uint32_t version)
{
	if (cfg == NULL)
		return NULL;
	for (size_t i = 0; i < cfg->n_content_keys; i++)
		if (cfg->content_keys[i].version == version)
			return &cfg->content_keys[i];
	return NULL;
}

const struct content_key *config_content_key_newest(const struct config *cfg)
{
	const struct content_key *best = NULL;

	if (cfg == NULL)
		return NULL;
	for (size_t i = 0; i < cfg->n_content_keys; i++)
		if (best == NULL || cfg->content_keys[i].version > best->version)
			best = &cfg->content_keys[i];
	return best;
}
