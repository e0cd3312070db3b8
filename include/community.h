/*
 * community.h — community lookups that several resources need (a post
 * names its community, the feed filters by one).
 */
#ifndef SOTTO_COMMUNITY_H
#define SOTTO_COMMUNITY_H

struct request;

/*
 * The internal key of the community named slug into *pk (arena text):
 * 1 found, 0 no such community, -1 database failure.
 */
int community_pk(struct request *req, const char *slug, const char **pk)
    __attribute__((warn_unused_result));

#endif
