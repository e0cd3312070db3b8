"""The feed's page cache (app/feed_cache.c, docs/posts.md, "Feed page cache").

With SOTTO_FEED_SNAPSHOT_SHARE > 0 every worker keeps rendered feed pages for
that many seconds. What must still hold: a deleted post, an account's posts
after DELETE /me, and a post that moderation holds or removes never appear
in a page served afterwards; a new post shows in sort=new at once; "mine" and
"my_vote" are always the viewer's own, never those of whoever filled the
cache, and a vote shows in the viewer's next page. Scores and reply counts may be up to SHARE seconds old (documented).

The stack has two workers and each check repeats its request, so both
workers' caches are exercised. A check that a post is gone also finds a post
that must still be there, so an empty or broken page cannot pass it."""
import pytest

from content import (assert_page, delete_ok, feed, feed_ids, feed_page, post, vote_ok)
from conftest import Stack, assert_standard_headers, delete_me, register

SHARE = 120    # seconds; what must vanish at once vanishes long before this
REPEAT = 6
NOTIFIED_WITHIN = 30   # seconds: a change made outside the pool reaches every worker


@pytest.fixture(scope="module")
def cst(make_stack):
    return make_stack("feedcache", SOTTO_FEED_SNAPSHOT_SHARE=str(SHARE), SOTTO_WORKERS="2")


def ids_everywhere(st, token=None):
    """Post ids of the first page, ranked and new, asked REPEAT times each."""
    seen = []
    for _ in range(REPEAT):
        for sort in ("ranked", "new"):
            seen.append(feed_ids(st, token, sort=sort, limit=50))
    return seen


def gone_everywhere(st, pid, kept):
    """pid is in no first page (ranked or new, every worker), while kept, a
    post made before it and still there, is in every sort=new page."""
    pages = ids_everywhere(st)
    assert all(kept in ids for ids in pages[1::2]), "the kept post is missing: %r" % pages
    return all(pid not in ids for ids in pages)


def warm(st, token=None):
    ids_everywhere(st, token)


def newest(st, token=None):
    """sort=new first pages, REPEAT times: a new post is in them at once. (The
    ranked first page is a snapshot shared for SHARE seconds, so a new post
    may join it later; a vanished one leaves it at once.)"""
    return [feed_ids(st, token, sort="new", limit=50) for _ in range(REPEAT)]


def test_cached_pages_are_well_formed_and_stable(cst):
    _, token = register(cst)
    p = post(cst, token)
    warm(cst)
    r = feed(cst, None, sort="new", limit=50)
    doc = assert_page(r)
    assert_standard_headers(r)
    assert r.headers["Content-Type"].startswith("application/json")
    assert p["id"] in [x["id"] for x in doc["items"]]
    assert all(x["mine"] is False and x["my_vote"] == 0 for x in doc["items"])
    for _ in range(REPEAT):
        assert feed_page(cst, None, sort="new", limit=50) == doc


def test_a_new_post_shows_at_once_in_sort_new(cst):
    _, token = register(cst)
    warm(cst)
    p = post(cst, token)
    for _ in range(REPEAT):
        assert feed_ids(cst, sort="new", limit=50)[0] == p["id"]


def test_a_deleted_post_vanishes_at_once_from_cached_pages(cst):
    _, token = register(cst)
    kept = post(cst, token)
    p = post(cst, token)
    warm(cst)
    assert all(p["id"] in ids for ids in newest(cst))
    delete_ok(cst, token, p["id"])
    assert gone_everywhere(cst, p["id"], kept["id"])


def test_a_deleted_account_s_posts_vanish_at_once(cst):
    kept = post(cst, register(cst)[1])
    _, token = register(cst)
    p = post(cst, token)
    warm(cst)
    assert all(p["id"] in ids for ids in newest(cst))
    r = delete_me(cst, token)
    assert r.status_code == 204
    assert gone_everywhere(cst, p["id"], kept["id"])


