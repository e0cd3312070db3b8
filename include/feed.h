/*
 * feed.h — what other modules need from the feed.
 */
#ifndef SOTTO_FEED_H
#define SOTTO_FEED_H

struct request;

/*
 * The PostgreSQL channel every worker LISTENs on: sql/010 and sql/011
 * notify it whenever posts are deleted or change status, whoever does it
 * (`sotto moderate`, another host), and a worker drops its cached feed
 * pages when a notification arrives.
 */
#define FEED_CHANNEL "sotto_content"

/*
 * After committing a change that hides, removes or restores a post (a
 * status change or a deletion), call this so that every worker stops
 * serving cached feed pages that still show it. Never fails.
 */
void feed_content_changed(struct request *req);

/*
 * After committing a change to the requesting account's votes, call this
 * so that no worker serves that viewer's my_vote values from before it.
 * Never fails.
 */
void feed_votes_changed(struct request *req);

#endif
