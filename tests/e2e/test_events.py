"""Event queues and real time (docs/realtime.md): GET /events (order, after=, limit, pages), POST
/events/ack, at-least-once delivery, post.reply events, seq under concurrent
writers, expiry by `sotto cleanup` (age simulated through the day number),
tickets (bogus, expired, reused: refused before any upgrade), and live
delivery through nginx nchan over WebSocket and EventSource.

Events here come from replies: a reply to someone else's post pushes
post.reply {post_id, reply_id} to the parent's author."""
import hashlib
import json
import os
import re
import ssl
import stat
import threading
import time

import pytest
import websocket

from accounts import today
from conftest import (assert_error, bearer, cleanup, delete_me, describe, metric_value,
                      raw_request, register)
from content import post, reply

TICKET_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
ITEM_KEYS = {"seq", "type", "day", "data"}
LIVE_BUDGET = 1.0          # seconds from the write's response to the event
RECV_TIMEOUT = 5           # seconds a subscriber waits before failing
TTL_DAYS = 14              # SOTTO_EVENT_TTL_DAYS default
CLEANUP_WAIT = 60          # seconds to wait for the stack's own cleanup run to end


# -- helpers -------------------------------------------------------------------
def events(st, token, **params):
    return st.get("/events", params=params, headers=bearer(token))


def events_ok(st, token, **params):
    r = events(st, token, **params)
    assert r.status_code == 200, describe(r)
    doc = r.json()
    assert set(doc) == {"items", "next_cursor"}, doc
    for it in doc["items"]:
        assert set(it) == ITEM_KEYS, it
        assert isinstance(it["seq"], int) and it["seq"] > 0, it
        assert isinstance(it["day"], int) and isinstance(it["data"], dict), it
    return doc


def all_events(st, token):
    """Every queued event, walking after=<last seq>."""
    out, after = [], 0
    while True:
        items = events_ok(st, token, after=after, limit=100)["items"]
        if not items:
            return out
        out += items
        after = items[-1]["seq"]


def ack(st, token, doc):
    return st.request("POST", "/events/ack", json=doc, headers=bearer(token))


def ticket(st, token):
    r = st.request("POST", "/events/ticket", headers=bearer(token))
    assert r.status_code == 200, describe(r)
    doc = r.json()
    assert set(doc) == {"ticket", "expires_in"} and doc["expires_in"] == 60, doc
    assert TICKET_RE.match(doc["ticket"]), doc
    return doc["ticket"]


def ticket_key(t):
    """Redis key of a ticket (app/handlers_events.c): evt:<hex BLAKE2b-256 of its text>."""
    return "evt:" + hashlib.blake2b(t.encode(), digest_size=32).hexdigest()


def ws_url(st, t):
    return "wss://127.0.0.1:%d/events/stream?ticket=%s" % (st.https_port, t)


def ws_connect(st, t):
    return websocket.create_connection(ws_url(st, t), timeout=RECV_TIMEOUT,
                                       sslopt={"cert_reqs": ssl.CERT_NONE})


def reply_item(st, token, reply_id):
    for it in all_events(st, token):
        if it["data"].get("reply_id") == reply_id:
            return it
    raise AssertionError("no event for reply %s" % reply_id)


@pytest.fixture
def alice(stack):
    return register(stack)


@pytest.fixture
def bob(stack):
    return register(stack)


# -- post.reply and GET /events --------------------------------------------------
def test_a_reply_tells_the_parents_author_and_nobody_else(stack, alice, bob):
    p = post(stack, alice[1])
    r = reply(stack, bob[1], p["id"])
    items = all_events(stack, alice[1])
    assert len(items) == 1, items
    it = items[0]
    assert it["type"] == "post.reply" and it["data"] == {"post_id": p["id"], "reply_id": r["id"]}
    assert abs(it["day"] - today()) <= 1, it
    assert all_events(stack, bob[1]) == []


