/*
 * cmd_clients.c — `sotto clients add|list|remove`: the third-party
 * clients the operator registers (docs/oauth.md).
 *
 *   sotto clients add --name NAME --redirect-uri URI [--redirect-uri URI...]
 *       prints the new client_id (public clients: no secret, PKCE S256)
 *   sotto clients list
 *       one line per client: client_id, tab, name, tab, redirect URIs
 *   sotto clients remove CLIENT_ID
 *       removes it and ends every session opened through it
 *
 * Removal locks the client's row first, so that no exchange can open a
 * session for it meanwhile (the session's foreign key waits on the lock),
 * marks every session of it ended in Redis (their access tokens stop
 * working on every worker), and only then deletes the client, its
 * sessions with it. Redis down: nothing is removed (exit 1).
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "arena.h"
#include "cache.h"
#include "cmd.h"
#include "config.h"
#include "db.h"
#include "json.h"
#include "oauth.h"
#include "session.h"
#include "util.h"

static struct db_stmt stmt_add = {
	"clients_add",
	"INSERT INTO oauth_clients (id, name, redirect_uris, day_created) "
	"VALUES ($1, $2, ARRAY(SELECT jsonb_array_elements_text($3::jsonb)), $4)", 4, 0
};
static struct db_stmt stmt_list = {
	"clients_list",
	"SELECT id, name, array_to_string(redirect_uris, ' ') FROM oauth_clients ORDER BY name, id",
	0, 0
};
static struct db_stmt stmt_lock = {
	"clients_lock", "SELECT pk FROM oauth_clients WHERE id = $1 FOR UPDATE", 1, 0
};
static struct db_stmt stmt_sessions = {
	"clients_sessions", "SELECT id FROM sessions WHERE client_pk = $1", 1, 0
};
static struct db_stmt stmt_remove = {
	"clients_remove", "DELETE FROM oauth_clients WHERE pk = $1", 1, 0
};

static int usage(void)
{
	fprintf(stderr,
	        "usage: sotto clients add --name NAME --redirect-uri URI [--redirect-uri URI...]\n"
	        "       sotto clients list\n"
	        "       sotto clients remove CLIENT_ID\n");
	return 2;
}

/* A client's name: 1..OAUTH_CLIENT_NAME_MAX characters of UTF-8, no control characters. */
static bool name_valid(const char *name)
{
	size_t n = strlen(name), chars = 0;

	if (n == 0 || !util_utf8_valid(name, n))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c == 0x7f)
			return false;
		chars += (c & 0xc0) != 0x80;
	}
	return chars <= OAUTH_CLIENT_NAME_MAX;
}

/*
 * The --name and --redirect-uri arguments of argv[2..argc): *name and the
 * URIs as a JSON array text in *uris_json (on a). 0, or 2 (usage, message printed).
 */
static int add_args(int argc, char **argv, struct arena *a, const char **name,
                    const char **uris_json)
{
	json_object *uris = json_object_new_array();
	size_t n = 0;

	*name = NULL;
	if (uris == NULL || arena_defer(a, json_release, uris) != 0) {
		json_object_put(uris);
		fprintf(stderr, "clients: out of memory\n");
		return 2;
	}
	for (int i = 2; i < argc; i += 2) {
		if (i + 1 >= argc)
			return usage();
		if (strcmp(argv[i], "--name") == 0 && *name == NULL) {
			*name = argv[i + 1];
		} else if (strcmp(argv[i], "--redirect-uri") == 0) {
			if (!oauth_redirect_uri_valid(argv[i + 1])) {
				fprintf(stderr, "clients: not a redirect URI a client may use: https://..., "
				        "http:// on 127.0.0.1, [::1] or localhost, or a private-use scheme "
				        "(com.example.app:/path); no fragment, at most %d bytes\n",
				        OAUTH_REDIRECT_URI_MAX);
				return 2;
			}
			for (size_t j = 0; j < n; j++)
				if (strcmp(json_object_get_string(json_object_array_get_idx(uris, j)),
				           argv[i + 1]) == 0) {
					fprintf(stderr, "clients: a redirect URI is given twice\n");
					return 2;
				}
			if (++n > OAUTH_REDIRECT_URIS_MAX) {
				fprintf(stderr, "clients: at most %d redirect URIs\n", OAUTH_REDIRECT_URIS_MAX);
				return 2;
			}
			json_object_array_add(uris, json_object_new_string(argv[i + 1]));
		} else {
			return usage();
		}
	}
	if (*name == NULL || n == 0)
		return usage();
	if (!name_valid(*name)) {
		fprintf(stderr, "clients: the name must be 1 to %d characters of UTF-8 text\n",
		        OAUTH_CLIENT_NAME_MAX);
		return 2;
	}
	*uris_json = json_object_to_json_string_ext(uris, JSON_C_TO_STRING_PLAIN);
	return *uris_json != NULL ? 0 : 2;
}

