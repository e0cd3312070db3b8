"""Moderation (docs/moderation.md):
POST /moderation/flag, GET /moderation/queue,
POST /moderation/queue/{id}/decision, GET /moderation/log; weighted flags
holding a post, decisions moving trust, flags and events, and the "flags"
section of GET /me/export."""
import json
import re
import threading

import pytest

from accounts import id_hash, today
from content import (ID_RE, UNKNOWN_ID, assert_page, assert_post, delete_ok, feed_ids,
                     get_post, get_post_ok, post, reply, set_trust, trust, uniq, walk)
from conftest import assert_error, assert_standard_headers, bearer, describe, register

REASONS = ("spam", "harassment", "hate", "sexual", "violence", "self_harm", "illegal", "other")
ITEM_KEYS = {"id", "post", "source", "flag_count", "reasons", "auto_score", "status", "day",
             "note"}
LOG_KEYS = {"day", "action", "reason", "post_id"}
HOLD_WEIGHT = 1.5   # SOTTO_FLAG_HOLD_WEIGHT default: three flaggers of trust 0.5


# -- helpers ---------------------------------------------------------------------
def review(st):
    return {"X-Admin-Token": st.sotto_env()["ADMIN_REVIEW_TOKEN"]}


def flag(st, token, post_id, reason="spam", **extra):
    doc = {"post_id": post_id, "reason": reason}
    doc.update(extra)
    return st.request("POST", "/moderation/flag", json=doc, headers=bearer(token))


def flag_ok(st, token, post_id, reason="spam", **extra):
    r = flag(st, token, post_id, reason, **extra)
    assert r.status_code == 202, describe(r)
    doc = r.json()
    assert set(doc) == {"flag_id"} and ID_RE.match(doc["flag_id"]), describe(r)
    return doc["flag_id"]


def queue(st, headers=None, **params):
    return st.get("/moderation/queue", params=params,
                  headers=review(st) if headers is None else headers)


def decide(st, item_id, decision, headers=None, **extra):
    doc = {"decision": decision}
    doc.update(extra)
    return st.request("POST", "/moderation/queue/%s/decision" % item_id, json=doc,
                      headers=review(st) if headers is None else headers)


def decide_ok(st, item_id, decision, **extra):
    r = decide(st, item_id, decision, **extra)
    assert r.status_code == 200, describe(r)
    doc = r.json()
    assert doc == {"id": item_id, "status": "removed" if decision == "remove" else "kept"}, doc
    return doc


def queue_items(st, status="pending"):
    """Every item of the queue with that status, walking all pages."""
    items = []
    params = {"status": status, "limit": 100}
    while True:
        doc = assert_page(queue(st, **params))
        items.extend(doc["items"])
        if doc["next_cursor"] is None:
            return items
        params["cursor"] = doc["next_cursor"]


def item_for(st, post_id, status="pending"):
    found = [i for i in queue_items(st, status) if i["post"]["id"] == post_id]
    assert len(found) == 1, "%d %s items for post %s" % (len(found), status, post_id)
    return found[0]


def visible(st, post_id):
    return get_post(st, post_id).status_code == 200


def in_feed(st, post_id):
    return post_id in feed_ids(st, sort="new", limit=100)


def flaggers(st, n, trust_value=None):
    """n new accounts (tokens), with that trust when given."""
    out = []
    for _ in range(n):
        account_id, token = register(st)
        if trust_value is not None:
            set_trust(st, account_id, trust_value)
        out.append(token)
    return out


def held_post(st, author_token, reason="spam"):
    """A post held by flags of three neutral-trust accounts: (post, item)."""
    p = post(st, author_token)
    for token in flaggers(st, 3):
        flag_ok(st, token, p["id"], reason)
    assert not visible(st, p["id"])
    return p, item_for(st, p["id"])


def log_items(st, limit=100):
    r = st.get("/moderation/log", params={"limit": limit})
    return assert_page(r)["items"]


