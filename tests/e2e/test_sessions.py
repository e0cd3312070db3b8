"""Sessions that last (docs/accounts.md, "Sessions"): registration and login
open a session with a refresh token; a refresh token works once and answers
its replacement; a reused one ends its whole session; sessions are listed
with day numbers only and ended from any session of the account; an idle
refresh token expires (days are simulated by moving the session's day numbers
back, as the other tests move day_joined)."""
import base64
import re
import threading

import pytest

from accounts import (ACCOUNT_ID_RE, B64URL_RE, TOKEN_LIFETIME, login_password, me,
                      new_password, unb64u)
from conftest import assert_error, assert_standard_headers, bearer, cleanup, describe

REFRESH_LIFETIME = 30 * 86400     # SOTTO_REFRESH_LIFETIME default
SESSION_KEYS = {"id", "current", "day_created", "day_last_used", "client", "bound"}


def register_full(st, password=None):
    r = st.request("POST", "/auth/register", json={"password": password or new_password()})
    assert r.status_code == 201, describe(r)
    return r.json()


def login_full(st, account_id, password):
    r = login_password(st, account_id, password)
    assert r.status_code == 200, describe(r)
    return r.json()


def refresh(st, refresh_token):
    return st.request("POST", "/auth/refresh", json={"refresh_token": refresh_token})


def refresh_ok(st, refresh_token):
    r = refresh(st, refresh_token)
    assert r.status_code == 200, describe(r)
    return r.json()


def assert_dead(st, token):
    assert_error(me(st, token), 401, "unauthorized")


def assert_alive(st, token):
    r = me(st, token)
    assert r.status_code == 200, describe(r)


def assert_refresh_refused(st, refresh_token):
    r = refresh(st, refresh_token)
    assert_error(r, 401, "invalid_credentials")
    assert_standard_headers(r)


def sessions(st, token, **query):
    r = st.get("/me/sessions", headers=bearer(token), params=query)
    assert r.status_code == 200, describe(r)
    return r.json()


@pytest.fixture
def account(stack):
    """(account_id, password, the registration's answer)."""
    password = new_password()
    body = register_full(stack, password)
    return body["account_id"], password, body


# -- what registration, login and refresh answer ------------------------------
def test_register_and_login_answer_a_session_with_a_refresh_token(stack, account):
    account_id, password, reg = account
    logged = login_full(stack, account_id, password)
    for body in (reg, logged):
        assert {"token", "expires_in", "session_id", "refresh_token",
                "refresh_expires_in"} <= set(body), body
        assert body["expires_in"] == TOKEN_LIFETIME == 900, body
        assert body["refresh_expires_in"] == REFRESH_LIFETIME, body
        assert ACCOUNT_ID_RE.match(body["session_id"]), body
        assert B64URL_RE.match(body["refresh_token"]), body
    assert reg["session_id"] != logged["session_id"]
    assert reg["refresh_token"] != logged["refresh_token"]


def test_refresh_answers_new_tokens_and_rotates(stack, account):
    _, _, reg = account
    first = refresh_ok(stack, reg["refresh_token"])
    assert set(first) == {"token", "expires_in", "refresh_token", "refresh_expires_in"}, first
    assert first["expires_in"] == TOKEN_LIFETIME
    assert first["refresh_expires_in"] == REFRESH_LIFETIME
    assert first["refresh_token"] != reg["refresh_token"]
    assert first["token"] != reg["token"]
    assert_alive(stack, first["token"])
    second = refresh_ok(stack, first["refresh_token"])
    assert_alive(stack, second["token"])
    # the session is the same one throughout
    items = sessions(stack, second["token"])["items"]
    assert [s["id"] for s in items if s["current"]] == [reg["session_id"]], items


