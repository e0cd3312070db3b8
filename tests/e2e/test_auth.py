"""Accounts (docs/accounts.md): password and Ed25519 key
registration, challenges, logins, uniform login failures, the pool-wide
Argon2id cap, and the REGISTER / LOGIN rate classes."""
import base64
import json
import os
import statistics
import threading
import time

import nacl.pwhash
import pytest

from accounts import (ACCOUNT_ID_RE, B64URL_RE, CHALLENGE_LIFETIME, TOKEN_LIFETIME,
                      b64u, get_challenge, id_hash, jwt_parts, key_proof, login_key,
                      login_password, me_ok, new_key, new_password, public_b64,
                      register_key, sign, unb64u)
from conftest import (TimeoutSession, assert_error, assert_standard_headers, delete_me,
                      describe, raw_request, register)


def post(st, path, body):
    """POST a JSON body as raw UTF-8 (not \\u escapes), as browsers send it."""
    return st.request("POST", path, data=json.dumps(body, ensure_ascii=False).encode(),
                      headers={"Content-Type": "application/json"})


def assert_session(body, keys):
    """A token answer: at least keys, an HS256 JWT, expires_in TOKEN_LIFETIME; its claims."""
    assert set(keys) <= set(body), body
    assert body["expires_in"] == TOKEN_LIFETIME, body
    header, claims, sig = jwt_parts(body["token"])
    assert header.get("alg") == "HS256", header
    assert len(sig) == 32, "HS256 signature must be 32 bytes"
    return claims


# -- password registration ----------------------------------------------------
def test_register_password_account_returns_id_token_and_expiry(stack):
    r = post(stack, "/auth/register", {"password": new_password()})
    assert r.status_code == 201, describe(r)
    assert_standard_headers(r)
    body = r.json()
    claims = assert_session(body, {"account_id", "token", "expires_in"})
    assert ACCOUNT_ID_RE.match(body["account_id"]), body
    assert len(unb64u(body["account_id"])) == 16, "account_id must carry 128 bits"
    assert claims["sub"] == body["account_id"], claims
    assert claims["exp"] - claims["iat"] == TOKEN_LIFETIME, claims


def test_register_password_token_opens_the_new_account(stack):
    account_id, token = register(stack, new_password())
    doc = me_ok(stack, token)
    assert doc["account_id"] == account_id and doc["auth"] == "password", doc


def test_account_ids_are_random_not_sequential(stack):
    ids = [register(stack, new_password())[0] for _ in range(3)]
    assert len(set(ids)) == 3, ids
    raw = [int.from_bytes(unb64u(i), "big") for i in ids]
    assert all(abs(a - b) > 2 ** 64 for a, b in zip(raw, raw[1:])), ids


@pytest.mark.parametrize("password", [
    "a" * 10,                 # 10 bytes, the minimum
    "a" * 1024,               # 1024 bytes, the maximum
    "\u00e9" * 5,             # 5 characters, 10 bytes
    "\u20ac" * 4,             # 4 characters, 12 bytes
    "\u00e9" * 9,             # 9 characters but 18 bytes: bytes count, not characters
    "\u00e9" * 512,           # 512 characters, 1024 bytes
], ids=["10-ascii", "1024-ascii", "5x2-bytes", "4x3-bytes", "9-chars-18-bytes",
        "512x2-bytes"])
def test_password_length_in_bytes_within_10_to_1024_is_accepted(stack, password):
    r = post(stack, "/auth/register", {"password": password})
    assert r.status_code == 201, describe(r)
    account_id = r.json()["account_id"]
    r = login_password(stack, account_id, password)
    assert r.status_code == 200, describe(r)


@pytest.mark.parametrize("password", [
    "a" * 9,                  # 9 bytes
    "a" * 1025,               # 1025 bytes
    "\u20ac" * 3,             # 9 bytes
    "\u00e9" * 600,           # 600 characters but 1200 bytes
    "",
], ids=["9-ascii", "1025-ascii", "3x3-bytes", "600-chars-1200-bytes", "empty"])
def test_password_length_outside_10_to_1024_bytes_is_422(stack, password):
    err = assert_error(post(stack, "/auth/register", {"password": password}),
                       422, "invalid_field")
    assert "password" in err["message"], err


