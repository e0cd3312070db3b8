/*
 * main.c — `sotto <command>`: one binary, a subcommand per process kind.
 *
 * Every command is a row of `commands` below: its name, whether it needs
 * the configuration, its entry function (cmd_<name>() in
 * app/cmd_<name>.c, cmd.h) and its help. Commands that are a single call
 * (serve, routes, version, help) have their few lines here. main loads
 * the configuration for the commands that need it, runs the command and
 * frees it: the one load/run/free of the program.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "cmd.h"
#include "config.h"
#include "log.h"
#include "pool.h"
#include "router.h"
#include "util.h"

#define SOTTO_VERSION "0.1.0"

enum {
	CMD_CONFIG = 1,    /* load and validate the configuration first (exit on failure) */
	CMD_SECRETS = 2,   /* it unwraps data keys: no core dumps, no ptrace */
};

struct command {
	const char *name;
	const char *args;        /* the arguments' synopsis for the usage, or "" */
	unsigned flags;
	int fail_status;         /* exit status when the configuration does not load */
	const char *component;   /* log lines' component, NULL = "sotto" */
	int (*run)(int argc, char **argv, const struct config *cfg);
	const char *help;        /* one line; "\n" continues it in the same column */
};

static int cmd_serve(int argc, char **argv, const struct config *cfg);
static int cmd_routes(int argc, char **argv, const struct config *cfg);
static int cmd_version(int argc, char **argv, const struct config *cfg);
static int cmd_help(int argc, char **argv, const struct config *cfg);

static const struct command commands[] = {
	{ "serve", "", 0, 1, "master", cmd_serve, "run the FastCGI worker pool" },
	{ "migrate", "", CMD_CONFIG, 1, "migrate", cmd_migrate,
	  "apply pending sql/NNN_*.sql migrations" },
	{ "rotate-keys", "", CMD_CONFIG | CMD_SECRETS, 2, "rotate-keys", cmd_rotate_keys,
	  "rewrap account data keys under the newest CONTENT_KEYS\n"
	  "version (exit 0 all done, 1 some keys left, 2 failed)" },
	{ "cleanup", "", CMD_CONFIG, 1, "cleanup", cmd_cleanup,
	  "delete expired events (SOTTO_EVENT_TTL_DAYS) and bans" },
	{ "moderate", "", CMD_CONFIG | CMD_SECRETS, 1, "moderate", cmd_moderate,
	  "run the automatic classifier (scores new posts and\n"
	  "replies, holds spam for review)" },
	{ "clients", "add|list|remove ...", CMD_CONFIG, 1, "clients", cmd_clients,
	  "register (add --name NAME --redirect-uri URI...), list\n"
	  "and remove (remove CLIENT_ID) OAuth clients" },
	{ "check-config", "[--list [--markdown]]", 0, 1, NULL, cmd_check_config,
	  "validate the configuration and exit; --list prints every\n"
	  "setting (docs/configuration.md is --list --markdown)" },
	{ "bench-data", "<n_posts> [n_accounts [jobs]] | --post-rows <n>",
	  CMD_CONFIG | CMD_SECRETS, 1, "bench-data", cmd_bench_data,
	  "add synthetic accounts, posts, replies and votes to the\n"
	  "database (development stacks only, SOTTO_DEV=1); --post-rows:\n"
	  "one account and n sealed posts of it in bench_post_rows" },
	{ "routes", "", 0, 1, NULL, cmd_routes, "print the route table" },
	{ "version", "", 0, 1, NULL, cmd_version, "print the version" },
	{ "help", "", 0, 1, NULL, cmd_help, "print this list" },
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* The usage: every command with its synopsis and help, aligned. */
static void usage(FILE *f)
{
	fprintf(f, "usage: sotto <command>\n");
	for (size_t i = 0; i < N_COMMANDS; i++) {
		const struct command *c = &commands[i];
		const char *h = c->help;
		int w = fprintf(f, "  %s%s%s", c->name, c->args[0] != '\0' ? " " : "", c->args);

		if (w > 15)
			fprintf(f, "\n%16s", "");
		else
			fprintf(f, "%*s", 16 - w, "");
		for (const char *nl; (nl = strchr(h, '\n')) != NULL; h = nl + 1)
			fprintf(f, "%.*s\n%16s", (int)(nl - h), h, "");
		fprintf(f, "%s\n", h);
	}
}

/* The worker pool loads (and on SIGHUP reloads) its configuration itself. */
static int cmd_serve(int argc, char **argv, const struct config *cfg)
{
	(void)argc;
	(void)argv;
	(void)cfg;
	return pool_run();
}

/* The route table, one "METHOD pattern" per line (docs/openapi.yaml is checked against it). */
static int cmd_routes(int argc, char **argv, const struct config *cfg)
{
	(void)argc;
	(void)argv;
	(void)cfg;
	for (size_t i = 0; i < route_count; i++)
		printf("%s %s\n", http_method_name(route_table[i].method),
		       route_table[i].pattern);
	return 0;
}

static int cmd_version(int argc, char **argv, const struct config *cfg)
{
	(void)argc;
	(void)argv;
	(void)cfg;
	printf("sotto %s\n", SOTTO_VERSION);
	return 0;
}

static int cmd_help(int argc, char **argv, const struct config *cfg)
{
	(void)argc;
	(void)argv;
	(void)cfg;
	usage(stdout);
	return 0;
}

/* The row of name (the usual option spellings of help and version included), or NULL. */
static const struct command *command_find(const char *name)
{
	if (strcmp(name, "--version") == 0)
		name = "version";
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
		name = "help";
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* Run c with argv[0] its name: the configuration loaded first when it needs it. */
static int command_run(const struct command *c, int argc, char **argv)
{
	struct config cfg;
	int rc = c->fail_status;

	memset(&cfg, 0, sizeof(cfg));
	if (c->component != NULL)
		log_set_component(c->component);
	if (c->flags & CMD_SECRETS)
		util_no_core_dumps();
	if (!(c->flags & CMD_CONFIG))
		return c->run(argc, argv, NULL);
	if (config_load_or_report(&cfg) != 0)
		goto out;
	rc = c->run(argc, argv, &cfg);
out:
	config_free(&cfg);
	return rc;
}

int main(int argc, char **argv)
{
	const struct command *c = command_find(argc > 1 ? argv[1] : "");

	if (sodium_init() < 0) {
		fprintf(stderr, "sotto: libsodium failed to initialise\n");
		return 1;
	}
	if (c == NULL) {
		usage(stderr);
		return 2;
	}
	return command_run(c, argc - 1, argv + 1);
}
