"""Guardrails (docs/posts.md, include/guard.h):
before any write of user text (posts, replies, community title and
description) the text is checked, and refused with
422 {"error": {"code": "content_rejected", "reason": ..., "message"}}:
too_long, empty, control_characters, too_many_links, blocked_term, repeated.
Invalid UTF-8 cannot come through JSON: 400 invalid_json.

The main stack has the defaults (post_max_chars from GET /config, 3 links,
no blocklist, a 600 s repetition window); gst has 20 characters per post, a
blocklist file and a 10 s repetition window (long enough that a loaded
machine still sends a repeat within it)."""
import json
import os
import shutil
import tempfile
import time
import uuid

import pytest

from content import (community, create_community, create_post, create_reply, feed_ids,
                     get_community_ok, get_post_ok, post, raw_json, reply, uniq, utf8_json)
from conftest import Stack, assert_error, bearer, describe, register

GST_MAX_CHARS = 20
GST_WINDOW = 10
BLOCKED = ["frobnicate", "Evil Phrase"]
TITLE_MAX, DESCRIPTION_MAX = 100, 2000


@pytest.fixture(scope="module")
def gst(make_stack):
    d = tempfile.mkdtemp(prefix="sotto-e2e-blocklist-")
    os.chmod(d, 0o755)
    path = os.path.join(d, "blocklist.txt")
    with open(path, "w") as f:
        # A blank line is no term (it would block everything).
        f.write("%s\n\n%s\n" % tuple(BLOCKED))
    os.chmod(path, 0o644)
    try:
        yield make_stack("guard", SOTTO_POST_MAX_CHARS=str(GST_MAX_CHARS),
                         SOTTO_GUARD_BLOCKLIST=path,
                         SOTTO_GUARD_REPEAT_WINDOW=str(GST_WINDOW))
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def acct(stack):
    return register(stack)[1]


def short():
    """A unique text that fits in GST_MAX_CHARS."""
    return "t" + uuid.uuid4().hex[:12]


def rejected(r, reason):
    err = assert_error(r, 422, "content_rejected")
    assert err.get("reason") == reason, describe(r)
    return err


def max_chars(st):
    r = st.get("/config")
    assert r.status_code == 200, describe(r)
    return r.json()["limits"]["post_max_chars"]


def exactly(n, prefix=None):
    text = uniq("x") if prefix is None else prefix
    return (text + "y" * n)[:n]


# -- too_long ------------------------------------------------------------------
def test_post_of_max_chars_is_fine_one_more_is_too_long(stack, acct):
    n = max_chars(stack)
    post(stack, acct, exactly(n))
    rejected(create_post(stack, acct, exactly(n + 1)), "too_long")


def test_reply_is_limited_like_a_post(stack, acct):
    n = max_chars(stack)
    p = post(stack, acct)
    reply(stack, acct, p["id"], exactly(n))
    rejected(create_reply(stack, acct, p["id"], exactly(n + 1)), "too_long")
    assert get_post_ok(stack, p["id"])["post"]["reply_count"] == 1


def test_config_tells_the_configured_limit(gst):
    assert max_chars(gst) == GST_MAX_CHARS


@pytest.mark.parametrize("ch", ["é", "€", "😀", "日"], ids=["2-byte", "3-byte", "4-byte", "cjk"])
def test_multibyte_characters_count_as_one(gst, ch):
    token = register(gst)[1]
    ok = ch * GST_MAX_CHARS
    r = raw_json(gst, "POST", "/posts", utf8_json({"body": ok}), token)
    assert r.status_code == 201, describe(r)
    assert r.json()["post"]["body"] == ok
    r = raw_json(gst, "POST", "/posts", utf8_json({"body": ch * (GST_MAX_CHARS + 1)}), token)
    rejected(r, "too_long")


def test_escaped_astral_characters_count_as_one(gst):
    # json.dumps escapes U+1F600 as a surrogate pair \ud83d\ude00.
    token = register(gst)[1]
    p = post(gst, token, "😀" * GST_MAX_CHARS)
    assert p["body"] == "😀" * GST_MAX_CHARS
    rejected(create_post(gst, token, "🙂" * (GST_MAX_CHARS + 1)), "too_long")


