"""A community's moderators (docs/moderation.md): POST
/communities/{slug}/moderators/invites, POST /communities/{slug}/moderators/join,
GET /communities/{slug}/moderators, DELETE /communities/{slug}/moderators/me.

The creator is the first moderator; others join with a single-use, expiring
invite that a moderator made. Moderators are known by a per-community
moderator_id only, and every moderator route answers 404 to anyone who does
not moderate that community, as for a community that does not exist."""
import re

import pytest

from accounts import b64u, today
from content import UNKNOWN_ID, assert_page, community, get_community_ok, new_slug, walk
from conftest import assert_error, bearer, delete_me, describe, register
from test_events import cleanup

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
