"""Proof of work (docs/accounts.md, "Proof of work"): challenges, the X-PoW check on
POST /auth/register (action "register"), single use, binding to the action,
expiry, and difficulty that rises under load: proofs verified, not challenges
asked for.

Two stacks of this module's own:
  pow       SOTTO_POW_REGISTER=8 with adaptation practically off
            (SOTTO_ADAPTIVE_POW_MIN_RATE=1000000), so every register
            challenge needs exactly FLOOR bits; login and vote need none.
  powload   SOTTO_POW_REGISTER=8 and SOTTO_POW_VOTE=8 with
            SOTTO_ADAPTIVE_POW_MIN_RATE=5: a burst of BURST votes with a
            solved challenge each within a minute (more than 4 x 5) raises
            the vote difficulty above the floor; as many challenges asked for
            and never solved do not. A stack apart, so that the burst
            disturbs no other test.

Expiry cannot be waited for (300 s): the test deletes the challenge's key
with redis-cli on the stack's Redis socket, which is what expiry does.
"""
import hashlib
import re
import time

import pytest

from accounts import redis_seal
from conftest import assert_error, bearer, describe, pow_header, solve_pow
from content import post

FLOOR = 8
MIN_RATE = 5
BURST = 45                      # > 8 x MIN_RATE: at least two extra bits
CHALLENGE_TTL = 300
CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def pow_stack(make_stack):
    return make_stack("pow", SOTTO_POW_REGISTER=str(FLOOR), SOTTO_POW_LOGIN="0",
                      SOTTO_POW_VOTE="0", SOTTO_ADAPTIVE_POW_MIN_RATE="1000000")


@pytest.fixture(scope="module")
def load_stack(make_stack):
    return make_stack("powload", SOTTO_POW_REGISTER=str(FLOOR), SOTTO_POW_LOGIN="0",
                      SOTTO_POW_VOTE=str(FLOOR), SOTTO_ADAPTIVE_POW_MIN_RATE=str(MIN_RATE))


# -- helpers ------------------------------------------------------------------
def challenge(st, action="register"):
    """A fresh challenge for action: the response body."""
    r = st.request("POST", "/pow/challenge", json={"action": action})
    assert r.status_code == 200, describe(r)
    return r.json()


def register(st, headers=None):
    return st.request("POST", "/auth/register", json={"password": PASSWORD},
                      headers=headers or {})


def leading_zero_bits(action, chal, nonce):
    d = hashlib.sha256(("sotto-pow:%s:%s:%s" % (action, chal, nonce)).encode()).digest()
    return 256 - int.from_bytes(d, "big").bit_length()


def nonce_with_bits_below(action, chal, bits, at_least=0):
    """A nonce scoring at least at_least and fewer than bits leading zero bits."""
    n = 0
    while True:
        if at_least <= leading_zero_bits(action, chal, str(n)) < bits:
            return str(n)
        n += 1


def assert_pow_accepted(r):
    """The proof of work passed: the registration it came with is made."""
    assert r.status_code == 201, describe(r)


# -- GET /config and POST /pow/challenge --------------------------------------
def test_config_reports_the_configured_floor_and_zero_when_off(pow_stack):
    r = pow_stack.get("/config")
    assert r.status_code == 200, describe(r)
    pow_ = r.json()["pow"]
    assert pow_["register"] == FLOOR, pow_
    assert pow_["login"] == 0 and pow_["vote"] == 0, pow_


def test_challenge_states_difficulty_algorithm_and_expiry(pow_stack):
    body = challenge(pow_stack)
    assert CHALLENGE_RE.match(body["challenge"]), body
    assert body["action"] == "register", body
    assert body["difficulty"] == FLOOR, body
    assert body["algorithm"] == "sha256", body
    assert body["expires_in"] == CHALLENGE_TTL, body
    assert challenge(pow_stack)["challenge"] != body["challenge"]


