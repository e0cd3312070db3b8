"""A community's moderators (docs/moderation.md): POST
/communities/{slug}/moderators/invites, POST /communities/{slug}/moderators/join,
GET /communities/{slug}/moderators, DELETE /communities/{slug}/moderators/me;
its queue, decisions and public log: GET /communities/{slug}/queue, POST
/communities/{slug}/queue/{item_id}/decision, GET /communities/{slug}/log.

The creator is the first moderator; others join with a single-use, expiring
invite that a moderator made. Moderators are known by a per-community
moderator_id only, and every moderator route answers 404 to anyone who does
not moderate that community, as for a community that does not exist."""
import json
import re

import pytest

from accounts import b64u, today
from content import (UNKNOWN_ID, assert_page, assert_post, community, get_community_ok,
                     get_post, get_post_ok, new_slug, post, trust, walk)
from conftest import assert_error, bearer, delete_me, describe, register
from test_events import cleanup
from test_moderation import (ITEM_KEYS, LOG_KEYS, account_rows, decide, decide_ok, flag_ok,
                             flaggers, item_for, log_items, visible)

MOD_KEYS = {"moderator_id", "day_joined"}
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
ID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")


@pytest.fixture(scope="module")
def mst(make_stack):
    return make_stack("mods")


def invite_req(st, token, slug):
    return st.request("POST", "/communities/%s/moderators/invites" % slug, headers=bearer(token))


def invite_ok(st, token, slug):
    r = invite_req(st, token, slug)
    assert r.status_code == 201, describe(r)
    doc = r.json()
    assert set(doc) == {"invite", "expires_day"} and SECRET_RE.match(doc["invite"]), doc
    assert doc["expires_day"] == today() + 7, doc
    return doc["invite"]


def join_req(st, token, slug, secret):
    return st.request("POST", "/communities/%s/moderators/join" % slug,
                      json={"invite": secret}, headers=bearer(token))


def join_ok(st, token, slug, secret):
    r = join_req(st, token, slug, secret)
    assert r.status_code == 201, describe(r)
    doc = r.json()
    assert set(doc) == {"moderator_id"} and ID_RE.match(doc["moderator_id"]), doc
    return doc["moderator_id"]


def leave(st, token, slug):
    return st.request("DELETE", "/communities/%s/moderators/me" % slug, headers=bearer(token))


def moderators(st, slug):
    items = walk(st, "/communities/%s/moderators" % slug, limit=1)[0]
    for m in items:
        assert set(m) == MOD_KEYS and ID_RE.match(m["moderator_id"]), m
        assert abs(m["day_joined"] - today()) <= 1, m
    return items


def test_the_creator_is_the_first_moderator(mst):
    _, token = register(mst)
    c = community(mst, token)
    assert c["moderator_count"] == 1, c
    mods = moderators(mst, c["slug"])
    assert len(mods) == 1, mods
    # An account has a new moderator id in each community it moderates.
    other = moderators(mst, community(mst, token)["slug"])
    assert other[0]["moderator_id"] != mods[0]["moderator_id"]


def test_an_invite_makes_a_moderator_once(mst):
    _, owner = register(mst)
    _, bob = register(mst)
    _, carol = register(mst)
    slug = community(mst, owner)["slug"]
    secret = invite_ok(mst, owner, slug)
    mid = join_ok(mst, bob, slug, secret)
    assert [m["moderator_id"] for m in moderators(mst, slug)][1:] == [mid]
    assert get_community_ok(mst, slug)["moderator_count"] == 2
    # Single use: the same secret is unknown now, to anyone.
    assert_error(join_req(mst, carol, slug, secret), 404, "not_found")
    # The new moderator invites in turn.
    join_ok(mst, carol, slug, invite_ok(mst, bob, slug))
    assert len(moderators(mst, slug)) == 3


def test_joining_twice_is_409_and_keeps_the_invite(mst):
    _, owner = register(mst)
    _, bob = register(mst)
    slug = community(mst, owner)["slug"]
    secret = invite_ok(mst, owner, slug)
    assert_error(join_req(mst, owner, slug, secret), 409, "conflict")
    join_ok(mst, bob, slug, secret)


def test_an_invite_works_for_its_own_community_only(mst):
    _, owner = register(mst)
    _, bob = register(mst)
    slug, elsewhere = community(mst, owner)["slug"], community(mst, owner)["slug"]
    secret = invite_ok(mst, owner, slug)
    assert_error(join_req(mst, bob, elsewhere, secret), 404, "not_found")
    assert_error(join_req(mst, bob, new_slug(), secret), 404, "not_found")
    join_ok(mst, bob, slug, secret)