@pytest.mark.parametrize("status", [1, 2])
def test_a_post_hidden_outside_the_pool_vanishes_long_before_the_cache_expires(cst, status):
    """A hold by `sotto moderate` (or an operator) reaches the workers as a
    PostgreSQL notification (sql/010), not through the pool's shared memory."""
    _, token = register(cst)
    kept = post(cst, token)
    p = post(cst, token)
    warm(cst)
    assert all(p["id"] in ids for ids in newest(cst))
    cst.psql("UPDATE posts SET status = %d WHERE id = '%s'" % (status, p["id"]))
    # Far sooner than the caches would expire by themselves (SHARE).
    Stack.wait_for(lambda: gone_everywhere(cst, p["id"], kept["id"]), NOTIFIED_WITHIN,
                   "the hidden post to leave every cached page", interval=0.2)
    cst.psql("UPDATE posts SET status = 0 WHERE id = '%s'" % p["id"])
    Stack.wait_for(lambda: all(p["id"] in ids for ids in newest(cst)), NOTIFIED_WITHIN,
                   "the restored post to come back", interval=0.2)


def test_mine_and_my_vote_belong_to_each_viewer(cst):
    _, author = register(cst)
    _, voter = register(cst)
    _, other = register(cst)
    p = post(cst, author)
    vote_ok(cst, voter, p["id"], 1)
    for who in (None, author, voter, other):      # fill the caches in every order
        warm(cst, who)
    for _ in range(REPEAT):
        def item(token):
            page = feed_page(cst, token, sort="new", limit=50)["items"]
            return next(x for x in page if x["id"] == p["id"])
        assert (item(author)["mine"], item(author)["my_vote"]) == (True, 0)
        assert (item(voter)["mine"], item(voter)["my_vote"]) == (False, 1)
        assert (item(other)["mine"], item(other)["my_vote"]) == (False, 0)
        assert (item(None)["mine"], item(None)["my_vote"]) == (False, 0)


def test_a_vote_shows_in_my_vote_at_once_on_every_worker(cst):
    """A viewer's my_vote values are kept with the cached page until the
    viewer votes: each change (up, down, withdrawn) is in the very next page
    from either worker, whichever worker took the vote."""
    _, author = register(cst)
    _, voter = register(cst)
    p = post(cst, author)

    def my_votes():
        votes = set()
        for _ in range(REPEAT):
            for sort in ("ranked", "new"):
                page = feed_page(cst, voter, sort=sort, limit=50)["items"]
                votes.update(x["my_vote"] for x in page if x["id"] == p["id"])
        return votes

    assert my_votes() == {0}      # now cached on both workers
    for value in (1, -1, 0, 1):
        vote_ok(cst, voter, p["id"], value)
        assert my_votes() == {value}


def walk_ids(st, sort):
    """Every post id of the anonymous feed, walked 3 to a page."""
    seen, cursor = [], None
    while True:
        params = {"sort": sort, "limit": 3}
        if cursor:
            params["cursor"] = cursor
        doc = feed_page(st, None, **params)
        seen += [x["id"] for x in doc["items"]]
        cursor = doc["next_cursor"]
        if not cursor:
            return seen


def test_walking_cached_pages_gives_each_post_once(cst):
    _, token = register(cst)
    mine = {post(cst, token)["id"] for _ in range(7)}
    # A ranked snapshot taken before the posts may be shared for SHARE
    # seconds; wait until a walk of each order holds them, then walk again.
    cst.wait_for(lambda: all(mine <= set(walk_ids(cst, sort)) for sort in ("ranked", "new")),
                 SHARE + 60, "the new posts in both walks")
    for _ in range(2):      # the second walk is served from the caches
        for sort in ("ranked", "new"):
            seen = walk_ids(cst, sort)
            assert len(seen) == len(set(seen)), seen
            assert mine <= set(seen), (sort, sorted(mine - set(seen)))
