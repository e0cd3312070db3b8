"""Appeals of removals (docs/moderation.md): POST /moderation/appeals,
GET /moderation/appeals, POST /moderation/appeals/{id}/decision, and a
community's GET /communities/{slug}/appeals and POST
/communities/{slug}/appeals/{id}/decision.

A removal's moderation.decision event carries an appeal_id; its author
appeals once, within SOTTO_APPEAL_DAYS. A community's removal goes to its
moderators first, then (upheld) to the instance. A reversal restores the
post and exactly the trust the removal took; the author gets a
moderation.appeal event and the public logs an appeal_upheld or
appeal_reversed row. The removed post's ciphertext stays until the window
has passed; then `sotto cleanup` empties it (the day simulated through the
appeal's last_day)."""
import json
import re

import pytest

from accounts import today
from content import (UNKNOWN_ID, assert_page, community, get_post, get_post_ok, new_slug,
                     post, set_trust, trust, walk)
from conftest import assert_error, bearer, cleanup, describe, register
from test_moderation import (account_rows, decide_ok, flag_ok, flaggers, item_for, log_items,
                             review, visible)

ID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")
APPEAL_KEYS = {"id", "post", "note", "status", "stage", "removed_by", "day", "day_decided"}
NOTE = "This was a recipe, not spam."


@pytest.fixture(scope="module")
def ast(make_stack):
    # Many filings from one test client; the class itself: test_filing_has_its_rate_class.
    return make_stack("appeals", SOTTO_RATE_APPEAL="1000/3600")


def events(st, account_id, kind):
    rows = account_rows(st, account_id, "SELECT data FROM events WHERE account_pk = %%s "
                        "AND type = '%s' ORDER BY seq" % kind)
    return [json.loads(r[0]) for r in rows]


def removed_by_instance(st, author):
    """A post of author flagged and removed by the review token: (post, appeal_id)."""
    p = post(st, author[1])
    for token in flaggers(st, 1):
        flag_ok(st, token, p["id"], "spam")
    decide_ok(st, item_for(st, p["id"])["id"], "remove")
    last = events(st, author[0], "moderation.decision")[-1]
    assert last["post_id"] == p["id"] and last["decision"] == "remove", last
    assert ID_RE.match(last["appeal_id"]), last
    return p, last["appeal_id"]


def removed_by_community(st, author):
    """A post of author in a new community, removed by its creator: (post, appeal, owner, slug)."""
    _, owner = register(st)
    slug = community(st, owner)["slug"]
    p = post(st, author[1], community=slug)
    for token in flaggers(st, 1):
        flag_ok(st, token, p["id"], "spam")
    item = item_for(st, p["id"])
    r = st.request("POST", "/communities/%s/queue/%s/decision" % (slug, item["id"]),
                   json={"decision": "remove"}, headers=bearer(owner))
    assert r.status_code == 200, describe(r)
    appeal_id = events(st, author[0], "moderation.decision")[-1]["appeal_id"]
    return p, appeal_id, owner, slug


def file(st, token, appeal_id, note=NOTE):
    return st.request("POST", "/moderation/appeals", json={"appeal_id": appeal_id, "note": note},
                      headers=bearer(token))


def file_ok(st, token, appeal_id, stage):
    r = file(st, token, appeal_id)
    assert r.status_code == 201, describe(r)
    assert r.json() == {"appeal_id": appeal_id, "status": "pending", "stage": stage}, r.json()


def decide(st, appeal_id, decision, slug=None, token=None):
    if slug is None:
        return st.request("POST", "/moderation/appeals/%s/decision" % appeal_id,
                          json={"decision": decision}, headers=review(st))
    return st.request("POST", "/communities/%s/appeals/%s/decision" % (slug, appeal_id),
                      json={"decision": decision}, headers=bearer(token))


def decide_appeal_ok(st, appeal_id, decision, status, stage, slug=None, token=None):
    r = decide(st, appeal_id, decision, slug, token)
    assert r.status_code == 200, describe(r)
    assert r.json() == {"id": appeal_id, "status": status, "stage": stage}, r.json()


def appeals(st, status="pending", slug=None, token=None):
    if slug is None:
        items = []
        params = {"status": status, "limit": 100}
        while True:
            doc = assert_page(st.get("/moderation/appeals", params=params, headers=review(st)))
            items.extend(doc["items"])
            if doc["next_cursor"] is None:
                break
            params["cursor"] = doc["next_cursor"]
    else:
        items = walk(st, "/communities/%s/appeals" % slug, {"status": status}, token)[0]
    for a in items:
        assert set(a) == APPEAL_KEYS, a
    return items