def test_replying_to_yourself_pushes_nothing(stack, alice, bob):
    p = post(stack, alice[1])
    reply(stack, alice[1], p["id"])
    r = reply(stack, bob[1], p["id"])
    items = all_events(stack, alice[1])
    assert [it["data"]["reply_id"] for it in items] == [r["id"]], items


def test_a_reply_to_a_reply_tells_the_replys_author(stack, alice, bob):
    p = post(stack, alice[1])
    r1 = reply(stack, bob[1], p["id"])
    r2 = reply(stack, alice[1], r1["id"])
    assert [it["data"] for it in all_events(stack, bob[1])] == \
        [{"post_id": r1["id"], "reply_id": r2["id"]}]


def test_events_come_in_seq_order_after_and_limit(stack, alice, bob):
    p = post(stack, alice[1])
    replies = [reply(stack, bob[1], p["id"])["id"] for _ in range(5)]
    items = events_ok(stack, alice[1])["items"]
    seqs = [it["seq"] for it in items]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5, seqs
    assert [it["data"]["reply_id"] for it in items] == replies
    assert events_ok(stack, alice[1], after=seqs[1])["items"] == items[2:]
    assert events_ok(stack, alice[1], after=seqs[-1])["items"] == []
    doc = events_ok(stack, alice[1], limit=2)
    assert doc["items"] == items[:2] and isinstance(doc["next_cursor"], str)


def test_pages_by_cursor_and_by_after_agree(stack, alice, bob):
    p = post(stack, alice[1])
    for _ in range(5):
        reply(stack, bob[1], p["id"])
    want = all_events(stack, alice[1])
    got, cursor = [], None
    while True:
        params = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        doc = events_ok(stack, alice[1], **params)
        got += doc["items"]
        cursor = doc["next_cursor"]
        if cursor is None:
            break
    assert got == want
    got, after = [], 0
    for _ in range(10):
        items = events_ok(stack, alice[1], after=after, limit=2)["items"]
        if not items:
            break
        got += items
        after = items[-1]["seq"]
    assert got == want


@pytest.mark.parametrize("params", [{"after": "-1"}, {"after": "x"}, {"after": "1.5"},
                                    {"after": ""}, {"limit": "0"}, {"limit": "101"}])
def test_bad_after_or_limit_is_422(stack, alice, params):
    assert_error(events(stack, alice[1], **params), 422, "invalid_field")


def test_a_cursor_that_does_not_open_is_400(stack, alice):
    assert_error(events(stack, alice[1], cursor="bogus"), 400, "bad_request")


def test_events_need_a_token(stack):
    assert_error(stack.get("/events"), 401, "unauthorized")
    assert_error(stack.request("POST", "/events/ack", json={"up_to": 1}), 401, "unauthorized")
    assert_error(stack.request("POST", "/events/ticket"), 401, "unauthorized")


# -- ack and at-least-once ---------------------------------------------------------
def test_unacknowledged_events_come_back_and_ack_deletes_up_to(stack, alice, bob):
    p = post(stack, alice[1])
    for _ in range(4):
        reply(stack, bob[1], p["id"])
    items = all_events(stack, alice[1])
    assert all_events(stack, alice[1]) == items  # read twice: still there
    r = ack(stack, alice[1], {"up_to": items[1]["seq"]})
    assert r.status_code == 204 and r.content == b"", describe(r)
    assert all_events(stack, alice[1]) == items[2:]
    # Acknowledging again, or less, changes nothing.
    assert ack(stack, alice[1], {"up_to": items[0]["seq"]}).status_code == 204
    assert all_events(stack, alice[1]) == items[2:]


def test_ack_beyond_the_last_seq_is_harmless_and_seq_keeps_growing(stack, alice, bob):
    p = post(stack, alice[1])
    reply(stack, bob[1], p["id"])
    last = all_events(stack, alice[1])[-1]["seq"]
    r = ack(stack, alice[1], {"up_to": last + 1000})
    assert r.status_code == 204, describe(r)
    assert all_events(stack, alice[1]) == []
    reply(stack, bob[1], p["id"])
    items = all_events(stack, alice[1])
    assert len(items) == 1 and items[0]["seq"] > last, items


