"""A thief holding a stolen access token, and nothing else.

It may act as the account for the token's lifetime (that is what a bearer
token is), but it cannot destroy the account (DELETE /me asks for the
credentials again), cannot take the account over (POST /me/password asks
for the current password), cannot guess that password faster than the
LOGIN rate class allows, and cannot keep the account once its owner
changes the password or deletes it: its token ends at once, and stays
ended even when Redis loses every cached record (the database decides).
"""
import os

import pytest

from accounts import b64u, key_proof, login_password, me, me_ok, new_password, register_key
from conftest import assert_error, bearer, delete_me, describe, register

GUESSES = 3   # the limited stack's LOGIN class: this many password checks an hour
EXPORTS = 2   # and its EXPORT class: this many downloads of everything an hour


@pytest.fixture
def st(stack):
    return stack


@pytest.fixture(scope="module")
def limited(make_stack):
    return make_stack("thief", SOTTO_RATE_LOGIN="%d/3600" % GUESSES,
                      SOTTO_RATE_EXPORT="%d/3600" % EXPORTS)


@pytest.fixture
def victim(st):
    """(account_id, password, owner's token, the thief's copy of another token)."""
    password = new_password()
    account_id, owner = register(st, password)
    stolen = login_password(st, account_id, password).json()["token"]
    return account_id, password, owner, stolen


def change_password(st, token, password, new):
    return st.request("POST", "/me/password", json={"password": password, "new_password": new},
                      headers=bearer(token))


def test_a_stolen_token_alone_cannot_delete_the_account(st, victim):
    account_id, password, owner, stolen = victim
    for body in (None, {}, {"password": None}, {"password": "not the password"},
                 {"public_key": b64u(os.urandom(32)), "challenge": "AAAA",
                  "signature": b64u(os.urandom(64))}):
        r = st.request("DELETE", "/me", json=body, headers=bearer(stolen))
        assert_error(r, 401, "invalid_credentials")
    assert me_ok(st, owner)["account_id"] == account_id
    assert me_ok(st, stolen)["account_id"] == account_id


def test_a_stolen_token_of_a_key_account_cannot_delete_it_with_the_thief_s_own_key(st):
    sk, account_id, owner = register_key(st)
    thief_key = register_key(st)[0]
    r = delete_me(st, owner, proof=key_proof(st, thief_key))
    assert_error(r, 401, "invalid_credentials")
    assert me_ok(st, owner)["account_id"] == account_id
    assert delete_me(st, owner, proof=key_proof(st, sk)).status_code == 204


def test_a_stolen_token_cannot_change_the_password(st, victim):
    account_id, password, owner, stolen = victim
    r = change_password(st, stolen, "a guess at it", "the thief's password")
    assert_error(r, 401, "invalid_credentials")
    assert login_password(st, account_id, password).status_code == 200
    assert_error(login_password(st, account_id, "the thief's password"), 401,
                 "invalid_credentials")
    assert me_ok(st, owner)["account_id"] == account_id


def test_a_stolen_token_guesses_the_password_no_faster_than_the_login_class(limited):
    password = new_password()
    account_id, stolen = register(limited, password)
    answers = [change_password(limited, stolen, "guess number %d" % i, "the thief's password")
               for i in range(GUESSES + 1)]
    assert [r.status_code for r in answers] == [401] * GUESSES + [429], \
        [describe(r) for r in answers]
    assert_error(answers[-1], 429, "rate_limited")
    # Even the right password is refused once the guesses are spent, and so
    # is deleting the account with it.
    assert_error(change_password(limited, stolen, password, "the thief's password"),
                 429, "rate_limited")
    assert_error(delete_me(limited, stolen, password), 429, "rate_limited")
    assert me_ok(limited, stolen)["account_id"] == account_id


def test_the_owner_s_password_change_ends_the_stolen_token_at_once(st, victim):
    account_id, password, owner, stolen = victim
    me_ok(st, stolen)                                     # its record is cached now
    assert change_password(st, owner, password, new_password()).status_code == 204
    assert_error(me(st, stolen), 401, "unauthorized")
    assert me_ok(st, owner)["account_id"] == account_id
    # Redis losing every cached record brings the stolen token back to nothing.
    for key in st.redis("KEYS", "a[cg]:*").split():
        st.redis("DEL", key)
    assert_error(me(st, stolen), 401, "unauthorized")
    assert me_ok(st, owner)["account_id"] == account_id


def test_the_owner_s_deletion_ends_the_stolen_token_at_once(st, victim):
    account_id, password, owner, stolen = victim
    me_ok(st, stolen)
    assert delete_me(st, owner, password).status_code == 204
    assert_error(me(st, stolen), 401, "unauthorized")
    for key in st.redis("KEYS", "gone:*").split() + st.redis("KEYS", "a[cg]:*").split():
        st.redis("DEL", key)
    assert_error(me(st, stolen), 401, "unauthorized")


def test_the_export_hands_a_thief_no_credential(st, victim):
    account_id, password, owner, stolen = victim
    r = st.get("/me/export", headers=bearer(stolen))
    assert r.status_code == 200, describe(r)
    text = r.text
    assert "argon2" not in text.lower()
    assert password not in text
    assert owner not in text and stolen not in text


def test_a_stolen_token_downloads_everything_no_more_often_than_the_export_class(limited):
    account_id, stolen = register(limited, new_password())
    answers = [limited.get("/me/export", headers=bearer(stolen)) for _ in range(EXPORTS + 1)]
    for r in answers[:EXPORTS]:
        assert r.status_code == 200, describe(r)
        assert r.headers.get("Content-Disposition", "").startswith("attachment"), describe(r)
        assert r.json()["account"]["account_id"] == account_id      # whole, valid JSON
    assert_error(answers[-1], 429, "rate_limited")
