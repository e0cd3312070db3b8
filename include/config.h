/*
 * config.h — settings from the environment, an env file and systemd
 * credentials, validated once at start (and by `sotto check-config`).
 *
 * Precedence, lowest first: built-in defaults, the env file named by
 * SOTTO_ENV_FILE, the process environment, then $CREDENTIALS_DIRECTORY/<NAME>
 * (systemd LoadCredential=) for the secret names (config_source.h).
 * Every setting is one row of the table in config.c; `sotto check-config
 * --list` prints it and docs/configuration.md is generated from it.
 */
#ifndef SOTTO_CONFIG_H
#define SOTTO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config_types.h"

/* Rate-limit classes; SOTTO_RATE_<NAME>=count/seconds. GLOBAL applies to every route. */
enum rate_class {
	RATE_NONE = -1,
	RATE_GLOBAL = 0,
	RATE_REGISTER,
	RATE_LOGIN,
	RATE_POST,
	RATE_VOTE,
	RATE_FLAG,
	RATE_DM,
	RATE_COMMUNITY,
	RATE_EXPORT,
	RATE_CHALLENGE,
	RATE_GROUP,
	RATE_BLOCK,
	RATE_REFRESH,
	RATE_MOD_INVITE,
	RATE_MOD_JOIN,
	RATE_MOD_DECISION,
	RATE_APPEAL,
	RATE__MAX
};

/* Proof-of-work actions; SOTTO_POW_<NAME>=bits (0 = off). */
enum pow_action {
	POW_NONE = -1,
	POW_REGISTER = 0,
	POW_LOGIN,
	POW_POST,
	POW_REPLY,
	POW_VOTE,
	POW_FLAG,
	POW_DM,
	POW_COMMUNITY,
	POW_GROUP,
	POW__MAX
};

/* Field comments name the variable; defaults, bounds and meanings are in config.c's table. */
struct config {
	/* process */
	bool dev;                   /* SOTTO_DEV=1: the development stack */
	int workers;                /* SOTTO_WORKERS */
	char *listen_path;          /* SOTTO_LISTEN, unix socket path */
	char *socket_group;         /* SOTTO_SOCKET_GROUP, "" = keep */
	int shutdown_timeout_ms;    /* SOTTO_SHUTDOWN_TIMEOUT_MS, drain bound */
	char *migrations_dir;       /* SOTTO_MIGRATIONS_DIR */

	/* request layer */
	size_t body_max_bytes;      /* SOTTO_BODY_MAX_BYTES */
	int json_max_depth;         /* SOTTO_JSON_MAX_DEPTH */
	char *cors_origins[CONFIG_MAX_ORIGINS]; /* SOTTO_CORS_ORIGINS, comma list */
	size_t n_cors_origins;
	char *public_origin;        /* SOTTO_PUBLIC_ORIGIN, "" = from the request */

	/* storage */
	char *database_url;         /* DATABASE_URL */
	int db_statement_timeout_ms;/* SOTTO_DB_STATEMENT_TIMEOUT_MS */
	char *database_read_url;    /* DATABASE_READ_URL; "" = every read on the primary */
	int read_max_lag_ms;        /* SOTTO_READ_MAX_LAG_MS */
	int read_your_writes_s;     /* SOTTO_READ_YOUR_WRITES_S */
	char *redis_url;            /* REDIS_URL: redis://host:port[/db] or unix:///path; "" with Sentinels */
	char *redis_sentinels;      /* REDIS_SENTINELS: host:port,... "" = use REDIS_URL */
	char *redis_master_name;    /* REDIS_MASTER_NAME, with REDIS_SENTINELS */
	char *redis_master_user;    /* REDIS_MASTER_USER: AUTH user for that master, or "" */
	char *redis_master_password; /* REDIS_MASTER_PASSWORD: AUTH password for it, or "" */
	int redis_timeout_ms;       /* SOTTO_REDIS_TIMEOUT_MS */

	/* abuse */
	struct rate_limit rate[RATE__MAX];
	int pow[POW__MAX];
	int post_max_chars;         /* SOTTO_POST_MAX_CHARS */
	int group_max_members;      /* SOTTO_GROUP_MAX_MEMBERS */
	int guard_max_links;        /* SOTTO_GUARD_MAX_LINKS */
	char *guard_blocklist;      /* SOTTO_GUARD_BLOCKLIST, file path, "" = none */
	int guard_repeat_window_s;  /* SOTTO_GUARD_REPEAT_WINDOW, seconds, 0 = off */
	int feed_snapshot_share_s;  /* SOTTO_FEED_SNAPSHOT_SHARE, seconds */
	int pow_adapt_min_rate;     /* SOTTO_ADAPTIVE_POW_MIN_RATE, per minute */
	int pow_adapt_max_extra;    /* SOTTO_ADAPTIVE_POW_MAX_EXTRA, bits, 0 = off */