# -- reuse detection ----------------------------------------------------------
def test_a_reused_refresh_token_ends_the_thief_and_the_owner(stack, account):
    """The thief refreshes first with a stolen token; the owner's next refresh
    presents the same (now used) token: 401, and every token of the session,
    the thief's included, stops working at once."""
    _, _, reg = account
    thief = refresh_ok(stack, reg["refresh_token"])
    assert_alive(stack, thief["token"])
    assert_refresh_refused(stack, reg["refresh_token"])           # the owner
    assert_dead(stack, thief["token"])
    assert_dead(stack, reg["token"])
    assert_refresh_refused(stack, thief["refresh_token"])


def test_a_reused_refresh_token_after_the_owner_refreshed_ends_the_session(stack, account):
    _, _, reg = account
    owner = refresh_ok(stack, reg["refresh_token"])
    owner2 = refresh_ok(stack, owner["refresh_token"])
    assert_refresh_refused(stack, reg["refresh_token"])           # the thief, late
    assert_dead(stack, owner2["token"])
    assert_refresh_refused(stack, owner2["refresh_token"])


def test_reuse_ends_only_its_own_session(stack, account):
    account_id, password, reg = account
    other = login_full(stack, account_id, password)
    refresh_ok(stack, reg["refresh_token"])
    assert_refresh_refused(stack, reg["refresh_token"])
    assert_alive(stack, other["token"])
    assert_alive(stack, refresh_ok(stack, other["refresh_token"])["token"])


def test_concurrent_refreshes_with_one_token_never_both_succeed(stack, account):
    """Two requests racing with the same token: at most one rotation; the
    other is a reuse and ends the session."""
    _, _, reg = account
    results = []

    def go():
        results.append(refresh(stack, reg["refresh_token"]))

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    codes = sorted(r.status_code for r in results)
    assert len(codes) == 4 and codes.count(200) <= 1 and set(codes) <= {200, 401}, codes
    for r in results:
        if r.status_code == 200:
            assert_dead(stack, r.json()["token"])
    assert_dead(stack, reg["token"])


# -- malformed and forged refresh tokens ---------------------------------------
@pytest.mark.parametrize("value", [
    "", "x", "A" * 75, "A" * 76, "A" * 1000, "not base64url!", "\u00e9" * 40,
])
def test_malformed_refresh_tokens_are_invalid_credentials(stack, value):
    assert_refresh_refused(stack, value)


@pytest.mark.parametrize("body", [{}, {"refresh_token": 5}, {"refresh_token": None},
                                  {"refresh_token": ["x"]}])
def test_refresh_without_a_string_token_is_invalid_field(stack, body):
    assert_error(stack.request("POST", "/auth/refresh", json=body), 422, "invalid_field")


def test_a_refresh_token_with_another_generation_or_mac_is_refused(stack, account):
    """Changing any byte (the generation counter, the session id, the MAC)
    makes a token that is refused and ends nothing."""
    _, _, reg = account
    raw = bytearray(unb64u(reg["refresh_token"]))
    assert len(raw) == 56
    for i in (0, 16, 23, 24, 55):
        forged = bytearray(raw)
        forged[i] ^= 1
        text = base64.urlsafe_b64encode(bytes(forged)).rstrip(b"=").decode()
        assert_refresh_refused(stack, text)
    assert_alive(stack, reg["token"])
    assert_alive(stack, refresh_ok(stack, reg["refresh_token"])["token"])


def test_refresh_tokens_are_not_stored(stack, account):
    """The sessions table holds ids, generations, day numbers, the OAuth
    client a session belongs to, its scopes and the thumbprint of a bound
    session's public key only: no token, no time of
    day, nothing about the client's address or software."""
    _, _, reg = account
    cols = stack.psql("SELECT column_name FROM information_schema.columns "
                      "WHERE table_name = 'sessions' ORDER BY column_name")
    assert sorted(c[0] for c in cols) == ["account_pk", "client_pk", "day_created",
                                          "day_last_used", "gen", "id", "jkt", "pk",
                                          "scope"], cols
    dump = stack.psql("SELECT * FROM sessions")
    raw = unb64u(reg["refresh_token"])
    text = "\n".join("\t".join(row) for row in dump)
    assert reg["refresh_token"] not in text
    assert raw[24:].hex() not in text


