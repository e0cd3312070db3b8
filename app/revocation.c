/*
 * revocation.c — see revocation.h.
 */
#include <string.h>

#include <hiredis/hiredis.h>

#include "arena.h"
#include "cache.h"
#include "log.h"
#include "revocation.h"

#define REVOCATION_ORIGIN_KEY "rv-origin"
#define REVOCATION_RUN_ID_MAX 64

/*
 * One SCAN step over the cached account records (auth.h "ac:<h>:<j>"),
 * deleting what it finds; returns the next cursor ("0" at the end).
 */
static const char forget_script[] =
	"local r = redis.call('SCAN', ARGV[1], 'MATCH', 'ac:*', 'COUNT', 1000) "
	"for _, k in ipairs(r[2]) do redis.call('DEL', k) end "
	"return r[1]";
static struct cache_script forget_eval = CACHE_SCRIPT(forget_script);

/*
 * The run_id of the server c is connected to, from INFO server, copied
 * into out (capacity REVOCATION_RUN_ID_MAX + 1). 0 or -1.
 */
static int server_run_id(struct cache *c, struct arena *a, char *out)
{
	const char *argv[2] = { "INFO", "server" };
	redisReply *r = cache_command(c, a, 2, argv, NULL);
	const char *p;
	size_t n;

	if (!cache_reply_is(r, REDIS_REPLY_STRING))
		return -1;
	p = strstr(r->str, "\nrun_id:");
	if (p == NULL)
		return -1;
	p += strlen("\nrun_id:");
	n = strcspn(p, "\r\n");
	if (n == 0 || n > REVOCATION_RUN_ID_MAX)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/*
 * Drop every cached account record: one that outlived a lost ended-session
 * or deletion marker, or a lost change, would otherwise keep answering for
 * its token until it expires. They are only a cache; the next request
 * reads the account and the token's session from PostgreSQL. 0 or -1.
 */
static int forget_records(struct cache *c, struct arena *a)
{
	char cursor[32] = "0";
	const char *argv[4] = { NULL, NULL, "0", cursor };
	redisReply *r;

	do {
		r = cache_eval(c, a, &forget_eval, 4, argv, NULL);
		if (!cache_reply_is(r, REDIS_REPLY_STRING) || r->len >= sizeof(cursor))
			return -1;
		memcpy(cursor, r->str, r->len + 1);
	} while (strcmp(cursor, "0") != 0);
	return 0;
}

int revocation_restore(struct cache *c, void *unused)
{
	char run_id[REVOCATION_RUN_ID_MAX + 1];
	const char *get[2] = { "GET", REVOCATION_ORIGIN_KEY };
	const char *set[3] = { "SET", REVOCATION_ORIGIN_KEY, run_id };
	struct arena *a = arena_new();
	redisReply *r;
	int rc = -1;

	(void)unused;
	if (a == NULL || server_run_id(c, a, run_id) != 0)
		goto out;
	r = cache_command(c, a, 2, get, NULL);
	if (cache_reply_is(r, REDIS_REPLY_STRING) && strcmp(r->str, run_id) == 0) {
		rc = 0;
		goto out;
	}
	if (!cache_reply_is(r, REDIS_REPLY_STRING) && !cache_reply_is(r, REDIS_REPLY_NIL))
		goto out;
	if (forget_records(c, a) != 0)
		goto out;
	r = cache_command(c, a, 3, set, NULL);
	if (!cache_reply_is(r, REDIS_REPLY_STATUS))
		goto out;
	log_msg(LOG_INFO, "revocation: a new Redis server: cached account records dropped, "
	        "PostgreSQL decides which sessions live");
	rc = 0;
out:
	if (rc != 0)
		log_msg(LOG_WARN, "revocation: dropping the cached account records failed");
	arena_free(a);
	return rc;
}
