"""Helpers for the content tests (docs/posts.md):
posts, replies, votes, communities, feed pages and walks over every page.

Texts are unique per call (uuid) because the guardrails refuse the same text
twice from one account within SOTTO_GUARD_REPEAT_WINDOW (600 s by default)."""
import json
import re
import uuid

from accounts import id_hash, me_ok, today
from conftest import bearer, describe

POST_KEYS = {"id", "body", "day", "score", "reply_count", "community", "parent_id",
             "mine", "my_vote"}
COMMUNITY_KEYS = {"slug", "title", "description", "day", "post_count", "moderator_count", "rules"}
ID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")
# An id that is well formed but (with overwhelming probability) unknown.
UNKNOWN_ID = "AAAAAAAAAAAAAAAAAAAAAA"


def uniq(prefix="text"):
    return "%s %s" % (prefix, uuid.uuid4().hex)


def new_slug(prefix="c"):
    return ("%s-%s" % (prefix, uuid.uuid4().hex))[:32]


def auth(token):
    return bearer(token) if token else {}


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


# -- shapes ------------------------------------------------------------------
def assert_post(p, body=None, mine=None, my_vote=None, community="-", parent_id="-"):
    """p is a Post object of the contract (exactly its fields, sane types)."""
    assert isinstance(p, dict) and set(p) == POST_KEYS, "post fields: %r" % (p,)
    assert isinstance(p["id"], str) and ID_RE.match(p["id"]), p
    assert isinstance(p["body"], str), p
    assert is_int(p["day"]) and abs(p["day"] - today()) <= 400, p
    assert is_int(p["score"]) and is_int(p["reply_count"]) and p["reply_count"] >= 0, p
    assert p["community"] is None or isinstance(p["community"], str), p
    assert p["parent_id"] is None or (isinstance(p["parent_id"], str)
                                      and ID_RE.match(p["parent_id"])), p
    assert isinstance(p["mine"], bool), p
    assert is_int(p["my_vote"]) and p["my_vote"] in (-1, 0, 1), p
    if body is not None:
        assert p["body"] == body, (p["body"], body)
    if mine is not None:
        assert p["mine"] is mine, p
    if my_vote is not None:
        assert p["my_vote"] == my_vote, p
    if community != "-":
        assert p["community"] == community, p
    if parent_id != "-":
        assert p["parent_id"] == parent_id, p
    return p


def assert_community(c, slug=None, title=None, description=None, post_count=None):
    assert isinstance(c, dict) and set(c) == COMMUNITY_KEYS, "community fields: %r" % (c,)
    assert isinstance(c["slug"], str) and isinstance(c["title"], str), c
    assert isinstance(c["description"], str), c
    assert is_int(c["day"]) and abs(c["day"] - today()) <= 400, c
    assert is_int(c["post_count"]) and c["post_count"] >= 0, c
    for k, v in (("slug", slug), ("title", title), ("description", description),
                 ("post_count", post_count)):
        if v is not None:
            assert c[k] == v, (k, c)
    return c


def assert_page(r):
    """r is 200 with {"items": [...], "next_cursor": str|null}; returns the body."""
    assert r.status_code == 200, describe(r)
    doc = r.json()
    assert isinstance(doc, dict) and set(doc) == {"items", "next_cursor"}, describe(r)
    assert isinstance(doc["items"], list), describe(r)
    nc = doc["next_cursor"]
    assert nc is None or (isinstance(nc, str) and nc), describe(r)
    return doc


# -- posts ---------------------------------------------------------------------
def create_post(st, token, body=None, community=None, **extra):
    doc = {"body": body}
    if community is not None:
        doc["community"] = community
    doc.update(extra)
    return st.request("POST", "/posts", json=doc, headers=auth(token))


def post(st, token, body=None, community=None):
    """A new top-level post (asserts 201): the Post object."""
    body = uniq("post") if body is None else body
    r = create_post(st, token, body, community)
    assert r.status_code == 201, describe(r)
    doc = r.json()
    assert set(doc) == {"post"}, describe(r)
    return assert_post(doc["post"], body=body, mine=True, my_vote=0, community=community,
                       parent_id=None)


def create_reply(st, token, parent_id, body):
    return st.request("POST", "/posts/%s/reply" % parent_id, json={"body": body},
                      headers=auth(token))


def reply(st, token, parent_id, body=None):
    body = uniq("reply") if body is None else body
    r = create_reply(st, token, parent_id, body)
    assert r.status_code == 201, describe(r)
    doc = r.json()
    assert set(doc) == {"post"}, describe(r)
    return assert_post(doc["post"], body=body, mine=True, my_vote=0, parent_id=parent_id)


def get_post(st, post_id, token=None, **params):
    return st.get("/posts/%s" % post_id, headers=auth(token), params=params)


