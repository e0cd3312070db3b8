"""The account itself (docs/accounts.md): GET /me (no account-wide key:
PUT /me/keys is gone), POST /me/password, GET /me/export, DELETE /me (the
password change and the deletion ask for the credentials again); 401
without a token; 503 while Redis (revocations, challenges, rate limits)
is down."""
import json
import os
import threading
import time

import nacl.public
import psycopg2
import pytest

from accounts import (ACCOUNT_ID_RE, account_pk, b64u, id_hash, key_proof, login_password, me,
                      me_ok, new_key, new_password, public_b64, record_name, redis_seal, register_key,
                      today)
from conftest import (DEFAULT_PASSWORD, Stack, TimeoutSession, assert_error, c_define,
                      assert_standard_headers, bearer, commandstats, delete_me, describe,
                      register)
from content import post, reply, vote_ok
from test_events import cleanup

ME_KEYS = {"account_id", "day_joined", "trust", "auth"}
def x25519_public():
    return b64u(bytes(nacl.public.PrivateKey.generate().public_key))


def login_key_with(st, proof):
    return st.request("POST", "/auth/login", json=proof)


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


# The account record auth caches in Redis (app/auth.c), sealed under its key
# name ac:<h>:<j> (app/cachemac.c): "3|gen|pk|day|trust|auth|token
# generation|kept jti or -". GET /me shows it while it is there and opens;
# one that does not open or parse is ignored: the account comes from the
# database and the record is written again.
CORRUPT_RECORDS = {
    "other version": "2|{gen}|{pk}|{day}|0.250000|1|0|-",
    "other generation": "3|{gen}9|{pk}|{day}|0.250000|1|0|-",
    "pk not a number": "3|{gen}|x{pk}|{day}|0.250000|1|0|-",
    "pk zero": "3|{gen}|0|{day}|0.250000|1|0|-",
    "pk 19 digits": "3|{gen}|1000000000000000000|{day}|0.250000|1|0|-",
    "negative day": "3|{gen}|{pk}|-{day}|0.250000|1|0|-",
    "trust above 1": "3|{gen}|{pk}|{day}|1.5|1|0|-",
    "trust nan": "3|{gen}|{pk}|{day}|nan|1|0|-",
    "no trust": "3|{gen}|{pk}|{day}||1|0|-",
    "unknown auth": "3|{gen}|{pk}|{day}|0.250000|7|0|-",
    "no token generation": "3|{gen}|{pk}|{day}|0.250000|1||-",
    "negative token generation": "3|{gen}|{pk}|{day}|0.250000|1|-1|-",
    "token generation too large": "3|{gen}|{pk}|{day}|0.250000|1|2000000001|-",
    "empty kept jti": "3|{gen}|{pk}|{day}|0.250000|1|0|",
    "kept jti with a space": "3|{gen}|{pk}|{day}|0.250000|1|0|a b",
    "kept jti too long": "3|{gen}|{pk}|{day}|0.250000|1|0|" + "A" * 33,
    "extra field": "3|{gen}|{pk}|{day}|0.250000|1|0|-|1",
    "no token fields": "3|{gen}|{pk}|{day}|0.250000|1",
    "truncated": "3|{gen}|{pk}|{day}",
    "empty": "",
}


