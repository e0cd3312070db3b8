"""The account itself (docs/accounts.md): GET /me, PUT
/me/keys, GET /me/export, DELETE /me; 401 without a token; 503 while Redis
(revocations, challenges, rate limits) is down."""
import base64
import json
import os

import nacl.public
import pytest

from accounts import (ACCOUNT_ID_RE, b64u, id_hash, login_password, me, me_ok,
                      new_password, public_b64, register_key, today)
from conftest import (Stack, assert_error, assert_standard_headers, bearer, describe,
                      register)

ME_KEYS = {"account_id", "day_joined", "trust", "auth", "x25519_public"}
P = 2 ** 255 - 19
# libsodium's blocklist of X25519 points of small order (and non-canonical
# encodings of them): 0, 1, the two points of order 8, p-1, p, p+1.
SMALL_ORDER = {
    "zero": bytes(32),
    "one": (1).to_bytes(32, "little"),
    "order8-a": bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    "order8-b": bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    "p-1": (P - 1).to_bytes(32, "little"),
    "p": P.to_bytes(32, "little"),
    "p+1": (P + 1).to_bytes(32, "little"),
}


def x25519_public():
    return b64u(bytes(nacl.public.PrivateKey.generate().public_key))


def put_keys(st, token, body):
    return st.request("PUT", "/me/keys", json=body, headers=bearer(token))


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
    assert doc["x25519_public"] is None, doc


def test_get_me_describes_a_key_account(stack):
    _, account_id, token = register_key(stack)
    doc = me_ok(stack, token)
    assert set(doc) == ME_KEYS, doc
    assert doc["account_id"] == account_id and doc["auth"] == "key", doc
    assert doc["x25519_public"] is None, doc


# The account record auth caches in Redis ("1|pk|day|trust|auth|x25519 or -",
# app/auth.c) is what GET /me shows while it is there; one that does not
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
    key = x25519_public()
    assert put_keys(stack, token, {"x25519_public": key}).status_code == 200
    truth = me_ok(stack, token)
    name = "ac:" + id_hash(stack, account_id).hex()
    record = stack.redis("GET", name)
    version, pk, day, _, auth, shown_key = record.split("|")
    assert (version, auth, shown_key) == ("1", "1", key), record
    fields = {"pk": pk, "day": day, "key": key}

    stack.redis("SET", name, "1|%s|%s|0.250000|1|%s" % (pk, day, key), "KEEPTTL")
    assert me_ok(stack, token) == dict(truth, trust=0.25), "the cached record was not read"
    for what, text in CORRUPT_RECORDS.items():
        stack.redis("SET", name, text.format(**fields), "KEEPTTL")
        assert me_ok(stack, token) == truth, what
        assert stack.redis("GET", name) == record, what


# -- PUT /me/keys --------------------------------------------------------------------
def test_put_keys_returns_the_account_with_the_key_and_get_me_shows_it(stack, fresh):
    token = fresh[2]
    key = x25519_public()
    r = put_keys(stack, token, {"x25519_public": key})
    assert r.status_code == 200, describe(r)
    assert_standard_headers(r)
    shown = r.json()
    assert shown["x25519_public"] == key, shown
    assert shown == me_ok(stack, token), "PUT /me/keys and GET /me disagree"


def test_put_keys_again_replaces_the_key(stack, fresh):
    token = fresh[2]
    first, second = x25519_public(), x25519_public()
    assert put_keys(stack, token, {"x25519_public": first}).status_code == 200
    assert put_keys(stack, token, {"x25519_public": second}).status_code == 200
    assert me_ok(stack, token)["x25519_public"] == second


def test_put_keys_on_a_key_account_works_too(stack):
    _, _, token = register_key(stack)
    key = x25519_public()
    assert put_keys(stack, token, {"x25519_public": key}).status_code == 200
    assert me_ok(stack, token)["x25519_public"] == key


def test_x25519_key_is_readable_with_a_later_token_of_the_account(stack, fresh):
    account_id, password, token = fresh
    key = x25519_public()
    assert put_keys(stack, token, {"x25519_public": key}).status_code == 200
    r = login_password(stack, account_id, password)
    assert r.status_code == 200, describe(r)
    assert me_ok(stack, r.json()["token"])["x25519_public"] == key


def _bad_keys():
    std = None
    while std is None:
        raw = bytes(nacl.public.PrivateKey.generate().public_key)
        text = base64.b64encode(raw).decode().rstrip("=")
        std = text if ("+" in text or "/" in text) else None
    cases = {"not-b64url": "not a key!", "31-bytes": b64u(os.urandom(31)),
             "33-bytes": b64u(os.urandom(33)), "empty": "", "standard-b64": std,
             "number": 12}
    cases.update({"small-order-" + k: b64u(v) for k, v in SMALL_ORDER.items()})
    return cases


BAD_KEYS = _bad_keys()


@pytest.mark.parametrize("what", list(BAD_KEYS))
def test_put_keys_with_an_unusable_key_is_422_and_keeps_the_old_key(stack, fresh, what):
    token = fresh[2]
    err = assert_error(put_keys(stack, token, {"x25519_public": BAD_KEYS[what]}),
                       422, "invalid_field")
    assert "x25519_public" in err["message"], err
    assert me_ok(stack, token)["x25519_public"] is None


def test_put_keys_without_the_field_is_422(stack, fresh):
    assert_error(put_keys(stack, fresh[2], {}), 422, "invalid_field")


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
    key = x25519_public()
    assert put_keys(stack, token, {"x25519_public": key}).status_code == 200
    r = stack.get("/me/export", headers=bearer(token))
    assert r.status_code == 200, describe(r)
    assert_standard_headers(r)
    assert r.headers.get("Content-Disposition", "").lower().startswith("attachment"), \
        describe(r)
    doc = r.json()
    account = doc["account"]
    assert ME_KEYS <= set(account), account
    assert account["account_id"] == account_id and account["auth"] == "password", account
    assert account["x25519_public"] == key, account
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
    ("PUT", "/me/keys", {"x25519_public": b64u(os.urandom(32))}),
    ("GET", "/me/export", None),
    ("DELETE", "/me", None),
    ("POST", "/auth/logout", None),
], ids=["get-me", "put-keys", "export", "delete-me", "logout"])
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

