"""IP-prefix bans (docs/moderation.md, "IP bans"): POST /moderation/ban/ip,
GET /moderation/bans, DELETE /moderation/bans/{id} behind the review token;
a request from a banned prefix gets 403 banned on every route except /health
and requests with a valid admin token, within 5 s of the ban on every worker
(the main stack runs 2), and again within 5 s of an unban or of a change
made straight in the database (another host, `sotto cleanup`, psql); an
expired ban stops applying on its day; and neither the database, nor Redis,
nor any log of the stack holds a banned address or prefix in clear.

Bans here are on 127.0.1.0/24 (requests come from 127.0.1.5 through
raw_request's source address) and documentation prefixes (2001:db8::/32,
192.0.2.0/24 and friends), never on 127.0.0.0/24, where every other test of
the session comes from; the module lifts its bans when it ends. IPv6
clients are played straight on sotto's FastCGI socket (REMOTE_ADDR as nginx
would pass it): the loopback has no IPv6 prefix of its own to ban."""
import os
import re
import subprocess
import time

import pytest

from accounts import today
from conftest import (assert_error, assert_standard_headers, describe, metric_value,
                      raw_request)
from fcgi import fcgi_request

BANNED = "127.0.1.5"          # a loopback source address of its own /24
BANNED_OTHER = "127.0.1.200"  # same /24
NOT_BANNED = "127.0.2.5"      # next /24
EFFECT_S = 5                  # the contract: a change applies within 5 s
PG_BIN = "/usr/lib/postgresql/15/bin"
ID_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
ITEM_KEYS = {"ban_id", "prefix", "reason", "day", "expires_day"}


def review(st):
    return {"X-Admin-Token": st.sotto_env()["ADMIN_REVIEW_TOKEN"]}


def ui(st):
    return {"X-Admin-Token": st.sotto_env()["ADMIN_UI_TOKEN"]}


def ban(st, ip, reason="spam wave", days=None, headers=None, prefix=None):
    params = {"ip": ip, "reason": reason}
    if days is not None:
        params["days"] = days
    if prefix is not None:
        params["prefix"] = prefix
    return st.request("POST", "/moderation/ban/ip", params=params,
                      headers=review(st) if headers is None else headers)


@pytest.fixture(scope="module")
def made(stack):
    """Ban ids this module created; lifted when it ends."""
    ids = []
    yield ids
    for i in ids:
        stack.request("DELETE", "/moderation/bans/" + i, headers=review(stack))


def ban_ok(st, made, ip, **kw):
    r = ban(st, ip, **kw)
    assert r.status_code == 201, describe(r)
    made.append(r.json()["ban_id"])
    return r.json()


def unban(st, ban_id):
    r = st.request("DELETE", "/moderation/bans/" + ban_id, headers=review(st))
    assert r.status_code == 204, describe(r)


def status_from(st, source, path="/config", headers=None, method="GET", body=None):
    """The status a request from source gets; an IPv6 source goes to sotto's
    socket with that REMOTE_ADDR."""
    if source is not None and ":" in source:
        sock = os.path.join(st.var, "run", "sotto.sock")
        return fcgi_request(sock, method, path, headers=headers, body=body or b"",
                            remote_addr=source).status
    return raw_request(st, method, path, headers=headers, body=body, source=source)[0]


def wait_status(st, source, want, path="/config", timeout=EFFECT_S, run=8):
    """Seconds until requests from source get want, run times in a row (each
    on a connection of its own, so the pool's workers share them); fails
    after timeout."""
    start = time.monotonic()
    streak = [0]

    def settled():
        streak[0] = streak[0] + 1 if status_from(st, source, path) == want else 0
        return streak[0] >= run
    st.wait_for(settled, timeout, "%s from %s to answer %d %d times in a row"
                % (path, source, want, run), interval=0.02)
    return time.monotonic() - start


def all_listed(st, limit=100):
    items, cursor = [], None
    for _ in range(100):
        params = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        r = st.get("/moderation/bans", params=params, headers=review(st))
        assert r.status_code == 200, describe(r)
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the listing never ended")