@pytest.mark.parametrize("value", [1234567890123, None, True, ["a" * 12], {"p": "a" * 12}],
                         ids=["number", "null", "bool", "array", "object"])
def test_password_that_is_not_a_string_is_422(stack, value):
    err = assert_error(post(stack, "/auth/register", {"password": value}),
                       422, "invalid_field")
    assert "password" in err["message"], err


def test_register_without_password_or_key_is_422(stack):
    assert_error(post(stack, "/auth/register", {}), 422, "invalid_field")


def test_register_with_both_password_and_public_key_is_422(stack):
    body = key_proof(stack, new_key())
    body["password"] = new_password()
    assert_error(post(stack, "/auth/register", body), 422, "invalid_field")


def test_register_ignores_unknown_fields_and_stores_no_identity(stack):
    r = post(stack, "/auth/register", {"password": new_password(), "email": "a@b.example",
                                       "phone": "+15550100", "username": "alice"})
    assert r.status_code == 201, describe(r)
    doc = me_ok(stack, r.json()["token"])
    assert not {"email", "phone", "username"} & set(doc), doc
    assert "alice" not in str(doc) and "a@b.example" not in str(doc), doc


# -- key challenges -------------------------------------------------------------
def test_challenge_for_a_public_key_is_b64url_and_expires_in_120(stack):
    r = post(stack, "/auth/challenge", {"public_key": public_b64(new_key())})
    assert r.status_code == 200, describe(r)
    assert_standard_headers(r)
    body = r.json()
    assert set(body) == {"challenge", "expires_in"}, body
    assert body["expires_in"] == CHALLENGE_LIFETIME, body
    assert B64URL_RE.match(body["challenge"]) and len(unb64u(body["challenge"])) >= 16, body


def test_challenges_are_fresh_each_time(stack):
    pub = public_b64(new_key())
    assert get_challenge(stack, pub) != get_challenge(stack, pub)


def _std_b64_key_with_plus_or_slash():
    while True:
        raw = bytes(new_key().verify_key)
        text = base64.b64encode(raw).decode().rstrip("=")
        if "+" in text or "/" in text:
            return text


@pytest.mark.parametrize("public_key", [
    "not base64url!",
    b64u(os.urandom(31)),
    b64u(os.urandom(33)),
    "",
    _std_b64_key_with_plus_or_slash(),
    12345,
    None,
], ids=["not-b64url", "31-bytes", "33-bytes", "empty", "standard-b64", "number", "null"])
def test_challenge_with_malformed_public_key_is_422(stack, public_key):
    err = assert_error(post(stack, "/auth/challenge", {"public_key": public_key}),
                       422, "invalid_field")
    assert "public_key" in err["message"], err


def test_challenge_without_public_key_is_422(stack):
    assert_error(post(stack, "/auth/challenge", {}), 422, "invalid_field")


# -- key registration and login -------------------------------------------------
def test_register_key_account_returns_id_token_and_expiry(stack):
    r = post(stack, "/auth/register", key_proof(stack, new_key()))
    assert r.status_code == 201, describe(r)
    assert_standard_headers(r)
    body = r.json()
    claims = assert_session(body, {"account_id", "token", "expires_in"})
    assert ACCOUNT_ID_RE.match(body["account_id"]), body
    assert claims["sub"] == body["account_id"]
    doc = me_ok(stack, body["token"])
    assert doc["account_id"] == body["account_id"] and doc["auth"] == "key", doc


def test_login_with_key_returns_token_for_the_same_account(stack):
    sk, account_id, _ = register_key(stack)
    r = login_key(stack, sk)
    assert r.status_code == 200, describe(r)
    assert_standard_headers(r)
    claims = assert_session(r.json(), {"token", "expires_in"})
    assert claims["sub"] == account_id
    assert me_ok(stack, r.json()["token"])["account_id"] == account_id