def test_ack_only_touches_your_own_queue(stack, alice, bob):
    p = post(stack, alice[1])
    reply(stack, bob[1], p["id"])
    before = all_events(stack, alice[1])
    assert ack(stack, bob[1], {"up_to": 10 ** 12}).status_code == 204
    assert all_events(stack, alice[1]) == before


@pytest.mark.parametrize("doc", [{}, {"up_to": "3"}, {"up_to": 3.0}, {"up_to": -1},
                                 {"up_to": True}, {"up_to": None}, {"up_to": [1]},
                                 {"up_to": 2 ** 63}])
def test_bad_up_to_is_422(stack, alice, doc):
    assert_error(ack(stack, alice[1], doc), 422, "invalid_field")


# -- seq under concurrent writers -------------------------------------------------
def test_concurrent_writers_never_hand_out_a_seq_at_or_below_one_seen(stack, alice):
    writers, per_writer = 6, 8
    posts = [post(stack, alice[1])["id"] for _ in range(writers)]
    accounts = [register(stack) for _ in range(writers)]
    errors, done = [], threading.Event()

    def write(i):
        try:
            for _ in range(per_writer):
                reply(stack, accounts[i][1], posts[i])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    seen, max_seen, regressions = [], 0, []
    try:
        while not done.is_set():
            if all(not t.is_alive() for t in threads):
                done.set()  # one more poll after the last write
            items = events_ok(stack, alice[1], after=max_seen, limit=100)["items"]
            for it in items:
                if it["seq"] <= max_seen:
                    regressions.append((it["seq"], max_seen))
                max_seen = max(max_seen, it["seq"])
            seen += items
    finally:
        for t in threads:
            t.join()
    seen += events_ok(stack, alice[1], after=max_seen, limit=100)["items"]
    assert errors == []
    assert regressions == []
    seqs = [it["seq"] for it in seen]
    assert len(seqs) == len(set(seqs)) == writers * per_writer, (len(seqs), len(set(seqs)))
    assert sorted(seqs) == seqs


# -- expiry ----------------------------------------------------------------------
def test_cleanup_deletes_unacknowledged_events_older_than_the_ttl(stack, alice, bob):
    p = post(stack, alice[1])
    old, edge, fresh = (reply(stack, bob[1], p["id"])["id"] for _ in range(3))
    stack.psql("UPDATE events SET day = day - %d WHERE data->>'reply_id' = '%s';"
               "UPDATE events SET day = day - %d WHERE data->>'reply_id' = '%s';"
               % (TTL_DAYS + 1, old, TTL_DAYS, edge))
    r = cleanup(stack)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert re.search(r"^cleanup: deleted [1-9]\d* events from before day %d "
                     r"\(SOTTO_EVENT_TTL_DAYS=%d\), \d+ expired bans, \d+ expired group invites, "
                     r"\d+ expired moderator invites, \d+ idle sessions, "
                     r"\d+ removed posts' ciphertext past their appeal window; "
                     r"fanned out the messages of \d+ groups left behind$"
                     % (today() - TTL_DAYS, TTL_DAYS), r.stdout, re.M), r.stdout
    assert [it["data"]["reply_id"] for it in all_events(stack, alice[1])] == [edge, fresh]
    # Nothing left to do: a second run deletes none of them.
    assert cleanup(stack).returncode == 0
    assert len(all_events(stack, alice[1])) == 2


def test_cleanup_leaves_an_expired_event_another_transaction_holds(stack, alice, bob):
    """A group fan-out moving pending events holds their rows: the cleanup
    skips one it finds held, deletes the rest, and takes it on a later run
    (waiting for it, holding the others, could close a cycle)."""
    p = post(stack, alice[1])
    held, other = (reply(stack, bob[1], p["id"])["id"] for _ in range(2))
    stack.psql("UPDATE events SET day = day - %d WHERE data->>'reply_id' IN ('%s', '%s')"
               % (TTL_DAYS + 1, held, other))
    with stack.holding("SELECT 1 FROM events WHERE data->>'reply_id' = '%s' FOR UPDATE"
                       % held, name="event"):
        cleanup_run(stack)
        ids = [it["data"].get("reply_id") for it in all_events(stack, alice[1])]
        assert held in ids and other not in ids, ids
    cleanup_run(stack)
    assert held not in [it["data"].get("reply_id") for it in all_events(stack, alice[1])]