def test_title_and_description_limits(stack, acct):
    community(stack, acct, title=exactly(TITLE_MAX), description=exactly(DESCRIPTION_MAX))
    rejected(create_community(stack, acct, title=exactly(TITLE_MAX + 1)), "too_long")
    rejected(create_community(stack, acct, description=exactly(DESCRIPTION_MAX + 1)),
             "too_long")


def test_title_limit_counts_characters_not_bytes(stack, acct):
    title = ("ü" + uuid.uuid4().hex)[:TITLE_MAX]
    title = title + "ü" * (TITLE_MAX - len(title))
    r = raw_json(stack, "POST", "/communities",
                 utf8_json({"slug": "g-" + uuid.uuid4().hex[:20], "title": title,
                            "description": ""}), acct)
    assert r.status_code == 201, describe(r)


# -- empty -----------------------------------------------------------------------
@pytest.mark.parametrize("text", ["   ", "\n\t  \n", " \t"], ids=["spaces", "newlines", "tab"])
def test_blank_post_is_empty(stack, acct, text):
    rejected(create_post(stack, acct, text), "empty")


def test_empty_string_post_is_refused(stack, acct):
    r = create_post(stack, acct, "")
    assert r.status_code == 422, describe(r)
    if r.json()["error"]["code"] == "content_rejected":
        rejected(r, "empty")
    else:
        assert_error(r, 422, "invalid_field")


def test_blank_reply_and_title_are_empty(stack, acct):
    p = post(stack, acct)
    rejected(create_reply(stack, acct, p["id"], "   "), "empty")
    rejected(create_community(stack, acct, title="   "), "empty")


def test_surrounding_white_space_is_fine(stack, acct):
    body = "  " + uniq() + "\n"
    p = post(stack, acct, body)
    assert p["body"] in (body, body.strip())


# -- control characters -------------------------------------------------------------
CONTROLS = {"bell": "a\u0007b", "nel": "\u0085", "nel-inside": "x\u0085y",
            "esc": "a\u001b[31mred", "del": "a\u007fb", "c1-last": "a\u009fb",
            "vtab": "a\u000bb", "backspace": "a\u0008b"}


@pytest.mark.parametrize("text", list(CONTROLS.values()), ids=list(CONTROLS))
def test_control_characters_in_a_post(stack, acct, text):
    rejected(create_post(stack, acct, text + " " + uuid.uuid4().hex), "control_characters")


def test_nul_never_reaches_the_guardrails_the_json_layer_refuses_it(stack, acct):
    # The JSON layer rejects NUL bytes, escaped or raw, before any handler.
    assert_error(create_post(stack, acct, "a\u0000b " + uuid.uuid4().hex), 400, "invalid_json")


def test_control_characters_in_reply_title_and_description(stack, acct):
    p = post(stack, acct)
    rejected(create_reply(stack, acct, p["id"], "a\u0007b " + uniq()), "control_characters")
    rejected(create_community(stack, acct, title="a\u0007b"), "control_characters")
    rejected(create_community(stack, acct, description="a\u001bb " + uniq()),
             "control_characters")
    assert get_post_ok(stack, p["id"])["post"]["reply_count"] == 0


def test_newline_and_tab_are_fine(stack, acct):
    body = "first line\nsecond\tcolumn " + uniq()
    p = post(stack, acct, body)
    assert get_post_ok(stack, p["id"])["post"]["body"] == body
    r = reply(stack, acct, p["id"], "a\tb\nc " + uniq())
    assert "\t" in r["body"]
    c = community(stack, acct, description="one\ntwo\tthree " + uniq())
    assert "\n" in get_community_ok(stack, c["slug"])["description"]


def test_unicode_format_and_emoji_are_not_control_characters(stack, acct):
    body = "zero\u200bwidth ‘quotes’ — 👩‍👩‍👧 " + uniq()
    assert post(stack, acct, body)["body"] == body


