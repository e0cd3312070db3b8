"""Communities (docs/posts.md):
POST /communities {"slug", "title", "description"} -> 201 {"community": {...}}
(DECIDED), GET /communities (sorted by slug, DECIDED, paged),
GET /communities/{slug} -> the bare community object (DECIDED);
post_count counts the visible top-level posts in it."""
import uuid

import pytest

from accounts import today
from content import (COMMUNITY_KEYS, assert_community, assert_no_duplicates, assert_page,
                     community, create_community, delete_ok, get_community,
                     get_community_ok, new_slug, post, reply, uniq, walk)
from conftest import assert_error, assert_standard_headers, bearer, describe, register


@pytest.fixture
def alice(stack):
    return register(stack)


def test_create_community_is_201_with_the_community(stack, alice):
    slug, title, desc = new_slug(), uniq("Knitting circle"), uniq("all about yarn")
    r = create_community(stack, alice[1], slug, title, desc)
    assert r.status_code == 201, describe(r)
    assert_standard_headers(r)
    doc = r.json()
    assert set(doc) == {"community"}, doc
    c = doc["community"]
    assert set(c) == COMMUNITY_KEYS, c
    assert (c["slug"], c["title"], c["description"], c["post_count"]) == (slug, title, desc, 0)
    assert abs(c["day"] - today()) <= 1, c


def test_get_community_is_the_bare_object(stack, alice):
    c = community(stack, alice[1])
    r = get_community(stack, c["slug"])
    assert r.status_code == 200, describe(r)
    assert_standard_headers(r)
    assert r.json() == c, (r.json(), c)
    # the same with a token
    r = get_community(stack, c["slug"], alice[1])
    assert r.status_code == 200 and r.json() == c, describe(r)


def test_community_reveals_no_creator(stack, alice):
    c = community(stack, alice[1])
    text = get_community(stack, c["slug"]).text
    assert alice[0] not in text
    assert "creator" not in text and "author" not in text


def test_empty_description_is_allowed(stack, alice):
    c = community(stack, alice[1], description="")
    assert get_community_ok(stack, c["slug"])["description"] == ""


def test_unicode_title_and_multiline_description_round_trip(stack, alice):
    title = "Café ☕ " + uniq()[-8:]
    desc = "line one\nline two\twith tab " + uniq()
    c = community(stack, alice[1], title=title, description=desc)
    got = get_community_ok(stack, c["slug"])
    assert (got["title"], got["description"]) == (title, desc)


VALID_SLUGS = {
    "three": lambda u: u[:3],
    "hyphen-inside": lambda u: u[:3] + "-" + u[3:6],
    "leading-hyphen": lambda u: "-" + u[:5],
    "trailing-hyphen": lambda u: u[:5] + "-",
    "digits": lambda u: str(int(u[:12], 16))[:10],
    "32": lambda u: u[:32],
}


@pytest.mark.parametrize("make", list(VALID_SLUGS.values()), ids=list(VALID_SLUGS))
def test_slug_edge_cases_that_are_valid(stack, alice, make):
    s = make(uuid.uuid4().hex)
    r = create_community(stack, alice[1], s)
    assert r.status_code == 201, describe(r)
    assert r.json()["community"]["slug"] == s
    assert get_community_ok(stack, s)["slug"] == s


@pytest.mark.parametrize("slug", ["ABC-upper", "Abc", "ab", "x" * 33, "a_b", "a b", "a.b",
                                  "äbc", "", "abc/", "abc\n"],
                         ids=["upper", "mixed", "two", "33", "underscore", "space", "dot",
                              "umlaut", "empty", "slash", "newline"])
def test_bad_slug_is_422_invalid_field(stack, alice, slug):
    err = assert_error(create_community(stack, alice[1], slug), 422, "invalid_field")
    assert "slug" in err["message"], err


@pytest.mark.parametrize("value", [None, 123, ["abc"], True],
                         ids=["null", "number", "array", "bool"])
def test_non_string_slug_is_422_invalid_field(stack, alice, value):
    r = stack.request("POST", "/communities",
                      json={"slug": value, "title": uniq(), "description": ""},
                      headers=bearer(alice[1]))
    err = assert_error(r, 422, "invalid_field")
    assert "slug" in err["message"], err


def test_missing_slug_is_422_invalid_field(stack, alice):
    r = stack.request("POST", "/communities", json={"title": uniq(), "description": ""},
                      headers=bearer(alice[1]))
    err = assert_error(r, 422, "invalid_field")
    assert "slug" in err["message"], err


@pytest.mark.parametrize("doc", [{}, {"title": None}, {"title": 5}],
                         ids=["missing", "null", "number"])
def test_bad_title_is_422_invalid_field(stack, alice, doc):
    body = {"slug": new_slug(), "description": ""}
    body.update(doc)
    r = stack.request("POST", "/communities", json=body, headers=bearer(alice[1]))
    err = assert_error(r, 422, "invalid_field")
    assert "title" in err["message"], err


def test_empty_title_is_refused(stack, alice):
    r = create_community(stack, alice[1], title="")
    assert r.status_code == 422, describe(r)
    err = r.json()["error"]
    if err["code"] == "content_rejected":
        assert err.get("reason") == "empty", err
    else:
        assert_error(r, 422, "invalid_field")


@pytest.mark.parametrize("value", [5, ["d"], {"d": 1}], ids=["number", "array", "object"])
def test_non_string_description_is_422_invalid_field(stack, alice, value):
    r = create_community(stack, alice[1], description=value)
    err = assert_error(r, 422, "invalid_field")
    assert "description" in err["message"], err