def test_get_me_shows_the_cached_record_and_ignores_one_that_does_not_open_or_parse(stack, fresh):
    account_id, _, token = fresh
    truth = me_ok(stack, token)
    name = record_name(stack, account_id, token)
    record = stack.redis("GET", name)
    _, expires, text = record.split(".", 2)
    version, gen, pk, day, _, auth, token_gen, keep = text.split("|")
    assert (version, gen, auth, token_gen, keep) == ("3", "-", "1", "0", "-"), record
    assert 0 < int(expires) - time.time() <= 31, record
    fields = {"gen": gen, "pk": pk, "day": day}
    later = int(time.time()) + 20

    def put(text):
        stack.redis("SET", name, redis_seal(stack, name, text, later), "KEEPTTL")

    def text_of(value):
        return value.split(".", 2)[2]

    put("3|%s|%s|%s|0.250000|1|0|-" % (gen, pk, day))
    assert me_ok(stack, token) == dict(truth, trust=0.25), "the cached record was not read"
    for what, text in CORRUPT_RECORDS.items():
        put(text.format(**fields))
        assert me_ok(stack, token) == truth, what
        assert stack.redis("GET", name).split(".", 2)[2] == text_of(record), what
    # Well-formed, but sealed for another name, with a binding, or expired.
    for what, value in {
        "sealed for another key": redis_seal(stack, name + "x", "3|-|%s|%s|0.25|1|0|-" % (pk, day),
                                             later),
        "sealed with a binding": redis_seal(stack, name, "3|-|%s|%s|0.25|1|0|-" % (pk, day),
                                            later, "x"),
        "expired": redis_seal(stack, name, "3|-|%s|%s|0.25|1|0|-" % (pk, day), int(time.time())),
        "not sealed": "3|-|%s|%s|0.250000|1|0|-" % (pk, day),
    }.items():
        stack.redis("SET", name, value, "KEEPTTL")
        assert me_ok(stack, token) == truth, what


def test_a_cached_record_of_another_token_generation_refuses_the_token(stack, fresh):
    """The generation check reads the cached record too, not only the database."""
    account_id, _, token = fresh
    truth = me_ok(stack, token)
    name = record_name(stack, account_id, token)
    fields = stack.redis("GET", name).split(".", 2)[2].split("|")
    fields[6] = "1"                                  # the token generation
    stack.redis("SET", name, redis_seal(stack, name, "|".join(fields), int(time.time()) + 20),
                "KEEPTTL")
    assert_error(me(stack, token), 401, "unauthorized")
    stack.redis("DEL", name)
    assert me_ok(stack, token) == truth, "the database still says generation 0"


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


def test_export_is_streamed_without_a_length_and_a_failing_section_cuts_it_invalid(stack,
                                                                                  fresh):
    """The export is written one section at a time after the headers: no
    Content-Length, whatever its size. A section that fails then (here the
    last, "groups": its table is locked past the statement timeout) cannot
    change the status any more, so the body stops there as invalid JSON
    instead of ending like a whole export."""
    _, _, token = fresh
    with TimeoutSession(timeout=60) as s:
        whole = s.get(stack.url("/me/export"), headers=bearer(token))
    assert whole.status_code == 200, describe(whole)
    assert "Content-Length" not in whole.headers, describe(whole)
    assert list(whole.json())[-1] == "groups", list(whole.json())
    conn = psycopg2.connect(stack.sotto_env()["DATABASE_URL"])
    try:
        conn.cursor().execute("LOCK TABLE group_members IN ACCESS EXCLUSIVE MODE")
        with TimeoutSession(timeout=60) as s:
            cut = s.get(stack.url("/me/export"), headers=bearer(token))
    finally:
        conn.rollback()
        conn.close()
    assert cut.status_code == 200, describe(cut)
    assert cut.text.startswith('{"format":"sotto-export/1","account":{'), cut.text[:200]
    assert '"conversations":' in cut.text and '"groups":' not in cut.text, cut.text[-200:]
    with pytest.raises(ValueError):
        json.loads(cut.text)


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
    _, password, token = fresh
    r = delete_me(stack, token, password)
    assert r.status_code == 204, describe(r)
    assert r.content == b""
    assert_standard_headers(r, json_body=False)
    assert_error(me(stack, token), 401, "unauthorized")


def test_delete_me_of_a_key_account_takes_a_fresh_proof_of_its_own_key(stack):
    sk, _, token = register_key(stack)
    r = delete_me(stack, token, proof=key_proof(stack, sk))
    assert r.status_code == 204, describe(r)
    assert_error(me(stack, token), 401, "unauthorized")


@pytest.mark.parametrize("body", [
    None, {}, {"password": "wrong password 123"}, {"password": "short"},
    {"password": "x" * 1025}, {"public_key": b64u(os.urandom(32))},
], ids=["no-body", "empty", "wrong", "too-short", "too-long", "key-of-nobody"])
def test_delete_me_of_a_password_account_without_its_password_is_401_and_deletes_nothing(
        stack, fresh, body):
    account_id, password, token = fresh
    r = stack.request("DELETE", "/me", json=body, headers=bearer(token))
    assert_error(r, 401, "invalid_credentials")
    assert me_ok(stack, token)["account_id"] == account_id
    assert login_password(stack, account_id, password).status_code == 200