# -- the session list ---------------------------------------------------------
def test_sessions_list_shows_day_numbers_only_and_the_current_one(stack, account):
    account_id, password, reg = account
    other = login_full(stack, account_id, password)
    doc = sessions(stack, other["token"])
    assert set(doc) == {"items", "next_cursor"} and doc["next_cursor"] is None, doc
    items = {s["id"]: s for s in doc["items"]}
    assert set(items) == {reg["session_id"], other["session_id"]}, doc
    for s in items.values():
        assert set(s) == SESSION_KEYS, s
        assert isinstance(s["day_created"], int) and s["day_created"] == s["day_last_used"]
        assert s["client"] is None and s["bound"] is False
    assert items[other["session_id"]]["current"] is True
    assert items[reg["session_id"]]["current"] is False


def test_sessions_list_pages_each_session_once(stack, account):
    account_id, password, reg = account
    ids = {reg["session_id"]} | {login_full(stack, account_id, password)["session_id"]
                                 for _ in range(4)}
    seen, cursor = [], None
    while True:
        query = {"limit": 2}
        if cursor:
            query["cursor"] = cursor
        doc = sessions(stack, reg["token"], **query)
        assert len(doc["items"]) <= 2
        seen += [s["id"] for s in doc["items"]]
        cursor = doc["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)


def test_sessions_list_needs_a_token(stack):
    assert_error(stack.get("/me/sessions"), 401, "unauthorized")


# -- ending sessions ----------------------------------------------------------
def test_ending_a_session_from_another_one_kills_its_tokens(stack, account):
    account_id, password, reg = account
    other = login_full(stack, account_id, password)
    r = stack.request("DELETE", "/me/sessions/" + reg["session_id"], headers=bearer(other["token"]))
    assert r.status_code == 204, describe(r)
    assert_dead(stack, reg["token"])
    assert_refresh_refused(stack, reg["refresh_token"])
    assert_alive(stack, other["token"])
    assert [s["id"] for s in sessions(stack, other["token"])["items"]] == [other["session_id"]]
    again = stack.request("DELETE", "/me/sessions/" + reg["session_id"],
                          headers=bearer(other["token"]))
    assert_error(again, 404, "not_found")


def test_another_accounts_session_is_not_found_and_lives_on(stack, account):
    _, _, reg = account
    stranger = register_full(stack)
    r = stack.request("DELETE", "/me/sessions/" + reg["session_id"],
                      headers=bearer(stranger["token"]))
    assert_error(r, 404, "not_found")
    assert_alive(stack, reg["token"])


@pytest.mark.parametrize("sid", ["x", "A" * 22 + "A", "A" * 21 + "!", "%C3%A9" * 11, "A" * 22])
def test_unknown_or_malformed_session_ids_are_not_found(stack, account, sid):
    _, _, reg = account
    r = stack.request("DELETE", "/me/sessions/" + sid, headers=bearer(reg["token"]))
    assert_error(r, 404, "not_found")


def test_logout_ends_the_current_session_and_its_refresh_token(stack, account):
    account_id, password, reg = account
    other = login_full(stack, account_id, password)
    r = stack.request("POST", "/auth/logout", headers=bearer(reg["token"]))
    assert r.status_code == 204, describe(r)
    assert_dead(stack, reg["token"])
    assert_refresh_refused(stack, reg["refresh_token"])
    assert_alive(stack, other["token"])


def test_refresh_after_account_deletion_is_refused(stack, account):
    account_id, password, reg = account
    other = login_full(stack, account_id, password)
    r = stack.request("DELETE", "/me", headers=bearer(reg["token"]), json={"password": password})
    assert r.status_code == 204, describe(r)
    assert_refresh_refused(stack, reg["refresh_token"])
    assert_refresh_refused(stack, other["refresh_token"])
    assert_dead(stack, other["token"])


def test_ended_sessions_stay_ended_when_redis_forgets_everything(stack, account):
    """Redis flushed (a restart without persistence, or a failover to a
    replica that missed the marks): the token check falls back to
    PostgreSQL, where an ended session's row is gone, so its access tokens
    stay refused; a live session's token works on."""
    account_id, password, reg = account
    by_logout = login_full(stack, account_id, password)
    by_delete = login_full(stack, account_id, password)
    by_reuse = login_full(stack, account_id, password)
    for body in (reg, by_logout, by_delete, by_reuse):
        assert_alive(stack, body["token"])   # each token's record is cached now
    r = stack.request("POST", "/auth/logout", headers=bearer(by_logout["token"]))
    assert r.status_code == 204, describe(r)
    r = stack.request("DELETE", "/me/sessions/" + by_delete["session_id"],
                      headers=bearer(reg["token"]))
    assert r.status_code == 204, describe(r)
    refresh_ok(stack, by_reuse["refresh_token"])
    assert_refresh_refused(stack, by_reuse["refresh_token"])
    ended = (by_logout, by_delete, by_reuse)
    for body in ended:
        assert_dead(stack, body["token"])
    assert stack.redis("FLUSHALL") == "OK"
    for body in ended:
        assert_dead(stack, body["token"])
        assert_refresh_refused(stack, body["refresh_token"])
    assert_alive(stack, reg["token"])


# -- idle expiry --------------------------------------------------------------
def age_session(st, session_id, days):
    st.psql("UPDATE sessions SET day_created = day_created - %d, "
            "day_last_used = day_last_used - %d WHERE id = '%s'" % (days, days, session_id))


def test_a_refresh_token_idle_for_the_whole_lifetime_is_refused(stack, account):
    account_id, password, reg = account
    other = login_full(stack, account_id, password)
    age_session(stack, reg["session_id"], REFRESH_LIFETIME // 86400)
    assert_refresh_refused(stack, reg["refresh_token"])
    ids = [s["id"] for s in sessions(stack, other["token"])["items"]]
    assert reg["session_id"] not in ids, "an expired session is ended"


def test_a_refresh_token_idle_a_day_less_still_works_and_moves_the_day(stack, account):
    _, _, reg = account
    age_session(stack, reg["session_id"], REFRESH_LIFETIME // 86400 - 1)
    body = refresh_ok(stack, reg["refresh_token"])
    items = sessions(stack, body["token"])["items"]
    mine = [s for s in items if s["id"] == reg["session_id"]][0]
    assert mine["day_last_used"] - mine["day_created"] == REFRESH_LIFETIME // 86400 - 1, mine


def test_cleanup_deletes_sessions_idle_too_long_and_keeps_the_others(stack, account):
    """`sotto cleanup` deletes the rows of sessions whose refresh token can no
    longer work, which no request would otherwise ever delete."""
    account_id, password, reg = account
    edge = login_full(stack, account_id, password)
    age_session(stack, reg["session_id"], REFRESH_LIFETIME // 86400)
    age_session(stack, edge["session_id"], REFRESH_LIFETIME // 86400 - 1)
    r = cleanup(stack)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert re.search(r", [1-9]\d* idle sessions(,|$)", r.stdout, re.M), r.stdout
    left = stack.psql("SELECT id FROM sessions WHERE id IN ('%s', '%s')"
                      % (reg["session_id"], edge["session_id"]))
    assert [row[0] for row in left] == [edge["session_id"]], left
    assert_alive(stack, refresh_ok(stack, edge["refresh_token"])["token"])


def test_a_password_change_ends_every_other_session_and_keeps_this_one(stack, account):
    account_id, password, reg = account
    other = login_full(stack, account_id, password)
    r = stack.request("POST", "/me/password", headers=bearer(reg["token"]),
                      json={"password": password, "new_password": new_password()})
    assert r.status_code == 204, describe(r)
    assert_dead(stack, other["token"])
    assert_refresh_refused(stack, other["refresh_token"])
    assert_alive(stack, reg["token"])
    # the session that changed it lives on: its refresh answers tokens that work
    assert_alive(stack, refresh_ok(stack, reg["refresh_token"])["token"])
    assert [s["id"] for s in sessions(stack, reg["token"])["items"]] == [reg["session_id"]]
