/*
 * main.c — `sotto <command>`: one binary, a subcommand per process kind.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "benchdata.h"
#include "cmd.h"
#include "cleanup.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "guard.h"
#include "log.h"
#include "moderate.h"
#include "pool.h"
#include "router.h"
#include "util.h"

#define SOTTO_VERSION "0.1.0"
#define ROTATE_BATCH 500   /* rows per rotate-keys transaction */

static int cmd_version(void)
{
	printf("sotto %s\n", SOTTO_VERSION);
	return 0;
}

/* Load and validate the configuration, or print why not. */
static int load_config_or_report(struct config *cfg)
{
	return config_load_or_report(cfg);
}

static int cmd_migrate(void)
{
	struct config cfg;
	int rc = 1;

	memset(&cfg, 0, sizeof(cfg));
	if (load_config_or_report(&cfg) != 0)
		goto out;
	rc = db_migrate(cfg.database_url, cfg.migrations_dir) == 0 ? 0 : 1;
out:
	config_free(&cfg);
	return rc;
}

/* Exit 0: every data key under the newest master key; 1: some are not; 2: could not run. */
static int cmd_rotate_keys(void)
{
	struct config cfg;
	int rc = 2;

	memset(&cfg, 0, sizeof(cfg));
	util_no_core_dumps();
	if (load_config_or_report(&cfg) != 0)
		goto out;
	rc = crypto_rotate_keys(&cfg, ROTATE_BATCH);
	if (rc != 0 && rc != 1)
		rc = 2;
out:
	config_free(&cfg);
	return rc;
}

/* `sotto cleanup`: expired events and bans (cleanup.h). Exit 0 done, 1 failed. */
static int cmd_cleanup(void)
{
	struct config cfg;
	int rc = 1;

	memset(&cfg, 0, sizeof(cfg));
	if (load_config_or_report(&cfg) != 0)
		goto out;
	rc = cleanup_run(&cfg, util_today()) == 0 ? 0 : 1;
out:
	config_free(&cfg);
	return rc;
}

/* `sotto bench-data <n_posts> [n_accounts [jobs]]`. Exit 0 done, 1 failed, 2 usage. */
static int cmd_bench_data(int argc, char **argv)
{
	struct config cfg;
	int64_t n_posts, n_accounts = BENCHDATA_DEFAULT_ACCOUNTS, jobs = 0;
	int rc = 1;

	if (argc < 3 || argc > 5 ||
	    util_parse_int64(argv[2], 1, BENCHDATA_MAX_POSTS, &n_posts) != 0 ||
	    (argc >= 4 &&
	     util_parse_int64(argv[3], 1, BENCHDATA_MAX_ACCOUNTS, &n_accounts) != 0) ||
	    (argc == 5 && util_parse_int64(argv[4], 1, BENCHDATA_MAX_JOBS, &jobs) != 0)) {
		fprintf(stderr, "usage: sotto bench-data <n_posts 1..%ld> [n_accounts 1..%ld "
		        "(default %d) [jobs 1..%d (default: one per core)]]\n", BENCHDATA_MAX_POSTS,
		        BENCHDATA_MAX_ACCOUNTS, BENCHDATA_DEFAULT_ACCOUNTS, BENCHDATA_MAX_JOBS);
		return 2;
	}
	memset(&cfg, 0, sizeof(cfg));
	util_no_core_dumps();   /* it holds every generated account's data key */
	if (load_config_or_report(&cfg) != 0)
		goto out;
	rc = benchdata_run(&cfg, (long)n_posts, (long)n_accounts, (int)jobs) == 0 ? 0 : 1;
out:
	config_free(&cfg);
	return rc;
}

/* The route table, one "METHOD pattern" per line (docs/openapi.yaml is checked against it). */
static int cmd_routes(void)
{
	for (size_t i = 0; i < route_count; i++)
		printf("%s %s\n", http_method_name(route_table[i].method),
		       route_table[i].pattern);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: sotto <command>\n"
	        "  serve         run the FastCGI worker pool\n"
	        "  migrate       apply pending sql/NNN_*.sql migrations\n"
	        "  rotate-keys   rewrap account data keys under the newest CONTENT_KEYS\n"
	        "                version (exit 0 all done, 1 some keys left, 2 failed)\n"
	        "  cleanup       delete expired events (SOTTO_EVENT_TTL_DAYS) and bans\n"
	        "  moderate      run the automatic classifier (scores new posts and\n"
	        "                replies, holds spam for review)\n"
	        "  check-config  validate the configuration and exit\n"
	        "  bench-data <n_posts> [n_accounts [jobs]]\n"
	        "                add synthetic accounts, posts, replies and votes to the\n"
	        "                database (development stacks only, SOTTO_DEV=1)\n"
	        "  routes        print the route table\n"
	        "  version       print the version\n");
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	if (sodium_init() < 0) {
		fprintf(stderr, "sotto: libsodium failed to initialise\n");
		return 1;
	}
	if (strcmp(cmd, "serve") == 0) {
		log_set_component("master");
		return pool_run();
	}
	if (strcmp(cmd, "migrate") == 0) {
		log_set_component("migrate");
		return cmd_migrate();
	}
	if (strcmp(cmd, "rotate-keys") == 0) {
		log_set_component("rotate-keys");
		return cmd_rotate_keys();
	}
	if (strcmp(cmd, "bench-data") == 0) {
		log_set_component("bench-data");
		return cmd_bench_data(argc, argv);
	}
	if (strcmp(cmd, "cleanup") == 0) {
		log_set_component("cleanup");
		return cmd_cleanup();
	}
	if (strcmp(cmd, "moderate") == 0) {
		log_set_component("moderate");
		return moderate_run();
	}
	if (strcmp(cmd, "check-config") == 0)
		return cmd_check_config(argc - 1, argv + 1, NULL);
	if (strcmp(cmd, "routes") == 0)
		return cmd_routes();
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
		return cmd_version();
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