def cleanup_run(st):
    """One `sotto cleanup` run of this test's own (the stack's timer runs
    one at start: while that holds the cleanup lock, try again)."""
    deadline = time.monotonic() + CLEANUP_WAIT
    while True:
        r = cleanup(st)
        assert r.returncode == 0, (r.stdout, r.stderr)
        if "another sotto cleanup is running" not in r.stdout or time.monotonic() > deadline:
            return r
        time.sleep(0.5)


def test_the_dev_stack_runs_cleanup(stack):
    log = os.path.join(stack.var, "log", "cleanup.log")
    stack.wait_for(lambda: "cleanup: deleted" in open(log).read(), 20,
                   "a `sotto cleanup` run in %s" % log)


def test_pending_events_are_in_the_export(stack, alice, bob):
    p = post(stack, alice[1])
    reply(stack, bob[1], p["id"])
    r = stack.get("/me/export", headers=bearer(alice[1]))
    assert r.status_code == 200, describe(r)
    assert r.json()["events"] == all_events(stack, alice[1])


# -- tickets ---------------------------------------------------------------------
def test_a_ticket_lives_60_seconds_in_redis(stack, alice):
    t = ticket(stack, alice[1])
    ttl = int(stack.redis("TTL", ticket_key(t)))
    assert 55 <= ttl <= 60, ttl
    assert stack.redis("EXISTS", "evt:" + t) == "0"  # not stored in clear


