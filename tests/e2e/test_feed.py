"""The feed (docs/posts.md, and docs/api.md on
pagination): GET /feed?sort=ranked|new&community=&cursor=&limit=.

Top-level visible posts only; `new` is newest first; `ranked` (the default)
orders by the kindness rank of sql/003_posts.sql,
    s * (0.5 + trust) + 2 * trust + day,  s = sign(score) * log2(1 + |score|),
ties newest first. Walking every page returns each item once while posts
arrive and votes move ranks: for `new`, every post that existed when the walk
began; for `ranked` (DECIDED), a snapshot taken at the first page.

Ordering and walks run on a stack of their own (fst), where no other test
file's posts interfere; the contract checks run on the main stack."""
import math

import pytest

from content import (assert_no_duplicates, assert_page, assert_post, community, delete_ok,
                     feed, feed_ids, feed_page, get_post_ok, new_slug, post, reply,
                     set_trust, age_post, uniq, vote_ok, walk)
from conftest import assert_error, assert_standard_headers, describe, register


@pytest.fixture(scope="module")
def fst(make_stack):
    return make_stack("feed")


@pytest.fixture(scope="module")
def voters(fst):
    """Eight accounts on fst that only vote."""
    return [register(fst)[1] for _ in range(8)]


def author(st):
    return register(st)


# -- the contract, on the main stack ------------------------------------------------
def test_feed_is_a_page_of_posts_with_and_without_a_token(stack):
    account, token = register(stack)
    c = community(stack, token)
    p = post(stack, token, community=c["slug"])
    r = feed(stack, None, community=c["slug"])
    doc = assert_page(r)
    assert_standard_headers(r)
    assert [x["id"] for x in doc["items"]] == [p["id"]] and doc["next_cursor"] is None
    assert_post(doc["items"][0], body=p["body"], mine=False, my_vote=0, parent_id=None,
                community=c["slug"])
    mine = feed_page(stack, token, community=c["slug"])["items"][0]
    assert mine["mine"] is True and mine == dict(doc["items"][0], mine=True)


def test_feed_without_community_includes_posts_with_and_without_one(stack):
    _, token = register(stack)
    c = community(stack, token)
    a = post(stack, token, community=c["slug"])
    b = post(stack, token)
    ids = feed_ids(stack, sort="new", limit=50)
    assert a["id"] in ids and b["id"] in ids


def test_feed_new_is_newest_first(stack):
    _, token = register(stack)
    c = community(stack, token)
    made = [post(stack, token, community=c["slug"])["id"] for _ in range(5)]
    assert feed_ids(stack, sort="new", community=c["slug"]) == made[::-1]


def test_feed_community_filter_shows_only_that_community(stack):
    _, token = register(stack)
    c1, c2 = community(stack, token), community(stack, token)
    a = post(stack, token, community=c1["slug"])
    b = post(stack, token, community=c2["slug"])
    post(stack, token)
    assert feed_ids(stack, sort="new", community=c1["slug"]) == [a["id"]]
    assert feed_ids(stack, sort="ranked", community=c2["slug"]) == [b["id"]]


def test_feed_holds_top_level_posts_only(stack):
    _, token = register(stack)
    c = community(stack, token)
    p = post(stack, token, community=c["slug"])
    rp = reply(stack, token, p["id"])
    for sort in ("new", "ranked"):
        items = feed_page(stack, sort=sort, community=c["slug"])["items"]
        assert [x["id"] for x in items] == [p["id"]], (sort, items)
        assert items[0]["reply_count"] == 1
        assert rp["id"] not in feed_ids(stack, sort=sort, limit=100)


def test_feed_default_sort_is_ranked(stack):
    _, token = register(stack)
    c = community(stack, token)
    first = post(stack, token, community=c["slug"])
    post(stack, token, community=c["slug"])
    vote_ok(stack, register(stack)[1], first["id"], 1)
    ranked = feed_ids(stack, sort="ranked", community=c["slug"])
    assert ranked[0] == first["id"]
    assert feed_ids(stack, community=c["slug"]) == ranked