# -- the review token -------------------------------------------------------------
ROUTES = [("POST", "/moderation/ban/ip?ip=192.0.2.1&reason=x"),
          ("GET", "/moderation/bans"),
          ("DELETE", "/moderation/bans/AAAAAAAAAAAAAAAAAAAAAA")]


@pytest.mark.parametrize("method,path", ROUTES)
def test_ban_routes_need_the_review_token_not_the_ui_one(stack, method, path):
    for headers in ({}, {"X-Admin-Token": "wrong"}, ui(stack),
                    {"X-Admin-Token": review(stack)["X-Admin-Token"] + "x"}):
        assert_error(stack.request(method, path, headers=headers), 401, "unauthorized")


def test_empty_review_token_disables_the_ban_routes(make_stack):
    st = make_stack("noreview", ADMIN_REVIEW_TOKEN="")
    for method, path in ROUTES:
        for headers in ({}, {"X-Admin-Token": "anything"}):
            assert_error(st.request(method, path, headers=headers), 404, "not_found")


# -- POST /moderation/ban/ip ----------------------------------------------------------
@pytest.mark.parametrize("ip,prefix", [
    ("192.0.2.77", "192.0.2.0/24"),
    ("::ffff:198.51.100.9", "198.51.100.0/24"),
    ("::ffff:cb00:7101", "203.0.113.0/24"),
    ("2001:0db8:0042:0007:0000:0000:0000:0001", "2001:db8:42:7::/64"),
    ("2001:db8:0:9:ffff::1", "2001:db8:0:9::/64"),
])
def test_ban_is_201_with_the_prefix_in_canonical_form(stack, made, ip, prefix):
    r = ban(stack, ip, days=7)
    assert r.status_code == 201, describe(r)
    assert_standard_headers(r)
    doc = r.json()
    made.append(doc["ban_id"])
    assert set(doc) == {"ban_id", "prefix", "expires_day"}, doc
    assert len(doc["ban_id"]) == 22 and set(doc["ban_id"]) <= ID_CHARS, doc
    assert doc["prefix"] == prefix, doc
    assert doc["expires_day"] - today() in (7, 6), doc   # 6: the day turned meanwhile


@pytest.mark.parametrize("ip,bits,prefix", [
    ("2001:db8:1:2::1", "48", "2001:db8:1::/48"),
    ("2001:db8:abcd:ef12::1", "52", "2001:db8:abcd:e000::/52"),
    ("2001:db8:abcd:ef12::1", "56", "2001:db8:abcd:ef00::/56"),
    ("2001:db8:abcd:ef13::1", "63", "2001:db8:abcd:ef12::/63"),
    ("2001:db8:abcd:ef13::1", "64", "2001:db8:abcd:ef13::/64"),
    ("192.0.2.78", "24", "192.0.2.0/24"),
    ("::ffff:192.0.2.79", "24", "192.0.2.0/24"),
])
def test_ban_with_a_prefix_length_bans_that_prefix_and_lists_it(stack, made, ip, bits, prefix):
    doc = ban_ok(stack, made, ip, prefix=bits, days=2)
    assert doc["prefix"] == prefix, doc
    listed = {b["ban_id"]: b for b in all_listed(stack)}
    assert listed[doc["ban_id"]]["prefix"] == prefix, listed[doc["ban_id"]]


@pytest.mark.parametrize("ip,bits", [
    ("2001:db8::1", "47"), ("2001:db8::1", "65"), ("2001:db8::1", "0"), ("2001:db8::1", "128"),
    ("2001:db8::1", ""), ("2001:db8::1", "abc"), ("2001:db8::1", "+48"), ("2001:db8::1", " 48"),
    ("2001:db8::1", "48.0"), ("2001:db8::1", "-48"), ("2001:db8::1", "99999999999999999999"),
    ("192.0.2.1", "16"), ("192.0.2.1", "32"), ("192.0.2.1", "48"), ("192.0.2.1", "64"),
    ("::ffff:192.0.2.1", "48"),
])
def test_ban_with_a_prefix_length_outside_its_family_range_is_422_naming_prefix(stack, ip, bits):
    before = stack.psql("SELECT count(*) FROM ip_bans")
    err = assert_error(ban(stack, ip, prefix=bits), 422, "invalid_field")
    assert "prefix" in err["message"], err
    assert stack.psql("SELECT count(*) FROM ip_bans") == before