def test_challenge_is_stored_for_its_action_with_an_expiry(pow_stack):
    body = challenge(pow_stack)
    key = "pow:" + body["challenge"]
    # Sealed under its key name until its expiry (app/cachemac.c).
    value = pow_stack.redis("GET", key)
    _, expires, record = value.split(".", 2)
    assert record == "register:%d" % FLOOR, value
    assert value == redis_seal(pow_stack, key, record, int(expires)), value
    assert 0 < int(expires) - time.time() <= CHALLENGE_TTL + 1, value
    ttl = int(pow_stack.redis("TTL", key))
    assert 0 < ttl <= CHALLENGE_TTL, ttl


def test_challenge_for_an_action_without_pow_has_difficulty_zero(pow_stack):
    body = challenge(pow_stack, "vote")
    assert body["difficulty"] == 0 and body["action"] == "vote", body


def test_challenge_for_an_unknown_action_is_422(pow_stack):
    r = pow_stack.request("POST", "/pow/challenge", json={"action": "Register"})
    assert_error(r, 422, "invalid_field")


# -- the X-PoW check ------------------------------------------------------------
def test_missing_pow_is_428_pow_required(pow_stack):
    assert_error(register(pow_stack), 428, "pow_required")


def test_empty_pow_header_is_428_pow_required(pow_stack):
    assert_error(register(pow_stack, {"X-PoW": ""}), 428, "pow_required")


def test_route_whose_action_has_floor_zero_needs_no_pow(pow_stack):
    r = pow_stack.request("POST", "/auth/login", json={"password": PASSWORD})
    assert r.status_code != 428, describe(r)
    if r.status_code == 403:
        assert r.json()["error"]["code"] != "pow_invalid", describe(r)


@pytest.mark.parametrize("value", [
    "no-colon-at-all",
    "{c}",                      # no nonce
    "{c}:",                     # empty nonce
    "{c}:12a",
    "{c}:+1",
    "{c}:-1",
    "{c}:1.0",
    "{c}:123456789012345678901",  # 21 digits
    "{c}:1:2",                  # an extra colon
    "{c}::1",
    ":1",                       # no challenge
    "{short}:1",                # 21 characters
    "{c}A:1",                   # 23 characters
    "{bad}:1",                  # not base64url
])
def test_malformed_pow_header_is_403_and_spends_nothing(pow_stack, value):
    body = challenge(pow_stack)
    c = body["challenge"]
    header = value.format(c=c, short=c[:21], bad=c[:21] + ".")
    assert_error(register(pow_stack, {"X-PoW": header}), 403, "pow_invalid")
    # Refused before Redis: the challenge still works.
    nonce = solve_pow("register", c, body["difficulty"])
    assert_pow_accepted(register(pow_stack, {"X-PoW": "%s:%s" % (c, nonce)}))


def test_wrong_nonce_is_403_and_consumes_the_challenge(pow_stack):
    body = challenge(pow_stack)
    c = body["challenge"]
    wrong = nonce_with_bits_below("register", c, FLOOR)
    assert_error(register(pow_stack, {"X-PoW": "%s:%s" % (c, wrong)}), 403, "pow_invalid")
    right = solve_pow("register", c, FLOOR)
    assert_error(register(pow_stack, {"X-PoW": "%s:%s" % (c, right)}), 403, "pow_invalid")


def test_solved_challenge_works_once(pow_stack):
    header = pow_header(pow_stack, "register")
    assert_pow_accepted(register(pow_stack, header))
    assert_error(register(pow_stack, header), 403, "pow_invalid")


def test_challenge_for_another_action_is_403_and_consumed(pow_stack):
    body = challenge(pow_stack, "login")
    c = body["challenge"]
    # Solved as if for register at the floor: the action still does not match.
    nonce = solve_pow("register", c, FLOOR)
    assert_error(register(pow_stack, {"X-PoW": "%s:%s" % (c, nonce)}), 403, "pow_invalid")
    assert pow_stack.redis("EXISTS", "pow:" + c) == "0"


