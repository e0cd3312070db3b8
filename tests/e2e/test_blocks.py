"""Blocks and community mutes (docs/blocks.md): POST /blocks, GET /blocks,
DELETE /blocks/{block_id}, POST and DELETE /communities/{slug}/mute.

A block does exactly three things for the blocker: the blocked post is gone,
the author's replies under the blocker's own posts are gone, and DMs the
author starts from the blocker's posts (or sends in a conversation from the
blocked post) are taken as usual and never delivered. Everything else stays:
the author's other posts, their replies elsewhere, and every answer the
author gets. Each test looks from both sides. The module runs on a stack of
its own, so its feeds hold only its own posts."""
import pytest

from content import (ID_RE, UNKNOWN_ID, assert_page, community, feed_page, get_post,
                     get_post_ok, post, reply, uniq, walk)
from conftest import assert_error, bearer, delete_me, describe, register
from test_dm import all_messages, dm_list, messages, send, send_ok, start_ok
from test_events import all_events

BLOCK_KEYS = {"block_id", "origin_post_id", "day"}


@pytest.fixture(scope="module")
def bst(make_stack):
    return make_stack("blocks")


def block(st, token, post_id):
    return st.request("POST", "/blocks", json={"post_id": post_id}, headers=bearer(token))


def block_ok(st, token, post_id):
    r = block(st, token, post_id)
    assert r.status_code == 201, describe(r)
    doc = r.json()
    assert set(doc) == {"block_id"} and ID_RE.match(doc["block_id"]), doc
    return doc["block_id"]


def unblock(st, token, block_id):
    return st.request("DELETE", "/blocks/%s" % block_id, headers=bearer(token))


def blocks(st, token):
    items = walk(st, "/blocks", token=token, limit=2)[0]
    for b in items:
        assert set(b) == BLOCK_KEYS, b
    return items


def new_ids(st, token, slug):
    """Every post of a community, newest first, as token sees it."""
    return [p["id"] for p in walk(st, "/feed", {"sort": "new", "community": slug}, token)[0]]


def ranked_ids(st, token, **params):
    return [p["id"] for p in walk(st, "/feed", dict(params, sort="ranked"), token, limit=5)[0]]


def reply_ids(st, token, post_id):
    return [p["id"] for p in get_post_ok(st, post_id, token)["replies"]]


def mute(st, token, slug, method="POST"):
    return st.request(method, "/communities/%s/mute" % slug, headers=bearer(token))


def scene(st):
    """Blocker a, author b, bystander c in a fresh community: b's posts p1
    (to be blocked) and p2, a's post a1 with b's reply ra and c's reply rc,
    c's post c1 with b's reply rb."""
    a, b, c = register(st), register(st), register(st)
    slug = community(st, c[1])["slug"]
    s = {"a": a, "b": b, "c": c, "slug": slug,
         "p1": post(st, b[1], community=slug)["id"], "p2": post(st, b[1], community=slug)["id"],
         "a1": post(st, a[1], community=slug)["id"], "c1": post(st, c[1], community=slug)["id"]}
    s["ra"] = reply(st, b[1], s["a1"])["id"]
    s["rc"] = reply(st, c[1], s["a1"])["id"]
    s["rb"] = reply(st, b[1], s["c1"])["id"]
    return s


def views(st, s, token):
    """What token sees of the scene, every route a block could touch."""
    out = {"feed": new_ids(st, token, s["slug"]),
           "a1": get_post_ok(st, s["a1"], token), "c1": reply_ids(st, token, s["c1"])}
    for k in ("p1", "p2", "ra", "rb"):
        out[k] = get_post(st, s[k], token).status_code
    return out