def assert_refused(st, t):
    """Refused by the application with 403, before any WebSocket upgrade."""
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        ws_connect(st, t)
    assert e.value.status_code == 403, e.value
    path = "/events/stream" + ("?ticket=" + t if t is not None else "")
    status, headers, body = raw_request(st, "GET", path, headers={
        "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert status == 403 and "upgrade" not in headers, (status, headers)
    assert json.loads(body)["error"]["code"] == "forbidden", body
    r = st.get(path, headers={"Accept": "text/event-stream"})
    assert_error(r, 403, "forbidden")


@pytest.mark.parametrize("t", ["", "x", "A" * 43, "A" * 44, "!" * 43])
def test_a_bogus_ticket_is_refused(stack, t):
    assert_refused(stack, t)


def test_no_ticket_is_refused(stack):
    assert_error(stack.get("/events/stream"), 403, "forbidden")


def test_an_expired_ticket_is_refused(stack, alice):
    t = ticket(stack, alice[1])
    assert stack.redis("PEXPIRE", ticket_key(t), "1") == "1"
    time.sleep(0.05)
    assert_refused(stack, t)


def test_a_ticket_works_once(stack, alice):
    t = ticket(stack, alice[1])
    ws = ws_connect(stack, t)
    ws.close()
    assert_refused(stack, t)


# -- live delivery -----------------------------------------------------------------
def test_websocket_delivers_the_event_within_a_second(stack, alice, bob):
    p = post(stack, alice[1])
    ws = ws_connect(stack, ticket(stack, alice[1]))
    try:
        r = reply(stack, bob[1], p["id"])
        start = time.monotonic()
        msg = ws.recv()
        took = time.monotonic() - start
    finally:
        ws.close()
    assert took < LIVE_BUDGET, took
    assert json.loads(msg) == reply_item(stack, alice[1], r["id"])


def test_websocket_gets_only_its_own_accounts_events(stack, alice, bob):
    p = post(stack, alice[1])
    q = post(stack, bob[1])
    ws = ws_connect(stack, ticket(stack, bob[1]))
    try:
        reply(stack, bob[1], p["id"])        # to alice: not for bob's socket
        r = reply(stack, alice[1], q["id"])  # to bob
        msg = json.loads(ws.recv())
    finally:
        ws.close()
    assert msg["data"] == {"post_id": q["id"], "reply_id": r["id"]}, msg


def test_eventsource_delivers_the_event_within_a_second(stack, alice, bob):
    p = post(stack, alice[1])
    t = ticket(stack, alice[1])
    got, ready = {}, threading.Event()

    def listen():
        with stack.session.get(stack.url("/events/stream"), params={"ticket": t},
                               headers={"Accept": "text/event-stream"}, stream=True,
                               timeout=RECV_TIMEOUT) as resp:
            got["status"] = resp.status_code
            got["type"] = resp.headers.get("Content-Type", "")
            ready.set()
            for line in resp.iter_lines(chunk_size=1, decode_unicode=True):
                if line and line.startswith("data:"):
                    got["at"] = time.monotonic()
                    got["data"] = line[5:].strip()
                    return

    th = threading.Thread(target=listen)
    th.start()
    assert ready.wait(RECV_TIMEOUT), "no EventSource response headers"
    assert got["status"] == 200 and got["type"].startswith("text/event-stream"), got
    r = reply(stack, bob[1], p["id"])
    start = time.monotonic()
    th.join(RECV_TIMEOUT + 1)
    assert "data" in got, got
    assert got["at"] - start < LIVE_BUDGET, got["at"] - start
    assert json.loads(got["data"]) == reply_item(stack, alice[1], r["id"])


# -- a dead publisher never fails a write -----------------------------------------
def test_a_failed_publish_never_fails_the_request(make_stack):
    st = make_stack("events-nopub", SOTTO_NCHAN_PUBLISH="/nonexistent/nchan.sock")
    a, b = register(st), register(st)
    p = post(st, a[1])
    start = time.monotonic()
    r = reply(st, b[1], p["id"])
    assert time.monotonic() - start < 2
    assert [it["data"]["reply_id"] for it in all_events(st, a[1])] == [r["id"]]
    assert metric_value(st.metrics(), "sotto_events_publish_failed_total") >= 1


# -- the publisher socket --------------------------------------------------------
def test_the_publisher_socket_sits_in_a_directory_only_the_stacks_user_reaches(stack):
    """nginx makes the nchan publisher socket 0666; its directory is 0750."""
    path = stack.sotto_env()["SOTTO_NCHAN_PUBLISH"]
    directory = os.path.dirname(path)
    assert directory == os.path.join(stack.var, "run", "nchan"), path
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o750, oct(os.stat(directory).st_mode)
    assert stat.S_ISSOCK(os.stat(path).st_mode), path


# -- streams end with the session ---------------------------------------------------
def stream_ended(ws, within=10):
    """True when the server closes ws within `within` seconds (a close frame
    or the connection going away), False when it stays open that long."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            frame = ws.recv_frame()
        except websocket.WebSocketTimeoutException:
            return False
        except (websocket.WebSocketConnectionClosedException, OSError):
            return True
        if frame is None or frame.opcode == websocket.ABNF.OPCODE_CLOSE:
            return True
    return False


@pytest.mark.parametrize("how", ["logout", "password change", "deletion"])
def test_an_open_websocket_stream_ends_with_logout_password_change_and_deletion(stack, how):
    password = "stream password %s" % os.urandom(4).hex()
    account_id, token = register(stack, password)
    other = register(stack)[1]
    ws = ws_connect(stack, ticket(stack, token))
    bystander = ws_connect(stack, ticket(stack, other))
    try:
        assert not stream_ended(ws, within=0.5), "the stream ended before anything happened"
        if how == "logout":
            r = stack.request("POST", "/auth/logout", headers=bearer(token))
        elif how == "password change":
            r = stack.request("POST", "/me/password", headers=bearer(token),
                              json={"password": password, "new_password": password + "!"})
        else:
            r = delete_me(stack, token, password)
        assert r.status_code == 204, describe(r)
        assert stream_ended(ws), "the %s left the account's stream open" % how
        assert not stream_ended(bystander, within=0.5), "another account's stream ended too"
    finally:
        ws.close()
        bystander.close()