def appeal_in(st, appeal_id, **kw):
    found = [a for a in appeals(st, **kw) if a["id"] == appeal_id]
    assert len(found) == 1, found
    return found[0]


def test_an_instance_removal_appealed_once_and_upheld(ast):
    author = register(ast)
    p, appeal_id = removed_by_instance(ast, author)
    file_ok(ast, author[1], appeal_id, "instance")
    assert_error(file(ast, author[1], appeal_id), 409, "conflict")
    a = appeal_in(ast, appeal_id)
    assert a["note"] == NOTE and a["post"]["id"] == p["id"] and a["post"]["body"] == p["body"], a
    assert (a["status"], a["stage"], a["removed_by"], a["day"], a["day_decided"]) == \
        ("pending", "instance", "instance", today(), None), a
    before = trust(ast, author[1])
    decide_appeal_ok(ast, appeal_id, "uphold", "upheld", "instance")
    assert_error(decide(ast, appeal_id, "reverse"), 409, "conflict")
    assert_error(get_post(ast, p["id"]), 404, "not_found")
    assert trust(ast, author[1]) == pytest.approx(before)
    assert appeal_id not in [x["id"] for x in appeals(ast)]
    assert appeal_in(ast, appeal_id, status="decided")["status"] == "upheld"
    assert events(ast, author[0], "moderation.appeal") == [
        {"appeal_id": appeal_id, "post_id": p["id"], "decision": "uphold", "by": "instance",
         "status": "upheld"}]
    assert {"day": today(), "action": "appeal_upheld", "reason": "appeal",
            "post_id": p["id"]} in log_items(ast)


def test_a_reversal_restores_the_post_and_exactly_the_trust_taken(ast):
    author = register(ast)
    set_trust(ast, author[0], 0.04)      # the removal can take 0.04 only, not 0.1
    p, appeal_id = removed_by_instance(ast, author)
    assert trust(ast, author[1]) == pytest.approx(0.0, abs=1e-6)
    file_ok(ast, author[1], appeal_id, "instance")
    decide_appeal_ok(ast, appeal_id, "reverse", "reversed", "instance")
    assert trust(ast, author[1]) == pytest.approx(0.04, abs=1e-6)
    assert get_post_ok(ast, p["id"])["post"]["body"] == p["body"]
    assert item_for(ast, p["id"], "decided")["status"] == "kept"
    # The flag was wrong after all: not upheld, and its flagger's record says so.
    assert ast.psql("SELECT f.upheld, s.upheld, s.not_upheld FROM flags f "
                    "JOIN posts p ON p.pk = f.post_pk "
                    "JOIN flagger_stats s ON s.account_pk = f.flagger_pk "
                    "WHERE p.id = '%s'" % p["id"]) == [["f", "0", "1"]]
    assert events(ast, author[0], "moderation.appeal")[-1]["decision"] == "reverse"
    assert {"day": today(), "action": "appeal_reversed", "reason": "appeal",
            "post_id": p["id"]} in log_items(ast)
    assert_error(file(ast, author[1], appeal_id), 409, "conflict")


def test_only_the_author_files_and_bad_bodies_are_422(ast):
    author = register(ast)
    _, appeal_id = removed_by_instance(ast, author)
    _, stranger = register(ast)
    # A stranger's answer is the answer for no such appeal: nothing tells whose it is.
    assert_error(file(ast, stranger, appeal_id), 404, "not_found")
    assert file(ast, stranger, appeal_id).json() == file(ast, stranger, UNKNOWN_ID).json()
    assert_error(file(ast, author[1], "A" * 200), 404, "not_found")
    for doc in ({}, {"appeal_id": 7, "note": NOTE}, {"appeal_id": appeal_id},
                {"appeal_id": appeal_id, "note": ""}, {"appeal_id": appeal_id, "note": 3}):
        r = ast.request("POST", "/moderation/appeals", json=doc, headers=bearer(author[1]))
        assert_error(r, 422, "invalid_field")
    assert_error(file(ast, author[1], appeal_id, "x" * 501), 422, "content_rejected")
    r = ast.request("POST", "/moderation/appeals", json={"appeal_id": appeal_id, "note": NOTE})
    assert_error(r, 401, "unauthorized")
    # Still unfiled after all of that.
    file_ok(ast, author[1], appeal_id, "instance")


