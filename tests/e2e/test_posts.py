"""Posts and replies (docs/posts.md): POST /posts,
GET /posts/{id} with its paged replies, POST /posts/{id}/reply,
DELETE /posts/{id}; the Post object; what an account's deletion does to its
posts; the posts, votes and communities sections of GET /me/export."""
import pytest

from accounts import today
from content import (ID_RE, POST_KEYS, UNKNOWN_ID, assert_no_duplicates, assert_post,
                     community, create_post, create_reply, delete_ok, delete_post,
                     feed_ids, get_post, get_post_ok, post, reply, uniq, vote_ok, walk)
from conftest import assert_error, assert_standard_headers, bearer, delete_me, describe, register


@pytest.fixture
def alice(stack):
    return register(stack)


@pytest.fixture
def bob(stack):
    return register(stack)


# -- POST /posts ---------------------------------------------------------------
def test_create_post_is_201_with_exactly_the_post_object(stack, alice):
    body = uniq("hello world")
    r = create_post(stack, alice[1], body)
    assert r.status_code == 201, describe(r)
    assert_standard_headers(r)
    doc = r.json()
    assert set(doc) == {"post"}, doc
    p = doc["post"]
    assert set(p) == POST_KEYS, p
    assert ID_RE.match(p["id"]), p
    assert p["body"] == body and p["mine"] is True and p["my_vote"] == 0, p
    assert p["score"] == 0 and p["reply_count"] == 0, p
    assert p["community"] is None and p["parent_id"] is None, p
    assert abs(p["day"] - today()) <= 1, p


def test_post_reveals_no_author_and_no_time(stack, alice):
    account_id = alice[0]
    p = post(stack, alice[1])
    doc = get_post_ok(stack, p["id"])
    text = str(doc)
    assert account_id not in text
    for k in ("author", "author_id", "account_id", "created", "created_at", "time", "ts"):
        assert k not in doc["post"], doc


def test_post_ids_are_distinct_and_random_looking(stack, alice):
    ids = [post(stack, alice[1])["id"] for _ in range(5)]
    assert len(set(ids)) == 5, ids
    assert all(ID_RE.match(i) for i in ids), ids
    # Not ordered like a counter: consecutive ids share no long common prefix.
    prefixes = [len(_common_prefix(a, b)) for a, b in zip(ids, ids[1:])]
    assert max(prefixes) < 8, ids


def _common_prefix(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def test_body_round_trips_unicode_newlines_and_tabs(stack, alice):
    body = "Grüße 👋 日本語\nsecond line\tafter tab " + uniq()
    p = post(stack, alice[1], body)
    assert get_post_ok(stack, p["id"])["post"]["body"] == body


def test_body_with_html_is_returned_verbatim_as_json(stack, alice):
    body = '<script>alert("x")</script> & ' + uniq()
    p = post(stack, alice[1], body)
    r = get_post(stack, p["id"])
    assert r.headers["Content-Type"].split(";")[0] == "application/json", describe(r)
    assert r.json()["post"]["body"] == body


def test_create_post_in_a_community(stack, alice):
    c = community(stack, alice[1])
    p = post(stack, alice[1], community=c["slug"])
    assert p["community"] == c["slug"]
    assert get_post_ok(stack, p["id"])["post"]["community"] == c["slug"]


@pytest.mark.parametrize("doc", [{}, {"body": None}, {"body": 123}, {"body": ["x"]},
                                 {"body": {"t": "x"}}, {"body": True}, {"text": "x"}],
                         ids=["missing", "null", "number", "array", "object", "bool",
                              "other-field"])
def test_create_post_without_a_string_body_is_422_invalid_field(stack, alice, doc):
    r = stack.request("POST", "/posts", json=doc, headers=bearer(alice[1]))
    err = assert_error(r, 422, "invalid_field")
    assert "body" in err["message"], err


def test_create_post_in_an_unknown_community_is_422_invalid_field(stack, alice):
    r = create_post(stack, alice[1], uniq(), community="no-such-community-" + uniq()[-8:])
    err = assert_error(r, 422, "invalid_field")
    assert "community" in err["message"], err


@pytest.mark.parametrize("value", [123, ["x"], True], ids=["number", "array", "bool"])
def test_create_post_with_a_non_string_community_is_422_invalid_field(stack, alice, value):
    r = create_post(stack, alice[1], uniq(), community=value)
    err = assert_error(r, 422, "invalid_field")
    assert "community" in err["message"], err


def test_create_post_with_a_non_object_body_is_400_invalid_json(stack, alice):
    r = stack.request("POST", "/posts", json=["body", "x"], headers=bearer(alice[1]))
    assert_error(r, 400, "invalid_json")


def test_create_post_with_malformed_json_is_400_invalid_json(stack, alice):
    r = stack.request("POST", "/posts", data=b'{"body": "x"',
                      headers={**bearer(alice[1]), "Content-Type": "application/json"})
    assert_error(r, 400, "invalid_json")


def test_create_post_without_json_content_type_is_415(stack, alice):
    r = stack.request("POST", "/posts", data=b'{"body": "x"}',
                      headers={**bearer(alice[1]), "Content-Type": "text/plain"})
    assert_error(r, 415, "unsupported_media_type")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nonsense"},
                                     {"Authorization": "Basic dXNlcjpwYXNz"}],
                         ids=["none", "garbage", "basic"])