def test_delete_me_password_of_the_wrong_type_is_422(stack, fresh):
    r = stack.request("DELETE", "/me", json={"password": 1234567890}, headers=bearer(fresh[2]))
    assert_error(r, 422, "invalid_field")
    assert me_ok(stack, fresh[2])["account_id"] == fresh[0]


def test_delete_me_of_a_key_account_with_another_key_or_a_used_challenge_is_401(stack):
    sk, account_id, token = register_key(stack)
    other = new_key()
    assert_error(delete_me(stack, token, proof=key_proof(stack, other)),
                 401, "invalid_credentials")
    used = key_proof(stack, sk)
    assert login_key_with(stack, used).status_code == 200       # the challenge is spent
    assert_error(delete_me(stack, token, proof=used), 401, "invalid_credentials")
    assert_error(delete_me(stack, token, password=DEFAULT_PASSWORD),
                 401, "invalid_credentials")
    assert me_ok(stack, token)["account_id"] == account_id


def test_deleted_password_account_cannot_log_in(stack, fresh):
    account_id, password, token = fresh
    assert delete_me(stack, token, password).status_code == 204
    assert_error(login_password(stack, account_id, password), 401, "invalid_credentials")


def test_deleted_account_answers_like_one_that_never_existed(stack, fresh):
    account_id, password, token = fresh
    assert delete_me(stack, token, password).status_code == 204
    gone = login_password(stack, account_id, password)
    never = login_password(stack, b64u(os.urandom(16)), password)
    assert gone.status_code == never.status_code == 401
    assert gone.content == never.content, (gone.text, never.text)


def test_public_key_of_a_deleted_account_can_register_again(stack):
    sk, account_id, token = register_key(stack)
    assert delete_me(stack, token, proof=key_proof(stack, sk)).status_code == 204
    _, again_id, again_token = register_key(stack, sk)
    assert again_id != account_id
    doc = me_ok(stack, again_token)
    assert doc["account_id"] == again_id and doc["auth"] == "key", doc


def test_delete_me_twice_with_the_same_token_is_401(stack, fresh):
    _, password, token = fresh
    assert delete_me(stack, token, password).status_code == 204
    assert_error(delete_me(stack, token, password), 401, "unauthorized")


def test_deleting_one_account_leaves_others_alone(stack, fresh):
    other_id, other_token = register(stack, new_password())
    assert delete_me(stack, fresh[2], fresh[1]).status_code == 204
    assert me_ok(stack, other_token)["account_id"] == other_id


# -- POST /me/password -----------------------------------------------------------------
def change_password(st, token, password, new):
    return st.request("POST", "/me/password", json={"password": password, "new_password": new},
                      headers=bearer(token))


def test_password_change_is_204_and_only_the_new_password_logs_in(stack, fresh):
    account_id, password, token = fresh
    new = new_password()
    r = change_password(stack, token, password, new)
    assert r.status_code == 204, describe(r)
    assert r.content == b""
    assert_standard_headers(r, json_body=False)
    assert_error(login_password(stack, account_id, password), 401, "invalid_credentials")
    assert login_password(stack, account_id, new).status_code == 200


def test_password_change_ends_every_other_token_but_keeps_the_calling_one(stack, fresh):
    account_id, password, token = fresh
    others = [login_password(stack, account_id, password).json()["token"] for _ in range(2)]
    for t in others:
        me_ok(stack, t)                           # cached records everywhere
    new = new_password()
    assert change_password(stack, token, password, new).status_code == 204
    for t in others:
        assert_error(me(stack, t), 401, "unauthorized")
    assert me_ok(stack, token)["account_id"] == account_id
    later = login_password(stack, account_id, new).json()["token"]
    assert me_ok(stack, later)["account_id"] == account_id
    # A second change from a newer session ends the first caller's token too.
    newer = new_password()
    assert change_password(stack, later, new, newer).status_code == 204
    assert_error(me(stack, token), 401, "unauthorized")
    assert me_ok(stack, later)["account_id"] == account_id