def test_unknown_challenge_is_403(pow_stack):
    c = "A" * 21 + "Q"
    nonce = solve_pow("register", c, FLOOR)
    assert_error(register(pow_stack, {"X-PoW": "%s:%s" % (c, nonce)}), 403, "pow_invalid")


def test_expired_challenge_is_403(pow_stack):
    body = challenge(pow_stack)
    c = body["challenge"]
    nonce = solve_pow("register", c, body["difficulty"])
    # What expiry does after CHALLENGE_TTL seconds, without the wait.
    assert pow_stack.redis("DEL", "pow:" + c) == "1"
    assert_error(register(pow_stack, {"X-PoW": "%s:%s" % (c, nonce)}), 403, "pow_invalid")


def test_request_refused_before_the_pow_check_keeps_the_challenge(pow_stack):
    header = pow_header(pow_stack, "register")
    r = pow_stack.request("POST", "/auth/register", data=b'{"password": ',
                          headers=dict(header, **{"Content-Type": "application/json"}))
    assert_error(r, 400, "invalid_json")
    assert_pow_accepted(register(pow_stack, header))


# -- difficulty under load -----------------------------------------------------
def vote(st, token, post_id, value, headers):
    return st.request("POST", "/posts/%s/vote" % post_id, json={"value": value},
                      headers=dict(bearer(token), **headers))


def proven_votes(st, n):
    """n votes on one post, each with a challenge solved at the difficulty it states."""
    r = register(st, pow_header(st, "register"))
    assert r.status_code == 201, describe(r)
    voter = r.json()["token"]
    r = register(st, pow_header(st, "register"))
    assert r.status_code == 201, describe(r)
    p = post(st, r.json()["token"])
    for i in range(n):
        r = vote(st, voter, p["id"], 1 if i % 2 == 0 else -1, pow_header(st, "vote"))
        assert r.status_code == 200, describe(r)
    return voter, p["id"]


def test_burst_of_challenges_never_solved_leaves_the_difficulty_at_the_floor(load_stack):
    """Asking costs nothing, so it cannot be what raises everyone's work."""
    for _ in range(4 * BURST):
        challenge(load_stack, "vote")
    assert challenge(load_stack, "vote")["difficulty"] == FLOOR
    assert load_stack.get("/config").json()["pow"]["vote"] == FLOOR


def test_burst_of_verified_proofs_raises_the_difficulty_above_the_floor(load_stack):
    assert challenge(load_stack, "vote")["difficulty"] == FLOOR
    proven_votes(load_stack, BURST)
    body = challenge(load_stack, "vote")
    assert FLOOR < body["difficulty"] <= 32, body
    pow_ = load_stack.get("/config").json()["pow"]
    assert FLOOR < pow_["vote"] <= 32, pow_
    # Only the busy action: login stays off, post at its floor.
    assert pow_["login"] == 0, pow_
    assert challenge(load_stack, "post")["difficulty"] == pow_["post"], pow_


def test_raised_difficulty_is_what_the_challenge_needs(load_stack):
    voter, post_id = proven_votes(load_stack, BURST)
    body = challenge(load_stack, "vote")
    d = body["difficulty"]
    assert d > FLOOR, body
    c = body["challenge"]
    # Enough for the floor, too few for this challenge.
    weak = nonce_with_bits_below("vote", c, d, at_least=FLOOR)
    assert_error(vote(load_stack, voter, post_id, 1, {"X-PoW": "%s:%s" % (c, weak)}),
                 403, "pow_invalid")
    body = challenge(load_stack, "vote")
    c = body["challenge"]
    nonce = solve_pow("vote", c, body["difficulty"])
    r = vote(load_stack, voter, post_id, 1, {"X-PoW": "%s:%s" % (c, nonce)})
    assert r.status_code == 200, describe(r)      # a vote is answered 200


# -- the whole contract, once POST /auth/register exists ------------------------
def test_register_with_a_solved_challenge_is_201(pow_stack):
    r = register(pow_stack, pow_header(pow_stack, "register"))
    assert r.status_code == 201, describe(r)
    body = r.json()
    assert {"account_id", "token", "expires_in"} <= set(body), body