def test_create_post_without_a_valid_token_is_401(stack, headers):
    r = stack.request("POST", "/posts", json={"body": uniq()}, headers=headers)
    assert_error(r, 401, "unauthorized")


def test_create_post_with_a_logged_out_token_is_401(stack, alice):
    r = stack.request("POST", "/auth/logout", headers=bearer(alice[1]))
    assert r.status_code == 204, describe(r)
    assert_error(create_post(stack, alice[1], uniq()), 401, "unauthorized")


# -- GET /posts/{id} -------------------------------------------------------------
def test_get_post_is_200_with_post_replies_and_cursor(stack, alice):
    p = post(stack, alice[1])
    r = get_post(stack, p["id"], alice[1])
    assert r.status_code == 200, describe(r)
    assert_standard_headers(r)
    doc = r.json()
    assert set(doc) == {"post", "replies", "next_cursor"}, doc
    assert doc["post"] == p, (doc["post"], p)
    assert doc["replies"] == [] and doc["next_cursor"] is None, doc


def test_get_post_without_a_token_works_mine_false(stack, alice):
    p = post(stack, alice[1])
    doc = get_post_ok(stack, p["id"])
    assert_post(doc["post"], body=p["body"], mine=False, my_vote=0)


def test_mine_is_true_only_for_the_author(stack, alice, bob):
    p = post(stack, alice[1])
    assert get_post_ok(stack, p["id"], alice[1])["post"]["mine"] is True
    assert get_post_ok(stack, p["id"], bob[1])["post"]["mine"] is False
    assert get_post_ok(stack, p["id"])["post"]["mine"] is False


def test_get_post_with_an_invalid_token_is_401(stack, alice):
    # A token that is present but invalid is refused, never read as anonymous
    # (and never taken for the author).
    p = post(stack, alice[1])
    assert_error(get_post(stack, p["id"], "not.a.token"), 401, "unauthorized")


@pytest.mark.parametrize("pid", [UNKNOWN_ID, "short", "x" * 23, "bad!chars!in!this!id!!"],
                         ids=["unknown", "short", "long", "bad-chars"])
def test_get_unknown_or_malformed_post_is_404(stack, pid):
    assert_error(get_post(stack, pid), 404, "not_found")


