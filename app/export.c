/*
 * export.c — the sections of GET /me/export, one hook per module that
 * stores data about accounts (see export.h). A module adds its line here.
 */
#include "export.h"

const struct export_hook export_hooks[] = {
	{ "account", export_account },
	{ "posts", export_posts },
	{ "votes", export_votes },
	{ "communities", export_communities },
};

const size_t export_hook_count = sizeof(export_hooks) / sizeof(export_hooks[0]);