# -- what the blocker sees --------------------------------------------------------
def test_a_block_hides_the_post_and_the_authors_replies_under_my_posts_and_nothing_else(bst):
    s = scene(bst)
    a = s["a"][1]
    before = views(bst, s, a)
    assert s["p1"] in before["feed"] and before["p1"] == 200
    block_ok(bst, a, s["p1"])
    after = views(bst, s, a)
    assert after["feed"] == [i for i in before["feed"] if i != s["p1"]]
    assert after["p1"] == 404 and after["ra"] == 404
    assert [p["id"] for p in after["a1"]["replies"]] == [s["rc"]]
    # The author's other post and their reply under someone else's post stay.
    assert s["p2"] in after["feed"] and after["p2"] == 200
    assert after["c1"] == [s["rb"]] and after["rb"] == 200
    # Counts are public and do not move: a block filters, it does not moderate.
    assert after["a1"]["post"]["reply_count"] == before["a1"]["post"]["reply_count"] == 2


def test_the_ranked_feed_leaves_the_blocked_post_out_and_keeps_the_authors_others(bst):
    s = scene(bst)
    a = s["a"][1]
    block_ok(bst, a, s["p1"])
    ids = ranked_ids(bst, a)
    assert s["p1"] not in ids and s["p2"] in ids
    assert s["p1"] in ranked_ids(bst, s["c"][1])


def test_a_block_changes_nothing_for_the_author_or_anyone_else(bst):
    s = scene(bst)
    seen = {who: views(bst, s, s[who][1]) for who in ("b", "c")}
    anon = views(bst, s, None)
    block_ok(bst, s["a"][1], s["p1"])
    for who in ("b", "c"):
        assert views(bst, s, s[who][1]) == seen[who], who
    assert views(bst, s, None) == anon


def test_unblocking_shows_everything_again(bst):
    s = scene(bst)
    a = s["a"][1]
    before = views(bst, s, a)
    bid = block_ok(bst, a, s["p1"])
    assert views(bst, s, a) != before
    r = unblock(bst, a, bid)
    assert r.status_code == 204, describe(r)
    assert views(bst, s, a) == before


def test_a_reply_from_a_blocked_author_sends_me_no_event_and_others_still_do(bst):
    s = scene(bst)
    a = s["a"][1]
    block_ok(bst, a, s["p1"])
    seen = {e["data"].get("reply_id") for e in all_events(bst, a)}
    hidden = reply(bst, s["b"][1], s["a1"])     # 201 as usual for the author
    shown = reply(bst, s["c"][1], s["a1"])
    got = {e["data"].get("reply_id") for e in all_events(bst, a)} - seen
    assert got == {shown["id"]}, got
    assert reply_ids(bst, a, s["a1"]) == [s["rc"], shown["id"]]
    assert hidden["id"] in reply_ids(bst, s["b"][1], s["a1"])


# -- direct messages ----------------------------------------------------------------
def test_dms_the_blocked_author_starts_from_my_post_are_taken_and_never_delivered(bst):
    s = scene(bst)
    a, b = s["a"][1], s["b"][1]
    block_ok(bst, a, s["p1"])
    mine = post(bst, a)["id"]
    cid = start_ok(bst, b, mine)                    # 201, as for anyone
    events_before = len(all_events(bst, a))
    m = send_ok(bst, b, cid)
    assert [x["id"] for x in all_messages(bst, b, cid)] == [m["id"]]
    assert cid in [c["id"] for c in dm_list(bst, b)["items"]]
    # The blocker: no conversation, no event, no way in.
    assert cid not in [c["id"] for c in walk(bst, "/dm/list", token=a, limit=100)[0]]
    assert len(all_events(bst, a)) == events_before
    assert_error(messages(bst, a, cid), 404, "not_found")
    assert_error(send(bst, a, cid, {"body": uniq("dm")}), 404, "not_found")


def test_the_author_gets_the_same_answers_whether_or_not_the_peer_blocked_them(bst):
    s = scene(bst)
    a, b, c = s["a"][1], s["b"][1], s["c"][1]
    block_ok(bst, a, s["p1"])
    answers = []
    for owner in (a, c):            # a blocked b, c did not
        cid = start_ok(bst, b, post(bst, owner)["id"])
        r = send(bst, b, cid, {"body": uniq("dm")})
        assert r.status_code == 201, describe(r)
        item = [x for x in dm_list(bst, b)["items"] if x["id"] == cid][0]
        answers.append((sorted(r.json()["message"]), sorted(item), item["unread"]))
    assert answers[0] == answers[1]


