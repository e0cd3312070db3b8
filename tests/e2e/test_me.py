"""The account itself (docs/accounts.md): GET /me (no account-wide key:
PUT /me/keys is gone), GET /me/export, DELETE /me; 401 without a token; 503
while Redis (revocations, challenges, rate limits) is down."""
import json
import os

import nacl.public
import pytest

from accounts import (ACCOUNT_ID_RE, b64u, id_hash, login_password, me, me_ok,
                      new_password, public_b64, register_key, today)
from conftest import (Stack, assert_error, assert_standard_headers, bearer, describe,
                      register)

ME_KEYS = {"account_id", "day_joined", "trust", "auth"}
def x25519_public():
    return b64u(bytes(nacl.public.PrivateKey.generate().public_key))


@pytest.fixture
def fresh(stack):
    """(account_id, password, token) of a new password account."""
    password = new_password()
    account_id, token = register(stack, password)
    return account_id, password, token


# -- GET /me -------------------------------------------------------------------------
def test_get_me_describes_a_new_password_account(stack, fresh):
    account_id, _, token = fresh
    r = me(stack, token)
    assert r.status_code == 200, describe(r)
    assert_standard_headers(r)
    doc = r.json()
    assert set(doc) == ME_KEYS, doc
    assert doc["account_id"] == account_id and ACCOUNT_ID_RE.match(account_id), doc
    assert isinstance(doc["day_joined"], int) and not isinstance(doc["day_joined"], bool), doc
    assert abs(doc["day_joined"] - today()) <= 1, doc
    assert isinstance(doc["trust"], (int, float)) and not isinstance(doc["trust"], bool), doc
    assert 0 <= doc["trust"] <= 1, doc
    assert doc["auth"] == "password", doc


def test_get_me_describes_a_key_account(stack):
    _, account_id, token = register_key(stack)
    doc = me_ok(stack, token)
    assert set(doc) == ME_KEYS, doc
    assert doc["account_id"] == account_id and doc["auth"] == "key", doc


# The account record auth caches in Redis ("1|pk|day|trust|auth|-", app/auth.c;
# the last field is always "-" since accounts have no X25519 key) is what
# GET /me shows while it is there; one that does not
# parse is ignored: the account comes from the database and the record is
# written again.
CORRUPT_RECORDS = {
    "other version": "2|{pk}|{day}|0.250000|1|{key}",
    "pk not a number": "1|x{pk}|{day}|0.250000|1|{key}",
    "pk zero": "1|0|{day}|0.250000|1|{key}",
    "pk 19 digits": "1|1000000000000000000|{day}|0.250000|1|{key}",
    "negative day": "1|{pk}|-{day}|0.250000|1|{key}",
    "trust above 1": "1|{pk}|{day}|1.5|1|{key}",
    "trust nan": "1|{pk}|{day}|nan|1|{key}",
    "no trust": "1|{pk}|{day}||1|{key}",
    "unknown auth": "1|{pk}|{day}|0.250000|7|{key}",
    "key with a space": "1|{pk}|{day}|0.250000|1|{key} x",
    "empty key": "1|{pk}|{day}|0.250000|1|",
    "extra field": "1|{pk}|{day}|0.250000|1|{key}|1",
    "truncated": "1|{pk}|{day}",
    "empty": "",
}


def test_get_me_shows_the_cached_record_and_ignores_one_that_does_not_parse(stack, fresh):
    account_id, _, token = fresh
    key = x25519_public()       # a field the record parser still accepts; never shown
    truth = me_ok(stack, token)
    name = "ac:" + id_hash(stack, account_id).hex()
    record = stack.redis("GET", name)
    version, pk, day, _, auth, shown_key = record.split("|")
    assert (version, auth, shown_key) == ("1", "1", "-"), record
    fields = {"pk": pk, "day": day, "key": key}

    stack.redis("SET", name, "1|%s|%s|0.250000|1|%s" % (pk, day, key), "KEEPTTL")
    assert me_ok(stack, token) == dict(truth, trust=0.25), "the cached record was not read"
    for what, text in CORRUPT_RECORDS.items():
        stack.redis("SET", name, text.format(**fields), "KEEPTTL")
        assert me_ok(stack, token) == truth, what
        assert stack.redis("GET", name) == record, what


# -- no account-wide key ----------------------------------------------------------------
def test_put_me_keys_is_gone(stack, fresh):
    """End-to-end keys are per conversation (test_dm.py): an account-wide key
    would tie every conversation of the account together."""
    token = fresh[2]
    for method in ("PUT", "GET"):
        r = stack.request(method, "/me/keys", json={"x25519_public": x25519_public()},
                          headers=bearer(token))
        assert_error(r, 404, "not_found")
    assert set(me_ok(stack, token)) == ME_KEYS


# -- GET /me/export ------------------------------------------------------------------
FORBIDDEN_EXPORT_KEYS = {"pk", "password", "password_hash", "id_hash", "key_hash", "wrapped",
                         "wrapped_key", "data_key", "x25519_sealed", "secret", "private_key",
                         "jwt_secret", "token", "jti"}