	/* moderation: flags */
	double flag_hold_weight;    /* SOTTO_FLAG_HOLD_WEIGHT, weighted flags that hold a post */
	int flag_min_age_days;      /* SOTTO_FLAG_MIN_AGE_DAYS: younger accounts' flags never hold */
	int appeal_days;            /* SOTTO_APPEAL_DAYS: a removal's appeal window */

	/* accounts */
	int token_lifetime_s;       /* SOTTO_TOKEN_LIFETIME, seconds */
	int refresh_lifetime_s;     /* SOTTO_REFRESH_LIFETIME, seconds */
	int pwhash_concurrency;     /* SOTTO_PWHASH_CONCURRENCY */
	int pwhash_wait_ms;         /* SOTTO_PWHASH_WAIT_MS */
	int pwhash_busy_pow;        /* SOTTO_PWHASH_BUSY_POW, bits, 0 = off */

	/* automatic moderation (`sotto moderate`) */
	bool moderation_hold;           /* false: SOTTO_MODERATION_THRESHOLD=off, score only */
	double moderation_threshold;    /* SOTTO_MODERATION_THRESHOLD, (0, 1] */
	char *moderation_rules;         /* SOTTO_MODERATION_RULES, file (/dev/null: no rules) */
	char *moderation_cmd;           /* SOTTO_MODERATION_CMD, command line, "" = none */
	int moderation_cmd_timeout_ms;  /* SOTTO_MODERATION_CMD_TIMEOUT_MS */
	int moderation_batch;           /* SOTTO_MODERATION_BATCH, posts per transaction */

	/* secrets (decoded key material; wiped by config_free) */
	unsigned char jwt_secret[64];     size_t jwt_secret_len;  /* JWT_SECRET */
	unsigned char ip_hmac_key[64];    size_t ip_hmac_key_len; /* IP_HMAC_KEY */
	struct content_key content_keys[CONFIG_MAX_CONTENT_KEYS]; /* CONTENT_KEYS */
	size_t n_content_keys;
	char *admin_review_token;   /* ADMIN_REVIEW_TOKEN, "" = routes disabled */
	char *admin_ui_token;       /* ADMIN_UI_TOKEN, "" = routes disabled */

	/* events and real time */
	char *nchan_publish;        /* SOTTO_NCHAN_PUBLISH, nginx publisher unix socket, "" = off */
	int nchan_timeout_ms;       /* SOTTO_NCHAN_TIMEOUT_MS, one publish */
	int event_ttl_days;         /* SOTTO_EVENT_TTL_DAYS, unacknowledged events */
};

/*
 * Fill *cfg from defaults, env file, environment and credentials, then
 * validate. On error returns -1 and writes one human line to err (never
 * a secret value). On success the caller owns cfg and frees it with
 * config_free(). Outside dev mode, missing or weak secrets are errors.
 */
int config_load(struct config *cfg, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * config_load for a command line tool: on error prints "sotto: configuration
 * error: <line>" to stderr and returns -1 (cfg then zeroed).
 */
int config_load_or_report(struct config *cfg) __attribute__((warn_unused_result));

/* Free strings and wipe key material. Safe on a zeroed or half-loaded cfg. */
void config_free(struct config *cfg);

/* Upper-case names, for config output and SOTTO_RATE_<NAME>/SOTTO_POW_<NAME>. */
const char *config_rate_name(enum rate_class c);
const char *config_pow_name(enum pow_action a);   /* lower-case action name */

/* True when origin is in the CORS allow-list (exact match). */
bool config_origin_allowed(const struct config *cfg, const char *origin);

#define CONFIG_MODERATION_CMD_MAX 4096   /* bytes of SOTTO_MODERATION_CMD */
#define CONFIG_MODERATION_CMD_ARGS 32    /* words of SOTTO_MODERATION_CMD */

/* Newest content key (highest version), or NULL if none. */
const struct content_key *config_content_key_newest(const struct config *cfg);

/* The content key of version, or NULL when it is not configured. */
const struct content_key *config_content_key_find(const struct config *cfg, uint32_t version);

/* One setting as `sotto check-config --list` shows it: never a configured value. */
struct config_setting_doc {
	char name[64];
	const char *type;       /* "integer", "path", "key"... */
	char def[64];           /* the default as text, "(required)" or "(empty)" */
	char bounds[160];
	bool secret;            /* may come from a credential file; never printed */
	char meaning[320];
};

/*
 * Describe setting index (0, 1, ... in table order, each rate class and
 * proof-of-work action a setting of its own) into *doc; false past the last.
 */
bool config_setting_doc(size_t index, struct config_setting_doc *doc);

#endif