def test_an_existing_conversation_from_my_post_leaves_my_list_when_i_block(bst):
    s = scene(bst)
    a, b = s["a"][1], s["b"][1]
    cid = start_ok(bst, b, s["a1"])
    send_ok(bst, b, cid)
    assert cid in [c["id"] for c in walk(bst, "/dm/list", token=a, limit=100)[0]]
    bid = block_ok(bst, a, s["p1"])
    assert cid not in [c["id"] for c in walk(bst, "/dm/list", token=a, limit=100)[0]]
    assert unblock(bst, a, bid).status_code == 204
    assert cid in [c["id"] for c in walk(bst, "/dm/list", token=a, limit=100)[0]]


def test_a_conversation_i_started_from_another_post_of_the_author_stays(bst):
    """Hiding it would tell the blocker that p2 and p1 share an author."""
    s = scene(bst)
    a, b = s["a"][1], s["b"][1]
    cid = start_ok(bst, a, s["p2"])
    block_ok(bst, a, s["p1"])
    before = len(all_events(bst, a))
    m = send_ok(bst, b, cid)
    assert m["id"] in [x["id"] for x in all_messages(bst, a, cid)]
    assert len(all_events(bst, a)) == before + 1
    assert cid in [c["id"] for c in walk(bst, "/dm/list", token=a, limit=100)[0]]


def test_a_conversation_i_started_from_the_blocked_post_leaves_my_list(bst):
    s = scene(bst)
    a, b = s["a"][1], s["b"][1]
    cid = start_ok(bst, a, s["p1"])
    block_ok(bst, a, s["p1"])
    r = send(bst, b, cid, {"body": uniq("dm")})
    assert r.status_code == 201, describe(r)
    assert cid not in [c["id"] for c in walk(bst, "/dm/list", token=a, limit=100)[0]]
    assert_error(messages(bst, a, cid), 404, "not_found")


# -- the routes -----------------------------------------------------------------------
def test_blocks_list_newest_first_and_blocking_again_gives_the_same_block(bst):
    s = scene(bst)
    a = s["a"][1]
    b1 = block_ok(bst, a, s["p1"])
    b2 = block_ok(bst, a, s["rb"])
    assert block_ok(bst, a, s["p1"]) == b1
    items = blocks(bst, a)
    assert [(i["block_id"], i["origin_post_id"]) for i in items] == \
        [(b2, s["rb"]), (b1, s["p1"])]
    assert blocks(bst, s["b"][1]) == []


def test_block_refusals(bst):
    s = scene(bst)
    a = s["a"][1]
    assert_error(block(bst, a, s["a1"]), 422, "invalid_field")
    assert_error(block(bst, a, UNKNOWN_ID), 404, "not_found")
    assert_error(block(bst, a, "not an id"), 404, "not_found")
    r = bst.request("POST", "/blocks", json={"post": s["p1"]}, headers=bearer(a))
    assert_error(r, 422, "invalid_field")
    r = bst.request("POST", "/blocks", json={"post_id": 7}, headers=bearer(a))
    assert_error(r, 422, "invalid_field")
    assert_error(bst.request("POST", "/blocks", json={"post_id": s["p1"]}), 401, "unauthorized")
    assert_error(bst.get("/blocks"), 401, "unauthorized")
    assert_page(bst.get("/blocks", headers=bearer(a)))
    assert_error(bst.get("/blocks", headers=bearer(a), params={"cursor": "x"}), 400,
                 "bad_request")


def test_someone_elses_block_cannot_be_deleted(bst):
    s = scene(bst)
    bid = block_ok(bst, s["a"][1], s["p1"])
    assert_error(unblock(bst, s["c"][1], bid), 404, "not_found")
    assert_error(unblock(bst, s["a"][1], UNKNOWN_ID), 404, "not_found")
    assert_error(unblock(bst, s["a"][1], "x" * 300), 404, "not_found")
    assert [b["block_id"] for b in blocks(bst, s["a"][1])] == [bid]
    assert unblock(bst, s["a"][1], bid).status_code == 204
    assert_error(unblock(bst, s["a"][1], bid), 404, "not_found")