def test_password_change_survives_losing_the_cached_records(stack, fresh):
    """PostgreSQL, not Redis, ends the other tokens: a Redis that lost every
    key (a failover to an empty replica) brings none of them back."""
    account_id, password, token = fresh
    other = login_password(stack, account_id, password).json()["token"]
    assert change_password(stack, token, password, new_password()).status_code == 204
    for key in stack.redis("KEYS", "a[cg]:*").split():
        stack.redis("DEL", key)
    assert_error(me(stack, other), 401, "unauthorized")
    assert me_ok(stack, token)["account_id"] == account_id


@pytest.mark.parametrize("body", [
    {}, {"new_password": "new password 123"},
    {"password": "wrong password 123", "new_password": "new password 123"},
    {"password": "x" * 1025, "new_password": "new password 123"},
], ids=["empty", "no-current", "wrong-current", "too-long-current"])
def test_password_change_without_the_current_password_is_401_and_changes_nothing(
        stack, fresh, body):
    account_id, password, token = fresh
    if "new_password" not in body:
        body = dict(body, new_password="new password 123")
    r = stack.request("POST", "/me/password", json=body, headers=bearer(token))
    assert_error(r, 401, "invalid_credentials")
    assert login_password(stack, account_id, password).status_code == 200


@pytest.mark.parametrize("new", [None, 1234567890, "short", "x" * 1025],
                         ids=["missing", "number", "9-bytes", "1025-bytes"])
def test_password_change_to_a_new_password_outside_10_to_1024_bytes_is_422(stack, fresh, new):
    account_id, password, token = fresh
    body = {"password": password}
    if new is not None:
        body["new_password"] = new
    r = stack.request("POST", "/me/password", json=body, headers=bearer(token))
    assert_error(r, 422, "invalid_field")
    assert login_password(stack, account_id, password).status_code == 200


def test_password_change_of_a_key_account_is_422(stack):
    _, _, token = register_key(stack)
    r = change_password(stack, token, "any password 123", "new password 123")
    assert_error(r, 422, "invalid_field")


# -- no token --------------------------------------------------------------------------
@pytest.mark.parametrize("method,path,body", [
    ("GET", "/me", None),
    ("GET", "/me/export", None),
    ("DELETE", "/me", None),
    ("POST", "/me/password", {"password": "a password 1", "new_password": "a password 2"}),
    ("POST", "/auth/logout", None),
], ids=["get-me", "export", "delete-me", "password", "logout"])
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



def test_get_me_with_a_cached_record_is_one_redis_round_trip(stack, fresh):
    account_id, _, token = fresh
    me_ok(stack, token)                      # the miss: the record is written
    name = record_name(stack, account_id, token)
    record = stack.redis("GET", name)
    before = commandstats(stack)
    n = 20
    for _ in range(n):
        me_ok(stack, token)
    after = commandstats(stack)
    assert after.get("mget", 0) - before.get("mget", 0) == n, (before, after)
    # Read, not written again (Lua scripts' own calls count under their commands'
    # names, so the record itself is compared), unless its 30 s lapsed meanwhile.
    expires = int(record.split(".", 2)[1])
    assert stack.redis("GET", name) == record or time.time() >= expires, record
    for cmd in ("eval", "getdel"):
        assert after.get(cmd, 0) == before.get(cmd, 0), (cmd, before, after)


# -- an account with many posts --------------------------------------------------------
DELETE_BATCH = c_define("app/handlers_me.c", "ACCOUNT_DELETE_BATCH")


def bulk_posts(st, token, n):
    """n more top-level posts of the token's account, written straight into
    the database (a copy of one real post's sealed body each, scored
    already so that the classifier leaves them alone); the account's pk."""
    real = post(st, token)["id"]
    prefix = b64u(os.urandom(3))                      # 4 characters; 4 + 18 = 22
    (author,), = st.psql(
        "BEGIN;\n"
        "INSERT INTO posts (id, author_pk, body_sealed, day) "
        "SELECT '%s' || lpad(i::text, 18, '0'), p.author_pk, p.body_sealed, p.day "
        "FROM posts p, generate_series(1, %d) i WHERE p.id = '%s';\n"
        "UPDATE mod_scan SET score = 0 WHERE score IS NULL AND post_pk IN "
        "(SELECT pk FROM posts WHERE author_pk = (SELECT author_pk FROM posts WHERE id = '%s'));\n"
        "COMMIT;\n"
        "SELECT author_pk FROM posts WHERE id = '%s';" % (prefix, n, real, real, real))
    return int(author)


