/*
 * cmd.h — the subcommands. `sotto <name>` runs cmd_<name>() of
 * app/cmd_<name>.c ('-' in a name becomes '_'); main.c's table lists
 * them with their help line. A command marked there as needing the
 * configuration gets it loaded and validated (cfg), else cfg is NULL.
 * argv[0] is the command's name, argv[1..argc) its arguments. Each
 * returns the process exit status.
 */
#ifndef SOTTO_CMD_H
#define SOTTO_CMD_H

struct config;

/*
 * `sotto check-config [--list [--markdown]]`: validate the configuration,
 * the blocklist and the rules file (exit 0 ok, 1 not), or print the
 * settings table: name, type, default, bounds, secret, meaning (exit 0;
 * 2 on a bad option). --markdown is docs/configuration.md.
 */
int cmd_check_config(int argc, char **argv, const struct config *cfg);

/* `sotto migrate`: apply pending sql/NNN_*.sql migrations. Exit 0 done, 1 failed. */
int cmd_migrate(int argc, char **argv, const struct config *cfg);

/*
 * `sotto rotate-keys`: rewrap account data keys under the newest
 * CONTENT_KEYS version. Exit 0 all done, 1 some keys left, 2 failed.
 */
int cmd_rotate_keys(int argc, char **argv, const struct config *cfg);

/* `sotto cleanup`: delete expired events and bans. Exit 0 done, 1 failed. */
int cmd_cleanup(int argc, char **argv, const struct config *cfg);

/*
 * `sotto moderate`: the automatic classifier, until SIGTERM. Exit 0 after
 * a signal, 1 when it cannot start.
 */
int cmd_moderate(int argc, char **argv, const struct config *cfg);

/*
 * `sotto bench-data <n_posts> [n_accounts [jobs]]`: synthetic content in
 * a development database. Exit 0 done, 1 failed, 2 usage.
 */
int cmd_bench_data(int argc, char **argv, const struct config *cfg);

/*
 * `sotto clients add|list|remove`: the registered OAuth clients
 * (app/cmd_clients.c). Exit 0 done, 1 failed, 2 usage.
 */
int cmd_clients(int argc, char **argv, const struct config *cfg);

#endif