def test_same_public_key_registered_twice_is_409_conflict(stack):
    sk, _, _ = register_key(stack)
    assert_error(post(stack, "/auth/register", key_proof(stack, sk)), 409, "conflict")


def test_login_with_a_key_never_registered_is_401(stack):
    assert_error(login_key(stack, new_key()), 401, "invalid_credentials")


# Each builds a bad proof for key sk, to be sent to path (for /auth/login the
# key is registered already, for /auth/register it is not).
def _reused_challenge(st, sk, path):
    proof = key_proof(st, sk)
    r = post(st, path, proof)
    assert r.status_code == (201 if path == "/auth/register" else 200), describe(r)
    if path == "/auth/register":
        # Free the key again, so that only the reuse can refuse the proof.
        d = delete_me(st, r.json()["token"], proof=key_proof(st, sk))
        assert d.status_code == 204, describe(d)
    return proof


def _another_keys_signature(st, sk, path):
    proof = key_proof(st, sk)
    proof["signature"] = sign(new_key(), proof["challenge"])
    return proof


def _challenge_for_another_key(st, sk, path):
    ch = get_challenge(st, public_b64(new_key()))
    return {"public_key": public_b64(sk), "challenge": ch, "signature": sign(sk, ch)}


def _unknown_challenge(st, sk, path):
    ch = b64u(os.urandom(32))
    return {"public_key": public_b64(sk), "challenge": ch, "signature": sign(sk, ch)}


def _signature_without_prefix(st, sk, path):
    proof = key_proof(st, sk)
    proof["signature"] = sign(sk, proof["challenge"], prefix=b"")
    return proof


def _signature_with_other_prefix(st, sk, path):
    proof = key_proof(st, sk)
    proof["signature"] = sign(sk, proof["challenge"], prefix=b"sotto-pow:")
    return proof


def _corrupted_signature(st, sk, path):
    proof = key_proof(st, sk)
    raw = bytearray(unb64u(proof["signature"]))
    raw[10] ^= 0x01
    proof["signature"] = b64u(bytes(raw))
    return proof


BAD_PROOFS = [_reused_challenge, _another_keys_signature, _challenge_for_another_key,
              _unknown_challenge, _signature_without_prefix,
              _signature_with_other_prefix, _corrupted_signature]