# -- too_many_links ------------------------------------------------------------------
def links(n):
    forms = ["http://a.example/x", "https://b.example", "www.c.example", "HTTPS://D.EXAMPLE",
             "WWW.e.example", "Http://f.example"]
    return " ".join(forms[:n]) + " " + uniq()


def test_three_links_are_fine_four_are_too_many(stack, acct):
    post(stack, acct, links(3))
    rejected(create_post(stack, acct, links(4)), "too_many_links")
    rejected(create_post(stack, acct, links(6)), "too_many_links")


def test_links_are_counted_case_insensitively(stack, acct):
    body = "HTTP://a.example WWW.b.example Https://c.example hTTp://d.example " + uniq()
    rejected(create_post(stack, acct, body), "too_many_links")


def test_too_many_links_in_reply_and_description(stack, acct):
    p = post(stack, acct)
    rejected(create_reply(stack, acct, p["id"], links(4)), "too_many_links")
    rejected(create_community(stack, acct, description=links(4)), "too_many_links")
    reply(stack, acct, p["id"], links(3))


# -- blocked_term (gst) ----------------------------------------------------------------
@pytest.mark.parametrize("text", ["x frobnicate", "FROBNICATE!", "unfrobnicated",
                                  "an evil phrase", "EVIL PHRASE"],
                         ids=["plain", "upper", "inside-a-word", "phrase", "phrase-upper"])
def test_blocked_terms_are_refused_in_any_case(gst, text):
    token = register(gst)[1]
    rejected(create_post(gst, token, text), "blocked_term")


def test_blocked_terms_in_reply_title_and_description(gst):
    token = register(gst)[1]
    p = post(gst, token, short())
    rejected(create_reply(gst, token, p["id"], "so Frobnicate"), "blocked_term")
    rejected(create_community(gst, token, title="The Evil Phrase club"), "blocked_term")
    rejected(create_community(gst, token, description="we frobnicate here"), "blocked_term")


def test_text_without_blocked_terms_passes(gst):
    token = register(gst)[1]
    post(gst, token, "frob nicate evil")
    community(gst, token, title="Evil phrasing, no", description="")


def test_main_stack_has_no_blocklist(stack, acct):
    post(stack, acct, "frobnicate " + uniq())


# -- repeated --------------------------------------------------------------------------
def test_the_same_text_twice_by_one_account_is_repeated(stack, acct):
    body = uniq("say it once")
    p = post(stack, acct, body)
    rejected(create_post(stack, acct, body), "repeated")
    mine = [x for x in feed_ids(stack, sort="new", limit=100)]
    assert p["id"] in mine


def test_repetition_ignores_surrounding_space_and_ascii_case(stack, acct):
    body = uniq("Hello There")
    post(stack, acct, body)
    rejected(create_post(stack, acct, "  " + body.upper() + "  "), "repeated")


def test_another_account_may_say_the_same(stack, acct):
    body = uniq("great minds")
    post(stack, acct, body)
    post(stack, register(stack)[1], body)


def test_a_repeated_reply_is_refused(stack, acct):
    p = post(stack, acct)
    q = post(stack, acct)
    body = uniq("me too")
    reply(stack, acct, p["id"], body)
    rejected(create_reply(stack, acct, q["id"], body), "repeated")


def test_a_text_whose_write_failed_is_not_a_repeat(stack, acct):
    """A post held up past the statement timeout (a session holds a SHARE
    lock on posts) is answered 503 and not written: the very same text,
    sent again once the lock is gone, is a new post, not a repeat."""
    body = uniq("retry me")
    # The post waits out the server's statement timeout (5 s) before its
    # 503: give the client all the time that takes, so that the answer, not
    # the client's own timeout, ends the request. The lock has no timer of
    # its own: it is held until the block ends, however long that takes.
    answer_timeout = 60
    with stack.holding("LOCK TABLE posts IN SHARE MODE", name="posts",
                       lock="relation = 'posts'::regclass AND mode = 'ShareLock'"):
        r = stack.request("POST", "/posts", json={"body": body}, headers=bearer(acct),
                          timeout=answer_timeout)
        assert_error(r, 503, "unavailable")
    p = post(stack, acct, body)
    assert p["id"] in feed_ids(stack, sort="new", limit=100)
    rejected(create_post(stack, acct, body), "repeated")