# -- replies ---------------------------------------------------------------------
def test_reply_is_201_with_parent_id_and_counts_on_the_parent(stack, alice, bob):
    p = post(stack, alice[1])
    body = uniq("a reply")
    r = create_reply(stack, bob[1], p["id"], body)
    assert r.status_code == 201, describe(r)
    assert_standard_headers(r)
    doc = r.json()
    assert set(doc) == {"post"}, doc
    rp = assert_post(doc["post"], body=body, mine=True, my_vote=0, parent_id=p["id"])
    assert rp["score"] == 0 and rp["reply_count"] == 0, rp
    assert abs(rp["day"] - today()) <= 1, rp
    got = get_post_ok(stack, p["id"], alice[1])
    assert got["post"]["reply_count"] == 1, got
    assert [x["id"] for x in got["replies"]] == [rp["id"]], got
    assert got["replies"][0]["mine"] is False  # alice reads bob's reply
    assert get_post_ok(stack, p["id"], bob[1])["replies"][0]["mine"] is True


def test_reply_can_be_read_on_its_own(stack, alice, bob):
    p = post(stack, alice[1])
    rp = reply(stack, bob[1], p["id"])
    doc = get_post_ok(stack, rp["id"])
    assert_post(doc["post"], body=rp["body"], parent_id=p["id"], mine=False)


def test_reply_in_a_community_post_keeps_the_thread_together(stack, alice, bob):
    c = community(stack, alice[1])
    p = post(stack, alice[1], community=c["slug"])
    rp = reply(stack, bob[1], p["id"])
    assert rp["community"] in (None, c["slug"]), rp


def test_replies_are_oldest_first(stack, alice, bob):
    p = post(stack, alice[1])
    made = [reply(stack, (alice, bob)[i % 2][1], p["id"])["id"] for i in range(5)]
    doc = get_post_ok(stack, p["id"])
    assert [x["id"] for x in doc["replies"]] == made
    assert doc["post"]["reply_count"] == 5


def test_replies_never_appear_in_the_feed(stack, alice, bob):
    p = post(stack, alice[1])
    rp = reply(stack, bob[1], p["id"])
    for sort in ("new", "ranked"):
        ids = feed_ids(stack, sort=sort, limit=100)
        assert rp["id"] not in ids, sort
    assert p["id"] in feed_ids(stack, sort="new", limit=100)


def test_reply_to_an_unknown_post_is_404(stack, alice):
    assert_error(create_reply(stack, alice[1], UNKNOWN_ID, uniq()), 404, "not_found")


def test_reply_to_a_deleted_post_is_404(stack, alice, bob):
    p = post(stack, alice[1])
    delete_ok(stack, alice[1], p["id"])
    assert_error(create_reply(stack, bob[1], p["id"], uniq()), 404, "not_found")


def test_reply_without_a_token_is_401(stack, alice):
    p = post(stack, alice[1])
    assert_error(create_reply(stack, None, p["id"], uniq()), 401, "unauthorized")


@pytest.mark.parametrize("doc", [{}, {"body": 1}, {"body": None}],
                         ids=["missing", "number", "null"])
def test_reply_without_a_string_body_is_422_invalid_field(stack, alice, doc):
    p = post(stack, alice[1])
    r = stack.request("POST", "/posts/%s/reply" % p["id"], json=doc, headers=bearer(alice[1]))
    err = assert_error(r, 422, "invalid_field")
    assert "body" in err["message"], err


# -- paging the replies --------------------------------------------------------------
@pytest.fixture
def thread(stack, alice, bob):
    """A post with 8 replies: (post, [reply ids oldest first])."""
    p = post(stack, alice[1])
    ids = [reply(stack, (alice, bob)[i % 2][1], p["id"])["id"] for i in range(8)]
    return p, ids


def test_replies_page_with_limit_and_cursor(stack, thread):
    p, ids = thread
    first = get_post_ok(stack, p["id"], limit=3)
    assert [x["id"] for x in first["replies"]] == ids[:3]
    assert first["next_cursor"]
    second = get_post_ok(stack, p["id"], limit=3, cursor=first["next_cursor"])
    assert [x["id"] for x in second["replies"]] == ids[3:6]
    assert second["post"]["id"] == p["id"]
    third = get_post_ok(stack, p["id"], limit=3, cursor=second["next_cursor"])
    assert [x["id"] for x in third["replies"]] == ids[6:]
    assert third["next_cursor"] is None