def account_rows(st, account_id, sql):
    """sql with %s replaced by the account's pk subquery."""
    pk = "(SELECT pk FROM accounts WHERE id_hash = '\\x%s')" % id_hash(st, account_id).hex()
    return st.psql(sql % pk)


@pytest.fixture
def author(stack):
    return register(stack)


@pytest.fixture
def flagger(stack):
    return register(stack)


# -- POST /moderation/flag ---------------------------------------------------------
def test_flag_is_202_with_a_flag_id_and_a_repeat_returns_the_same_id(stack, author, flagger):
    p = post(stack, author[1])
    r = flag(stack, flagger[1], p["id"], "spam")
    assert r.status_code == 202, describe(r)
    assert_standard_headers(r)
    first = r.json()["flag_id"]
    assert ID_RE.match(first)
    assert flag_ok(stack, flagger[1], p["id"], "hate") == first
    assert flag_ok(stack, flagger[1], p["id"], "spam", note="again") == first
    item = item_for(stack, p["id"])
    assert item["flag_count"] == 1 and item["reasons"] == {"spam": 1}, item


@pytest.mark.parametrize("reason", REASONS)
def test_every_reason_of_the_contract_is_accepted(stack, author, flagger, reason):
    p = post(stack, author[1])
    flag_ok(stack, flagger[1], p["id"], reason)
    assert item_for(stack, p["id"])["reasons"] == {reason: 1}


@pytest.mark.parametrize("doc", [
    {"post_id": "P", "reason": "abuse"},
    {"post_id": "P", "reason": "SPAM"},
    {"post_id": "P", "reason": ""},
    {"post_id": "P", "reason": 1},
    {"post_id": "P", "reason": None},
    {"post_id": "P"},
    {"reason": "spam"},
    {"post_id": 12, "reason": "spam"},
    {"post_id": ["P"], "reason": "spam"},
    {"post_id": "", "reason": "spam"},
    {"post_id": "P", "reason": "spam", "note": 5},
    {"post_id": "P", "reason": "spam", "note": {"a": 1}},
], ids=lambda d: json.dumps(d))
def test_flag_with_a_bad_field_is_422(stack, author, flagger, doc):
    p = post(stack, author[1])
    doc = {k: (p["id"] if v == "P" else [p["id"]] if v == ["P"] else v) for k, v in doc.items()}
    r = stack.request("POST", "/moderation/flag", json=doc, headers=bearer(flagger[1]))
    assert_error(r, 422, "invalid_field")
    assert stack.psql("SELECT count(*) FROM flags f JOIN posts p ON p.pk = f.post_pk "
                      "WHERE p.id = '%s'" % p["id"]) == [["0"]]


def test_flag_note_runs_the_guardrails(stack, author, flagger):
    p = post(stack, author[1])
    for note, why in (("x" * 501, "too_long"), ("a\x01b", "control_characters"),
                      ("http://a http://b http://c http://d", "too_many_links")):
        err = assert_error(flag(stack, flagger[1], p["id"], note=note), 422, "content_rejected")
        assert err["reason"] == why, err
    err = assert_error(flag(stack, flagger[1], p["id"], note=" \t "), 422, "content_rejected")
    assert err["reason"] == "empty", err
    flag_ok(stack, flagger[1], p["id"], note="y" * 500)


@pytest.mark.parametrize("note", ["", None])
def test_an_empty_or_null_note_is_no_note(stack, author, flagger, note):
    p = post(stack, author[1])
    fid = flag_ok(stack, flagger[1], p["id"], note=note)
    assert stack.psql("SELECT note_sealed IS NULL FROM flags WHERE id = '%s'" % fid) == [["t"]]