def test_two_communities_with_an_empty_description_are_fine(stack, acct):
    community(stack, acct, description="")
    community(stack, acct, description="")


def test_after_the_window_the_same_account_may_again(gst):
    token = register(gst)[1]
    body = short()
    t0 = time.monotonic()
    post(gst, token, body)
    rejected(create_post(gst, token, body), "repeated")
    assert time.monotonic() - t0 < GST_WINDOW, "too slow to test within the window"
    # A refused repeat does not extend the window (SET NX): poll until the
    # same text is a new post again, which must not be before the window.
    Stack.wait_for(lambda: create_post(gst, token, body).status_code == 201, GST_WINDOW + 30,
                   "the repetition window to pass", interval=0.5)
    assert time.monotonic() - t0 >= GST_WINDOW - 0.5


# -- invalid UTF-8 ---------------------------------------------------------------------
@pytest.mark.parametrize("raw", [b"a\xffb", b"\xc0\xaf", b"a\xed\xa0\x80b", b"\xe2\x82"],
                         ids=["ff", "overlong", "utf8-surrogate", "truncated"])
def test_invalid_utf8_post_is_400_invalid_json(stack, acct, raw):
    r = raw_json(stack, "POST", "/posts", b'{"body": "' + raw + b'"}', acct)
    assert_error(r, 400, "invalid_json")


def test_invalid_utf8_reply_and_community_are_400(stack, acct):
    p = post(stack, acct)
    r = raw_json(stack, "POST", "/posts/%s/reply" % p["id"], b'{"body": "a\xffb"}', acct)
    assert_error(r, 400, "invalid_json")
    r = raw_json(stack, "POST", "/communities",
                 b'{"slug": "u-' + uuid.uuid4().hex[:10].encode() +
                 b'", "title": "t\xff", "description": ""}', acct)
    assert_error(r, 400, "invalid_json")


def test_lone_surrogate_escape_is_400_invalid_json(stack, acct):
    r = raw_json(stack, "POST", "/posts", b'{"body": "a\\ud800b"}', acct)
    assert_error(r, 400, "invalid_json")


# -- a refused text writes nothing -----------------------------------------------------
def test_refused_posts_leave_no_trace(stack, acct):
    c = community(stack, acct)
    body = uniq()
    for text in ("   ", "a\u0007b", links(4), exactly(max_chars(stack) + 1)):
        r = create_post(stack, acct, text, community=c["slug"])
        assert r.status_code == 422, describe(r)
    assert feed_ids(stack, community=c["slug"]) == []
    assert get_community_ok(stack, c["slug"])["post_count"] == 0
    # and a refused text is not remembered as written
    post(stack, acct, body, community=c["slug"])


def test_a_refused_community_is_not_created(stack, acct):
    slug = "r-" + uuid.uuid4().hex[:20]
    rejected(create_community(stack, acct, slug=slug, title="a\u0085b"), "control_characters")
    assert_error(stack.get("/communities/%s" % slug), 404, "not_found")
    community(stack, acct, slug=slug)


def test_a_community_refused_for_its_description_may_be_sent_again_fixed(stack, acct):
    # Nothing was written, so the title was not "written" either: sending the
    # same community again with a fixed description is no repetition.
    slug, title = "f-" + uuid.uuid4().hex[:20], uniq("title")
    rejected(create_community(stack, acct, slug=slug, title=title, description=links(4)),
             "too_many_links")
    r = create_community(stack, acct, slug=slug, title=title, description=uniq())
    assert r.status_code == 201, describe(r)


def test_guard_errors_carry_the_contract_shape(stack, acct):
    r = create_post(stack, acct, "   ")
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "reason"}, body
    json.dumps(body)