def posts_of(st, author):
    return st.number("SELECT count(*) FROM posts WHERE author_pk = %d" % author)


def bulk_votes(st, account_id, n):
    """Up-votes of the account on n posts of one new author, written
    straight into the database (each through votes_apply, as a vote is);
    (voter pk, author pk)."""
    _, other = register(st, new_password())
    author = bulk_posts(st, other, n - 1)                        # and the real one: n
    voter = account_pk(st, account_id)
    st.psql("INSERT INTO votes (post_pk, voter_pk, value) "
            "SELECT pk, %d, 1 FROM posts WHERE author_pk = %d" % (voter, author))
    return voter, author


def test_the_batch_function_leaves_the_last_batch_to_the_final_transaction(stack, fresh):
    """sotto_account_delete_batch(a, n) deletes n posts of a, then n of its
    votes, each call in its own transaction, only while a has more than n
    of them: an account with a batch or less of each left is deleted whole,
    all or nothing, by the final transaction. The votes it deletes take
    back what they gave: score, and trust (here from 1, the most, down by
    0.01 a vote to 0, the least)."""
    account_id, _, token = fresh
    voter, author = bulk_votes(stack, account_id, DELETE_BATCH + 300)
    # and posts: 2 * DELETE_BATCH + 500 with the real one
    assert bulk_posts(stack, token, 2 * DELETE_BATCH + 499) == voter
    stack.psql("UPDATE accounts SET trust = 1 WHERE pk = %d" % author)
    calls = "SELECT sotto_account_delete_batch(%d, %d)" % (voter, DELETE_BATCH)
    answers = [stack.psql(calls)[0][0] for _ in range(4)]
    assert answers == [str(DELETE_BATCH)] * 3 + ["0"], answers
    assert posts_of(stack, voter) == 500
    assert stack.number("SELECT count(*) FROM votes WHERE voter_pk = %d" % voter) == 300
    assert stack.number("SELECT sum(score) FROM posts WHERE author_pk = %d" % author) == 300
    assert stack.psql("SELECT trust FROM accounts WHERE pk = %d" % author) == [["0"]]
    assert stack.psql(calls) == [["0"]] and posts_of(stack, voter) == 500


def test_an_account_with_more_votes_than_a_batch_deletes_itself_whole(stack, fresh):
    account_id, password, token = fresh
    voter, author = bulk_votes(stack, account_id, 2 * DELETE_BATCH + 11)
    r = delete_me(stack, token, password)
    assert r.status_code == 204, describe(r)
    assert stack.number("SELECT count(*) FROM votes WHERE voter_pk = %d" % voter) == 0
    assert stack.number("SELECT count(*) FROM accounts WHERE pk = %d" % voter) == 0
    assert stack.number("SELECT sum(score) FROM posts WHERE author_pk = %d" % author) == 0


def test_an_account_with_more_posts_than_a_batch_deletes_itself_whole(stack, fresh):
    """DELETE /me of an account with several batches of posts: 204, and
    nothing of it is left: its posts, the replies and votes of others on
    them, its key and its row. Others' own posts stay."""
    _, password, token = fresh
    author = bulk_posts(stack, token, 3 * DELETE_BATCH + 7)
    mine = post(stack, token)["id"]
    _, other = register(stack, new_password())
    theirs = post(stack, other)["id"]
    answer = reply(stack, other, mine)["id"]
    vote_ok(stack, other, mine, 1)
    vote_ok(stack, token, theirs, 1)
    r = delete_me(stack, token, password)
    assert r.status_code == 204, describe(r)
    assert posts_of(stack, author) == 0
    assert stack.psql("SELECT count(*) FROM accounts WHERE pk = %d" % author) == [["0"]]
    assert stack.psql("SELECT count(*) FROM account_keys WHERE account_pk = %d"
                      % author) == [["0"]]
    assert_error(stack.get("/posts/%s" % mine), 404, "not_found")
    assert_error(stack.get("/posts/%s" % answer), 404, "not_found")
    assert_error(me(stack, token), 401, "unauthorized")
    r = stack.get("/posts/%s" % theirs)
    assert r.status_code == 200, describe(r)
    assert r.json()["post"]["score"] == 0, describe(r)    # its vote went with it


