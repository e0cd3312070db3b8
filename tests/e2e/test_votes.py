"""Votes (docs/posts.md): POST /posts/{id}/vote
{"value": 1|-1|0} -> 200 {"score", "my_vote"}; one vote per account per
post, 0 withdraws; my_vote as each reader sees it; an up-vote from someone
else raises the author's trust by 0.01 and taking it back lowers it again,
votes on one's own post move the score only."""
import threading

import pytest

from content import (UNKNOWN_ID, delete_ok, feed_page, get_post_ok, post, reply, trust, vote,
                     vote_ok, community)
from conftest import (TimeoutSession, assert_error, assert_standard_headers, bearer, delete_me,
                      describe, register)

TRUST_STEP = 0.01
EPS = 1e-4       # trust is a PostgreSQL real


@pytest.fixture
def alice(stack):
    return register(stack)


@pytest.fixture
def bob(stack):
    return register(stack)


@pytest.fixture
def carol(stack):
    return register(stack)


def test_vote_is_200_with_score_and_my_vote(stack, alice, bob):
    p = post(stack, alice[1])
    r = vote(stack, bob[1], p["id"], 1)
    assert r.status_code == 200, describe(r)
    assert_standard_headers(r)
    assert r.json() == {"score": 1, "my_vote": 1}, describe(r)


def test_one_vote_per_account_voting_twice_keeps_the_score(stack, alice, bob):
    p = post(stack, alice[1])
    assert vote_ok(stack, bob[1], p["id"], 1) == 1
    assert vote_ok(stack, bob[1], p["id"], 1) == 1
    assert get_post_ok(stack, p["id"])["post"]["score"] == 1
    assert vote_ok(stack, bob[1], p["id"], -1) == -1
    assert vote_ok(stack, bob[1], p["id"], -1) == -1
    assert get_post_ok(stack, p["id"])["post"]["score"] == -1


def test_votes_of_several_accounts_add_up_and_zero_withdraws(stack, alice, bob, carol):
    p = post(stack, alice[1])
    assert vote_ok(stack, bob[1], p["id"], 1) == 1
    assert vote_ok(stack, carol[1], p["id"], 1) == 2
    assert vote_ok(stack, alice[1], p["id"], -1) == 1
    assert vote_ok(stack, carol[1], p["id"], 0) == 0
    assert vote_ok(stack, bob[1], p["id"], 0) == -1
    assert vote_ok(stack, alice[1], p["id"], 0) == 0
    assert get_post_ok(stack, p["id"])["post"]["score"] == 0


def test_withdrawing_without_a_vote_is_harmless(stack, alice, bob):
    p = post(stack, alice[1])
    assert vote_ok(stack, bob[1], p["id"], 0) == 0
    assert vote_ok(stack, bob[1], p["id"], 0) == 0
    assert get_post_ok(stack, p["id"], bob[1])["post"]["my_vote"] == 0


def test_my_vote_is_what_each_reader_voted(stack, alice, bob, carol):
    c = community(stack, alice[1])
    p = post(stack, alice[1], community=c["slug"])
    vote_ok(stack, bob[1], p["id"], 1)
    vote_ok(stack, carol[1], p["id"], -1)
    for token, want in ((bob[1], 1), (carol[1], -1), (alice[1], 0), (None, 0)):
        got = get_post_ok(stack, p["id"], token)["post"]
        assert got["my_vote"] == want and got["score"] == 0, (want, got)
        items = feed_page(stack, token, community=c["slug"], sort="new")["items"]
        assert [(x["id"], x["my_vote"]) for x in items] == [(p["id"], want)], items


def test_votes_on_replies_count_on_the_reply(stack, alice, bob):
    p = post(stack, alice[1])
    rp = reply(stack, alice[1], p["id"])
    assert vote_ok(stack, bob[1], rp["id"], 1) == 1
    doc = get_post_ok(stack, p["id"], bob[1])
    assert doc["post"]["score"] == 0
    assert (doc["replies"][0]["score"], doc["replies"][0]["my_vote"]) == (1, 1)


@pytest.mark.parametrize("value", [2, -2, "1", 1.0, True, False, None, [1], 0.5],
                         ids=["2", "-2", "string", "float", "true", "false", "null",
                              "array", "half"])
def test_vote_with_a_bad_value_is_422_invalid_field(stack, alice, bob, value):
    p = post(stack, alice[1])
    err = assert_error(vote(stack, bob[1], p["id"], value), 422, "invalid_field")
    assert "value" in err["message"], err
    assert get_post_ok(stack, p["id"])["post"]["score"] == 0


def test_vote_without_a_value_is_422_invalid_field(stack, alice, bob):
    p = post(stack, alice[1])
    r = stack.request("POST", "/posts/%s/vote" % p["id"], json={}, headers=bearer(bob[1]))
    err = assert_error(r, 422, "invalid_field")
    assert "value" in err["message"], err


def test_vote_on_an_unknown_post_is_404(stack, bob):
    assert_error(vote(stack, bob[1], UNKNOWN_ID, 1), 404, "not_found")