def test_the_appeal_routes_need_their_tokens(ast):
    author = register(ast)
    for headers in ({}, {"X-Admin-Token": "wrong"}, bearer(author[1]),
                    {"X-Admin-Token": ast.sotto_env()["ADMIN_UI_TOKEN"]}):
        assert_error(ast.get("/moderation/appeals", headers=headers), 401, "unauthorized")
        r = ast.request("POST", "/moderation/appeals/%s/decision" % UNKNOWN_ID,
                        json={"decision": "uphold"}, headers=headers)
        assert_error(r, 401, "unauthorized")
    assert_error(decide(ast, UNKNOWN_ID, "uphold"), 404, "not_found")
    assert_error(ast.get("/moderation/appeals", params={"status": "all"}, headers=review(ast)),
                 422, "invalid_field")


def test_an_unfiled_appeal_cannot_be_decided(ast):
    author = register(ast)
    _, appeal_id = removed_by_instance(ast, author)
    assert_error(decide(ast, appeal_id, "reverse"), 404, "not_found")
    file_ok(ast, author[1], appeal_id, "instance")
    assert_error(decide(ast, appeal_id, "overturn"), 422, "invalid_field")


def test_a_community_removal_goes_to_its_moderators_then_the_instance_reverses(ast):
    author = register(ast)
    before = trust(ast, author[1])
    p, appeal_id, owner, slug = removed_by_community(ast, author)
    file_ok(ast, author[1], appeal_id, "community")
    # The instance waits for the community's answer.
    assert_error(decide(ast, appeal_id, "reverse"), 409, "conflict")
    assert appeal_id not in [a["id"] for a in appeals(ast)]
    a = appeal_in(ast, appeal_id, slug=slug, token=owner)
    assert (a["stage"], a["removed_by"], a["note"]) == ("community", "community", NOTE), a
    # Nobody else sees or decides it.
    _, stranger = register(ast)
    other = register(ast)[1]
    theirs = community(ast, other)["slug"]
    for token in (stranger, author[1], other):
        assert_error(ast.get("/communities/%s/appeals" % slug, headers=bearer(token)),
                     404, "not_found")
        assert_error(decide(ast, appeal_id, "reverse", slug, token), 404, "not_found")
    # Another community's moderator naming this appeal in their own community: 404.
    assert appeals(ast, slug=theirs, token=other) == []
    assert_error(decide(ast, appeal_id, "reverse", theirs, other), 404, "not_found")
    decide_appeal_ok(ast, appeal_id, "uphold", "pending", "instance", slug, owner)
    assert_error(decide(ast, appeal_id, "reverse", slug, owner), 409, "conflict")
    assert appeal_in(ast, appeal_id)["stage"] == "instance"
    decide_appeal_ok(ast, appeal_id, "reverse", "reversed", "instance")
    assert get_post_ok(ast, p["id"])["post"]["body"] == p["body"]
    assert trust(ast, author[1]) == pytest.approx(before, abs=1e-6)
    assert [(e["decision"], e["by"], e["status"])
            for e in events(ast, author[0], "moderation.appeal")] == [
        ("uphold", "community", "pending"), ("reverse", "instance", "reversed")]
    clog = walk(ast, "/communities/%s/log" % slug)[0]
    assert [e["action"] for e in clog] == ["appeal_reversed", "appeal_upheld", "remove"], clog


def test_a_community_reverses_its_own_removal(ast):
    author = register(ast)
    before = trust(ast, author[1])
    p, appeal_id, owner, slug = removed_by_community(ast, author)
    file_ok(ast, author[1], appeal_id, "community")
    decide_appeal_ok(ast, appeal_id, "reverse", "reversed", "community", slug, owner)
    assert visible(ast, p["id"])
    assert trust(ast, author[1]) == pytest.approx(before, abs=1e-6)
    assert [a["id"] for a in appeals(ast, "decided", slug, owner)] == [appeal_id]
    assert_error(decide(ast, appeal_id, "uphold"), 409, "conflict")


def test_the_instance_undoing_a_community_removal_voids_its_appeal(ast):
    author = register(ast)
    p, appeal_id, _, _ = removed_by_community(ast, author)
    decide_ok(ast, item_for(ast, p["id"], "decided")["id"], "keep")
    assert_error(file(ast, author[1], appeal_id), 409, "conflict")


def test_an_override_gives_back_what_the_community_removal_took(ast):
    author = register(ast)
    set_trust(ast, author[0], 0.04)
    p, _, _, _ = removed_by_community(ast, author)
    assert trust(ast, author[1]) == pytest.approx(0.0, abs=1e-6)
    decide_ok(ast, item_for(ast, p["id"], "decided")["id"], "keep")
    assert trust(ast, author[1]) == pytest.approx(0.04, abs=1e-6)