def test_flag_without_a_valid_token_is_401(stack, author):
    p = post(stack, author[1])
    r = stack.request("POST", "/moderation/flag", json={"post_id": p["id"], "reason": "spam"})
    assert_error(r, 401, "unauthorized")
    r = stack.request("POST", "/moderation/flag", json={"post_id": p["id"], "reason": "spam"},
                      headers=bearer("not.a.token"))
    assert_error(r, 401, "unauthorized")


def test_flag_on_an_unknown_post_is_404(stack, flagger):
    assert_error(flag(stack, flagger[1], UNKNOWN_ID), 404, "not_found")
    assert_error(flag(stack, flagger[1], "x" * 300), 404, "not_found")


def test_flag_on_a_deleted_post_is_404(stack, author, flagger):
    p = post(stack, author[1])
    delete_ok(stack, author[1], p["id"])
    assert_error(flag(stack, flagger[1], p["id"]), 404, "not_found")


def test_flag_on_a_removed_post_is_404_even_for_an_earlier_flagger(stack, author):
    p, item = held_post(stack, author[1])
    decide_ok(stack, item["id"], "remove")
    for token in flaggers(stack, 1):
        assert_error(flag(stack, token, p["id"]), 404, "not_found")


def test_flagging_your_own_post_is_422(stack, author):
    p = post(stack, author[1])
    assert_error(flag(stack, author[1], p["id"]), 422, "invalid_field")


def test_a_reply_can_be_flagged_and_held(stack, author, flagger):
    p = post(stack, author[1])
    rp = reply(stack, flagger[1], p["id"])
    for token in flaggers(stack, 3):
        flag_ok(stack, token, rp["id"], "harassment")
    doc = get_post_ok(stack, p["id"])
    assert rp["id"] not in [x["id"] for x in doc["replies"]]
    assert doc["post"]["reply_count"] == 0
    assert item_for(stack, rp["id"])["post"]["parent_id"] == p["id"]


# -- weighted flags ------------------------------------------------------------------
def test_the_first_flag_queues_the_post_without_hiding_it(stack, author, flagger):
    p = post(stack, author[1])
    flag_ok(stack, flagger[1], p["id"])
    assert visible(stack, p["id"]) and in_feed(stack, p["id"])
    item = item_for(stack, p["id"])
    assert item["source"] == "flag" and item["status"] == "pending", item


def test_three_neutral_flags_hold_a_post(stack, author):
    p = post(stack, author[1])
    tokens = flaggers(stack, 3)
    flag_ok(stack, tokens[0], p["id"])
    flag_ok(stack, tokens[1], p["id"])
    assert visible(stack, p["id"]), "two neutral flags (1.0) must not hold"
    flag_ok(stack, tokens[2], p["id"])
    assert_error(get_post(stack, p["id"]), 404, "not_found")
    assert not in_feed(stack, p["id"])
    assert stack.psql("SELECT status FROM posts WHERE id = '%s'" % p["id"]) == [["1"]]


def test_below_neutral_flags_are_queued_but_never_hold_and_trusted_flags_do(stack, author):
    p = post(stack, author[1])
    for token in flaggers(stack, 5, 0.45):         # 5 x 0.45 = 2.25 would be >= 1.5
        flag_ok(stack, token, p["id"])
    assert visible(stack, p["id"]) and in_feed(stack, p["id"])
    item = item_for(stack, p["id"])
    assert item["flag_count"] == 5 and item["status"] == "pending", item
    high = flaggers(stack, 2, 0.75)                 # 0 + 0.75 + 0.75 = 1.5: held
    flag_ok(stack, high[0], p["id"])
    assert visible(stack, p["id"]) and in_feed(stack, p["id"])
    flag_ok(stack, high[1], p["id"])
    assert not visible(stack, p["id"]) and not in_feed(stack, p["id"])
    item = item_for(stack, p["id"])
    assert item["flag_count"] == 7 and item["reasons"] == {"spam": 7}, item


