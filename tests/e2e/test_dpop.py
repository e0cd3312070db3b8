"""Proof of possession (DPoP, RFC 9449; docs/accounts.md, "Bound tokens"):
a client that sends a DPoP proof with a login, a registration or a refresh
gets tokens bound to the proof's key; a bound access token works only as
"Authorization: DPoP" with a fresh proof of that key for that very request
(method, URI, a jti never seen in the window, iat within 60 s, ath of the
token); a bound refresh token only with a proof of the same key. Proofs
here are made by an independent implementation (python3-jwt with
python3-cryptography), with Ed25519 (EdDSA) and P-256 (ES256) keys."""
import base64
import hashlib
import json
import os
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

from accounts import b64u, jwt_parts, login_password, new_password
from conftest import assert_error, bearer, commandstats, describe, raw_request

ALGS = ("EdDSA", "ES256")
IAT_WINDOW = 60            # seconds a proof's iat may be off, either way


class ProofKey:
    """A DPoP key pair and the proofs it signs."""

    def __init__(self, alg):
        self.alg = alg
        if alg == "EdDSA":
            self.private = ed25519.Ed25519PrivateKey.generate()
            self.jwk = json.loads(OKPAlgorithm.to_jwk(self.private.public_key()))
        else:
            self.private = ec.generate_private_key(ec.SECP256R1())
            # RFC 7518 6.2.1.2: each coordinate is the full 32 bytes. python3-jwt
            # 2.6's to_jwk drops leading zero bytes (one key in 128), which the
            # server rightly refuses; so the members are padded here.
            numbers = self.private.public_key().public_numbers()
            self.jwk = dict(json.loads(ECAlgorithm.to_jwk(self.private.public_key())),
                            x=b64u(numbers.x.to_bytes(32, "big")),
                            y=b64u(numbers.y.to_bytes(32, "big")))

    def thumbprint(self):
        """RFC 7638: SHA-256 of the required members, sorted, no whitespace."""
        members = ("crv", "kty", "x") if self.jwk["kty"] == "OKP" else ("crv", "kty", "x", "y")
        text = json.dumps({k: self.jwk[k] for k in members}, sort_keys=True,
                          separators=(",", ":"))
        return b64u(hashlib.sha256(text.encode()).digest())

    def proof(self, htm, htu, token=None, **override):
        claims = {"jti": b64u(os.urandom(16)), "htm": htm, "htu": htu, "iat": int(time.time())}
        if token is not None:
            claims["ath"] = b64u(hashlib.sha256(token.encode()).digest())
        claims.update(override)
        return jwt.encode(claims, self.private, algorithm=self.alg,
                          headers={"typ": "dpop+jwt", "jwk": self.jwk})


def dpop(token, proof):
    return {"Authorization": "DPoP " + token, "DPoP": proof}


def me_with(st, key, token, **override):
    """GET /me with a bound token and a proof for it (claims overridden)."""
    claims = dict({"htm": "GET", "htu": st.url("/me")}, **override)
    return st.get("/me", headers=dpop(token, key.proof(claims.pop("htm"), claims.pop("htu"),
                                                        token, **claims)))


def assert_dpop_refused(r):
    assert_error(r, 401, "unauthorized")
    challenge = r.headers.get("WWW-Authenticate", "")
    assert challenge.startswith("DPoP ") and 'algs="EdDSA ES256"' in challenge, describe(r)


def login_bound(st, key, account_id, password):
    r = st.request("POST", "/auth/login", json={"account_id": account_id, "password": password},
                   headers={"DPoP": key.proof("POST", st.url("/auth/login"))})
    assert r.status_code == 200, describe(r)
    return r.json()


def refresh(st, refresh_token, proof=None):
    return st.request("POST", "/auth/refresh", json={"refresh_token": refresh_token},
                      headers={"DPoP": proof} if proof is not None else {})


def refresh_proof(st, key):
    return key.proof("POST", st.url("/auth/refresh"))


@pytest.fixture(params=ALGS)
def key(request):
    return ProofKey(request.param)


@pytest.fixture
def account(stack):
    password = new_password()
    r = stack.request("POST", "/auth/register", json={"password": password})
    assert r.status_code == 201, describe(r)
    return r.json()["account_id"], password


