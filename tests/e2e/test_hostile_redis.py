"""Redis is never trusted with identity or access: the tests play whoever
can write to the stack's Redis (a compromised cache host, a leaked Redis
password) and try to turn that into an identity, a stream of someone else's
events or a skipped check. Each attempt must end as a cache miss or a
refusal, never as another account.

What a Redis writer can still do is bounded, not nothing: a record or marker
the server itself wrote can be copied back, and it opens until its own expiry
(the account record: AUTH_CACHE_TTL seconds, app/auth.h). The replay test
therefore keeps copying back and waits for PostgreSQL to decide."""
import hashlib
import os
import time

import nacl.public

from accounts import (account_pk, b64u, id_hash, jwt_parts, login_key, me, public_b64,
                      register_key, sign)
from conftest import assert_error, bearer, describe, register
from content import get_post_ok, post
from fcgi import fcgi_request

AUTH_CACHE_TTL = 30          # app/auth.h: seconds a sealed account record opens
REPLAY_DEADLINE = AUTH_CACHE_TTL + 20
PASSWORD = "correct horse battery"


def record_key(st, account_id):
    """The Redis key of the account's one cached record (ac:<h>...), after a GET /me."""
    keys = st.redis("--scan", "--pattern", "ac:%s*" % id_hash(st, account_id).hex()).split()
    assert len(keys) == 1, keys
    return keys[0]


def cached(st, token):
    """(account_id, record key, record value) once a GET /me has cached the record."""
    r = me(st, token)
    assert r.status_code == 200, describe(r)
    account_id = r.json()["account_id"]
    key = record_key(st, account_id)
    value = st.redis("GET", key)
    assert value, key
    return account_id, key, value


def replace_field(record, old, new):
    """record with its first '|'-separated field equal to old replaced by new."""
    fields = record.split("|")
    assert old in fields, (record, old)
    fields[fields.index(old)] = new
    return "|".join(fields)


def assert_acts_as_itself(st, token, account_id, victim_post):
    """token still speaks for account_id, and the victim's post is not its own."""
    r = me(st, token)
    assert r.status_code == 200 and r.json()["account_id"] == account_id, describe(r)
    doc = get_post_ok(st, victim_post["id"], token)
    assert doc["post"]["mine"] is not True, doc["post"]


# -- the cached account record ----------------------------------------------------
def test_a_record_forged_for_another_accounts_pk_is_a_miss(stack):
    victim_id, victim_token = register(stack)
    victim_post = post(stack, victim_token)
    account_id, token = register(stack)
    _, key, value = cached(stack, token)
    stack.redis("SET", key, replace_field(value, str(account_pk(stack, account_id)),
                                          str(account_pk(stack, victim_id))), "KEEPTTL")
    assert_acts_as_itself(stack, token, account_id, victim_post)


def test_two_accounts_records_swapped_are_misses(stack):
    victim_id, victim_token = register(stack)
    victim_post = post(stack, victim_token)
    _, victim_key, victim_value = cached(stack, victim_token)
    account_id, token = register(stack)
    _, key, value = cached(stack, token)
    stack.redis("SET", key, victim_value, "KEEPTTL")
    stack.redis("SET", victim_key, value, "KEEPTTL")
    assert_acts_as_itself(stack, token, account_id, victim_post)
    r = me(stack, victim_token)
    assert r.status_code == 200 and r.json()["account_id"] == victim_id, describe(r)


def test_no_record_holds_an_x25519_key(stack):
    account_id, token = register(stack)
    key = b64u(bytes(nacl.public.PrivateKey.generate().public_key))
    r = stack.request("PUT", "/me/keys", json={"x25519_public": key}, headers=bearer(token))
    if r.status_code == 404:
        return  # the account-wide key is gone altogether
    assert r.status_code == 200, describe(r)
    assert me(stack, token).status_code == 200
    for k in stack.redis("--scan", "--pattern", "ac:%s*" % id_hash(stack, account_id).hex()).split():
        assert key not in stack.redis("GET", k), k