# -- many deletions at once -------------------------------------------------------------
CONCURRENT_DELETIONS = 60


@pytest.fixture(scope="module")
def wide_stack(make_stack):
    return make_stack("medelete", SOTTO_WORKERS="8")


def test_concurrent_deletions_of_many_accounts_all_succeed(wide_stack):
    """The realtime bench deletes its 1 000 accounts at once. Deleting an
    account deletes its votes and replies (which update the other author's
    account trust and post counts) while that author may be deleted at the
    same moment (which deletes those votes and replies from the other
    side): no deletion may wait on another one's locks until the database
    gives up (deadlock or timeout: 503)."""
    st = wide_stack
    owners = [register_key(st) for _ in range(2)]
    targets = [post(st, token)["id"] for _, _, token in owners]
    made = [(sk, token) for sk, _, token in owners]
    for _ in range(CONCURRENT_DELETIONS):
        sk, _, token = register_key(st)
        own = post(st, token)["id"]
        for target in targets:
            vote_ok(st, token, target, 1)
            reply(st, token, target)
        for _, _, owner_token in owners:          # and the owners on theirs
            vote_ok(st, owner_token, own, 1)
        made.append((sk, token))
    proofs = [key_proof(st, sk) for sk, _ in made]
    answers = [None] * len(made)

    def one(i):
        s = TimeoutSession(timeout=60)
        try:
            answers[i] = s.request("DELETE", st.url("/me"), json=proofs[i],
                                   headers=bearer(made[i][1]))
        except Exception as e:  # noqa: BLE001 - reported below
            answers[i] = e
        finally:
            s.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(made))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    bad = [a if isinstance(a, Exception) else describe(a) for a in answers
           if isinstance(a, Exception) or a.status_code != 204]
    assert not bad, "%d of %d deletions failed:\n%s" % (len(bad), len(made), "\n".join(
        str(b) for b in bad[:5]))
    for target in targets:
        assert_error(st.get("/posts/%s" % target), 404, "not_found")


# -- the wrapped key leaves the files ------------------------------------------------------
def account_keys_files(st):
    """The bytes of account_keys' heap files, after a checkpoint wrote them out."""
    st.psql("CHECKPOINT")
    (rel,), = st.psql("SELECT pg_relation_filepath('account_keys')")
    base = os.path.join(st.var, "pg", rel)
    data = b""
    for name in sorted(os.listdir(os.path.dirname(base))):
        if name == os.path.basename(base) or name.startswith(os.path.basename(base) + "."):
            if not name.endswith(("_fsm", "_vm")):
                with open(os.path.join(os.path.dirname(base), name), "rb") as f:
                    data += f.read()
    return data


def test_cleanup_rewrites_account_keys_so_a_deleted_wrapped_key_leaves_its_files(stack, fresh):
    account_id, password, token = fresh
    (wrapped,), = stack.psql("SELECT encode(k.wrapped, 'hex') FROM account_keys k JOIN accounts a "
                             "ON a.pk = k.account_pk WHERE a.id_hash = '\\x%s'"
                             % id_hash(stack, account_id).hex())
    wrapped = bytes.fromhex(wrapped)
    assert wrapped in account_keys_files(stack)
    assert delete_me(stack, token, password).status_code == 204
    # Deleted is not gone: the row's bytes stay in the table's pages ...
    assert wrapped in account_keys_files(stack), "the premise: DELETE leaves the bytes"
    r = cleanup(stack)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "cleanup: rewrote account_keys" in r.stdout, r.stdout
    # ... until sotto cleanup rewrites the table.
    assert wrapped not in account_keys_files(stack)