def get_post_ok(st, post_id, token=None, **params):
    """GET /posts/{id} (asserts 200 and the shape): the whole document."""
    r = get_post(st, post_id, token, **params)
    assert r.status_code == 200, describe(r)
    doc = r.json()
    assert set(doc) == {"post", "replies", "next_cursor"}, describe(r)
    assert_post(doc["post"])
    assert isinstance(doc["replies"], list), describe(r)
    for p in doc["replies"]:
        assert_post(p, parent_id=post_id)
    nc = doc["next_cursor"]
    assert nc is None or (isinstance(nc, str) and nc), describe(r)
    return doc


def delete_post(st, token, post_id):
    return st.request("DELETE", "/posts/%s" % post_id, headers=auth(token))


def delete_ok(st, token, post_id):
    r = delete_post(st, token, post_id)
    assert r.status_code == 204, describe(r)


# -- votes -----------------------------------------------------------------------
def vote(st, token, post_id, value):
    return st.request("POST", "/posts/%s/vote" % post_id, json={"value": value},
                      headers=auth(token))


def vote_ok(st, token, post_id, value):
    r = vote(st, token, post_id, value)
    assert r.status_code == 200, describe(r)
    doc = r.json()
    assert set(doc) == {"score", "my_vote"}, describe(r)
    assert is_int(doc["score"]) and doc["my_vote"] == value, describe(r)
    return doc["score"]


# -- feed ------------------------------------------------------------------------
def feed(st, token=None, **params):
    return st.get("/feed", headers=auth(token), params=params)


def feed_page(st, token=None, **params):
    doc = assert_page(feed(st, token, **params))
    for p in doc["items"]:
        assert_post(p, parent_id=None)
    return doc


def feed_ids(st, token=None, **params):
    return [p["id"] for p in feed_page(st, token, **params)["items"]]


# -- communities -------------------------------------------------------------------
def create_community(st, token, slug=None, title=None, description=None, **extra):
    doc = {"slug": new_slug() if slug is None else slug,
           "title": uniq("title") if title is None else title,
           "description": uniq("description") if description is None else description}
    doc.update(extra)
    return st.request("POST", "/communities", json=doc, headers=auth(token))


def community(st, token, slug=None, title=None, description=None):
    """A new community (asserts 201): the community object."""
    slug = new_slug() if slug is None else slug
    title = uniq("title") if title is None else title
    description = uniq("description") if description is None else description
    r = create_community(st, token, slug, title, description)
    assert r.status_code == 201, describe(r)
    doc = r.json()
    assert set(doc) == {"community"}, describe(r)
    return assert_community(doc["community"], slug=slug, title=title,
                            description=description, post_count=0)


def get_community(st, slug, token=None):
    return st.get("/communities/%s" % slug, headers=auth(token))


def get_community_ok(st, slug):
    r = get_community(st, slug)
    assert r.status_code == 200, describe(r)
    return assert_community(r.json(), slug=slug)


# -- walking pages -------------------------------------------------------------------
def walk(st, path, params=None, token=None, limit=3, between=None, items_key="items",
         max_pages=1000):
    """Follow next_cursor from the first page of path to the last.
    between(page_number, items_so_far) runs after each page but the last.
    Returns (list of every item in order, number of pages)."""
    params = dict(params or {})
    params["limit"] = limit
    seen, pages, cursor = [], 0, None
    while True:
        q = dict(params)
        if cursor is not None:
            q["cursor"] = cursor
        r = st.get(path, params=q, headers=auth(token))
        assert r.status_code == 200, describe(r)
        doc = r.json()
        items = doc[items_key]
        assert len(items) <= limit, "page of %d items for limit %d" % (len(items), limit)
        seen.extend(items)
        pages += 1
        assert pages <= max_pages, "more than %d pages" % max_pages
        cursor = doc["next_cursor"]
        if cursor is None:
            return seen, pages
        assert isinstance(cursor, str) and cursor, describe(r)
        if between is not None:
            between(pages, seen)


def assert_no_duplicates(ids):
    dup = sorted({i for i in ids if ids.count(i) > 1})
    assert not dup, "items seen more than once: %s" % dup


# -- accounts and the database ---------------------------------------------------
def trust(st, token):
    return me_ok(st, token)["trust"]


def set_trust(st, account_id, value):
    """Set an account's trust the way a moderation decision moves it:
    sotto_adjust_trust() (sql/004) re-ranks all of the author's posts."""
    h = id_hash(st, account_id).hex()
    rows = st.psql("SELECT sotto_adjust_trust(pk, %r - trust) FROM accounts "
                   "WHERE id_hash = '\\x%s'" % (float(value), h))
    assert len(rows) == 1, "no account row for %s" % account_id


def age_post(st, post_id, days):
    """Make a post `days` days older (the rank trigger recomputes its rank)."""
    rows = st.psql("UPDATE posts SET day = day - %d WHERE id = '%s' RETURNING day"
                   % (days, post_id))
    assert len(rows) == 1, "no post row %s" % post_id


def raw_json(st, method, path, raw, token=None):
    """A request with a raw (bytes) JSON body, e.g. UTF-8 not escaped by json.dumps."""
    headers = {"Content-Type": "application/json"}
    headers.update(auth(token))
    return st.request(method, path, data=raw, headers=headers)


def utf8_json(doc):
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")