def test_feed_default_limit_is_20_and_limit_bounds(stack):
    _, token = register(stack)
    c = community(stack, token)
    made = [post(stack, token, community=c["slug"])["id"] for _ in range(21)]
    doc = feed_page(stack, sort="new", community=c["slug"])
    assert [x["id"] for x in doc["items"]] == made[::-1][:20] and doc["next_cursor"]
    assert len(feed_page(stack, sort="new", community=c["slug"], limit=1)["items"]) == 1
    doc = feed_page(stack, sort="new", community=c["slug"], limit=100)
    assert len(doc["items"]) == 21 and doc["next_cursor"] is None


def test_feed_items_show_score_reply_count_and_my_vote(stack):
    _, token = register(stack)
    _, voter = register(stack)
    c = community(stack, token)
    p = post(stack, token, community=c["slug"])
    reply(stack, voter, p["id"])
    vote_ok(stack, voter, p["id"], -1)
    item = feed_page(stack, voter, community=c["slug"])["items"][0]
    assert (item["score"], item["reply_count"], item["my_vote"], item["mine"]) == (-1, 1, -1,
                                                                                   False)


@pytest.mark.parametrize("sort", ["top", "newest", "NEW", "", "ranked,new"])
def test_feed_bad_sort_is_422_invalid_field(stack, sort):
    err = assert_error(feed(stack, sort=sort), 422, "invalid_field")
    assert "sort" in err["message"], err


@pytest.mark.parametrize("limit", ["0", "101", "x", "-3", "2.5", "1e2"])
def test_feed_bad_limit_is_422_invalid_field(stack, limit):
    err = assert_error(feed(stack, limit=limit), 422, "invalid_field")
    assert "limit" in err["message"], err


@pytest.mark.parametrize("cursor", ["garbage", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "!!",
                                    "x" * 400],
                         ids=["garbage", "b64-zeros", "not-b64", "too-long"])
@pytest.mark.parametrize("sort", ["new", "ranked"])
def test_feed_bad_cursor_is_400_bad_request(stack, sort, cursor):
    assert_error(feed(stack, sort=sort, cursor=cursor), 400, "bad_request")


def test_feed_tampered_cursor_is_400(stack):
    _, token = register(stack)
    c = community(stack, token)
    for _ in range(3):
        post(stack, token, community=c["slug"])
    for sort in ("new", "ranked"):
        cur = feed_page(stack, sort=sort, community=c["slug"], limit=1)["next_cursor"]
        assert cur
        bad = cur[:-3] + ("AAA" if cur[-3:] != "AAA" else "BBB")
        assert_error(feed(stack, sort=sort, community=c["slug"], cursor=bad, limit=1), 400,
                     "bad_request")


def test_a_communities_cursor_does_not_page_the_feed(stack):
    _, token = register(stack)
    community(stack, token)
    community(stack, token)
    r = stack.get("/communities", params={"limit": 1})
    cur = assert_page(r)["next_cursor"]
    assert cur, describe(r)
    assert_error(feed(stack, cursor=cur), 400, "bad_request")


@pytest.mark.parametrize("sort", ["new", "ranked"])
def test_a_cursor_of_one_community_never_shows_another_community(stack, sort):
    # A cursor is bound to its listing: a page asked for community c2 holds
    # c2's posts only (or the cursor is refused), whatever the cursor says.
    _, token = register(stack)
    c1, c2 = community(stack, token), community(stack, token)
    for _ in range(3):
        post(stack, token, community=c1["slug"])
        post(stack, token, community=c2["slug"])
    cur = feed_page(stack, sort=sort, community=c1["slug"], limit=1)["next_cursor"]
    assert cur
    r = feed(stack, sort=sort, community=c2["slug"], cursor=cur)
    if r.status_code == 200:
        got = [x["community"] for x in r.json()["items"]]
        assert set(got) <= {c2["slug"]}, "asked for %s, got %s" % (c2["slug"], got)
    else:
        assert_error(r, 400, "bad_request")


def test_feed_unknown_community_is_404(stack):
    assert_error(feed(stack, community=new_slug("nope")), 404, "not_found")


def test_feed_never_shows_held_or_removed_posts(stack):
    _, token = register(stack)
    c = community(stack, token)
    held = post(stack, token, community=c["slug"])
    removed = post(stack, token, community=c["slug"])
    shown = post(stack, token, community=c["slug"])
    stack.psql("UPDATE posts SET status = 1 WHERE id = '%s'" % held["id"])
    stack.psql("UPDATE posts SET status = 2 WHERE id = '%s'" % removed["id"])
    for sort in ("new", "ranked"):
        assert feed_ids(stack, sort=sort, community=c["slug"]) == [shown["id"]], sort
        ids = feed_ids(stack, sort=sort, limit=100)
        assert held["id"] not in ids and removed["id"] not in ids