def test_ban_without_days_is_permanent_and_listed(stack, made):
    reason = "permanent ban %s" % os.urandom(4).hex()
    doc = ban_ok(stack, made, "2001:db8:aa:bb::5", reason=reason)
    assert doc["expires_day"] is None, doc
    listed = {b["ban_id"]: b for b in all_listed(stack)}
    item = listed[doc["ban_id"]]
    assert set(item) == ITEM_KEYS, item
    assert item == {"ban_id": doc["ban_id"], "prefix": "2001:db8:aa:bb::/64",
                    "reason": reason, "day": item["day"], "expires_day": None}, item
    assert abs(item["day"] - today()) <= 1, item


def test_ban_goes_into_the_public_moderation_log_with_its_reason_only(stack, made):
    reason = "logged ban %s" % os.urandom(4).hex()
    ban_ok(stack, made, "192.0.2.12", reason=reason, days=1)
    rows = stack.psql("SELECT action, post_id IS NULL, day FROM mod_log WHERE reason = '%s'"
                      % reason)
    assert len(rows) == 1 and rows[0][:2] == ["3", "t"], rows
    assert abs(int(rows[0][2]) - today()) <= 1, rows


@pytest.mark.parametrize("ip", [
    "", "1.2.3", "256.1.1.1", "01.2.3.4", "1.2.3.4/24", " 1.2.3.4", "fe80::1%eth0",
    "[2001:db8::1]", "2001:db8::1::2", "localhost", "x" * 100, "1" * 46,
    "::ffff:1.2.3", "127.1",
])
def test_ban_of_anything_but_one_address_is_422_naming_ip(stack, ip):
    err = assert_error(ban(stack, ip), 422, "invalid_field")
    assert "ip" in err["message"], err


def test_ban_without_ip_is_422(stack):
    r = stack.request("POST", "/moderation/ban/ip", params={"reason": "x"},
                      headers=review(stack))
    assert "ip" in assert_error(r, 422, "invalid_field")["message"]


@pytest.mark.parametrize("days", ["0", "-1", "3651", "1.5", "abc", "", "1e3", "99999999999999999999"])
def test_ban_with_days_outside_1_to_3650_is_422_naming_days(stack, days):
    err = assert_error(ban(stack, "192.0.2.1", days=days), 422, "invalid_field")
    assert "days" in err["message"], err


def test_ban_with_3650_days_is_accepted(stack, made):
    doc = ban_ok(stack, made, "192.0.2.13", days="3650")
    assert doc["expires_day"] - today() in (3650, 3649), doc


@pytest.mark.parametrize("reason", [None, "", "   ", "bad\x01char", "line\rfeed", "x" * 201,
                                    "from 192.0.2.1 again", "the 192.0.2.0 net"])
def test_ban_with_a_bad_reason_is_422_naming_reason(stack, reason):
    params = {"ip": "192.0.2.1"}
    if reason is not None:
        params["reason"] = reason
    r = stack.request("POST", "/moderation/ban/ip", params=params, headers=review(stack))
    assert "reason" in assert_error(r, 422, "invalid_field")["message"]


def test_ban_with_a_200_character_reason_is_accepted(stack, made):
    ban_ok(stack, made, "192.0.2.14", reason="é" * 200, days=1)