def test_flag_weight_is_the_flaggers_trust(stack, author):
    p = post(stack, author[1])
    (token,) = flaggers(stack, 1, 0.8)
    fid = flag_ok(stack, token, p["id"])
    (w,), = stack.psql("SELECT weight FROM flags WHERE id = '%s'" % fid)
    assert abs(float(w) - 0.8) < 1e-5, w


def test_a_flagger_not_upheld_weighs_less_later(stack, author):
    account_id, token = register(stack)
    first = post(stack, author[1])
    fid = flag_ok(stack, token, first["id"])
    item = item_for(stack, first["id"])
    decide_ok(stack, item["id"], "keep")
    assert stack.psql("SELECT upheld FROM flags WHERE id = '%s'" % fid) == [["f"]]
    assert account_rows(stack, account_id, "SELECT upheld, not_upheld FROM flagger_stats "
                        "WHERE account_pk = %s") == [["0", "1"]]
    second = post(stack, author[1])
    fid2 = flag_ok(stack, token, second["id"])
    (w1,), (w2,) = stack.psql("SELECT weight FROM flags WHERE id IN ('%s', '%s') ORDER BY pk"
                              % (fid, fid2))
    assert abs(float(w1) - 0.5) < 1e-5 and abs(float(w2) - 0.25) < 1e-5, (w1, w2)


def test_flags_join_a_pending_auto_item(stack, author, flagger):
    """The classifier's item (source 2) takes the flags; no second item."""
    p = post(stack, author[1])
    stack.psql("UPDATE posts SET status = 1 WHERE id = '%s';"
               "UPDATE mod_scan SET score = 0.93 WHERE post_pk = (SELECT pk FROM posts "
               "WHERE id = '%s');"
               "INSERT INTO mod_items (id, post_pk, source, day) SELECT 'auto' || substr(id, 5), "
               "pk, 2, day FROM posts WHERE id = '%s'" % (p["id"], p["id"], p["id"]))
    flag_ok(stack, flagger[1], p["id"], "violence")
    item = item_for(stack, p["id"])
    assert item["source"] == "auto" and item["flag_count"] == 1, item
    assert item["reasons"] == {"violence": 1} and item["auto_score"] == 0.93, item
    assert stack.psql("SELECT count(*) FROM mod_items m JOIN posts p ON p.pk = m.post_pk "
                      "WHERE p.id = '%s'" % p["id"]) == [["1"]]


# -- GET /moderation/queue -------------------------------------------------------------
def test_queue_item_has_exactly_the_contract_fields_and_the_decrypted_post(stack, author):
    body = uniq("queued body")
    p = post(stack, author[1], body)
    tokens = flaggers(stack, 3)
    flag_ok(stack, tokens[0], p["id"], "spam")
    flag_ok(stack, tokens[1], p["id"], "hate", note="nasty")
    flag_ok(stack, tokens[2], p["id"], "spam")
    r = queue(stack)
    assert r.status_code == 200, describe(r)
    assert_standard_headers(r)
    item = item_for(stack, p["id"])
    assert set(item) == ITEM_KEYS, item
    assert ID_RE.match(item["id"]), item
    assert_post(item["post"], body=body, mine=False, my_vote=0, parent_id=None)
    assert item["source"] == "flag" and item["status"] == "pending", item
    assert item["flag_count"] == 3 and item["reasons"] == {"spam": 2, "hate": 1}, item
    # The main stack's classifier scores every post (it never holds there):
    # null until it has, then its score.
    assert item["auto_score"] is None or 0 <= item["auto_score"] <= 1, item
    assert item["day"] == today(), item
    assert item["note"] is None, item       # flag notes never reach reviewers
    assert "nasty" not in r.text