def test_a_block_outlives_its_post_and_is_listed_still(bst):
    s = scene(bst)
    a = s["a"][1]
    bid = block_ok(bst, a, s["p1"])
    r = bst.request("DELETE", "/posts/%s" % s["p1"], headers=bearer(s["b"][1]))
    assert r.status_code == 204, describe(r)
    assert [(x["block_id"], x["origin_post_id"]) for x in blocks(bst, a)] == [(bid, s["p1"])]
    assert s["ra"] not in reply_ids(bst, a, s["a1"])


def test_blocks_and_mutes_are_in_the_export_and_go_with_the_account(bst):
    s = scene(bst)
    a = s["a"][1]
    bid = block_ok(bst, a, s["p1"])
    assert mute(bst, a, s["slug"]).status_code == 204
    doc = bst.get("/me/export", headers=bearer(a)).json()
    assert [(x["block_id"], x["origin_post_id"]) for x in doc["blocks"]] == [(bid, s["p1"])]
    assert set(doc["blocks"][0]) == BLOCK_KEYS
    assert doc["mutes"] == [{"community": s["slug"]}]
    assert bst.psql("SELECT count(*) FROM blocks WHERE id = '%s'" % bid) == [["1"]]
    r = delete_me(bst, a)
    assert r.status_code == 204, describe(r)
    assert bst.psql("SELECT count(*) FROM blocks WHERE id = '%s'" % bid) == [["0"]]
    assert bst.psql("SELECT count(*) FROM community_mutes m JOIN communities c "
                    "ON c.pk = m.community_pk WHERE c.slug = '%s'" % s["slug"]) == [["0"]]


# -- mutes ------------------------------------------------------------------------------
def test_a_muted_community_leaves_my_ranked_feed_only(bst):
    s = scene(bst)
    a = s["a"][1]
    other = community(bst, s["c"][1])["slug"]
    elsewhere = post(bst, s["c"][1], community=other)["id"]
    before = ranked_ids(bst, a)
    assert s["c1"] in before and elsewhere in before
    assert mute(bst, a, s["slug"]).status_code == 204
    assert mute(bst, a, s["slug"]).status_code == 204          # again: no change
    after = ranked_ids(bst, a)
    assert elsewhere in after
    assert not {s["p1"], s["p2"], s["a1"], s["c1"]} & set(after)
    # The community's own listing, the new feed and everyone else are as before.
    assert s["c1"] in ranked_ids(bst, a, community=s["slug"])
    assert s["c1"] in [p["id"] for p in walk(bst, "/feed", {"sort": "new"}, a, limit=50)[0]]
    assert s["c1"] in ranked_ids(bst, s["b"][1])
    assert mute(bst, a, s["slug"], "DELETE").status_code == 204
    assert s["c1"] in ranked_ids(bst, a)


def test_mute_refusals(bst):
    a = register(bst)
    assert_error(mute(bst, a[1], "no-such-community-here"), 404, "not_found")
    assert_error(mute(bst, a[1], "no-such-community-here", "DELETE"), 404, "not_found")
    assert_error(bst.request("POST", "/communities/%s/mute" % community(bst, a[1])["slug"]),
                 401, "unauthorized")


def test_the_block_rate_class_bounds_blocks(make_stack):
    st = make_stack("blockrate", SOTTO_RATE_BLOCK="2/3600")
    a, b = register(st), register(st)
    ids = [post(st, b[1])["id"] for _ in range(3)]
    for i in ids[:2]:
        r = block(st, a[1], i)
        assert r.status_code == 201 and "RateLimit-Remaining" in r.headers, describe(r)
    r = block(st, a[1], ids[2])
    assert_error(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) > 0
    assert feed_page(st, a[1], sort="new")["items"]