# -- GET /moderation/bans and DELETE --------------------------------------------------
def test_listing_walks_every_active_ban_once_newest_first(stack, made):
    mine = [ban_ok(stack, made, "2001:db8:100:%x::1" % i, days=3)["ban_id"] for i in range(5)]
    seen = [b["ban_id"] for b in all_listed(stack, limit=2)]
    assert len(seen) == len(set(seen)), seen
    positions = [seen.index(i) for i in mine]
    assert positions == sorted(positions, reverse=True), positions


def test_listing_leaves_out_expired_bans(stack, made):
    doc = ban_ok(stack, made, "192.0.2.15", days=2)
    stack.psql("UPDATE ip_bans SET expires_day = %d WHERE id = '%s'" % (today(), doc["ban_id"]))
    assert doc["ban_id"] not in {b["ban_id"] for b in all_listed(stack)}


def test_listing_refuses_a_bad_cursor_and_limit(stack):
    assert_error(stack.get("/moderation/bans", params={"cursor": "nope"}, headers=review(stack)),
                 400, "bad_request")
    assert_error(stack.get("/moderation/bans", params={"limit": "0"}, headers=review(stack)),
                 422, "invalid_field")


def test_delete_is_204_once_then_404(stack, made):
    doc = ban_ok(stack, made, "192.0.2.16")
    unban(stack, doc["ban_id"])
    r = stack.request("DELETE", "/moderation/bans/" + doc["ban_id"], headers=review(stack))
    assert_error(r, 404, "not_found")
    assert doc["ban_id"] not in {b["ban_id"] for b in all_listed(stack)}


@pytest.mark.parametrize("ban_id", ["AAAAAAAAAAAAAAAAAAAAAA", "short", "A" * 23, "%2e%2e",
                                    "AAAAAAAAAAAAAAAAAAAAA!"])
def test_delete_of_an_unknown_or_malformed_id_is_404(stack, ban_id):
    r = stack.request("DELETE", "/moderation/bans/" + ban_id, headers=review(stack))
    assert_error(r, 404, "not_found")


# -- the check on every request -------------------------------------------------------
def test_ban_applies_to_its_prefix_on_every_route_within_5s_and_lifts_within_5s(stack, made):
    assert status_from(stack, BANNED) == 200
    doc = ban_ok(stack, made, BANNED_OTHER, reason="loopback test ban")
    assert doc["prefix"] == "127.0.1.0/24", doc
    assert wait_status(stack, BANNED, 403) < EFFECT_S
    # Every worker (2 on the main stack) has it: many requests, each its own connection.
    assert [status_from(stack, BANNED) for _ in range(20)] == [403] * 20
    status, headers, body = raw_request(stack, "GET", "/config", source=BANNED)
    assert status == 403 and b'"banned"' in body, body
    assert headers.get("x-request-id"), headers
    json_body = {"Content-Type": "application/json"}
    for method, path, hdrs, payload in [
            ("GET", "/feed", None, None),
            ("GET", "/moderation/log", None, None),
            ("GET", "/no/such/route", None, None),
            ("GET", "/moderation/bans", None, None),
            ("GET", "/moderation/bans", {"X-Admin-Token": "wrong"}, None),
            ("POST", "/auth/register", json_body, b'{"password": "correct horse battery"}'),
            ("POST", "/auth/login", json_body, b'{"account_id": "x", "password": "y"}'),
            ("GET", "/me", {"Authorization": "Bearer x"}, None)]:
        s, _, b = raw_request(stack, method, path, headers=hdrs, body=payload, source=BANNED)
        assert s == 403 and b'"banned"' in b, (method, path, s, b)
    # /health and admin tokens of either kind are exempt.
    assert status_from(stack, BANNED, "/health") == 200
    assert status_from(stack, BANNED, headers=review(stack)) == 200
    assert status_from(stack, BANNED, headers=ui(stack)) == 200
    assert status_from(stack, BANNED, "/moderation/bans", headers=review(stack)) == 200
    # Other addresses are not affected.
    assert status_from(stack, None) == 200          # 127.0.0.1
    assert status_from(stack, NOT_BANNED) == 200
    unban(stack, doc["ban_id"])
    assert wait_status(stack, BANNED, 200) < EFFECT_S
    assert [status_from(stack, BANNED) for _ in range(20)] == [200] * 20