def test_the_window_closes_and_cleanup_empties_the_ciphertext(ast):
    author = register(ast)
    p, appeal_id = removed_by_instance(ast, author)
    pending, pending_id = removed_by_instance(ast, author)
    file_ok(ast, author[1], pending_id, "instance")
    sealed = "SELECT length(body_sealed) FROM posts WHERE id = '%s'"
    # Both windows open: cleanup keeps both ciphertexts.
    assert cleanup(ast).returncode == 0
    assert ast.number(sealed % p["id"]) > 0
    # A simulated day: both windows passed yesterday.
    ast.psql("UPDATE mod_appeals SET last_day = %d WHERE id IN ('%s', '%s')"
             % (today() - 1, appeal_id, pending_id))
    assert_error(file(ast, author[1], appeal_id), 409, "conflict")
    r = cleanup(ast)
    assert r.returncode == 0 and re.search(
        r"[1-9]\d* removed posts' ciphertext past their appeal window", r.stdout), \
        (r.stdout, r.stderr)
    assert ast.psql(sealed % p["id"]) == [["0"]]
    # A filed appeal keeps its post's ciphertext until it is decided.
    assert ast.number(sealed % pending["id"]) > 0
    assert appeal_in(ast, pending_id)["post"]["body"] == pending["body"]
    decide_appeal_ok(ast, pending_id, "uphold", "upheld", "instance")
    assert cleanup(ast).returncode == 0
    assert ast.psql(sealed % pending["id"]) == [["0"]]
    # Listed still, without a post.
    assert appeal_in(ast, pending_id, status="decided")["post"] is None


def test_an_emptied_post_cannot_be_brought_back_by_an_override(ast):
    author = register(ast)
    p, appeal_id, _, _ = removed_by_community(ast, author)
    ast.psql("UPDATE mod_appeals SET last_day = %d WHERE id = '%s'" % (today() - 1, appeal_id))
    assert cleanup(ast).returncode == 0
    rows = ast.psql("SELECT m.id FROM mod_items m JOIN posts p ON p.pk = m.post_pk "
                    "WHERE p.id = '%s'" % p["id"])
    r = ast.request("POST", "/moderation/queue/%s/decision" % rows[0][0],
                    json={"decision": "keep"}, headers=review(ast))
    assert_error(r, 409, "conflict")
    assert_error(get_post(ast, p["id"]), 404, "not_found")


def test_filing_has_its_rate_class(make_stack):
    st = make_stack("appealrate", SOTTO_RATE_APPEAL="1/3600")
    author = register(st)
    first = removed_by_instance(st, author)[1]
    second = removed_by_instance(st, author)[1]
    file_ok(st, author[1], first, "instance")
    r = file(st, author[1], second)
    assert_error(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) > 0
    assert_error(file(st, author[1], new_slug()), 429, "rate_limited")


def test_the_export_lists_the_authors_appeals_filed_or_not_and_the_moderators_roles(ast):
    """GET /me/export: "appeals" holds every appeal of the account's removed
    posts (an unfiled one too, with the last day it can be filed), the note
    in clear; nobody else's export shows them. "moderating" lists the
    communities the account moderates, with its moderator_id there."""
    author = register(ast)
    p1, unfiled = removed_by_instance(ast, author)
    p2, filed = removed_by_instance(ast, author)
    file_ok(ast, author[1], filed, "instance")
    decide_appeal_ok(ast, filed, "uphold", "upheld", "instance")
    doc = ast.get("/me/export", headers=bearer(author[1])).json()
    window = doc["appeals"][0]["last_day"] - today()
    assert window > 0, doc["appeals"]
    assert doc["appeals"] == [
        {"appeal_id": unfiled, "post_id": p1["id"], "status": "unfiled", "last_day": today() + window,
         "day_filed": None, "day_decided": None, "note": None},
        {"appeal_id": filed, "post_id": p2["id"], "status": "upheld", "last_day": today() + window,
         "day_filed": today(), "day_decided": today(), "note": NOTE}]
    assert doc["moderating"] == []

    other = register(ast)
    _, _, owner, slug = removed_by_community(ast, other)
    doc = ast.get("/me/export", headers=bearer(owner)).json()
    assert doc["appeals"] == [], doc["appeals"]
    mods = ast.get("/communities/%s/moderators" % slug, headers=bearer(owner)).json()["items"]
    assert [(m["community"], m["moderator_id"]) for m in doc["moderating"]] == \
        [(slug, mods[0]["moderator_id"])], doc["moderating"]
    assert doc["moderating"][0]["day_joined"] == today()