def test_feed_of_a_deleted_post_forgets_it(stack):
    _, token = register(stack)
    c = community(stack, token)
    a = post(stack, token, community=c["slug"])
    b = post(stack, token, community=c["slug"])
    delete_ok(stack, token, b["id"])
    for sort in ("new", "ranked"):
        assert feed_ids(stack, sort=sort, community=c["slug"]) == [a["id"]]


# -- ranking, on a stack of its own -----------------------------------------------
def rank(score, trust, day):
    s = math.copysign(math.log2(1 + abs(score)), score) if score else 0.0
    return s * (0.5 + trust) + 2 * trust + day


def test_trusted_author_outranks_an_untrusted_one_at_equal_score(fst):
    c = community(fst, author(fst)[1])
    trusted_id, trusted = author(fst)
    untrusted_id, untrusted = author(fst)
    set_trust(fst, trusted_id, 0.9)
    set_trust(fst, untrusted_id, 0.1)
    # The trusted post first: newest-first tie breaking would favour the other.
    t = post(fst, trusted, community=c["slug"])
    u = post(fst, untrusted, community=c["slug"])
    assert feed_ids(fst, sort="ranked", community=c["slug"]) == [t["id"], u["id"]]
    assert feed_ids(fst, sort="new", community=c["slug"]) == [u["id"], t["id"]]


def test_trust_set_after_posting_moves_existing_posts(fst):
    c = community(fst, author(fst)[1])
    a_id, a = author(fst)
    b_id, b = author(fst)
    pa = post(fst, a, community=c["slug"])
    pb = post(fst, b, community=c["slug"])
    assert feed_ids(fst, community=c["slug"]) == [pb["id"], pa["id"]]
    set_trust(fst, a_id, 0.9)
    set_trust(fst, b_id, 0.1)
    assert feed_ids(fst, community=c["slug"]) == [pa["id"], pb["id"]]


def test_trusted_author_outranks_at_equal_positive_score(fst, voters):
    c = community(fst, author(fst)[1])
    trusted_id, trusted = author(fst)
    untrusted_id, untrusted = author(fst)
    t = post(fst, trusted, community=c["slug"])
    u = post(fst, untrusted, community=c["slug"])
    for v in voters[:2]:
        vote_ok(fst, v, t["id"], 1)
        vote_ok(fst, v, u["id"], 1)
    set_trust(fst, trusted_id, 0.9)
    set_trust(fst, untrusted_id, 0.1)
    assert feed_ids(fst, community=c["slug"]) == [t["id"], u["id"]]


def test_trust_earned_through_up_votes_lifts_new_posts(fst, voters):
    c = community(fst, author(fst)[1])
    _, liked = author(fst)
    old = post(fst, liked)                      # outside the community
    for v in voters[:5]:
        vote_ok(fst, v, old["id"], 1)           # +0.05 trust for `liked`
    a = post(fst, liked, community=c["slug"])
    b = post(fst, author(fst)[1], community=c["slug"])   # newer, default trust
    assert feed_ids(fst, community=c["slug"]) == [a["id"], b["id"]]


def test_an_older_post_sinks(fst):
    c = community(fst, author(fst)[1])
    _, token = author(fst)
    first = post(fst, token, community=c["slug"])
    second = post(fst, token, community=c["slug"])
    assert feed_ids(fst, community=c["slug"]) == [second["id"], first["id"]]
    age_post(fst, second["id"], 5)
    assert feed_ids(fst, community=c["slug"]) == [first["id"], second["id"]]
    assert get_post_ok(fst, second["id"])["post"]["day"] == first["day"] - 5
    # `new` is about creation, not the day number.
    assert feed_ids(fst, sort="new", community=c["slug"]) == [second["id"], first["id"]]