@pytest.mark.parametrize("ip,bits,inside,outside", [
    ("2001:db8:77:8abc::1", "52",
     ["2001:db8:77:8000::", "2001:db8:77:8fff:ffff:ffff:ffff:ffff", "2001:db8:77:8abc::9"],
     ["2001:db8:77:7fff::1", "2001:db8:77:9000::1", "2001:db8:78:8abc::1"]),
    ("2001:db8:99:1234::5", "48",
     ["2001:db8:99::1", "2001:db8:99:ffff::1"],
     ["2001:db8:98:ffff::1", "2001:db8:9a::1"]),
    ("2001:db8:55:6::7", None,
     ["2001:db8:55:6::1", "2001:db8:55:6:ffff::"],
     ["2001:db8:55:7::1", "2001:db8:55::1"]),
])
def test_ipv6_ban_applies_to_exactly_its_prefix_and_lifts(stack, made, ip, bits, inside,
                                                          outside):
    doc = ban_ok(stack, made, ip, prefix=bits, reason="ipv6 test ban")
    for addr in inside:
        wait_status(stack, addr, 403)
    for addr in outside:
        assert [status_from(stack, addr) for _ in range(8)] == [200] * 8, addr
    assert status_from(stack, inside[0], "/health") == 200
    assert status_from(stack, inside[0], headers=review(stack)) == 200
    unban(stack, doc["ban_id"])
    for addr in inside:
        wait_status(stack, addr, 200)


def test_change_made_in_the_database_applies_within_5s_and_expiry_on_its_day(stack, made):
    doc = ban_ok(stack, made, BANNED, days=2)
    wait_status(stack, BANNED, 403)
    # Expired today (set by hand: no worker of this pool hears of it but
    # through the database's generation): it stops applying.
    stack.psql("UPDATE ip_bans SET expires_day = %d WHERE id = '%s'" % (today(), doc["ban_id"]))
    assert wait_status(stack, BANNED, 200) < EFFECT_S
    assert [status_from(stack, BANNED) for _ in range(10)] == [200] * 10
    # Tomorrow is still in force.
    stack.psql("UPDATE ip_bans SET expires_day = %d WHERE id = '%s'"
               % (today() + 1, doc["ban_id"]))
    assert wait_status(stack, BANNED, 403) < EFFECT_S
    # A delete straight in the database (sotto cleanup does this) too.
    stack.psql("DELETE FROM ip_bans WHERE id = '%s'" % doc["ban_id"])
    assert wait_status(stack, BANNED, 200) < EFFECT_S


def loaded_per_worker(text):
    """{worker slot: bans in its list} from sotto_ipban_loaded samples."""
    out = {}
    for line in text.splitlines():
        m = re.match(r'^sotto_ipban_loaded\{worker="(\d+)"\} (-?\d+)$', line)
        if m:
            out[int(m.group(1))] = int(m.group(2))
    return out


def test_metrics_give_each_workers_loaded_ban_count(stack, made):
    ban_ok(stack, made, "192.0.2.77", reason="count test")
    ban_ok(stack, made, "198.51.100.77", reason="count test")
    want = int(stack.psql("SELECT count(DISTINCT token) FROM ip_bans WHERE key_version = 1 "
                          "AND (expires_day IS NULL OR expires_day > %d)" % today())[0][0])
    assert want >= 2
    alive = metric_value(stack.metrics(), "sotto_workers_alive")
    seen = {}

    def every_worker_holds_them():
        # Each worker reloads at its next request: keep them all busy.
        for _ in range(8):
            assert status_from(stack, None) == 200
        seen.clear()
        seen.update(loaded_per_worker(stack.metrics()))
        return len(seen) == alive and set(seen.values()) == {want}

    stack.wait_for(every_worker_holds_them, 20, "every worker to hold %d bans" % want)
    assert seen, "no sotto_ipban_loaded sample"