def test_taken_slug_is_409_conflict_for_anyone(stack, alice):
    c = community(stack, alice[1])
    assert_error(create_community(stack, alice[1], c["slug"]), 409, "conflict")
    _, other = register(stack)
    assert_error(create_community(stack, other, c["slug"]), 409, "conflict")
    # The first one is unchanged.
    assert get_community_ok(stack, c["slug"]) == c


def test_create_community_without_a_token_is_401(stack):
    slug = new_slug()
    assert_error(create_community(stack, None, slug), 401, "unauthorized")
    assert_error(get_community(stack, slug), 404, "not_found")


@pytest.mark.parametrize("slug", ["no-such-community-here", "ABC", "x" * 40, "a_b"])
def test_unknown_community_is_404(stack, slug):
    assert_error(get_community(stack, slug), 404, "not_found")


# -- post_count -------------------------------------------------------------------
def test_post_count_follows_visible_top_level_posts(stack, alice):
    _, bob = register(stack)
    c = community(stack, alice[1])
    p1 = post(stack, alice[1], community=c["slug"])
    assert get_community_ok(stack, c["slug"])["post_count"] == 1
    p2 = post(stack, bob, community=c["slug"])
    post(stack, bob)                                    # elsewhere
    reply(stack, bob, p1["id"])                         # replies do not count
    assert get_community_ok(stack, c["slug"])["post_count"] == 2
    delete_ok(stack, bob, p2["id"])
    assert get_community_ok(stack, c["slug"])["post_count"] == 1
    delete_ok(stack, alice[1], p1["id"])
    assert get_community_ok(stack, c["slug"])["post_count"] == 0


def test_post_count_in_the_listing_matches(stack, alice):
    c = community(stack, alice[1])
    post(stack, alice[1], community=c["slug"])
    items, _ = walk(stack, "/communities", limit=100)
    found = [x for x in items if x["slug"] == c["slug"]]
    assert len(found) == 1 and found[0]["post_count"] == 1, found


# -- GET /communities -----------------------------------------------------------------
def test_list_communities_is_a_page_sorted_by_slug(stack, alice):
    made = sorted(community(stack, alice[1])["slug"] for _ in range(3))
    r = stack.get("/communities", params={"limit": 100})
    doc = assert_page(r)
    assert_standard_headers(r)
    for c in doc["items"]:
        assert_community(c)
    slugs = [c["slug"] for c in doc["items"]]
    assert slugs == sorted(slugs), slugs
    items, _ = walk(stack, "/communities", limit=100)
    all_slugs = [c["slug"] for c in items]
    assert set(made) <= set(all_slugs)


def test_list_communities_with_a_token_is_the_same(stack, alice):
    community(stack, alice[1])
    a = stack.get("/communities", params={"limit": 5}).json()["items"]
    b = stack.get("/communities", params={"limit": 5}, headers=bearer(alice[1])).json()["items"]
    assert a == b


def test_list_communities_default_limit_is_20(stack, alice):
    for _ in range(21):
        community(stack, alice[1])
    doc = assert_page(stack.get("/communities"))
    assert len(doc["items"]) == 20 and doc["next_cursor"], doc


def test_walking_communities_sees_each_once_while_new_ones_arrive(stack, alice):
    for _ in range(5):
        community(stack, alice[1])
    before, _ = walk(stack, "/communities", limit=100)
    before = [c["slug"] for c in before]
    added = []

    def between(n, seen):
        if n <= 6:
            # One that sorts first, one that sorts last, one in the middle.
            for prefix in ("0", "z", "m"):
                added.append(community(stack, alice[1], slug=new_slug(prefix))["slug"])

    seen, _ = walk(stack, "/communities", limit=3, between=between)
    slugs = [c["slug"] for c in seen]
    assert_no_duplicates(slugs)
    missing = [s for s in before if s not in slugs]
    assert not missing, "skipped: %s" % missing
    assert slugs == sorted(slugs), "the walk is not in slug order"
    assert set(slugs) <= set(before) | set(added)


@pytest.mark.parametrize("limit", ["0", "101", "x"])
def test_list_communities_bad_limit_is_422(stack, limit):
    err = assert_error(stack.get("/communities", params={"limit": limit}), 422, "invalid_field")
    assert "limit" in err["message"], err


@pytest.mark.parametrize("cursor", ["garbage", "AAAAAAAAAAAAAAAAAAAAAAAA", "x" * 300])
def test_list_communities_bad_cursor_is_400(stack, cursor):
    assert_error(stack.get("/communities", params={"cursor": cursor}), 400, "bad_request")


def test_a_feed_cursor_does_not_page_communities(stack, alice):
    for _ in range(2):
        post(stack, alice[1])
    cur = stack.get("/feed", params={"limit": 1, "sort": "new"}).json()["next_cursor"]
    assert cur
    assert_error(stack.get("/communities", params={"cursor": cur}), 400, "bad_request")


def test_wrong_methods_are_405(stack, alice):
    c = community(stack, alice[1])
    r = stack.request("DELETE", "/communities", headers=bearer(alice[1]))
    assert_error(r, 405, "method_not_allowed")
    assert "GET" in r.headers.get("Allow", "") and "POST" in r.headers.get("Allow", "")
    r = stack.request("PUT", "/communities/%s" % c["slug"], json={}, headers=bearer(alice[1]))
    assert_error(r, 405, "method_not_allowed")