@pytest.mark.parametrize("headers", [
    {}, {"X-Admin-Token": "wrong"}, {"X-Admin-Token": ""}, "ui", "bearer",
], ids=["missing", "wrong", "empty", "ui-token", "bearer-only"])
def test_queue_and_decision_need_the_review_token(stack, author, headers):
    if headers == "ui":
        headers = {"X-Admin-Token": stack.sotto_env()["ADMIN_UI_TOKEN"]}
    elif headers == "bearer":
        headers = bearer(author[1])
    assert_error(queue(stack, headers=headers), 401, "unauthorized")
    assert_error(decide(stack, UNKNOWN_ID, "keep", headers=headers), 401, "unauthorized")


@pytest.mark.parametrize("params", [{"status": "all"}, {"status": ""}, {"status": "PENDING"},
                                    {"limit": "0"}, {"limit": "101"}, {"limit": "x"}])
def test_queue_with_bad_parameters_is_422(stack, params):
    assert_error(queue(stack, **params), 422, "invalid_field")


def test_queue_with_a_bad_cursor_is_400(stack, author, flagger):
    assert_error(queue(stack, cursor="nope"), 400, "bad_request")
    # a cursor of another list does not open here
    for _ in range(2):
        p = post(stack, author[1])
        flag_ok(stack, flagger[1], p["id"])
        decide_ok(stack, item_for(stack, p["id"])["id"], "keep")
    decided = assert_page(queue(stack, status="decided", limit=1))["next_cursor"]
    assert decided is not None
    assert_error(queue(stack, status="pending", cursor=decided), 400, "bad_request")
    assert_error(stack.get("/moderation/log", params={"cursor": decided}), 400, "bad_request")


def test_queue_pages_walk_every_item_once(stack, author, flagger):
    ids = []
    for _ in range(5):
        p = post(stack, author[1])
        flag_ok(stack, flagger[1], p["id"])
        ids.append(p["id"])
    seen, params = [], {"limit": 2}
    while True:
        doc = assert_page(queue(stack, **params))
        assert len(doc["items"]) <= 2
        seen.extend(i["id"] for i in doc["items"])
        if doc["next_cursor"] is None:
            break
        params["cursor"] = doc["next_cursor"]
    assert len(seen) == len(set(seen)), "an item was listed twice"
    listed = {i["post"]["id"] for i in queue_items(stack)}
    assert set(ids) <= listed


@pytest.fixture(scope="module")
def other_stack(make_stack):
    """No review token; one neutral flag (0.5) holds a post."""
    return make_stack("noreview", ADMIN_REVIEW_TOKEN="", SOTTO_FLAG_HOLD_WEIGHT="0.5")


def test_empty_review_token_disables_the_queue(other_stack):
    st = other_stack
    assert_error(queue(st, headers={"X-Admin-Token": "anything"}), 404, "not_found")
    assert_error(queue(st, headers={}), 404, "not_found")
    assert_error(decide(st, UNKNOWN_ID, "keep", headers={"X-Admin-Token": ""}), 404, "not_found")
    assert st.get("/moderation/log").status_code == 200


def test_flag_hold_weight_setting_is_honoured(other_stack):
    st = other_stack
    _, author_token = register(st)
    _, flagger_token = register(st)
    p = post(st, author_token)
    flag_ok(st, flagger_token, p["id"])
    assert_error(get_post(st, p["id"]), 404, "not_found")


# -- POST /moderation/queue/{id}/decision --------------------------------------------------
@pytest.mark.parametrize("doc", [{}, {"decision": "delete"}, {"decision": "KEEP"},
                                 {"decision": 1}, {"decision": None}, {"decision": ["keep"]},
                                 {"decision": "keep", "note": 3}])
def test_decision_with_a_bad_body_is_422(stack, author, doc):
    p, item = held_post(stack, author[1])
    r = stack.request("POST", "/moderation/queue/%s/decision" % item["id"], json=doc,
                      headers=review(stack))
    assert_error(r, 422, "invalid_field")
    assert item_for(stack, p["id"])["status"] == "pending"


def test_decision_on_an_unknown_item_is_404(stack):
    assert_error(decide(stack, UNKNOWN_ID, "keep"), 404, "not_found")
    assert_error(decide(stack, "x" * 200, "remove"), 404, "not_found")


