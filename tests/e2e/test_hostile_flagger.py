"""Cheap accounts and free requests must not buy influence over others.

- Flags of accounts younger than SOTTO_FLAG_MIN_AGE_DAYS (3 days here, the
  default) or below neutral trust are accepted and reach review, but never
  hold a post; their up-votes move the score, never the author's trust.
- Asking for proof-of-work challenges (free) raises nobody's difficulty,
  and POST /pow/challenge has a rate class of its own (CHALLENGE).

Days are simulated as the other tests do: the account row's day_joined is
moved back with psql.
"""
import http.client
import json
import secrets
import ssl
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from accounts import id_hash
from conftest import assert_error, bearer, describe, raw_request, register, solve_pow
from content import get_post, post, set_trust, trust, vote_ok

MIN_AGE = 3
POW_FLOOR = 10
MIN_RATE = 5                     # adaptive: 4 x 5 proofs a minute add a bit
CHALLENGE_RATE = 60              # per minute and address (the default)
FLOOD_SOURCES = ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")
FLOOD_PER_SOURCE = 250           # 1 000 asks, none solved


@pytest.fixture(scope="module")
def st(make_stack):
    return make_stack("hostile", SOTTO_FLAG_MIN_AGE_DAYS=str(MIN_AGE),
                      SOTTO_RATE_CHALLENGE="%d/60" % CHALLENGE_RATE,
                      SOTTO_POW_COMMUNITY=str(POW_FLOOR),
                      SOTTO_ADAPTIVE_POW_MIN_RATE=str(MIN_RATE))


def review(st):
    return {"X-Admin-Token": st.sotto_env()["ADMIN_REVIEW_TOKEN"]}


def age(st, account_id, days):
    """Make the account `days` days older (day_joined moved back)."""
    rows = st.psql("UPDATE accounts SET day_joined = day_joined - %d WHERE id_hash = '\\x%s' "
                   "RETURNING day_joined" % (days, id_hash(st, account_id).hex()))
    assert len(rows) == 1, account_id


def accounts(st, n, days=0):
    out = []
    for _ in range(n):
        account_id, token = register(st)
        if days:
            age(st, account_id, days)
        out.append((account_id, token))
    return out


def flag(st, token, post_id):
    r = st.request("POST", "/moderation/flag", json={"post_id": post_id, "reason": "spam"},
                   headers=bearer(token))
    assert r.status_code == 202, describe(r)


def visible(st, post_id):
    r = get_post(st, post_id)
    assert r.status_code in (200, 404), describe(r)
    return r.status_code == 200


def queued(st, post_id):
    """The pending review item of the post: its flag_count."""
    r = st.get("/moderation/queue", params={"status": "pending", "limit": 100},
               headers=review(st))
    assert r.status_code == 200, describe(r)
    for item in r.json()["items"]:
        if item["post"]["id"] == post_id:
            return item["flag_count"]
    return None


# -- flags ------------------------------------------------------------------------
def test_three_fresh_accounts_cannot_hide_a_post_but_their_flags_reach_review(st):
    _, author = register(st)
    p = post(st, author)
    for _, token in accounts(st, 3):
        flag(st, token, p["id"])
    assert visible(st, p["id"]), "three flags of accounts a second old held the post"
    assert queued(st, p["id"]) == 3


def test_ten_fresh_accounts_cannot_hide_a_post_either(st):
    _, author = register(st)
    p = post(st, author)
    for _, token in accounts(st, 10):
        flag(st, token, p["id"])
    assert visible(st, p["id"])
    assert queued(st, p["id"]) == 10


def test_accounts_one_day_short_of_the_age_do_not_hold(st):
    _, author = register(st)
    p = post(st, author)
    for _, token in accounts(st, 3, days=MIN_AGE - 1):
        flag(st, token, p["id"])
    assert visible(st, p["id"])


def test_three_established_accounts_hold_a_post(st):
    """The control: the same three flags from accounts MIN_AGE days old hold it."""
    _, author = register(st)
    p = post(st, author)
    for _, token in accounts(st, 3, days=MIN_AGE):
        flag(st, token, p["id"])
    assert_error(get_post(st, p["id"]), 404, "not_found")


def test_old_accounts_below_neutral_trust_do_not_hold(st):
    _, author = register(st)
    p = post(st, author)
    for account_id, token in accounts(st, 4, days=30):
        set_trust(st, account_id, 0.49)
        flag(st, token, p["id"])
    assert visible(st, p["id"])
    assert queued(st, p["id"]) == 4


def test_a_young_flag_adds_nothing_to_established_ones(st):
    """Two established flags (1.0) plus any number of young ones stay below 1.5."""
    _, author = register(st)
    p = post(st, author)
    for _, token in accounts(st, 2, days=MIN_AGE) + accounts(st, 4):
        flag(st, token, p["id"])
    assert visible(st, p["id"])
    (_, token), = accounts(st, 1, days=MIN_AGE)
    flag(st, token, p["id"])
    assert not visible(st, p["id"])