@pytest.fixture
def bound(stack, key, account):
    """(key, the login answer of a session bound to key)."""
    return key, login_bound(stack, key, *account)


# -- binding ------------------------------------------------------------------
def test_login_with_a_proof_answers_tokens_bound_to_its_key(stack, bound):
    key, body = bound
    assert body["token_type"] == "DPoP", body
    assert jwt_parts(body["token"])[1]["cnf"] == {"jkt": key.thumbprint()}
    r = me_with(stack, key, body["token"])
    assert r.status_code == 200, describe(r)
    items = stack.get("/me/sessions", headers=dpop(
        body["token"], key.proof("GET", stack.url("/me/sessions"), body["token"]))).json()["items"]
    assert [(s["id"], s["bound"]) for s in items if s["current"]] == [(body["session_id"], True)]
    assert all(s["bound"] is False for s in items if not s["current"]), items


def test_registration_with_a_proof_is_bound_too(stack, key):
    r = stack.request("POST", "/auth/register", json={"password": new_password()},
                      headers={"DPoP": key.proof("POST", stack.url("/auth/register"))})
    assert r.status_code == 201, describe(r)
    body = r.json()
    assert body["token_type"] == "DPoP", body
    assert me_with(stack, key, body["token"]).status_code == 200


def test_without_a_proof_tokens_stay_bearer_tokens(stack, account):
    r = login_password(stack, *account)
    assert r.status_code == 200, describe(r)
    body = r.json()
    assert "token_type" not in body and "cnf" not in jwt_parts(body["token"])[1], body
    assert stack.get("/me", headers=bearer(body["token"])).status_code == 200
    # ...and a bearer token is not taken under the DPoP scheme, proof or not.
    key = ProofKey("EdDSA")
    assert_error(me_with(stack, key, body["token"]), 401, "unauthorized")


# -- what a bound access token needs ------------------------------------------
def test_a_bound_token_sent_as_bearer_is_refused(stack, bound):
    _, body = bound
    assert_error(stack.get("/me", headers=bearer(body["token"])), 401, "unauthorized")
    # not even with a good proof beside it
    key = bound[0]
    headers = bearer(body["token"])
    headers["DPoP"] = key.proof("GET", stack.url("/me"), body["token"])
    assert_error(stack.get("/me", headers=headers), 401, "unauthorized")


def test_a_bound_token_without_a_proof_is_refused(stack, bound):
    _, body = bound
    r = stack.get("/me", headers={"Authorization": "DPoP " + body["token"]})
    assert_dpop_refused(r)


def test_a_replayed_proof_is_refused(stack, bound):
    key, body = bound
    proof = key.proof("GET", stack.url("/me"), body["token"])
    r = stack.get("/me", headers=dpop(body["token"], proof))
    assert r.status_code == 200, describe(r)
    assert_dpop_refused(stack.get("/me", headers=dpop(body["token"], proof)))
    # another proof with the same jti is a replay as well
    jti = jwt.decode(proof, options={"verify_signature": False})["jti"]
    assert_dpop_refused(me_with(stack, key, body["token"], jti=jti))
    assert me_with(stack, key, body["token"]).status_code == 200


@pytest.mark.parametrize("what", ["htm", "htu path", "htu host", "htu scheme"])
def test_a_proof_for_another_method_or_uri_is_refused(stack, bound, what):
    key, body = bound
    port = stack.https_port
    override = {
        "htm": {"htm": "POST"},
        "htu path": {"htu": stack.url("/me/sessions")},
        "htu host": {"htu": "https://sotto.example:%d/me" % port},
        "htu scheme": {"htu": "http://127.0.0.1:%d/me" % port},
    }[what]
    assert_dpop_refused(me_with(stack, key, body["token"], **override))


@pytest.mark.parametrize("htu", ["HTTPS://127.0.0.1:{port}/me", "https://127.0.0.1:{port}/./me",
                                 "https://127.0.0.1:{port}/%6De", "https://127.0.0.1:{port}/me?x=1"])
def test_htu_is_compared_after_normalising_it(stack, bound, htu):
    key, body = bound
    r = me_with(stack, key, body["token"], htu=htu.format(port=stack.https_port))
    assert r.status_code == 200, describe(r)