def test_keep_restores_a_held_post_and_marks_flags_not_upheld(stack, author):
    p, item = held_post(stack, author[1])
    before = trust(stack, author[1])
    decide_ok(stack, item["id"], "keep", )
    doc = get_post_ok(stack, p["id"])
    assert doc["post"]["body"] == p["body"]
    assert in_feed(stack, p["id"])
    assert trust(stack, author[1]) == before
    assert stack.psql("SELECT DISTINCT upheld FROM flags f JOIN posts p ON p.pk = f.post_pk "
                      "WHERE p.id = '%s'" % p["id"]) == [["f"]]
    kept = item_for(stack, p["id"], "decided")
    assert kept["status"] == "kept" and kept["id"] == item["id"], kept
    assert all(i["post"]["id"] != p["id"] for i in queue_items(stack))
    assert {"day": today(), "action": "keep", "reason": "spam", "post_id": p["id"]} \
        in log_items(stack)
    # the author is told the held post is back
    rows = account_rows(stack, author[0], "SELECT data FROM events WHERE account_pk = %s "
                        "AND type = 'moderation.decision'")
    assert [json.loads(r[0]) for r in rows] == [
        {"post_id": p["id"], "decision": "keep", "reason": "spam"}]


def test_remove_hides_the_post_lowers_trust_and_tells_the_author(stack, author):
    p, item = held_post(stack, author[1], "harassment")
    before = trust(stack, author[1])
    decide_ok(stack, item["id"], "remove")
    assert_error(get_post(stack, p["id"]), 404, "not_found")
    assert_error(get_post(stack, p["id"], author[1]), 404, "not_found")
    assert not in_feed(stack, p["id"])
    assert abs(trust(stack, author[1]) - (before - 0.1)) < 1e-4
    assert stack.psql("SELECT status FROM posts WHERE id = '%s'" % p["id"]) == [["2"]]
    assert stack.psql("SELECT DISTINCT upheld FROM flags f JOIN posts p ON p.pk = f.post_pk "
                      "WHERE p.id = '%s'" % p["id"]) == [["t"]]
    rows = account_rows(stack, author[0], "SELECT type, day, data FROM events "
                        "WHERE account_pk = %s")
    assert len(rows) == 1, rows
    assert rows[0][0] == "moderation.decision" and int(rows[0][1]) == today()
    event = json.loads(rows[0][2])
    # A removal's event carries the id of its appeal (tests/e2e/test_appeals.py).
    assert re.match(r"^[A-Za-z0-9_-]{22}$", event.pop("appeal_id", "")), event
    assert event == {"post_id": p["id"], "decision": "remove", "reason": "harassment"}
    removed = item_for(stack, p["id"], "decided")
    assert removed["status"] == "removed", removed
    assert {"day": today(), "action": "remove", "reason": "harassment", "post_id": p["id"]} \
        in log_items(stack)


def test_remove_of_a_visible_flagged_post(stack, author, flagger):
    p = post(stack, author[1])
    flag_ok(stack, flagger[1], p["id"], "illegal")
    decide_ok(stack, item_for(stack, p["id"])["id"], "remove")
    assert not visible(stack, p["id"]) and not in_feed(stack, p["id"])


def test_keep_of_a_visible_post_sends_no_event(stack, author, flagger):
    p = post(stack, author[1])
    flag_ok(stack, flagger[1], p["id"])
    decide_ok(stack, item_for(stack, p["id"])["id"], "keep")
    assert visible(stack, p["id"])
    assert account_rows(stack, author[0], "SELECT count(*) FROM events "
                        "WHERE account_pk = %s") == [["0"]]


@pytest.mark.parametrize("first,second", [("keep", "keep"), ("keep", "remove"),
                                          ("remove", "keep"), ("remove", "remove")])