def test_an_expired_or_unknown_invite_is_404_and_cleanup_drops_it(mst):
    _, owner = register(mst)
    _, bob = register(mst)
    slug = community(mst, owner)["slug"]
    old = invite_ok(mst, owner, slug)
    pk = mst.psql("SELECT pk FROM communities WHERE slug = '%s'" % slug)[0][0]
    mst.psql("UPDATE community_mod_invites SET expires_day = %d WHERE community_pk = %s"
             % (today() - 1, pk))
    assert_error(join_req(mst, bob, slug, old), 404, "not_found")
    r = cleanup(mst)
    assert r.returncode == 0 and re.search(r"[1-9]\d* expired moderator invites", r.stdout), \
        (r.stdout, r.stderr)
    assert mst.psql("SELECT count(*) FROM community_mod_invites WHERE community_pk = %s"
                    % pk) == [["0"]]
    for bad in (b64u(bytes(32)), "short", "A" * 43, "A" * 44):
        assert_error(join_req(mst, bob, slug, bad), 404, "not_found")
    for bad in ({}, {"invite": 7}, {"invite": None}):
        r = mst.request("POST", "/communities/%s/moderators/join" % slug, json=bad,
                        headers=bearer(bob))
        assert_error(r, 422, "invalid_field")


def test_only_a_moderator_invites_and_others_get_404(mst):
    _, owner = register(mst)
    _, bob = register(mst)
    slug = community(mst, owner)["slug"]
    assert_error(invite_req(mst, bob, slug), 404, "not_found")
    assert_error(invite_req(mst, owner, new_slug()), 404, "not_found")
    # The answer to an outsider is the answer for no such community.
    assert invite_req(mst, bob, slug).json() == invite_req(mst, bob, new_slug()).json()
    r = mst.request("POST", "/communities/%s/moderators/invites" % slug)
    assert_error(r, 401, "unauthorized")


def test_leaving_and_a_community_without_moderators(mst):
    _, owner = register(mst)
    _, bob = register(mst)
    slug = community(mst, owner)["slug"]
    join_ok(mst, bob, slug, invite_ok(mst, owner, slug))
    assert leave(mst, owner, slug).status_code == 204
    assert_error(leave(mst, owner, slug), 404, "not_found")
    assert_error(invite_req(mst, owner, slug), 404, "not_found")
    assert leave(mst, bob, slug).status_code == 204
    assert moderators(mst, slug) == []
    assert get_community_ok(mst, slug)["moderator_count"] == 0
    assert_error(leave(mst, bob, new_slug()), 404, "not_found")


def test_the_list_pages_and_unknown_communities_are_404(mst):
    _, owner = register(mst)
    slug = community(mst, owner)["slug"]
    for _ in range(3):
        join_ok(mst, register(mst)[1], slug, invite_ok(mst, owner, slug))
    r = mst.get("/communities/%s/moderators?limit=2" % slug)
    assert r.status_code == 200, describe(r)
    assert_page(r)
    assert len(r.json()["items"]) == 2 and r.json()["next_cursor"]
    ids = [m["moderator_id"] for m in moderators(mst, slug)]
    assert len(ids) == len(set(ids)) == 4, ids
    assert_error(mst.get("/communities/%s/moderators" % new_slug()), 404, "not_found")
    assert_error(mst.get("/communities/%s/moderators?cursor=%s" % (slug, UNKNOWN_ID)),
                 400, "bad_request")


def test_a_deleted_account_leaves_its_communities_moderators(mst):
    _, owner = register(mst)
    _, bob = register(mst)
    slug = community(mst, owner)["slug"]
    join_ok(mst, bob, slug, invite_ok(mst, owner, slug))
    assert delete_me(mst, bob).status_code == 204
    assert len(moderators(mst, slug)) == 1


# -- the community's queue, decisions and log --------------------------------------

def cqueue(st, token, slug, **params):
    return st.get("/communities/%s/queue" % slug, params=params, headers=bearer(token))


def cqueue_items(st, token, slug, status="pending"):
    items = walk(st, "/communities/%s/queue" % slug, {"status": status}, token)[0]
    for i in items:
        assert set(i) == ITEM_KEYS and i["status"] in ("pending", "kept", "removed"), i
        assert_post(i["post"], community=slug, mine=False, my_vote=0)
    return items


def cdecide(st, token, slug, item_id, decision):
    return st.request("POST", "/communities/%s/queue/%s/decision" % (slug, item_id),
                      json={"decision": decision}, headers=bearer(token))


def cdecide_ok(st, token, slug, item_id, decision):
    r = cdecide(st, token, slug, item_id, decision)
    assert r.status_code == 200, describe(r)
    assert r.json() == {"id": item_id,
                        "status": "removed" if decision == "remove" else "kept"}, r.json()


