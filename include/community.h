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

#endif