def test_a_record_copied_back_after_logout_or_deletion_stops_working(stack):
    """Copied back again and again, with the ended-session and deletion
    markers deleted each time: the token is refused at the latest once the record's
    sealed lifetime has passed (then PostgreSQL decides), and for good."""
    _, out_token = register(stack)
    _, out_key, out_value = cached(stack, out_token)
    out_sid = jwt_parts(out_token)[1]["sid"]
    gone_id, gone_token = register(stack, PASSWORD)
    _, gone_key, gone_value = cached(stack, gone_token)
    h = id_hash(stack, gone_id).hex()
    gone_gen = stack.redis("GET", "ag:" + h)

    assert stack.request("POST", "/auth/logout", headers=bearer(out_token)).status_code == 204
    r = stack.request("DELETE", "/me", headers=bearer(gone_token),
                      json={"password": PASSWORD})
    assert r.status_code == 204, describe(r)

    def copy_back():
        stack.redis("DEL", "rs:" + out_sid, "gone:" + h)
        stack.redis("SET", out_key, out_value, "EX", "600")
        stack.redis("SET", gone_key, gone_value, "EX", "600")
        if gone_gen:
            stack.redis("SET", "ag:" + h, gone_gen, "EX", "600")
        else:
            stack.redis("DEL", "ag:" + h)

    deadline = time.monotonic() + REPLAY_DEADLINE
    seen = []
    while True:
        copy_back()
        statuses = (me(stack, out_token).status_code, me(stack, gone_token).status_code)
        seen.append(statuses)
        if statuses == (401, 401):
            break
        assert time.monotonic() < deadline, "still accepted after %ds: %s" % (
            REPLAY_DEADLINE, seen[-5:])
        time.sleep(0.5)
    for _ in range(3):
        copy_back()
        assert_error(me(stack, out_token), 401, "unauthorized")
        assert_error(me(stack, gone_token), 401, "unauthorized")


# -- event stream tickets -----------------------------------------------------------
def ticket_key(t):
    return "evt:" + hashlib.blake2b(t.encode(), digest_size=32).hexdigest()


def new_ticket(st, token):
    r = st.request("POST", "/events/ticket", headers=bearer(token))
    assert r.status_code == 200, describe(r)
    return r.json()["ticket"]


def stream(st, t):
    """GET /events/stream?ticket=t straight to sotto: (status, X-Accel-Redirect or None)."""
    resp = fcgi_request(os.path.join(st.var, "run", "sotto.sock"), "GET", "/events/stream",
                        query="ticket=" + t)
    target = [v for k, v in resp.headers if k.lower() == "x-accel-redirect"]
    return resp.status, target[0] if target else None


def test_a_forged_ticket_is_refused(stack):
    victim_id, _ = register(stack)
    t = b64u(os.urandom(32))
    stack.redis("SET", ticket_key(t), str(account_pk(stack, victim_id)), "EX", "60")
    assert stream(stack, t) == (403, None)


def test_swapped_tickets_are_refused_and_a_fresh_one_opens(stack):
    _, token_a = register(stack)
    _, token_b = register(stack)
    ta, tb = new_ticket(stack, token_a), new_ticket(stack, token_b)
    va, vb = stack.redis("GET", ticket_key(ta)), stack.redis("GET", ticket_key(tb))
    stack.redis("SET", ticket_key(ta), vb, "KEEPTTL")
    stack.redis("SET", ticket_key(tb), va, "KEEPTTL")
    assert stream(stack, ta) == (403, None)
    assert stream(stack, tb) == (403, None)
    status, target = stream(stack, new_ticket(stack, token_a))
    assert status == 200 and target and target.startswith("/internal/sub/"), (status, target)


# -- challenges ---------------------------------------------------------------------
def test_a_forged_key_login_challenge_is_refused(stack):
    sk, _, _ = register_key(stack)
    assert login_key(stack, sk).status_code == 200
    pub = public_b64(sk)
    challenge = b64u(os.urandom(32))
    stack.redis("SET", "authch:" + challenge, pub, "EX", "120")
    r = stack.request("POST", "/auth/login", json={
        "public_key": pub, "challenge": challenge, "signature": sign(sk, challenge)})
    assert_error(r, 401, "invalid_credentials")


def test_a_key_login_challenge_does_not_hold_the_public_key(stack):
    sk, _, _ = register_key(stack)
    pub = public_b64(sk)
    r = stack.request("POST", "/auth/challenge", json={"public_key": pub})
    assert r.status_code == 200, describe(r)
    value = stack.redis("GET", "authch:" + r.json()["challenge"])
    assert value and pub not in value, value


def test_a_forged_pow_challenge_is_refused(make_stack):
    st = make_stack("hostilepow", SOTTO_POW_REGISTER="12")
    challenge = b64u(os.urandom(16))
    st.redis("SET", "pow:" + challenge, "register:0", "EX", "300")
    r = st.request("POST", "/auth/register", json={"password": "correct horse battery"},
                   headers={"X-PoW": challenge + ":0"})
    assert_error(r, 403, "pow_invalid")
