/*
 * cmd_check_config.c — `sotto check-config`: validate every setting and
 * the files they name, or print the settings table (cmd.h). The table
 * itself is config.c's; this file only lays it out.
 */
#include <stdio.h>
#include <string.h>

#include "classify.h"
#include "cmd.h"
#include "config.h"
#include "guard.h"

static const char markdown_intro[] =
	"# Configuration\n"
	"\n"
	"<!-- Generated from the settings table in app/config.c by `make docs/configuration.md`\n"
	"     (`sotto check-config --list --markdown`); a static test compares the two. -->\n"
	"\n"
	"Settings come from, lowest precedence first: the built-in defaults below, the env\n"
	"file named by `SOTTO_ENV_FILE` (`KEY=VALUE` lines; that variable is read from the\n"
	"environment only), the process environment, and for secret settings the files of\n"
	"systemd's `$CREDENTIALS_DIRECTORY` (one file per variable name, via\n"
	"`LoadCredential=`). A variable set to the empty string counts as not set. Every\n"
	"value is validated at start and by `sotto check-config`; outside the development\n"
	"stack (`SOTTO_DEV=1`) a missing or weak secret stops the server, and an env file\n"
	"holding a secret must not be readable by others. Secret values are never printed\n"
	"or logged.\n"
	"\n"
	"Numbers are plain decimal digits. `sotto check-config --list` prints this table.\n"
	"\n"
	"| variable | type | default | bounds | secret | meaning |\n"
	"|---|---|---|---|---|---|\n";

/* A markdown table cell: '|' escaped; code spans for values unless they are "(...)". */
static void markdown_cell(const char *text, bool code)
{
	fputs(" ", stdout);
	code = code && text[0] != '(' && text[0] != '\0';
	if (code)
		fputs("`", stdout);
	for (const char *c = text; *c != '\0'; c++) {
		if (*c == '|')
			fputs("\\", stdout);
		fputc(*c, stdout);
	}
	fputs(code ? "` |" : " |", stdout);
}

static void list_markdown(void)
{
	struct config_setting_doc d;

	fputs(markdown_intro, stdout);
	for (size_t i = 0; config_setting_doc(i, &d); i++) {
		fputs("|", stdout);
		markdown_cell(d.name, true);
		markdown_cell(d.type, false);
		markdown_cell(d.def, true);
		markdown_cell(d.bounds, false);
		markdown_cell(d.secret ? "yes" : "no", false);
		markdown_cell(d.meaning, false);
		fputs("\n", stdout);
	}
}

static int widest(int w, const char *text)
{
	return (int)strlen(text) > w ? (int)strlen(text) : w;
}

/* One line per setting, every column but the meaning aligned. */
static void list_plain(void)
{
	struct config_setting_doc d;
	int wn = 4, wt = 4, wd = 7, wb = 6;

	for (size_t i = 0; config_setting_doc(i, &d); i++) {
		wn = widest(wn, d.name);
		wt = widest(wt, d.type);
		wd = widest(wd, d.def);
		wb = widest(wb, d.bounds);
	}
	printf("%-*s  %-*s  %-*s  %-*s  %-6s  %s\n", wn, "NAME", wt, "TYPE", wd, "DEFAULT",
	       wb, "BOUNDS", "SECRET", "MEANING");
	for (size_t i = 0; config_setting_doc(i, &d); i++)
		printf("%-*s  %-*s  %-*s  %-*s  %-6s  %s\n", wn, d.name, wt, d.type, wd, d.def,
		       wb, d.bounds, d.secret ? "yes" : "no", d.meaning);
}

/* The classifier's rules file parses (SOTTO_MODERATION_RULES). 0, or -1 with the reason printed. */
static int check_moderation_rules(const struct config *cfg)
{
	char err[256];
	struct classify_rules *r = classify_rules_load(cfg->moderation_rules, err, sizeof(err));

	if (r == NULL) {
		fprintf(stderr, "sotto: configuration error: SOTTO_MODERATION_RULES: %s\n", err);
		return -1;
	}
	classify_rules_free(r);
	return 0;
}

static int check(void)
{
	struct config cfg;
	int rc = 1;

	if (config_load_or_report(&cfg) != 0)
		goto out;
	/* Workers load the blocklist at start and refuse to run without it. */
	if (guard_load_blocklist(&cfg) != 0) {
		fprintf(stderr, "sotto: configuration error: SOTTO_GUARD_BLOCKLIST: the blocklist "
		        "file cannot be loaded (the line above says why)\n");
		goto out;
	}
	/* `sotto moderate` refuses to start with a broken rules file: say so here first. */
	if (check_moderation_rules(&cfg) != 0)
		goto out;
	printf("configuration ok: %d workers, socket %s, %zu content key(s), "
	       "%zu blocklist term(s)%s\n",
	       cfg.workers, cfg.listen_path, cfg.n_content_keys, guard_blocklist_terms(NULL),
	       cfg.dev ? ", development mode" : "");
	rc = 0;
out:
	config_free(&cfg);
	return rc;
}

int cmd_check_config(int argc, char **argv, const struct config *cfg)
{
	(void)cfg;   /* loaded here: --list needs none */
	if (argc == 1)
		return check();
	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		list_plain();
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "--list") == 0 && strcmp(argv[2], "--markdown") == 0) {
		list_markdown();
		return 0;
	}
	fprintf(stderr, "usage: sotto check-config [--list [--markdown]]\n");
	return 2;
}