def clog(st, slug):
    return walk(st, "/communities/%s/log" % slug)[0]


def decision_events(st, account_id):
    rows = account_rows(st, account_id, "SELECT data FROM events WHERE account_pk = %s "
                        "AND type = 'moderation.decision' ORDER BY seq")
    return [json.loads(r[0]) for r in rows]


@pytest.fixture
def place(mst):
    """A community with its creator (a moderator), an author and a flagged post in it."""
    _, owner = register(mst)
    author = register(mst)
    slug = community(mst, owner)["slug"]
    p = post(mst, author[1], community=slug)
    for token in flaggers(mst, 1):
        flag_ok(mst, token, p["id"], "spam")
    return owner, author, slug, p


def test_a_moderator_sees_its_communitys_items_and_nothing_names_anyone(mst, place):
    owner, _, slug, p = place
    elsewhere = post(mst, register(mst)[1], community=community(mst, owner)["slug"])
    flag_ok(mst, register(mst)[1], elsewhere["id"])
    items = cqueue_items(mst, owner, slug)
    assert [i["post"]["id"] for i in items] == [p["id"]], items
    assert items[0]["source"] == "flag" and items[0]["flag_count"] == 1, items
    assert items[0]["reasons"] == {"spam": 1}, items
    # The instance queue keeps listing it, as the same item.
    assert item_for(mst, p["id"])["id"] == items[0]["id"]
    assert cqueue_items(mst, owner, slug, "decided") == []
    assert_error(cqueue(mst, owner, slug, status="all"), 422, "invalid_field")


def test_anyone_but_its_moderators_gets_404(mst, place):
    owner, author, slug, p = place
    item = cqueue_items(mst, owner, slug)[0]
    _, stranger = register(mst)
    other_mod = register(mst)[1]
    community(mst, other_mod)           # a moderator, of another community
    for token in (stranger, other_mod, author[1]):
        assert_error(cqueue(mst, token, slug), 404, "not_found")
        assert_error(cdecide(mst, token, slug, item["id"], "remove"), 404, "not_found")
    assert cqueue(mst, stranger, slug).json() == cqueue(mst, stranger, new_slug()).json()
    # A moderator naming another community's item in its own community: 404.
    theirs = community(mst, other_mod)["slug"]
    assert_error(cdecide(mst, other_mod, theirs, item["id"], "remove"), 404, "not_found")
    assert_error(cdecide(mst, owner, slug, UNKNOWN_ID, "remove"), 404, "not_found")
    assert_error(cdecide(mst, owner, slug, item["id"], "delete"), 422, "invalid_field")
    assert visible(mst, p["id"])


def test_a_community_removal_the_instance_reverses(mst, place):
    owner, author, slug, p = place
    item = cqueue_items(mst, owner, slug)[0]
    before = trust(mst, author[1])
    cdecide_ok(mst, owner, slug, item["id"], "remove")
    assert_error(get_post(mst, p["id"]), 404, "not_found")
    assert p["id"] not in [q["id"] for q in walk(mst, "/feed", {"sort": "new",
                                                               "community": slug})[0]]
    assert trust(mst, author[1]) == pytest.approx(before - 0.1)
    assert_error(cdecide(mst, owner, slug, item["id"], "keep"), 409, "conflict")
    assert [i["status"] for i in cqueue_items(mst, owner, slug, "decided")] == ["removed"]
    entry = {"day": today(), "action": "remove", "reason": "spam", "post_id": p["id"]}
    assert clog(mst, slug) == [entry]
    assert entry in log_items(mst)
    events = decision_events(mst, author[0])
    assert [set(e) for e in events] == [{"post_id", "decision", "reason", "appeal_id"}], events
    assert {k: events[0][k] for k in ("post_id", "decision", "reason")} == \
        {"post_id": p["id"], "decision": "remove", "reason": "spam"}
    # The instance overrides: the post is back, and so is the author's trust.
    decide_ok(mst, item["id"], "keep")
    assert get_post_ok(mst, p["id"])["post"]["body"] == p["body"]
    assert trust(mst, author[1]) == pytest.approx(before)
    assert mst.psql("SELECT DISTINCT upheld FROM flags f JOIN posts p ON p.pk = f.post_pk "
                    "WHERE p.id = '%s'" % p["id"]) == [["f"]]
    assert [e["action"] for e in clog(mst, slug)] == ["keep", "remove"]
    assert decision_events(mst, author[0])[-1] == {"post_id": p["id"], "decision": "keep",
                                                   "reason": "spam"}
    # Decided by the instance: final for everyone.
    assert_error(decide(mst, item["id"], "remove"), 409, "conflict")
    assert_error(cdecide(mst, owner, slug, item["id"], "remove"), 409, "conflict")