def test_replies_default_page_is_20(stack, alice):
    p = post(stack, alice[1])
    ids = [reply(stack, alice[1], p["id"])["id"] for _ in range(21)]
    first = get_post_ok(stack, p["id"])
    assert [x["id"] for x in first["replies"]] == ids[:20]
    assert first["next_cursor"]
    rest = get_post_ok(stack, p["id"], cursor=first["next_cursor"])
    assert [x["id"] for x in rest["replies"]] == ids[20:] and rest["next_cursor"] is None


def test_replies_walk_is_complete_while_new_replies_arrive(stack, thread, alice, bob):
    p, ids = thread
    added = []

    def between(n, seen):
        added.append(reply(stack, bob[1], p["id"])["id"])
        if n == 1:
            vote_ok(stack, alice[1], ids[5], 1)

    seen, pages = walk(stack, "/posts/%s" % p["id"], limit=3, between=between,
                       items_key="replies")
    got = [x["id"] for x in seen]
    assert_no_duplicates(got)
    # Oldest first: every reply that existed, in order, then maybe some of
    # the new ones, still in order.
    everything = ids + added
    assert got == everything[:len(got)], (got, everything)
    assert len(got) >= len(ids) and pages >= 3


@pytest.mark.parametrize("limit", ["0", "101", "-1", "x", "1.5"],
                         ids=["zero", "101", "negative", "text", "fraction"])
def test_replies_bad_limit_is_422_invalid_field(stack, alice, limit):
    p = post(stack, alice[1])
    err = assert_error(get_post(stack, p["id"], limit=limit), 422, "invalid_field")
    assert "limit" in err["message"], err


@pytest.mark.parametrize("limit", ["1", "100"])
def test_replies_limit_bounds_are_accepted(stack, alice, limit):
    p = post(stack, alice[1])
    get_post_ok(stack, p["id"], limit=limit)


@pytest.mark.parametrize("cursor", ["garbage", "AAAA", "x" * 300, "!!!"],
                         ids=["garbage", "short-b64", "too-long", "not-b64"])
def test_replies_bad_cursor_is_400_bad_request(stack, thread, cursor):
    p, _ = thread
    assert_error(get_post(stack, p["id"], cursor=cursor), 400, "bad_request")


def test_replies_tampered_cursor_is_400(stack, thread):
    p, _ = thread
    c = get_post_ok(stack, p["id"], limit=2)["next_cursor"]
    flipped = c[:10] + ("A" if c[10] != "A" else "B") + c[11:]
    assert_error(get_post(stack, p["id"], cursor=flipped, limit=2), 400, "bad_request")


def test_a_feed_cursor_does_not_page_replies(stack, thread, alice):
    p, _ = thread
    for _ in range(3):
        post(stack, alice[1])
    c = assert_feed_cursor(stack)
    assert_error(get_post(stack, p["id"], cursor=c), 400, "bad_request")


def assert_feed_cursor(stack):
    r = stack.get("/feed", params={"sort": "new", "limit": 1})
    assert r.status_code == 200, describe(r)
    c = r.json()["next_cursor"]
    assert c, describe(r)
    return c


def test_a_cursor_of_one_thread_on_another_shows_only_that_thread_s_replies(stack, alice,
                                                                            thread):
    # A cursor is bound to the reply listing, not to one thread: on another
    # thread it is a position there (its replies are newer than the cursor's)
    # and never shows the first thread's replies.
    p, ids = thread
    other = post(stack, alice[1])
    other_ids = [reply(stack, alice[1], other["id"])["id"] for _ in range(2)]
    c = get_post_ok(stack, p["id"], limit=3)["next_cursor"]
    r = get_post(stack, other["id"], cursor=c, limit=3)
    assert r.status_code == 200, describe(r)
    assert [x["id"] for x in r.json()["replies"]] == other_ids, describe(r)


