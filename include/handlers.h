/*
 * handlers.h — every route handler, grouped by the file that holds it.
 * A handler returns an HTTP status after setting req->reply (see http.h).
 */
#ifndef SOTTO_HANDLERS_H
#define SOTTO_HANDLERS_H

#include "http.h"

/* app/handlers_system.c */
int handle_health(struct request *req);
int handle_config(struct request *req);
int handle_metrics(struct request *req);

/* app/handlers_pow.c */
int handle_pow_challenge(struct request *req);

/* app/handlers_auth.c */
int handle_auth_register(struct request *req);
int handle_auth_challenge(struct request *req);
int handle_auth_login(struct request *req);
int handle_auth_refresh(struct request *req);
int handle_auth_logout(struct request *req);

/* app/handlers_me.c */
int handle_me_get(struct request *req);
int handle_me_password(struct request *req);
int handle_me_export(struct request *req);
int handle_me_delete(struct request *req);
int handle_me_sessions(struct request *req);
int handle_me_session_delete(struct request *req);

/* app/handlers_posts.c */
int handle_post_create(struct request *req);
int handle_post_get(struct request *req);
int handle_post_reply(struct request *req);
int handle_post_delete(struct request *req);
int handle_post_vote(struct request *req);

/* app/handlers_feed.c */
int handle_feed(struct request *req);

/* app/handlers_communities.c */
int handle_community_list(struct request *req);
int handle_community_create(struct request *req);
int handle_community_get(struct request *req);
int handle_community_mute(struct request *req);
int handle_community_unmute(struct request *req);
int handle_community_rules(struct request *req);

/* app/handlers_community_mods.c */
int handle_mod_invite(struct request *req);
int handle_mod_join(struct request *req);
int handle_mod_list(struct request *req);
int handle_mod_leave(struct request *req);

/* app/handlers_blocks.c */
int handle_block_create(struct request *req);
int handle_block_list(struct request *req);
int handle_block_delete(struct request *req);

/* app/handlers_moderation.c */
int handle_flag_create(struct request *req);
int handle_queue_list(struct request *req);
int handle_queue_decide(struct request *req);
int handle_modlog_list(struct request *req);
int handle_community_queue_list(struct request *req);
int handle_community_queue_decide(struct request *req);
int handle_community_log(struct request *req);

/* app/handlers_appeals.c */
int handle_appeal_file(struct request *req);
int handle_appeal_list(struct request *req);
int handle_appeal_decide(struct request *req);
int handle_community_appeal_list(struct request *req);
int handle_community_appeal_decide(struct request *req);

/* app/handlers_bans.c */
int handle_ban_create(struct request *req);
int handle_ban_list(struct request *req);
int handle_ban_delete(struct request *req);

/* app/handlers_admin.c */
int handle_admin_overview(struct request *req);

/* app/handlers_dm.c */
int handle_dm_start(struct request *req);
int handle_dm_list(struct request *req);
int handle_dm_messages(struct request *req);
int handle_dm_send(struct request *req);
int handle_dm_key(struct request *req);

/* app/handlers_groups.c */
int handle_group_create(struct request *req);
int handle_group_list(struct request *req);
int handle_group_get(struct request *req);
int handle_group_invite(struct request *req);
int handle_group_invite_list(struct request *req);
int handle_group_invite_revoke(struct request *req);
int handle_group_join(struct request *req);
int handle_group_member_delete(struct request *req);

/* app/handlers_group_messages.c */
int handle_group_keys_post(struct request *req);
int handle_group_keys_get(struct request *req);
int handle_group_send(struct request *req);
int handle_group_messages(struct request *req);

/* app/handlers_events.c */
int handle_events_list(struct request *req);
int handle_events_ack(struct request *req);
int handle_events_ticket(struct request *req);
int handle_events_stream(struct request *req);

/* app/handlers_oauth.c */
int handle_oauth_metadata(struct request *req);
int handle_oauth_client(struct request *req);
int handle_oauth_authorize(struct request *req);
int handle_oauth_token(struct request *req);

#endif