static int clients_add(int argc, char **argv, struct db *db, struct arena *a)
{
	const char *params[4], *name, *uris;
	int status = add_args(argc, argv, a, &name, &uris);

	if (status != 0)
		return status;
	params[0] = util_random_id(a, OAUTH_CLIENT_ID_BYTES);
	params[1] = name;
	params[2] = uris;
	params[3] = arena_i64(a, util_today());
	if (params[0] == NULL || params[3] == NULL ||
	    db_exec(db, a, &stmt_add, params, NULL) == NULL) {
		fprintf(stderr, "clients: the client could not be stored\n");
		return 1;
	}
	printf("%s\n", params[0]);
	return 0;
}

static int clients_list(struct db *db, struct arena *a)
{
	PGresult *res = db_exec(db, a, &stmt_list, NULL, NULL);

	if (res == NULL) {
		fprintf(stderr, "clients: the clients could not be read\n");
		return 1;
	}
	for (int i = 0; i < PQntuples(res); i++)
		printf("%s\t%s\t%s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		       PQgetvalue(res, i, 2));
	return 0;
}

/* Mark every session of res (one id per row) ended, in batches. 0 or -1. */
static int end_sessions(const struct config *cfg, struct cache *c, struct arena *a,
                        const PGresult *res)
{
	const char *ids[SESSION_FORGET_MAX];
	int rows = PQntuples(res);

	for (int i = 0; i < rows; i += SESSION_FORGET_MAX) {
		size_t n = 0;

		for (int j = i; j < rows && n < SESSION_FORGET_MAX; j++)
			ids[n++] = PQgetvalue(res, j, 0);
		if (session_mark_ended(c, a, cfg, ids, n) != 0)
			return -1;
	}
	return 0;
}

/* The removal in its transaction (see the top of the file). 0, 1 or -1 (not found). */
static int remove_locked(const struct config *cfg, struct db *db, struct cache *c,
                         struct arena *a, const char *id, int *ended)
{
	const char *params[1] = { id };
	PGresult *res = db_exec(db, a, &stmt_lock, params, NULL);

	if (res == NULL)
		return 1;
	if (PQntuples(res) != 1)
		return -1;
	params[0] = arena_strdup(a, PQgetvalue(res, 0, 0));
	if (params[0] == NULL || (res = db_exec(db, a, &stmt_sessions, params, NULL)) == NULL)
		return 1;
	if (end_sessions(cfg, c, a, res) != 0) {
		fprintf(stderr, "clients: Redis is unavailable (REDIS_URL): nothing removed\n");
		return 1;
	}
	*ended = PQntuples(res);
	return db_exec(db, a, &stmt_remove, params, NULL) != NULL ? 0 : 1;
}

static int clients_remove(int argc, char **argv, const struct config *cfg, struct db *db,
                          struct arena *a)
{
	struct cache *c = NULL;
	int ended = 0, rc = 1;

	if (argc != 3)
		return usage();
	if (!oauth_client_id_valid(argv[2])) {
		fprintf(stderr, "clients: no such client\n");
		return 1;
	}
	if ((c = cache_new(cfg->redis_url, cfg->redis_timeout_ms)) == NULL) {
		fprintf(stderr, "clients: out of memory\n");
		goto out;
	}
	rc = db_begin(db) != 0 ? 1 : remove_locked(cfg, db, c, a, argv[2], &ended);
	if (rc == 0 && db_commit(db) != 0)
		rc = 1;
	if (rc != 0) {
		db_rollback(db);
		fprintf(stderr, rc < 0 ? "clients: no such client\n"
		                : "clients: the database failed; nothing removed\n");
		rc = 1;
		goto out;
	}
	printf("removed %s; %d sessions ended\n", argv[2], ended);
out:
	cache_free(c);
	return rc;
}

int cmd_clients(int argc, char **argv, const struct config *cfg)
{
	struct db *db = NULL;
	struct arena *a = arena_new();
	int rc = 2;

	if (argc < 2) {
		rc = usage();
		goto out;
	}
	db = db_new(cfg->database_url, cfg->db_statement_timeout_ms);
	if (a == NULL || db == NULL) {
		fprintf(stderr, "clients: out of memory\n");
		rc = 1;
		goto out;
	}
	if (!db_ready(db)) {
		fprintf(stderr, "clients: cannot connect to the database (DATABASE_URL)\n");
		rc = 1;
		goto out;
	}
	if (strcmp(argv[1], "add") == 0)
		rc = clients_add(argc, argv, db, a);
	else if (strcmp(argv[1], "list") == 0 && argc == 2)
		rc = clients_list(db, a);
	else if (strcmp(argv[1], "remove") == 0)
		rc = clients_remove(argc, argv, cfg, db, a);
	else
		rc = usage();
out:
	arena_free(a);
	db_free(db);
	return rc;
}