@pytest.mark.parametrize("offset", [-(IAT_WINDOW + 30), IAT_WINDOW + 30])
def test_a_stale_or_future_iat_is_refused(stack, bound, offset):
    key, body = bound
    assert_dpop_refused(me_with(stack, key, body["token"], iat=int(time.time()) + offset))


def test_a_proof_of_another_key_is_refused(stack, bound):
    key, body = bound
    for other in (ProofKey("EdDSA"), ProofKey("ES256")):
        assert_dpop_refused(me_with(stack, other, body["token"]))
    assert me_with(stack, key, body["token"]).status_code == 200


def test_ath_must_name_this_very_token(stack, bound, account):
    key, body = bound
    other = login_bound(stack, key, *account)
    # a proof made for the same key's other token, and one without ath
    wrong = key.proof("GET", stack.url("/me"), other["token"])
    assert_dpop_refused(stack.get("/me", headers=dpop(body["token"], wrong)))
    bare = key.proof("GET", stack.url("/me"))
    assert_dpop_refused(stack.get("/me", headers=dpop(body["token"], bare)))


def test_a_bound_token_check_is_still_one_redis_round_trip(stack, bound):
    """The proof's jti is recorded by the script that also reads what the
    bearer check's MGET reads: one EVALSHA per request (the script's text
    is not sent again), nothing else."""
    key, body = bound
    assert me_with(stack, key, body["token"]).status_code == 200   # the record is cached
    before = commandstats(stack)
    n = 10
    for _ in range(n):
        assert me_with(stack, key, body["token"]).status_code == 200
    after = commandstats(stack)
    # Lua scripts' own calls count under their commands' names too
    assert after.get("eval", 0) == before.get("eval", 0), (before, after)
    assert after.get("mget", 0) - before.get("mget", 0) == n, (before, after)
    # the rate limiter's script runs with EVALSHA too (and reads with GET): at least n
    assert after.get("evalsha", 0) - before.get("evalsha", 0) >= n, (before, after)
    for cmd in ("getdel", "exists", "setnx"):
        assert after.get(cmd, 0) == before.get(cmd, 0), (cmd, before, after)


def test_a_key_with_a_shortened_coordinate_is_refused(stack, account):
    """A P-256 JWK whose x or y is not the full 32 bytes (RFC 7518 6.2.1.2)."""
    key = ProofKey("ES256")
    while True:   # a key whose x starts with a zero byte: one in 256
        numbers = key.private.public_key().public_numbers()
        if numbers.x < 1 << 248:
            break
        key = ProofKey("ES256")
    key.jwk["x"] = b64u(numbers.x.to_bytes(31, "big"))
    r = stack.request("POST", "/auth/login", json={"account_id": account[0], "password": account[1]},
                      headers={"DPoP": key.proof("POST", stack.url("/auth/login"))})
    assert_dpop_refused(r)


def test_two_dpop_headers_are_refused(stack, bound):
    key, body = bound

    class Pairs(list):
        def items(self):
            return self

    headers = Pairs([("Authorization", "DPoP " + body["token"]),
                     ("DPoP", key.proof("GET", stack.url("/me"), body["token"])),
                     ("DPoP", key.proof("GET", stack.url("/me"), body["token"]))])
    status, _, raw = raw_request(stack, "GET", "/me", headers=headers)
    assert status == 401 and json.loads(raw)["error"]["code"] == "unauthorized", raw


@pytest.mark.parametrize("mangle", ["alg none", "private key", "typ jwt", "bad signature"])
def test_malformed_proofs_are_refused(stack, bound, mangle):
    key, body = bound
    proof = key.proof("GET", stack.url("/me"), body["token"])
    head, claims, sig = proof.split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "=="))
    if mangle == "alg none":
        header["alg"] = "none"
    elif mangle == "private key":
        header["jwk"] = dict(header["jwk"], d=b64u(os.urandom(32)))
    elif mangle == "typ jwt":
        header["typ"] = "JWT"
    if mangle == "bad signature":
        sig = b64u(os.urandom(64))
    else:
        head = b64u(json.dumps(header, separators=(",", ":")).encode())
    r = stack.get("/me", headers=dpop(body["token"], "%s.%s.%s" % (head, claims, sig)))
    assert_dpop_refused(r)


