/*
 * community.h — community lookups that several resources need (a post
 * names its community, the feed filters by one).
 */
#ifndef SOTTO_COMMUNITY_H
#define SOTTO_COMMUNITY_H

#include <stdbool.h>
#include <stddef.h>

struct request;

#define COMMUNITY_SLUG_MIN 3
#define COMMUNITY_SLUG_MAX 32

/* True when s[0..len) is a slug: COMMUNITY_SLUG_MIN..MAX of a-z, 0-9 and '-'. */
bool community_slug_valid(const char *s, size_t len);

/*
 * The internal key of the community named slug into *pk (arena text):
 * 1 found, 0 no such community, -1 database failure.
 */
int community_pk(struct request *req, const char *slug, const char **pk)
    __attribute__((warn_unused_result));

/*
 * Whether the caller moderates the community named slug: 1 with its
 * internal key in *pk (arena text), 0 when it does not (or there is no
 * such community: both are 404 to the caller), -1 database failure or
 * out of memory.
 */
int community_moderated_by_caller(struct request *req, const char *slug, const char **pk)
    __attribute__((warn_unused_result));

/*
 * community_pk() and community_moderated_by_caller() for a route: 0 with
 * *pk, or the status set (404 "no such community" for none or not a
 * moderator of it, or the database's failure).
 */
int community_pk_or_reply(struct request *req, const char *slug, const char **pk)
    __attribute__((warn_unused_result));
int community_moderated_or_reply(struct request *req, const char *slug, const char **pk)
    __attribute__((warn_unused_result));

#endif