def test_a_well_received_post_rises_a_disliked_one_sinks(fst, voters):
    c = community(fst, author(fst)[1])
    a_id, a = author(fst)
    b_id, b = author(fst)
    d_id, d = author(fst)
    liked = post(fst, a, community=c["slug"])
    plain = post(fst, b, community=c["slug"])
    disliked = post(fst, d, community=c["slug"])
    for v in voters[:3]:
        vote_ok(fst, v, liked["id"], 1)
        vote_ok(fst, v, disliked["id"], -1)
    for acc in (a_id, b_id, d_id):
        set_trust(fst, acc, 0.5)
    assert feed_ids(fst, community=c["slug"]) == [liked["id"], plain["id"], disliked["id"]]


def test_ranked_order_follows_the_formula(fst, voters):
    """Eight posts with chosen trust, score and age: the feed order is the
    formula's order (ties newest first)."""
    c = community(fst, author(fst)[1])
    plan = [  # (trust, score, days older)
        (0.1, 0, 0), (0.9, 0, 1), (0.5, 3, 0), (0.5, -2, 0),
        (0.3, 5, 2), (0.8, -1, 0), (0.2, 1, 1), (0.6, 2, 3),
    ]
    made = []
    for trust, score, older in plan:
        acc, token = author(fst)
        p = post(fst, token, community=c["slug"])
        for v in voters[:abs(score)]:
            vote_ok(fst, v, p["id"], 1 if score > 0 else -1)
        if older:
            age_post(fst, p["id"], older)
        made.append((acc, p["id"]))
    for (acc, _), (trust, _, _) in zip(made, plan):
        set_trust(fst, acc, trust)      # after the votes, which move trust
    rows = fst.psql("SELECT p.id, p.score, a.trust::float8, p.day FROM posts p "
                    "JOIN accounts a ON a.pk = p.author_pk "
                    "WHERE p.id IN (%s)" % ",".join("'%s'" % pid for _, pid in made))
    order = {pid: i for i, (_, pid) in enumerate(made)}
    ranks = {pid: rank(int(s), float(t), int(d)) for pid, s, t, d in rows}
    assert len(ranks) == len(plan), rows
    want = sorted(ranks, key=lambda pid: (-round(ranks[pid], 9), -order[pid]))
    got = feed_ids(fst, community=c["slug"])
    assert got == want, {"got": got, "want": want, "ranks": ranks}
    # The scores the feed shows are the votes cast.
    items = {x["id"]: x for x in feed_page(fst, community=c["slug"])["items"]}
    for (_, pid), (_, score, _) in zip(made, plan):
        assert items[pid]["score"] == score, items[pid]


# -- walking every page, on a stack of its own ---------------------------------------
def everything(st, sort, **params):
    """Every item of a listing, read in big pages while nothing changes."""
    items, _ = walk(st, "/feed", dict(params, sort=sort), limit=100)
    ids = [x["id"] for x in items]
    assert_no_duplicates(ids)
    return ids


def seed(st, n, community=None):
    tokens = [author(st)[1] for _ in range(3)]
    return [post(st, tokens[i % 3], community=community)["id"] for i in range(n)], tokens


@pytest.mark.parametrize("sort", ["new", "ranked"])
def test_walk_without_changes_matches_one_big_page(fst, sort):
    seed(fst, 10)
    big = everything(fst, sort)
    seen, pages = walk(fst, "/feed", {"sort": sort}, limit=3)
    assert [x["id"] for x in seen] == big
    assert pages <= math.ceil(len(big) / 3) + 1


def test_walk_new_sees_every_post_once_while_posts_arrive_and_votes_move(fst, voters):
    seed(fst, 10)
    before = everything(fst, "new")
    _, token = author(fst)
    added = []

    def between(n, seen):
        added.append(post(fst, token)["id"])
        added.append(post(fst, token)["id"])
        target = before[min(len(before) - 1, 3 * n + 1)]      # not seen yet
        vote_ok(fst, voters[n % len(voters)], target, 1)
        vote_ok(fst, voters[(n + 1) % len(voters)], seen[0]["id"], -1)

    seen, _ = walk(fst, "/feed", {"sort": "new"}, limit=3, between=between)
    ids = [x["id"] for x in seen]
    assert_no_duplicates(ids)
    missing = [i for i in before if i not in ids]
    assert not missing, "skipped: %s" % missing
    # Newest first: the posts that existed keep their order.
    assert [i for i in ids if i in set(before)] == before
    assert set(ids) <= set(before) | set(added)