# -- refresh ------------------------------------------------------------------
def test_a_bound_refresh_token_needs_a_proof_of_the_same_key(stack, bound):
    key, body = bound
    assert_dpop_refused(refresh(stack, body["refresh_token"]))
    assert_dpop_refused(refresh(stack, body["refresh_token"],
                                refresh_proof(stack, ProofKey("EdDSA"))))
    # neither attempt ended or moved the session: the owner refreshes on
    r = refresh(stack, body["refresh_token"], refresh_proof(stack, key))
    assert r.status_code == 200, describe(r)
    new = r.json()
    assert new["token_type"] == "DPoP", new
    assert jwt_parts(new["token"])[1]["cnf"] == {"jkt": key.thumbprint()}
    assert me_with(stack, key, new["token"]).status_code == 200


def test_a_reused_bound_refresh_token_with_the_key_ends_the_session(stack, bound):
    key, body = bound
    r = refresh(stack, body["refresh_token"], refresh_proof(stack, key))
    assert r.status_code == 200, describe(r)
    new = r.json()
    assert_error(refresh(stack, body["refresh_token"], refresh_proof(stack, key)),
                 401, "invalid_credentials")
    assert_error(me_with(stack, key, new["token"]), 401, "unauthorized")
    assert_error(refresh(stack, new["refresh_token"], refresh_proof(stack, key)),
                 401, "invalid_credentials")


def test_a_refresh_with_a_proof_binds_a_bearer_session(stack, account, key):
    r = login_password(stack, *account)
    assert r.status_code == 200, describe(r)
    plain = r.json()
    r = refresh(stack, plain["refresh_token"], refresh_proof(stack, key))
    assert r.status_code == 200, describe(r)
    new = r.json()
    assert new["token_type"] == "DPoP", new
    assert me_with(stack, key, new["token"]).status_code == 200
    # from now on the session is the key's
    assert_dpop_refused(refresh(stack, new["refresh_token"]))


# -- proofs at login ----------------------------------------------------------
def test_login_with_a_bad_or_replayed_proof_is_refused(stack, account, key):
    account_id, password = account
    body = {"account_id": account_id, "password": password}
    for proof in (key.proof("POST", stack.url("/auth/refresh")),
                  key.proof("GET", stack.url("/auth/login")),
                  key.proof("POST", stack.url("/auth/login"), iat=int(time.time()) - 300),
                  key.proof("POST", stack.url("/auth/login"), "a token")):
        assert_dpop_refused(stack.request("POST", "/auth/login", json=body,
                                          headers={"DPoP": proof}))
    proof = key.proof("POST", stack.url("/auth/login"))
    r = stack.request("POST", "/auth/login", json=body, headers={"DPoP": proof})
    assert r.status_code == 200, describe(r)
    assert_dpop_refused(stack.request("POST", "/auth/login", json=body, headers={"DPoP": proof}))


def test_a_public_origin_names_the_issuer_and_the_htu_whatever_the_host(make_stack):
    """With SOTTO_PUBLIC_ORIGIN set, the OAuth issuer and the URL a DPoP
    proof must name come from it, not from the request's Host header, which
    any client chooses: a forged Host changes neither, and a proof naming
    the URL the client actually dialled (not the public origin) is refused."""
    origin = "https://sotto.example"
    st = make_stack("origin", SOTTO_PUBLIC_ORIGIN=origin)
    for headers in ({}, {"Host": "evil.example"}):
        r = st.get("/.well-known/oauth-authorization-server", headers=headers)
        assert r.status_code == 200, describe(r)
        assert r.json()["issuer"] == origin, r.json()
        assert r.json()["token_endpoint"] == origin + "/oauth/token", r.json()
    key = ProofKey("EdDSA")
    r = st.request("POST", "/auth/register", json={"password": new_password()},
                   headers={"DPoP": key.proof("POST", origin + "/auth/register")})
    assert r.status_code == 201, describe(r)
    token = r.json()["token"]
    assert me_with(st, key, token, htu=origin + "/me").status_code == 200
    assert_dpop_refused(me_with(st, key, token))
    assert_dpop_refused(st.get("/me", headers=dict(
        dpop(token, key.proof("GET", "https://evil.example/me", token)), Host="evil.example")))