# -- DELETE /posts/{id} --------------------------------------------------------------
def test_author_deletes_a_post_204_then_it_is_gone(stack, alice):
    p = post(stack, alice[1])
    assert p["id"] in feed_ids(stack, sort="new", limit=100)
    r = delete_post(stack, alice[1], p["id"])
    assert r.status_code == 204, describe(r)
    assert r.content == b"", describe(r)
    assert_error(get_post(stack, p["id"]), 404, "not_found")
    assert_error(get_post(stack, p["id"], alice[1]), 404, "not_found")
    assert p["id"] not in feed_ids(stack, sort="new", limit=100)
    assert p["id"] not in feed_ids(stack, sort="ranked", limit=100)


def test_someone_else_cannot_delete_a_post_404_and_it_stays(stack, alice, bob):
    p = post(stack, alice[1])
    assert_error(delete_post(stack, bob[1], p["id"]), 404, "not_found")
    assert get_post_ok(stack, p["id"])["post"]["id"] == p["id"]


def test_delete_unknown_post_is_404(stack, alice):
    assert_error(delete_post(stack, alice[1], UNKNOWN_ID), 404, "not_found")


def test_delete_twice_is_404(stack, alice):
    p = post(stack, alice[1])
    delete_ok(stack, alice[1], p["id"])
    assert_error(delete_post(stack, alice[1], p["id"]), 404, "not_found")


def test_delete_without_a_token_is_401(stack, alice):
    p = post(stack, alice[1])
    assert_error(delete_post(stack, None, p["id"]), 401, "unauthorized")
    get_post_ok(stack, p["id"])


def test_deleting_a_reply_decrements_the_parent_at_once(stack, alice, bob):
    p = post(stack, alice[1])
    r1 = reply(stack, bob[1], p["id"])
    r2 = reply(stack, alice[1], p["id"])
    assert get_post_ok(stack, p["id"])["post"]["reply_count"] == 2
    delete_ok(stack, bob[1], r1["id"])
    doc = get_post_ok(stack, p["id"])
    assert doc["post"]["reply_count"] == 1, doc
    assert [x["id"] for x in doc["replies"]] == [r2["id"]], doc
    assert_error(get_post(stack, r1["id"]), 404, "not_found")


def test_the_parent_author_cannot_delete_someone_elses_reply(stack, alice, bob):
    p = post(stack, alice[1])
    rp = reply(stack, bob[1], p["id"])
    assert_error(delete_post(stack, alice[1], rp["id"]), 404, "not_found")
    assert get_post_ok(stack, p["id"])["post"]["reply_count"] == 1


def test_deleting_a_post_takes_its_replies_with_it(stack, alice, bob):
    p = post(stack, alice[1])
    rp = reply(stack, bob[1], p["id"])
    delete_ok(stack, alice[1], p["id"])
    assert_error(get_post(stack, rp["id"]), 404, "not_found")


# -- account deletion ------------------------------------------------------------------
def test_deleted_accounts_posts_and_votes_disappear(stack):
    gone_id, gone = register(stack)
    _, stays = register(stack)
    c = community(stack, stays)
    theirs = post(stack, gone, community=c["slug"])
    mine = post(stack, stays, community=c["slug"])
    their_reply = reply(stack, gone, mine["id"])
    vote_ok(stack, gone, mine["id"], 1)
    before = get_post_ok(stack, mine["id"])["post"]
    assert before["score"] == 1 and before["reply_count"] == 1, before
    assert get_community_count(stack, c["slug"]) == 2

    r = delete_me(stack, gone)
    assert r.status_code == 204, describe(r)

    assert_error(get_post(stack, theirs["id"]), 404, "not_found")
    assert_error(get_post(stack, their_reply["id"]), 404, "not_found")
    for sort in ("new", "ranked"):
        assert theirs["id"] not in feed_ids(stack, sort=sort, limit=100)
        assert feed_ids(stack, sort=sort, community=c["slug"]) == [mine["id"]]
    after = get_post_ok(stack, mine["id"])
    assert after["post"]["score"] == 0, after
    assert after["post"]["reply_count"] == 0 and after["replies"] == [], after
    assert get_community_count(stack, c["slug"]) == 1