@pytest.mark.parametrize("bad", BAD_PROOFS, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("path", ["/auth/register", "/auth/login"])
def test_key_proof_that_does_not_verify_is_401_invalid_credentials(stack, path, bad):
    sk = new_key()
    if path == "/auth/login":
        register_key(stack, sk)
    r = post(stack, path, bad(stack, sk, path))
    assert_error(r, 401, "invalid_credentials")
    assert_standard_headers(r)


def test_challenge_is_single_use_even_for_the_same_key(stack):
    sk, _, _ = register_key(stack)
    proof = key_proof(stack, sk)
    assert post(stack, "/auth/login", proof).status_code == 200
    assert_error(post(stack, "/auth/login", proof), 401, "invalid_credentials")


@pytest.mark.parametrize("signature", [
    b64u(os.urandom(63)), b64u(os.urandom(65)), "not base64url!", "", 12,
], ids=["63-bytes", "65-bytes", "not-b64url", "empty", "number"])
@pytest.mark.parametrize("path", ["/auth/register", "/auth/login"])
def test_key_proof_with_malformed_signature_is_422(stack, path, signature):
    sk = new_key()
    proof = key_proof(stack, sk)
    proof["signature"] = signature
    err = assert_error(post(stack, path, proof), 422, "invalid_field")
    assert "signature" in err["message"], err


# -- password login -------------------------------------------------------------
def test_login_with_password_returns_token_for_the_account(stack):
    password = new_password()
    account_id, _ = register(stack, password)
    r = login_password(stack, account_id, password)
    assert r.status_code == 200, describe(r)
    assert_standard_headers(r)
    claims = assert_session(r.json(), {"token", "expires_in"})
    assert claims["sub"] == account_id
    assert me_ok(stack, r.json()["token"])["account_id"] == account_id


@pytest.fixture(scope="module")
def password_account(stack):
    password = new_password()
    account_id, _ = register(stack, password)
    return account_id, password


def _login_failures(st, account_id, password):
    unknown = b64u(os.urandom(16))
    return {
        "wrong password": login_password(st, account_id, password + "x"),
        "unknown account": login_password(st, unknown, password),
        "malformed account id": login_password(st, "not-an-id!", password),
        "account id of 23 chars": login_password(st, unknown + "A", password),
    }


def test_login_failures_are_401_invalid_credentials(stack, password_account):
    for what, r in _login_failures(stack, *password_account).items():
        assert r.status_code == 401, "%s: %s" % (what, describe(r))
        assert_error(r, 401, "invalid_credentials")


def test_login_failure_body_is_identical_whether_or_not_the_account_exists(stack,
                                                                           password_account):
    answers = _login_failures(stack, *password_account)
    bodies = {what: r.content for what, r in answers.items()}
    assert len(set(bodies.values())) == 1, bodies


def _timed_failed_login(st, account_id, password):
    t0 = time.monotonic()
    r = login_password(st, account_id, password)
    took = time.monotonic() - t0
    assert r.status_code == 401, describe(r)
    return took


def test_login_takes_similar_time_for_unknown_account_and_wrong_password(stack,
                                                                         password_account):
    account_id, password = password_account
    unknown = b64u(os.urandom(16))
    login_password(stack, unknown, password)  # warm-up: connection, dummy hash
    wrong, missing = [], []
    for _ in range(5):   # interleaved, so drift hits both alike
        wrong.append(_timed_failed_login(stack, account_id, password + "x"))
        missing.append(_timed_failed_login(stack, unknown, password))
    w, m = statistics.median(wrong), statistics.median(missing)
    assert max(w, m) <= 2 * min(w, m), \
        "wrong password %.1f ms vs unknown account %.1f ms" % (w * 1e3, m * 1e3)
    # Both verify one Argon2id hash (~70 ms on the reference machine).
    assert min(w, m) >= 0.02, "a login failure this fast skipped the hash: %.1f ms" % (
        min(w, m) * 1e3)


# -- Argon2id cap across the pool ----------------------------------------------
@pytest.fixture(scope="module")
def hash_capped(make_stack):
    # No waiting for a slot and no difficulty raised by busy slots: the cap alone.
    return make_stack("pwhash", SOTTO_PWHASH_CONCURRENCY="1", SOTTO_WORKERS="4",
                      SOTTO_PWHASH_WAIT_MS="0", SOTTO_PWHASH_BUSY_POW="0")


def _concurrent_registrations(st, n):
    barrier = threading.Barrier(n)
    results = [None] * n

    def one(i):
        s = TimeoutSession(timeout=15)
        try:
            s.get(st.url("/health"))          # TLS handshake before the barrier
            barrier.wait(10)
            results[i] = s.post(st.url("/auth/register"),
                                json={"password": new_password()})
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = e
        finally:
            s.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_password_hashing_beyond_the_pool_cap_is_503_with_retry_after(hash_capped):
    answers = []
    for _ in range(3):   # a round may happen to be serialized by the scheduler
        answers += _concurrent_registrations(hash_capped, 12)
        statuses = [getattr(r, "status_code", None) for r in answers]
        if 503 in statuses and 201 in statuses:
            break
    for r in answers:
        assert not isinstance(r, Exception), repr(r)
        assert r.status_code in (201, 503), describe(r)
        if r.status_code == 503:
            assert_error(r, 503, "unavailable")
            assert r.headers.get("Retry-After", "").isdigit(), describe(r)
    statuses = [r.status_code for r in answers]
    assert 201 in statuses, statuses
    assert 503 in statuses, "no registration was refused with the cap at 1: %s" % statuses


def test_pool_cap_leaves_the_server_serving_registrations_afterwards(hash_capped):
    account_id, token = register(hash_capped, new_password())
    assert me_ok(hash_capped, token)["account_id"] == account_id


@pytest.fixture(scope="module")
def hash_waiting(make_stack):
    return make_stack("pwwait", SOTTO_PWHASH_CONCURRENCY="1", SOTTO_WORKERS="4",
                      SOTTO_PWHASH_WAIT_MS="5000", SOTTO_PWHASH_BUSY_POW="0")


def test_password_checks_wait_briefly_for_a_slot_instead_of_503(hash_waiting):
    """Four registrations at once on one slot: each waits its turn (about
    four hashes, well inside SOTTO_PWHASH_WAIT_MS) and none is refused."""
    answers = _concurrent_registrations(hash_waiting, 4)
    for r in answers:
        assert not isinstance(r, Exception), repr(r)
        assert r.status_code == 201, describe(r)


# -- REGISTER and LOGIN rate classes --------------------------------------------
RATE_COUNT = 2


@pytest.fixture(scope="module")
def auth_limited(make_stack):
    window = "%d/3600" % RATE_COUNT
    return make_stack("authrate", SOTTO_RATE_REGISTER=window, SOTTO_RATE_LOGIN=window)


def _ratelimit_headers(r):
    h = {}
    for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        v = r.headers.get(name, "")
        assert v.isdigit(), "%s missing or not an integer: %s" % (name, describe(r))
        h[name] = int(v)
    return h


def _assert_third_is_limited(answers):
    for r in answers[:RATE_COUNT]:
        made = r.request.path_url.startswith("/auth/register")
        assert r.status_code == (201 if made else 200), describe(r)
        assert _ratelimit_headers(r)["RateLimit-Limit"] == RATE_COUNT
    r = answers[RATE_COUNT]
    assert_error(r, 429, "rate_limited")
    assert_standard_headers(r)
    assert r.headers.get("Retry-After", "").isdigit(), describe(r)
    assert int(r.headers["Retry-After"]) >= 1, describe(r)
    h = _ratelimit_headers(r)
    assert h["RateLimit-Limit"] == RATE_COUNT and h["RateLimit-Remaining"] == 0, h


def test_third_registration_within_the_register_window_is_429(auth_limited):
    answers = [post(auth_limited, "/auth/register", {"password": new_password()})
               for _ in range(RATE_COUNT + 1)]
    _assert_third_is_limited(answers)


def test_third_login_within_the_login_window_is_429(auth_limited):
    password = new_password()
    # Registered from another client address, so the REGISTER test's bucket
    # (127.0.0.1) stays as that test expects.
    status, _, body = raw_request(auth_limited, "POST", "/auth/register",
                                  headers={"Content-Type": "application/json"},
                                  body=json.dumps({"password": password}).encode(),
                                  source="127.0.0.2")
    assert status == 201, (status, body[:300])
    account_id = json.loads(body)["account_id"]
    answers = [login_password(auth_limited, account_id, password)
               for _ in range(RATE_COUNT + 1)]
    _assert_third_is_limited(answers)


# -- rehash on login ----------------------------------------------------------
def stored_hash(st, account_id):
    rows = st.psql("SELECT password_hash FROM accounts WHERE id_hash = '\\x%s'"
                   % id_hash(st, account_id).hex())
    assert len(rows) == 1, "the account's row, found by its lookup hash"
    return rows[0][0]


def test_login_rehashes_a_password_stored_with_older_parameters(stack):
    password = new_password()
    account_id, _ = register(stack, password)
    today_prefix = stored_hash(stack, account_id).rsplit("$", 2)[0]
    older = nacl.pwhash.argon2id.str(password.encode(), opslimit=3,
                                     memlimit=nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE).decode()
    assert older.rsplit("$", 2)[0] != today_prefix
    stack.psql("UPDATE accounts SET password_hash = '%s' WHERE id_hash = '\\x%s'"
               % (older, id_hash(stack, account_id).hex()))

    r = login_password(stack, account_id, password)
    assert r.status_code == 200, describe(r)
    rehashed = stored_hash(stack, account_id)
    assert rehashed != older
    assert rehashed.rsplit("$", 2)[0] == today_prefix, "stored again with today's parameters"
    r = login_password(stack, account_id, password)
    assert r.status_code == 200, describe(r)