def _all_keys(doc):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield k
            yield from _all_keys(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _all_keys(v)


def test_export_is_an_attachment_with_the_account_section(stack, fresh):
    account_id, password, token = fresh
    r = stack.get("/me/export", headers=bearer(token))
    assert r.status_code == 200, describe(r)
    assert_standard_headers(r)
    assert r.headers.get("Content-Disposition", "").lower().startswith("attachment"), \
        describe(r)
    doc = r.json()
    account = doc["account"]
    assert ME_KEYS <= set(account), account
    assert account["account_id"] == account_id and account["auth"] == "password", account
    assert "x25519_public" not in account, account
    assert abs(account["day_joined"] - today()) <= 1 and 0 <= account["trust"] <= 1, account


def test_export_holds_no_password_hash_or_key_material(stack, fresh):
    account_id, password, token = fresh
    r = stack.get("/me/export", headers=bearer(token))
    assert r.status_code == 200, describe(r)
    text = r.text
    assert password not in text
    assert "$argon2" not in text, "password hash in the export"
    assert token not in text and token.split(".")[2] not in text, "a token in the export"
    env = stack.sotto_env()
    for name in ("JWT_SECRET", "IP_HMAC_KEY", "ADMIN_REVIEW_TOKEN", "ADMIN_UI_TOKEN"):
        assert not env.get(name) or env[name] not in text, name
    keys = {k.lower() for k in _all_keys(json.loads(text))}
    assert not keys & FORBIDDEN_EXPORT_KEYS, keys & FORBIDDEN_EXPORT_KEYS


def test_export_of_a_key_account_says_key(stack):
    _, account_id, token = register_key(stack)
    r = stack.get("/me/export", headers=bearer(token))
    assert r.status_code == 200, describe(r)
    assert r.json()["account"]["auth"] == "key"
    assert r.json()["account"]["account_id"] == account_id


# -- DELETE /me ---------------------------------------------------------------------
def test_delete_me_is_204_and_the_token_stops_working(stack, fresh):
    token = fresh[2]
    r = stack.request("DELETE", "/me", headers=bearer(token))
    assert r.status_code == 204, describe(r)
    assert r.content == b""
    assert_standard_headers(r, json_body=False)
    assert_error(me(stack, token), 401, "unauthorized")


def test_deleted_password_account_cannot_log_in(stack, fresh):
    account_id, password, token = fresh
    assert stack.request("DELETE", "/me", headers=bearer(token)).status_code == 204
    assert_error(login_password(stack, account_id, password), 401, "invalid_credentials")


def test_deleted_account_answers_like_one_that_never_existed(stack, fresh):
    account_id, password, token = fresh
    assert stack.request("DELETE", "/me", headers=bearer(token)).status_code == 204
    gone = login_password(stack, account_id, password)
    never = login_password(stack, b64u(os.urandom(16)), password)
    assert gone.status_code == never.status_code == 401
    assert gone.content == never.content, (gone.text, never.text)


def test_public_key_of_a_deleted_account_can_register_again(stack):
    sk, account_id, token = register_key(stack)
    assert stack.request("DELETE", "/me", headers=bearer(token)).status_code == 204
    _, again_id, again_token = register_key(stack, sk)
    assert again_id != account_id
    doc = me_ok(stack, again_token)
    assert doc["account_id"] == again_id and doc["auth"] == "key", doc


def test_delete_me_twice_with_the_same_token_is_401(stack, fresh):
    token = fresh[2]
    assert stack.request("DELETE", "/me", headers=bearer(token)).status_code == 204
    assert_error(stack.request("DELETE", "/me", headers=bearer(token)), 401, "unauthorized")


def test_deleting_one_account_leaves_others_alone(stack, fresh):
    other_id, other_token = register(stack, new_password())
    assert stack.request("DELETE", "/me", headers=bearer(fresh[2])).status_code == 204
    assert me_ok(stack, other_token)["account_id"] == other_id


# -- no token --------------------------------------------------------------------------
@pytest.mark.parametrize("method,path,body", [
    ("GET", "/me", None),
    ("GET", "/me/export", None),
    ("DELETE", "/me", None),
    ("POST", "/auth/logout", None),
], ids=["get-me", "export", "delete-me", "logout"])
def test_account_routes_without_a_token_are_401(stack, method, path, body):
    r = stack.request(method, path, json=body)
    assert_error(r, 401, "unauthorized")
    assert_standard_headers(r)


# -- Redis down ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def redis_stack(make_stack):
    return make_stack("meredis")


def _wait_healthy(st):
    streak = [0]

    def ok():
        streak[0] = streak[0] + 1 if st.get("/health").status_code == 200 else 0
        return streak[0] >= 6
    Stack.wait_for(ok, 15, "/health 200 six times running")


def test_redis_down_account_and_auth_routes_are_503_with_retry_after(redis_stack):
    st = redis_stack
    sk, _, key_token = register_key(st)
    password = new_password()
    account_id, token = register(st, password)
    st.stack("stop", "redis")
    try:
        answers = {
            "GET /me": me(st, token),
            "POST /auth/register": st.request("POST", "/auth/register",
                                              json={"password": new_password()}),
            "POST /auth/login": login_password(st, account_id, password),
            "POST /auth/challenge": st.request("POST", "/auth/challenge",
                                               json={"public_key": public_b64(sk)}),
        }
    finally:
        st.stack("start", "redis")
    bad = []
    for what, r in answers.items():
        ok = (r.status_code == 503 and r.headers.get("Retry-After", "").isdigit()
              and r.headers.get("Content-Type", "").startswith("application/json")
              and r.json().get("error", {}).get("code") == "unavailable")
        if not ok:
            bad.append("%s: %s" % (what, describe(r)))
    assert not bad, "\n".join(bad)
    _wait_healthy(st)
    assert me_ok(st, token)["account_id"] == account_id, "token not accepted after recovery"
    assert me(st, key_token).status_code == 200