def test_a_community_goes_with_its_deleted_creator_and_its_posts_stay(stack):
    # A deleted account's content disappears from every listing, the
    # communities it created too; another account's post there stays, and
    # no listing breaks.
    _, gone = register(stack)
    _, stays = register(stack)
    c = community(stack, gone)
    p = post(stack, stays, community=c["slug"])
    assert delete_me(stack, gone).status_code == 204
    assert_error(stack.get("/communities/%s" % c["slug"]), 404, "not_found")
    get_post_ok(stack, p["id"])
    assert stack.get("/communities", params={"limit": 100}).status_code == 200
    assert stack.get("/feed").status_code == 200


def get_community_count(stack, slug):
    r = stack.get("/communities/%s" % slug)
    assert r.status_code == 200, describe(r)
    return r.json()["post_count"]


# -- export ----------------------------------------------------------------------------
def test_export_holds_posts_replies_votes_and_communities(stack, alice, bob):
    c = community(stack, alice[1], description="")
    top = post(stack, alice[1], community=c["slug"])
    plain = post(stack, alice[1])
    theirs = post(stack, bob[1])
    my_reply = reply(stack, alice[1], theirs["id"])
    gone = post(stack, alice[1])
    delete_ok(stack, alice[1], gone["id"])
    vote_ok(stack, alice[1], theirs["id"], 1)
    vote_ok(stack, alice[1], top["id"], -1)
    withdrawn = post(stack, bob[1])
    vote_ok(stack, alice[1], withdrawn["id"], 1)
    vote_ok(stack, alice[1], withdrawn["id"], 0)
    vote_ok(stack, bob[1], plain["id"], 1)

    r = stack.get("/me/export", headers=bearer(alice[1]))
    assert r.status_code == 200, describe(r)
    doc = r.json()
    for k in ("posts", "votes", "communities"):
        assert isinstance(doc.get(k), list), (k, doc)

    posts = {p["id"]: p for p in doc["posts"]}
    assert set(posts) == {top["id"], plain["id"], my_reply["id"]}, doc["posts"]
    for p in doc["posts"]:
        assert {"id", "body", "day", "community", "parent_id", "score"} <= set(p), p
    assert posts[top["id"]]["body"] == top["body"]
    assert posts[top["id"]]["community"] == c["slug"]
    assert posts[top["id"]]["parent_id"] is None and posts[top["id"]]["score"] == -1
    assert posts[plain["id"]]["score"] == 1 and posts[plain["id"]]["community"] is None
    assert posts[my_reply["id"]]["parent_id"] == theirs["id"]
    assert posts[my_reply["id"]]["body"] == my_reply["body"]
    assert abs(posts[plain["id"]]["day"] - today()) <= 1

    votes = sorted((v["post_id"], v["value"]) for v in doc["votes"])
    for v in doc["votes"]:
        assert set(v) == {"post_id", "value"}, v
    assert votes == sorted([(theirs["id"], 1), (top["id"], -1)]), doc["votes"]

    assert len(doc["communities"]) == 1, doc["communities"]
    ec = doc["communities"][0]
    assert {"slug", "title", "description", "day"} <= set(ec), ec
    assert (ec["slug"], ec["title"], ec["description"]) == (c["slug"], c["title"], ""), ec
    assert abs(ec["day"] - today()) <= 1

    # Bob's export holds his own things, not alice's.
    other = stack.get("/me/export", headers=bearer(bob[1])).json()
    assert {p["id"] for p in other["posts"]} == {theirs["id"], withdrawn["id"]}
    assert [(v["post_id"], v["value"]) for v in other["votes"]] == [(plain["id"], 1)]
    assert other["communities"] == []
    assert top["body"] not in str(other) and c["title"] not in str(other)