def test_walk_ranked_is_a_snapshot_of_the_first_page(fst, voters):
    seed(fst, 12)
    before = everything(fst, "ranked")
    assert len(before) >= 12
    _, token = author(fst)
    added = []

    def between(n, seen):
        seen_ids = [x["id"] for x in seen]
        unseen = [i for i in before if i not in seen_ids]
        added.append(post(fst, token)["id"])
        if unseen:
            # Lift the last unseen post to the top: a keyset walk would skip it.
            for v in voters[:6]:
                vote_ok(fst, v, unseen[-1], 1)
        # Push the last seen post to the bottom: a keyset walk would repeat it.
        for v in voters[:6]:
            vote_ok(fst, v, seen_ids[-1], -1)

    seen, _ = walk(fst, "/feed", {"sort": "ranked"}, limit=3, between=between)
    ids = [x["id"] for x in seen]
    assert_no_duplicates(ids)
    missing = [i for i in before if i not in ids]
    assert not missing, "skipped: %s" % missing
    late = [i for i in ids if i in added]
    assert not late, "posts made after the first page joined the ranked walk: %s" % late
    assert set(ids) == set(before)
    for x in seen:
        assert_post(x, parent_id=None)


@pytest.mark.parametrize("sort", ["new", "ranked"])
def test_walk_survives_deletions_mid_walk(fst, sort):
    made, tokens = seed(fst, 9)
    owner = {pid: tokens[i % 3] for i, pid in enumerate(made)}
    before = everything(fst, sort)
    deleted, unseen_deleted = [], []

    def between(n, seen):
        seen_ids = {x["id"] for x in seen}
        ahead = [i for i in before if i in owner and i not in seen_ids and i not in deleted]
        behind = [i for i in before if i in owner and i in seen_ids and i not in deleted]
        for pid in ahead[-1:] + behind[:1]:
            delete_ok(fst, owner[pid], pid)
            deleted.append(pid)
        unseen_deleted.extend(ahead[-1:])

    seen, _ = walk(fst, "/feed", {"sort": sort}, limit=3, between=between)
    ids = [x["id"] for x in seen]
    assert_no_duplicates(ids)
    missing = [i for i in before if i not in ids and i not in deleted]
    assert not missing, "skipped: %s" % missing
    # A post deleted before its page was read is not shown.
    assert unseen_deleted
    shown = [i for i in unseen_deleted if i in ids]
    assert not shown, "deleted posts shown later in the walk: %s" % shown


@pytest.mark.parametrize("sort", ["new", "ranked"])
def test_walk_of_one_community_while_others_change(fst, voters, sort):
    c = community(fst, author(fst)[1])
    other = community(fst, author(fst)[1])
    made, _ = seed(fst, 7, community=c["slug"])
    before = everything(fst, sort, community=c["slug"])
    assert set(before) == set(made)
    _, token = author(fst)

    def between(n, seen):
        post(fst, token, community=c["slug"])
        post(fst, token, community=other["slug"])
        vote_ok(fst, voters[n], made[0], 1)

    seen, _ = walk(fst, "/feed", {"sort": sort, "community": c["slug"]}, limit=2,
                   between=between)
    ids = [x["id"] for x in seen]
    assert_no_duplicates(ids)
    assert not [i for i in before if i not in ids]
    assert all(x["community"] == c["slug"] for x in seen)


def test_walk_with_a_token_shows_my_votes_and_mine(fst, voters):
    c = community(fst, author(fst)[1])
    _, token = author(fst)
    mine = post(fst, token, community=c["slug"])
    others, _ = seed(fst, 4, community=c["slug"])
    vote_ok(fst, token, others[1], -1)
    seen, _ = walk(fst, "/feed", {"sort": "new", "community": c["slug"]}, token=token, limit=2)
    by_id = {x["id"]: x for x in seen}
    assert set(by_id) == set(others) | {mine["id"]}
    assert by_id[mine["id"]]["mine"] is True
    assert by_id[others[1]]["my_vote"] == -1
    assert sum(x["mine"] for x in seen) == 1


def test_empty_feed_of_a_new_community(fst):
    c = community(fst, author(fst)[1])
    for sort in ("new", "ranked"):
        doc = feed_page(fst, sort=sort, community=c["slug"])
        assert doc == {"items": [], "next_cursor": None}, doc


def test_unique_texts_helper_sanity():
    assert uniq() != uniq()
