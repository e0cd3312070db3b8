/*
 * routes.c — the route table: every URL sotto answers, in one place.
 *
 * docs/openapi.yaml describes the same routes; tests/static checks that
 * the two agree. Flags drive the shared checks in dispatch.c.
 */
#include "handlers.h"
#include "router.h"
#include "shm.h"

#define R(m, p, h, f, rate, pow) { HTTP_##m, p, h, f, rate, pow }

const struct route route_table[] = {
	R(GET, "/health",  handle_health,  ROUTE_NO_BAN, RATE_NONE, POW_NONE),
	R(GET, "/config",  handle_config,  0,            RATE_NONE, POW_NONE),
	R(GET, "/metrics", handle_metrics, 0,            RATE_NONE, POW_NONE),
	R(POST, "/pow/challenge", handle_pow_challenge, ROUTE_JSON | ROUTE_WRITE,
	  RATE_CHALLENGE, POW_NONE),

	R(POST, "/auth/register", handle_auth_register, ROUTE_DB | ROUTE_JSON | ROUTE_WRITE,
	  RATE_REGISTER, POW_REGISTER),
	R(POST, "/auth/challenge", handle_auth_challenge, ROUTE_JSON | ROUTE_WRITE,
	  RATE_NONE, POW_NONE),
	R(POST, "/auth/login", handle_auth_login, ROUTE_DB | ROUTE_JSON | ROUTE_WRITE,
	  RATE_LOGIN, POW_LOGIN),
	R(POST, "/auth/refresh", handle_auth_refresh, ROUTE_DB | ROUTE_JSON | ROUTE_WRITE,
	  RATE_REFRESH, POW_NONE),
	R(POST, "/auth/logout", handle_auth_logout,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_ANY_SCOPE | ROUTE_WRITE, RATE_NONE, POW_NONE),

	/* Third-party clients (app/handlers_oauth.c); GET /oauth/authorize is nginx's page */
	R(GET, "/.well-known/oauth-authorization-server", handle_oauth_metadata, 0,
	  RATE_NONE, POW_NONE),
	R(GET, "/oauth/clients/{id}", handle_oauth_client, ROUTE_DB, RATE_NONE, POW_NONE),
	R(POST, "/oauth/authorize", handle_oauth_authorize,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_FIRST_PARTY | ROUTE_JSON | ROUTE_WRITE, RATE_NONE,
	  POW_NONE),
	R(POST, "/oauth/token", handle_oauth_token, ROUTE_DB | ROUTE_FORM | ROUTE_WRITE,
	  RATE_REFRESH, POW_NONE),

	R(GET, "/me", handle_me_get,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_READ, RATE_NONE, POW_NONE),
	/* Both ask for the credentials again: a password check costs what a login's does. */
	R(POST, "/me/password", handle_me_password,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_FIRST_PARTY | ROUTE_JSON | ROUTE_WRITE, RATE_LOGIN,
	  POW_NONE),
	R(GET, "/me/export", handle_me_export,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_ACCOUNT, RATE_EXPORT, POW_NONE),
	R(DELETE, "/me", handle_me_delete,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_FIRST_PARTY | ROUTE_JSON_OPT | ROUTE_WRITE, RATE_LOGIN,
	  POW_NONE),
	R(GET, "/me/sessions", handle_me_sessions,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_ACCOUNT, RATE_NONE, POW_NONE),
	R(DELETE, "/me/sessions/{id}", handle_me_session_delete,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_ACCOUNT | ROUTE_WRITE, RATE_NONE, POW_NONE),

	R(POST, "/posts", handle_post_create,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_WRITE | ROUTE_JSON | ROUTE_WRITE, RATE_POST,
	  POW_POST),
	R(GET, "/posts/{id}", handle_post_get,
	  ROUTE_DB | ROUTE_AUTH_OPT | ROUTE_SCOPE_READ | ROUTE_STANDBY, RATE_NONE, POW_NONE),
	R(DELETE, "/posts/{id}", handle_post_delete,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_WRITE | ROUTE_WRITE, RATE_NONE, POW_NONE),
	R(POST, "/posts/{id}/reply", handle_post_reply,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_WRITE | ROUTE_JSON | ROUTE_WRITE, RATE_POST,
	  POW_REPLY),
	R(POST, "/posts/{id}/vote", handle_post_vote,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_WRITE | ROUTE_JSON | ROUTE_WRITE, RATE_VOTE,
	  POW_VOTE),
	R(GET, "/feed", handle_feed,
	  ROUTE_DB | ROUTE_AUTH_OPT | ROUTE_SCOPE_READ | ROUTE_STANDBY, RATE_NONE, POW_NONE),

	R(GET, "/communities", handle_community_list, ROUTE_DB | ROUTE_STANDBY,
	  RATE_NONE, POW_NONE),
	R(POST, "/communities", handle_community_create,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_WRITE | ROUTE_JSON | ROUTE_WRITE, RATE_COMMUNITY,
	  POW_COMMUNITY),
	R(GET, "/communities/{slug}", handle_community_get, ROUTE_DB | ROUTE_STANDBY,
	  RATE_NONE, POW_NONE),
	R(POST, "/communities/{slug}/mute", handle_community_mute,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_WRITE | ROUTE_WRITE, RATE_NONE, POW_NONE),
	R(DELETE, "/communities/{slug}/mute", handle_community_unmute,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_WRITE | ROUTE_WRITE, RATE_NONE, POW_NONE),

	/* A community's moderators (app/handlers_community_mods.c): moderating is
	 * the person's own act, never a client's (first-party tokens only). */
	R(POST, "/communities/{slug}/moderators/invites", handle_mod_invite,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_FIRST_PARTY | ROUTE_WRITE, RATE_MOD_INVITE, POW_NONE),
	R(POST, "/communities/{slug}/moderators/join", handle_mod_join,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_FIRST_PARTY | ROUTE_JSON | ROUTE_WRITE, RATE_MOD_JOIN, POW_NONE),
	R(GET, "/communities/{slug}/moderators", handle_mod_list, ROUTE_DB | ROUTE_STANDBY,
	  RATE_NONE, POW_NONE),
	R(DELETE, "/communities/{slug}/moderators/me", handle_mod_leave,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_FIRST_PARTY | ROUTE_WRITE, RATE_NONE, POW_NONE),
	R(PUT, "/communities/{slug}/rules", handle_community_rules,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_FIRST_PARTY | ROUTE_JSON | ROUTE_WRITE, RATE_MOD_DECISION, POW_NONE),
	/* its queue and public log (app/handlers_moderation.c) */
	R(GET, "/communities/{slug}/queue", handle_community_queue_list,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_FIRST_PARTY, RATE_NONE, POW_NONE),
	R(POST, "/communities/{slug}/queue/{item_id}/decision", handle_community_queue_decide,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_FIRST_PARTY | ROUTE_JSON | ROUTE_WRITE, RATE_MOD_DECISION, POW_NONE),
	R(GET, "/communities/{slug}/log", handle_community_log, ROUTE_DB | ROUTE_STANDBY,
	  RATE_NONE, POW_NONE),
	/* and the appeals of its removals (app/handlers_appeals.c) */
	R(GET, "/communities/{slug}/appeals", handle_community_appeal_list,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_FIRST_PARTY, RATE_NONE, POW_NONE),
	R(POST, "/communities/{slug}/appeals/{id}/decision", handle_community_appeal_decide,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_FIRST_PARTY | ROUTE_JSON | ROUTE_WRITE, RATE_MOD_DECISION, POW_NONE),

	/* Blocks (app/handlers_blocks.c) */
	R(POST, "/blocks", handle_block_create,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_WRITE | ROUTE_JSON | ROUTE_WRITE,
	  RATE_BLOCK, POW_NONE),
	R(GET, "/blocks", handle_block_list, ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_READ, RATE_NONE, POW_NONE),
	R(DELETE, "/blocks/{block_id}", handle_block_delete,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_WRITE | ROUTE_WRITE,
	  RATE_NONE, POW_NONE),

	/* Moderation (app/handlers_moderation.c) */
	R(POST, "/moderation/flag", handle_flag_create,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_WRITE | ROUTE_JSON | ROUTE_WRITE, RATE_FLAG,
	  POW_FLAG),
	R(GET, "/moderation/queue", handle_queue_list, ROUTE_DB | ROUTE_ADMIN_REVIEW,
	  RATE_NONE, POW_NONE),
	R(POST, "/moderation/queue/{id}/decision", handle_queue_decide,
	  ROUTE_DB | ROUTE_ADMIN_REVIEW | ROUTE_JSON | ROUTE_WRITE, RATE_NONE, POW_NONE),
	R(GET, "/moderation/log", handle_modlog_list, ROUTE_DB | ROUTE_STANDBY, RATE_NONE,
	  POW_NONE),

	/* Appeals of removals (app/handlers_appeals.c) */
	R(POST, "/moderation/appeals", handle_appeal_file,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_WRITE | ROUTE_JSON | ROUTE_WRITE, RATE_APPEAL,
	  POW_NONE),
	R(GET, "/moderation/appeals", handle_appeal_list, ROUTE_DB | ROUTE_ADMIN_REVIEW,
	  RATE_NONE, POW_NONE),
	R(POST, "/moderation/appeals/{id}/decision", handle_appeal_decide,
	  ROUTE_DB | ROUTE_ADMIN_REVIEW | ROUTE_JSON | ROUTE_WRITE, RATE_NONE, POW_NONE),

	/* IP-prefix bans (app/handlers_bans.c) and the admin overview (app/handlers_admin.c) */
	R(POST, "/moderation/ban/ip", handle_ban_create,
	  ROUTE_DB | ROUTE_ADMIN_REVIEW | ROUTE_WRITE, RATE_NONE, POW_NONE),
	R(GET, "/moderation/bans", handle_ban_list, ROUTE_DB | ROUTE_ADMIN_REVIEW,
	  RATE_NONE, POW_NONE),
	R(DELETE, "/moderation/bans/{id}", handle_ban_delete,
	  ROUTE_DB | ROUTE_ADMIN_REVIEW | ROUTE_WRITE, RATE_NONE, POW_NONE),
	R(GET, "/admin/overview", handle_admin_overview, ROUTE_DB | ROUTE_ADMIN_UI,
	  RATE_NONE, POW_NONE),

	/* Direct messages (app/handlers_dm.c) and events (app/handlers_events.c) */
	R(POST, "/dm/start_from_post", handle_dm_start,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_DM | ROUTE_JSON | ROUTE_WRITE, RATE_DM, POW_DM),
	R(GET, "/dm/list", handle_dm_list,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_DM, RATE_NONE, POW_NONE),
	/* a write: reading a page moves the caller's read position */
	R(GET, "/dm/{id}/messages", handle_dm_messages,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_DM | ROUTE_WRITE, RATE_NONE, POW_NONE),
	R(POST, "/dm/{id}/send", handle_dm_send,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_DM | ROUTE_JSON | ROUTE_WRITE, RATE_DM, POW_DM),

	/* Groups (app/handlers_groups.c, app/handlers_group_messages.c) */
	R(POST, "/groups", handle_group_create,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_DM | ROUTE_JSON | ROUTE_WRITE, RATE_GROUP,
	  POW_GROUP),
	R(GET, "/groups", handle_group_list,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_DM, RATE_NONE, POW_NONE),
	R(POST, "/groups/join", handle_group_join,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_DM | ROUTE_JSON | ROUTE_WRITE, RATE_GROUP,
	  POW_GROUP),
	R(GET, "/groups/{id}", handle_group_get,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_DM, RATE_NONE, POW_NONE),
	R(POST, "/groups/{id}/invites", handle_group_invite,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_DM | ROUTE_JSON | ROUTE_WRITE, RATE_NONE,
	  POW_NONE),
	R(GET, "/groups/{id}/invites", handle_group_invite_list,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_DM, RATE_NONE, POW_NONE),
	R(DELETE, "/groups/{id}/invites/{invite_id}", handle_group_invite_revoke,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_DM | ROUTE_WRITE, RATE_NONE, POW_NONE),
	R(POST, "/groups/{id}/keys", handle_group_keys_post,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_DM | ROUTE_JSON | ROUTE_WRITE, RATE_NONE,
	  POW_NONE),
	R(GET, "/groups/{id}/keys", handle_group_keys_get,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_DM, RATE_NONE, POW_NONE),
	R(POST, "/groups/{id}/send", handle_group_send,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_DM | ROUTE_JSON | ROUTE_WRITE, RATE_DM, POW_NONE),
	R(GET, "/groups/{id}/messages", handle_group_messages,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_DM, RATE_NONE, POW_NONE),
	R(DELETE, "/groups/{id}/members/{member_id}", handle_group_member_delete,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_DM | ROUTE_WRITE, RATE_NONE, POW_NONE),

	R(PUT, "/dm/{id}/key", handle_dm_key,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_DM | ROUTE_JSON | ROUTE_WRITE, RATE_NONE,
	  POW_NONE),
	R(GET, "/events", handle_events_list,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_DM, RATE_NONE, POW_NONE),
	R(POST, "/events/ack", handle_events_ack,
	  ROUTE_DB | ROUTE_AUTH | ROUTE_SCOPE_DM | ROUTE_JSON | ROUTE_WRITE, RATE_NONE,
	  POW_NONE),
	R(POST, "/events/ticket", handle_events_ticket,
	  ROUTE_AUTH | ROUTE_SCOPE_DM | ROUTE_WRITE, RATE_NONE, POW_NONE),
	R(GET, "/events/stream", handle_events_stream, 0, RATE_NONE, POW_NONE),
};

const size_t route_count = sizeof(route_table) / sizeof(route_table[0]);

_Static_assert(sizeof(route_table) / sizeof(route_table[0]) <= SHM_MAX_ROUTES,
               "raise SHM_MAX_ROUTES");
