"""Writes of content take the route's proof-of-work action and rate class
(docs/accounts.md, "Proof of work"; the route table's flags): POST /posts → post,
POST /posts/{id}/reply → reply, POST /posts/{id}/vote → vote,
POST /communities → community; POST and reply share the POST class."""
import pytest

from conftest import assert_error, bearer, pow_header, register
from content import new_slug, uniq

POW_BITS = "4"


@pytest.fixture(scope="module")
def guarded(make_stack):
    st = make_stack("contentpow", SOTTO_POW_POST=POW_BITS, SOTTO_POW_REPLY=POW_BITS,
                    SOTTO_POW_VOTE=POW_BITS, SOTTO_POW_COMMUNITY=POW_BITS)
    _, token = register(st)
    return st, token


@pytest.fixture(scope="module")
def limited(make_stack):
    # Every test talks from 127.0.0.1: the class bucket is this stack's alone.
    return make_stack("contentrate", SOTTO_RATE_POST="3/3600")


def write(st, token, path, body, action=None):
    headers = bearer(token)
    if action:
        headers.update(pow_header(st, action))
    return st.request("POST", path, json=body, headers=headers)


def test_each_content_write_needs_its_own_proof_of_work(guarded):
    st, token = guarded
    r = write(st, token, "/posts", {"body": uniq()})
    assert_error(r, 428, "pow_required")
    r = write(st, token, "/posts", {"body": uniq()}, action="post")
    assert r.status_code == 201, r.text
    post_id = r.json()["post"]["id"]
    for path, body, action, status in (
            ("/posts/%s/reply" % post_id, {"body": uniq()}, "reply", 201),
            ("/posts/%s/vote" % post_id, {"value": 1}, "vote", 200),
            ("/communities", {"slug": new_slug(), "title": uniq()}, "community", 201)):
        assert_error(write(st, token, path, body), 428, "pow_required")
        assert_error(write(st, token, path, body, action="post"), 403, "pow_invalid")
        r = write(st, token, path, body, action=action)
        assert r.status_code == status, (path, r.status_code, r.text)


def test_posts_and_replies_share_the_post_rate_class(limited):
    st = limited
    _, token = register(st)
    r = write(st, token, "/posts", {"body": uniq()})
    assert r.status_code == 201, r.text
    post_id = r.json()["post"]["id"]
    assert write(st, token, "/posts/%s/reply" % post_id, {"body": uniq()}).status_code == 201
    assert write(st, token, "/posts", {"body": uniq()}).status_code == 201
    r = write(st, token, "/posts", {"body": uniq()})
    assert_error(r, 429, "rate_limited")
    assert r.headers.get("Retry-After")