# -- votes ------------------------------------------------------------------------
def test_up_votes_of_fresh_accounts_do_not_move_trust(st):
    _, author = register(st)
    p = post(st, author)
    before = trust(st, author)
    for _, token in accounts(st, 5):
        assert vote_ok(st, token, p["id"], 1) >= 1
    assert trust(st, author) == pytest.approx(before, abs=1e-6)


def test_up_votes_of_established_accounts_do(st):
    _, author = register(st)
    p = post(st, author)
    before = trust(st, author)
    for _, token in accounts(st, 3, days=MIN_AGE):
        vote_ok(st, token, p["id"], 1)
    assert trust(st, author) == pytest.approx(before + 0.03, abs=1e-5)


def test_a_vote_cast_while_young_takes_nothing_back_when_withdrawn_later(st):
    _, author = register(st)
    p = post(st, author)
    before = trust(st, author)
    (voter_id, voter), = accounts(st, 1)
    vote_ok(st, voter, p["id"], 1)
    age(st, voter_id, MIN_AGE)
    vote_ok(st, voter, p["id"], 0)
    assert trust(st, author) == pytest.approx(before, abs=1e-6)
    vote_ok(st, voter, p["id"], 1)                  # now established: it counts
    assert trust(st, author) == pytest.approx(before + 0.01, abs=1e-5)
    vote_ok(st, voter, p["id"], -1)                 # and is taken back
    assert trust(st, author) == pytest.approx(before, abs=1e-5)


# -- proof of work ----------------------------------------------------------------
def flood(st, source, n, action="community"):
    """n POST /pow/challenge from source on one kept-alive connection, as fast
    as it goes: (statuses, seconds taken, the last response's body)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", st.https_port, timeout=30, context=ctx,
                                       source_address=(source, 0))
    body = json.dumps({"action": action}).encode()
    statuses, last = [], b""
    start = time.monotonic()
    try:
        for _ in range(n):
            conn.request("POST", "/pow/challenge", body=body,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            last = resp.read()
            statuses.append(resp.status)
    finally:
        conn.close()
    return statuses, time.monotonic() - start, last


def allowed(seconds):
    """Most challenges one address may get in `seconds`: the class's burst and
    what refills meanwhile (count/60 a second), plus one for rounding."""
    return CHALLENGE_RATE + int(seconds * CHALLENGE_RATE / 60) + 1


def difficulty(st):
    r = st.get("/config")
    assert r.status_code == 200, describe(r)
    return r.json()["pow"]["community"]


def test_a_challenge_flood_neither_raises_the_difficulty_nor_goes_unlimited(st):
    assert difficulty(st) == POW_FLOOR
    with ThreadPoolExecutor(len(FLOOD_SOURCES)) as pool:
        runs = list(pool.map(lambda src: flood(st, src, FLOOD_PER_SOURCE), FLOOD_SOURCES))
    for statuses, seconds, _ in runs:
        assert set(statuses) <= {200, 429}, sorted(set(statuses))
        assert 1 <= statuses.count(200) <= allowed(seconds), (statuses.count(200), seconds)
        if FLOOD_PER_SOURCE > allowed(seconds):
            assert 429 in statuses, seconds
    issued = sum(statuses.count(200) for statuses, _, _ in runs)
    assert issued > 4 * MIN_RATE, "the flood must be big enough to have raised it before"
    assert difficulty(st) == POW_FLOOR, "%d challenges asked for raised the difficulty" % issued


def test_a_refused_challenge_is_429_in_the_contract_format(st):
    statuses, seconds, last = flood(st, "127.0.0.9", 3 * CHALLENGE_RATE)
    assert statuses.count(200) <= allowed(seconds), (statuses.count(200), seconds)
    if statuses[-1] == 429:
        assert b'"rate_limited"' in last, last
    assert 429 in statuses or len(statuses) <= allowed(seconds), seconds


def test_solved_challenges_do_raise_the_difficulty(st):
    """The control: work actually done is the load that counts."""
    _, token = register(st)
    source = "127.0.0.10"
    done = 0
    while difficulty(st) == POW_FLOOR and done < 8 * MIN_RATE:
        status, _, body = raw_request(st, "POST", "/pow/challenge",
                                      headers={"Content-Type": "application/json"},
                                      body=b'{"action": "community"}', source=source)
        if status == 429:
            source = "127.0.1.%d" % (done + 1)   # another client; this one is spent
            continue
        assert status == 200, (status, body)
        header = solve_header(body)
        r = st.request("POST", "/communities",
                       json={"slug": "hostile-%s" % secrets.token_hex(6),
                             "title": "Community %d" % done},
                       headers=dict(bearer(token), **header))
        assert r.status_code not in (403, 428), describe(r)
        done += 1
    assert difficulty(st) > POW_FLOOR, "%d proofs did not raise the difficulty" % done


def solve_header(body):
    """X-PoW for a POST /pow/challenge response body."""
    doc = json.loads(body)
    return {"X-PoW": "%s:%s" % (doc["challenge"],
                                solve_pow("community", doc["challenge"], doc["difficulty"]))}