def test_a_community_keep_the_instance_overrides_with_a_removal(mst, place):
    owner, author, slug, p = place
    item = cqueue_items(mst, owner, slug)[0]
    before = trust(mst, author[1])
    cdecide_ok(mst, owner, slug, item["id"], "keep")
    assert visible(mst, p["id"]) and trust(mst, author[1]) == pytest.approx(before)
    decide_ok(mst, item["id"], "remove")
    assert_error(get_post(mst, p["id"]), 404, "not_found")
    assert trust(mst, author[1]) == pytest.approx(before - 0.1)
    assert [e["action"] for e in clog(mst, slug)] == ["remove", "keep"]


def test_the_instance_confirming_a_community_decision_changes_nothing_else(mst, place):
    owner, author, slug, p = place
    item = cqueue_items(mst, owner, slug)[0]
    before = trust(mst, author[1])
    cdecide_ok(mst, owner, slug, item["id"], "remove")
    decide_ok(mst, item["id"], "remove")
    assert trust(mst, author[1]) == pytest.approx(before - 0.1)
    assert len(clog(mst, slug)) == 1 and len(decision_events(mst, author[0])) == 1
    assert_error(decide(mst, item["id"], "keep"), 409, "conflict")


def test_the_community_log_is_public_and_its_own(mst, place):
    owner, _, slug, p = place
    quiet = community(mst, owner)["slug"]
    cdecide_ok(mst, owner, slug, cqueue_items(mst, owner, slug)[0]["id"], "keep")
    assert clog(mst, quiet) == []
    assert [e["post_id"] for e in clog(mst, slug)] == [p["id"]]
    for e in clog(mst, slug):
        assert set(e) == LOG_KEYS, e
    assert_error(mst.get("/communities/%s/log" % new_slug()), 404, "not_found")


def test_invite_join_and_decision_have_their_rate_classes(make_stack):
    st = make_stack("modrate", SOTTO_RATE_MOD_INVITE="2/3600", SOTTO_RATE_MOD_JOIN="1/3600",
                    SOTTO_RATE_MOD_DECISION="1/3600")
    _, owner = register(st)
    _, bob = register(st)
    slug = community(st, owner)["slug"]
    first = invite_ok(st, owner, slug)
    invite_ok(st, owner, slug)
    r = invite_req(st, owner, slug)
    assert_error(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) > 0
    # A join that fails still counts: guessing invites is bounded.
    assert_error(join_req(st, bob, slug, b64u(bytes(32))), 404, "not_found")
    assert_error(join_req(st, bob, slug, first), 429, "rate_limited")
    ids = [post(st, register(st)[1], community=slug)["id"] for _ in range(2)]
    for i in ids:
        flag_ok(st, register(st)[1], i)
    items = cqueue_items(st, owner, slug)
    cdecide_ok(st, owner, slug, items[0]["id"], "keep")
    assert_error(cdecide(st, owner, slug, items[1]["id"], "keep"), 429, "rate_limited")


def set_rules(st, token, slug, rules):
    return st.request("PUT", "/communities/%s/rules" % slug, json={"rules": rules},
                      headers=bearer(token))


def test_moderators_set_the_rules_and_anyone_reads_them(mst):
    _, owner = register(mst)
    _, bob = register(mst)
    slug = community(mst, owner)["slug"]
    assert get_community_ok(mst, slug)["rules"] == ""
    join_ok(mst, bob, slug, invite_ok(mst, owner, slug))
    rules = "Be kind. No spoilers before Friday. \u00e9\u00e8"
    r = set_rules(mst, bob, slug, rules)         # any moderator, not only the creator
    assert r.status_code == 200, describe(r)
    assert r.json()["rules"] == rules and r.json()["slug"] == slug, r.json()
    assert get_community_ok(mst, slug)["rules"] == rules
    # Sealed at rest, like the title.
    assert rules.encode() not in bytes.fromhex(mst.psql(
        "SELECT encode(rules_sealed, 'hex') FROM communities WHERE slug = '%s'" % slug)[0][0])
    assert set_rules(mst, owner, slug, "").status_code == 200
    assert get_community_ok(mst, slug)["rules"] == ""
    _, stranger = register(mst)
    assert_error(set_rules(mst, stranger, slug, "mine now"), 404, "not_found")
    assert_error(set_rules(mst, owner, new_slug(), "x"), 404, "not_found")
    assert_error(set_rules(mst, owner, slug, 7), 422, "invalid_field")
    assert_error(set_rules(mst, owner, slug, "x" * 2001), 422, "content_rejected")
    assert get_community_ok(mst, slug)["rules"] == ""