def test_vote_on_a_deleted_post_is_404(stack, alice, bob):
    p = post(stack, alice[1])
    delete_ok(stack, alice[1], p["id"])
    assert_error(vote(stack, bob[1], p["id"], 1), 404, "not_found")


def test_vote_without_a_token_is_401(stack, alice):
    p = post(stack, alice[1])
    assert_error(vote(stack, None, p["id"], 1), 401, "unauthorized")
    assert get_post_ok(stack, p["id"])["post"]["score"] == 0


# -- trust ------------------------------------------------------------------------------
def test_voting_on_your_own_post_moves_the_score_not_your_trust(stack, alice):
    p = post(stack, alice[1])
    before = trust(stack, alice[1])
    assert vote_ok(stack, alice[1], p["id"], 1) == 1
    assert abs(trust(stack, alice[1]) - before) < EPS
    assert vote_ok(stack, alice[1], p["id"], 0) == 0
    assert abs(trust(stack, alice[1]) - before) < EPS


def test_an_up_vote_from_someone_else_raises_trust_and_withdrawing_lowers_it(stack, alice,
                                                                              bob):
    p = post(stack, alice[1])
    before = trust(stack, alice[1])
    voter_before = trust(stack, bob[1])
    vote_ok(stack, bob[1], p["id"], 1)
    assert abs(trust(stack, alice[1]) - (before + TRUST_STEP)) < EPS
    vote_ok(stack, bob[1], p["id"], 1)        # the same vote again changes nothing
    assert abs(trust(stack, alice[1]) - (before + TRUST_STEP)) < EPS
    vote_ok(stack, bob[1], p["id"], 0)
    assert abs(trust(stack, alice[1]) - before) < EPS
    assert abs(trust(stack, bob[1]) - voter_before) < EPS   # the voter's own trust


def test_turning_an_up_vote_into_a_down_vote_takes_the_trust_back(stack, alice, bob):
    p = post(stack, alice[1])
    before = trust(stack, alice[1])
    vote_ok(stack, bob[1], p["id"], 1)
    vote_ok(stack, bob[1], p["id"], -1)
    assert trust(stack, alice[1]) < before + TRUST_STEP - EPS


def test_up_votes_from_several_accounts_add_up_in_trust(stack, alice):
    p = post(stack, alice[1])
    before = trust(stack, alice[1])
    for _ in range(3):
        vote_ok(stack, register(stack)[1], p["id"], 1)
    assert abs(trust(stack, alice[1]) - (before + 3 * TRUST_STEP)) < EPS


def test_an_up_vote_on_a_reply_raises_its_authors_trust(stack, alice, bob):
    p = post(stack, alice[1])
    rp = reply(stack, bob[1], p["id"])
    before = trust(stack, bob[1])
    vote_ok(stack, alice[1], rp["id"], 1)
    assert abs(trust(stack, bob[1]) - (before + TRUST_STEP)) < EPS


def test_deleting_the_voter_takes_the_votes_out_of_the_score(stack, alice):
    _, voter = register(stack)
    p = post(stack, alice[1])
    q = post(stack, alice[1])
    vote_ok(stack, voter, p["id"], 1)
    vote_ok(stack, voter, q["id"], -1)
    r = delete_me(stack, voter)
    assert r.status_code == 204, describe(r)
    assert get_post_ok(stack, p["id"])["post"]["score"] == 0
    assert get_post_ok(stack, q["id"])["post"]["score"] == 0


def test_two_authors_voting_on_each_other_at_once_never_deadlock(stack):
    """Alice votes on Bob's post while Bob votes on Alice's. Each vote first
    checks its voter exists (a key-share lock on the voter's account), then
    locks the post's author to move their trust. The test holds both
    authors' accounts so that both votes are inside at once, then lets go:
    had the author lock been FOR UPDATE, each would wait for the other's
    key-share lock and PostgreSQL would abort one (a 503 after its
    deadlock_timeout). Both answer 200, and the log shows no deadlock."""
    a_id, a_token = register(stack)
    b_id, b_token = register(stack)
    pa = post(stack, a_token)["id"]
    pb = post(stack, b_token)["id"]
    before = stack.deadlocks()
    answers = {}

    def cast(name, token, post_id):
        with TimeoutSession(timeout=60) as s:
            answers[name] = s.post(stack.url("/posts/%s/vote" % post_id),
                                   json={"value": 1}, headers=bearer(token))

    threads = [threading.Thread(target=cast, args=("alice", a_token, pb)),
               threading.Thread(target=cast, args=("bob", b_token, pa))]
    # the test holds both authors
    with stack.holding("SELECT 1 FROM accounts a JOIN posts p ON p.author_pk = a.pk "
                       "WHERE p.id IN ('%s', '%s') FOR NO KEY UPDATE OF a" % (pa, pb),
                       name="authors") as h:
        for t in threads:
            t.start()
        h.wait_for_waiters("INSERT INTO votes", count=2, what="both votes to wait")
    for t in threads:
        t.join(90)
    for name in ("alice", "bob"):
        assert answers[name].status_code == 200, describe(answers[name])
    stack.assert_no_deadlock_since(before)
    assert get_post_ok(stack, pa, a_token)["post"]["score"] == 1
    assert get_post_ok(stack, pb, b_token)["post"]["score"] == 1