def test_deciding_twice_is_409(stack, author, first, second):
    p, item = held_post(stack, author[1])
    decide_ok(stack, item["id"], first)
    before = trust(stack, author[1])
    assert_error(decide(stack, item["id"], second), 409, "conflict")
    assert trust(stack, author[1]) == before
    assert item_for(stack, p["id"], "decided")["status"] == \
        ("removed" if first == "remove" else "kept")


def test_concurrent_decisions_one_wins_the_other_is_409(stack, author):
    p, item = held_post(stack, author[1])
    results = []
    barrier = threading.Barrier(4)

    def run(decision):
        barrier.wait()
        results.append(decide(stack, item["id"], decision).status_code)

    threads = [threading.Thread(target=run, args=(d,))
               for d in ("keep", "remove", "keep", "remove")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(results) == [200, 409, 409, 409], results
    assert len([x for x in log_items(stack) if x["post_id"] == p["id"]]) == 1


def test_a_kept_post_flagged_again_gets_a_new_item(stack, author):
    p, item = held_post(stack, author[1])
    decide_ok(stack, item["id"], "keep")
    (token,) = flaggers(stack, 1)
    flag_ok(stack, token, p["id"], "other")
    again = item_for(stack, p["id"])
    assert again["id"] != item["id"] and again["flag_count"] == 1, again
    assert again["reasons"] == {"other": 1}
    assert visible(stack, p["id"]), "one new flag (0.5) must not hold again"


@pytest.mark.parametrize("decision", ["remove", "keep"])
def test_decision_note_is_kept_sealed_shown_in_the_decided_queue_never_published(
        stack, author, decision):
    p, item = held_post(stack, author[1])
    note = uniq("moderator note é")
    r = decide(stack, item["id"], decision, note=note)
    assert r.status_code == 200, describe(r)
    assert item_for(stack, p["id"], "decided")["note"] == note
    assert note not in stack.get("/moderation/log", params={"limit": 100}).text
    assert note not in get_post(stack, p["id"]).text
    # Sealed in the row, bound to the item and to no account.
    rows = stack.psql("SELECT position(convert_to('%s', 'UTF8') IN note_sealed), "
                      "note_version IS NOT NULL FROM mod_items WHERE id = '%s'"
                      % (note, item["id"]))
    assert rows == [["0", "t"]], rows


def test_decision_note_moved_to_another_item_opens_as_none(stack, author):
    p1, i1 = held_post(stack, author[1])
    p2, i2 = held_post(stack, author[1])
    decide_ok(stack, i1["id"], "keep", note=uniq("first note"))
    decide_ok(stack, i2["id"], "keep")
    stack.psql("UPDATE mod_items SET note_sealed = n.note_sealed, note_version = n.note_version "
               "FROM mod_items n WHERE n.id = '%s' AND mod_items.id = '%s'" % (i1["id"], i2["id"]))
    assert item_for(stack, p2["id"], "decided")["note"] is None


def test_decision_without_a_note_or_with_an_empty_one_has_none(stack, author):
    for note in (None, ""):
        p, item = held_post(stack, author[1])
        extra = {} if note is None else {"note": note}
        assert decide(stack, item["id"], "keep", **extra).status_code == 200
        assert item_for(stack, p["id"], "decided")["note"] is None
        assert stack.psql("SELECT note_sealed IS NULL FROM mod_items WHERE id = '%s'"
                          % item["id"]) == [["t"]]


def test_decision_note_is_bounded_and_runs_the_guardrails(stack, author):
    p, item = held_post(stack, author[1])
    for note, why in (("x" * 501, "too_long"), ("a\x01b", "control_characters")):
        err = assert_error(decide(stack, item["id"], "remove", note=note), 422,
                           "content_rejected")
        assert err["reason"] == why, err
    assert item_for(stack, p["id"])["status"] == "pending"
    longest = "\U0001F600" * 500            # 500 characters, 2000 bytes of UTF-8
    body = json.dumps({"decision": "remove", "note": longest}, ensure_ascii=False).encode()
    r = stack.request("POST", "/moderation/queue/%s/decision" % item["id"], data=body,
                      headers=dict(review(stack), **{"Content-Type": "application/json"}))
    assert r.status_code == 200, describe(r)
    assert item_for(stack, p["id"], "decided")["note"] == longest


# -- GET /moderation/log -------------------------------------------------------------------
def test_log_is_public_newest_first_with_only_public_fields(stack, author):
    p1, i1 = held_post(stack, author[1], "hate")
    p2, i2 = held_post(stack, author[1], "sexual")
    decide_ok(stack, i1["id"], "remove")
    decide_ok(stack, i2["id"], "keep")
    r = stack.get("/moderation/log")
    assert r.status_code == 200, describe(r)
    assert_standard_headers(r)
    items = assert_page(r)["items"]
    for it in items:
        assert set(it) == LOG_KEYS, it
        assert it["action"] in ("remove", "keep", "ban"), it
        assert it["reason"] in REASONS + ("auto",) or it["action"] == "ban", it
        assert isinstance(it["day"], int), it
        assert it["post_id"] is None or ID_RE.match(it["post_id"]), it
    assert items[0] == {"day": today(), "action": "keep", "reason": "sexual", "post_id": p2["id"]}
    assert items[1] == {"day": today(), "action": "remove", "reason": "hate", "post_id": p1["id"]}
    text = r.text
    assert author[0] not in text


def test_log_pages_walk_every_row_once(stack, author, flagger):
    for _ in range(3):
        p = post(stack, author[1])
        flag_ok(stack, flagger[1], p["id"])
        decide_ok(stack, item_for(stack, p["id"])["id"], "keep")
    seen, pages = walk(stack, "/moderation/log", limit=2)
    assert pages >= 2 and len(seen) == len(log_items(stack))
    assert_error(stack.get("/moderation/log", params={"cursor": "bad"}), 400, "bad_request")
    assert_error(stack.get("/moderation/log", params={"limit": "0"}), 422, "invalid_field")


def test_log_keeps_the_row_when_the_post_is_deleted(stack, author, flagger):
    p = post(stack, author[1])
    flag_ok(stack, flagger[1], p["id"], "self_harm")
    decide_ok(stack, item_for(stack, p["id"])["id"], "keep")
    delete_ok(stack, author[1], p["id"])
    assert {"day": today(), "action": "keep", "reason": "self_harm", "post_id": p["id"]} \
        in log_items(stack)


# -- GET /me/export ------------------------------------------------------------------------
def test_export_holds_the_accounts_flags_with_the_note_decrypted(stack, author, flagger):
    p1 = post(stack, author[1])
    p2 = post(stack, author[1])
    note = uniq("my private note")
    f1 = flag_ok(stack, flagger[1], p1["id"], "spam", note=note)
    f2 = flag_ok(stack, flagger[1], p2["id"], "other")
    decide_ok(stack, item_for(stack, p2["id"])["id"], "keep")
    r = stack.get("/me/export", headers=bearer(flagger[1]))
    assert r.status_code == 200, describe(r)
    flags = r.json()["flags"]
    assert flags == [
        {"flag_id": f1, "post_id": p1["id"], "reason": "spam", "note": note, "day": today(),
         "upheld": None},
        {"flag_id": f2, "post_id": p2["id"], "reason": "other", "note": None, "day": today(),
         "upheld": False},
    ], flags
    # stored sealed only
    assert stack.psql("SELECT position(convert_to('%s', 'UTF8') IN note_sealed), "
                      "length(note_sealed) > 0 FROM flags WHERE id = '%s'" % (note, f1)) \
        == [["0", "t"]]
    # the author's export does not show who flagged
    doc = stack.get("/me/export", headers=bearer(author[1])).json()
    assert doc["flags"] == []
    assert f1 not in json.dumps(doc)