def test_ban_list_stays_in_force_while_the_database_is_down(make_stack):
    st = make_stack("bandown")
    doc = ban(st, BANNED, reason="outage test")
    assert doc.status_code == 201, describe(doc)
    wait_status(st, BANNED, 403)
    st.stack("stop", "pg")
    try:
        # The workers' polls of the database fail from now on: wait until one
        # has been counted, and past every worker's next poll, then ask.
        st.wait_for(lambda: metric_value(st.metrics(), "sotto_ipban_load_failures_total") > 0,
                    30, "the failed load to be counted")
        time.sleep(2.5)
        assert [status_from(st, BANNED) for _ in range(10)] == [403] * 10
        assert status_from(st, None) == 200
    finally:
        st.stack("start", "pg")
    st.wait_for(lambda: st.request("DELETE", "/moderation/bans/" + doc.json()["ban_id"],
                                   headers=review(st)).status_code == 204, 10, "the unban")
    assert wait_status(st, BANNED, 200) < EFFECT_S


# -- no address in clear anywhere ---------------------------------------------------
def pg_dump(st):
    role = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    cmd = role + [os.path.join(PG_BIN, "pg_dump"), "-h", os.path.join(st.var, "run")]
    if role:
        cmd += ["-U", "postgres"]
    p = subprocess.run(cmd + ["-d", "sotto"], cwd="/", capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def redis_bytes(st):
    """Every key name and an RDB snapshot of every value."""
    keys = st.redis_cli("--scan", text=False, timeout=30)
    assert keys.returncode == 0, keys.stderr
    rdb = os.path.join(st.tmp, "scan.rdb")
    p = st.redis_cli("--rdb", rdb, text=False, timeout=30)
    assert p.returncode == 0, p.stderr
    with open(rdb, "rb") as f:
        data = f.read()
    os.unlink(rdb)
    return keys.stdout + data


def access_lines(path):
    with open(path, "rb") as f:
        return f.read().count(b"\n")


def log_bytes(st):
    out = b""
    logdir = os.path.join(st.var, "log")
    for name in sorted(os.listdir(logdir)):
        path = os.path.join(logdir, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                out += f.read()
    return out


def test_no_banned_address_or_prefix_in_clear_in_database_redis_or_logs(stack, made):
    v6 = "2001:db8:5ca:fe::77"
    ban_ok(stack, made, BANNED, reason="scan ban v4")
    ban_ok(stack, made, v6, reason="scan ban v6", days=3)
    wait_status(stack, BANNED, 403)
    access_log = os.path.join(stack.var, "log", "nginx-access.log")
    before = access_lines(access_log)
    for path in ("/config", "/feed", "/moderation/bans", "/nope"):
        raw_request(stack, "GET", path, source=BANNED)
    all_listed(stack)
    # nginx writes its buffered access log out every second or so.
    stack.wait_for(lambda: access_lines(access_log) >= before + 4, 30,
                   "the access log to record the banned requests")
    texts = [b"127.0.1.5", b"127.0.1.200", b"127.0.1.0", b"2001:db8:5ca:fe",
             b"2001:0db8:05ca:00fe", b"::ffff:127.0.1"]
    raws = [bytes([127, 0, 1, 5]), bytes([127, 0, 1, 200]),
            bytes.fromhex("20010db805ca00fe")]
    needles = texts + [r.hex().encode() for r in raws] + [r.hex().upper().encode() for r in raws]
    dump = pg_dump(stack)
    assert b"COPY public.ip_bans" in dump and b"scan ban v6" in dump, "no ban rows in the dump"
    for where, data in (("pg_dump", dump), ("redis", redis_bytes(stack)),
                        ("logs", log_bytes(stack))):
        found = [n for n in needles if n in data]
        if where == "redis":   # binary values: the raw bytes too
            found += [r.hex() for r in raws if r in data]
        assert not found, "%s holds %s" % (where, found)
