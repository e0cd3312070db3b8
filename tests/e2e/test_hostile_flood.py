"""A flood of wrong-password logins from 256 addresses beside a real user.

The flood solves no proof of work and sends every login from another
loopback source address (127.0.0.2.., 127.0.1.1..), so no per-address
rate limit stops it; login asks no proof of work by default. Before,
about 200 such addresses kept every Argon2 slot busy and everyone's login
got 503. Now the checks that find every hash slot busy raise the login
difficulty (the contract's adaptive proof of work): the flood gets 428
before any hash is run, and the real user, who asks for a challenge and
solves it as the contract says, logs in.
"""
import json
import threading
import time

import pytest
import requests

from accounts import new_password
from conftest import (REQUEST_TIMEOUT, TimeoutSession, describe, raw_request, register,
                      solve_pow)

ADDRESSES = ["127.0.0.%d" % i for i in range(2, 130)] + ["127.0.1.%d" % i for i in range(1, 129)]
FLOOD_THREADS = 16
REAL_LOGINS = 5


@pytest.fixture(scope="module")
def st(make_stack):
    # The defaults of a real host: more workers than hash slots. The main
    # test settings ask no proof of work for login and allow every rate.
    return make_stack("flood", SOTTO_WORKERS="8", SOTTO_PWHASH_CONCURRENCY="2")


@pytest.fixture(scope="module")
def account(st):
    """(account_id, password), registered before any flood: while the hash
    slots are saturated, registering needs proof of work too."""
    password = new_password()
    return register(st, password)[0], password


class Flood:
    """FLOOD_THREADS threads sending wrong-password logins, each request from
    the next of the 256 addresses, without X-PoW, until stopped."""

    def __init__(self, st, account_id):
        self.st = st
        self.body = json.dumps({"account_id": account_id,
                                "password": "not the password at all"}).encode()
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.statuses = []
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(FLOOD_THREADS)]

    def _run(self, i):
        n = i
        while not self.stop_event.is_set():
            try:
                status, _, _ = raw_request(self.st, "POST", "/auth/login",
                                           headers={"Content-Type": "application/json"},
                                           body=self.body,
                                           source=ADDRESSES[n % len(ADDRESSES)])
            except OSError as e:
                status = type(e).__name__
            n += FLOOD_THREADS
            with self.lock:
                self.statuses.append(status)

    def count(self, status=None):
        with self.lock:
            return sum(1 for s in self.statuses if status is None or s == status)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        for t in self.threads:
            t.join(REQUEST_TIMEOUT + 5)


LOGIN_ATTEMPTS = 5


def real_login(st, account_id, password):
    """What an honest client does: ask for a login challenge, solve it when
    the difficulty is above 0, log in; do it again with a fresh challenge,
    at most LOGIN_ATTEMPTS times, when the difficulty rose in between (428
    pow_required, or 403 pow_invalid for a challenge now too easy), when
    the answer was 503 with Retry-After (every hash slot stayed busy for
    SOTTO_PWHASH_WAIT_MS: on a loaded two-core machine one Argon2 check
    can take longer than that wait, even for the request served first),
    after waiting what Retry-After says, or when the connection broke (TLS
    handshakes on the loaded test machine). Returns (difficulty, response)."""
    for attempt in range(LOGIN_ATTEMPTS):
        last = attempt == LOGIN_ATTEMPTS - 1
        s = TimeoutSession()
        try:
            r = s.post(st.url("/pow/challenge"), json={"action": "login"})
            assert r.status_code == 200, describe(r)
            ch = r.json()
            headers = {}
            if ch["difficulty"] > 0:
                nonce = solve_pow("login", ch["challenge"], ch["difficulty"])
                headers["X-PoW"] = "%s:%s" % (ch["challenge"], nonce)
            r = s.post(st.url("/auth/login"),
                       json={"account_id": account_id, "password": password}, headers=headers)
            if r.status_code == 503 and not last:
                assert "Retry-After" in r.headers, describe(r)
                time.sleep(min(int(r.headers["Retry-After"]), 5))
                continue
            if r.status_code not in (403, 428) or last:
                return ch["difficulty"], r
        except requests.ConnectionError:
            if last:
                raise
        finally:
            s.close()
    raise AssertionError("unreachable")


def test_the_raised_difficulty_asks_for_a_fresh_harder_challenge(st, account):
    """A challenge issued before the slots were saturated (difficulty 0 here)
    cannot be kept for the moment it would let a flood through."""
    account_id, password = account
    s = TimeoutSession()
    try:
        st.wait_for(lambda: s.get(st.url("/config")).json()["pow"]["login"] == 0, 150,
                    "the login difficulty to be 0 (no saturation yet)")
        easy = s.post(st.url("/pow/challenge"), json={"action": "login"}).json()
        assert easy["difficulty"] == 0, easy
        with Flood(st, account_id) as flood:
            st.wait_for(lambda: flood.count(428) >= 20, 60, "the flood to meet 428")
            r = s.post(st.url("/auth/login"),
                       json={"account_id": account_id, "password": password},
                       headers={"X-PoW": "%s:%s" % (easy["challenge"], "0")})
            assert r.status_code == 403 and r.json()["error"]["code"] == "pow_invalid", \
                describe(r)
            difficulty, r = real_login(st, account_id, password)
            assert difficulty > 0 and r.status_code == 200, (difficulty, describe(r))
    finally:
        s.close()


def test_a_real_user_logs_in_through_a_256_address_login_flood(st, account):
    account_id, password = account
    with Flood(st, account_id) as flood:
        st.wait_for(lambda: flood.count() >= 40, 120, "40 flood requests answered")
        answers = []
        for _ in range(REAL_LOGINS):
            answers.append(real_login(st, account_id, password))
            time.sleep(0.5)
        raised = st.get("/config").json()["pow"]["login"]
    statuses = flood.statuses
    assert [r.status_code for _, r in answers] == [200] * REAL_LOGINS, \
        ["difficulty %d: %s" % (d, describe(r)) for d, r in answers]
    # The flood was refused before any hash ran, and never got in.
    assert 200 not in statuses, "a wrong password logged in?"
    assert flood.count(428) > len(statuses) // 2, \
        "the flood mostly reached the password check: %s" % {s: statuses.count(s)
                                                           for s in set(statuses)}
    assert raised > 0, "GET /config does not show the raised login difficulty"
    assert set(statuses) <= {401, 428, 503} | {s for s in statuses if isinstance(s, str)}, \
        set(statuses)
