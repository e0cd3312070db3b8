"""Session tokens (docs/api.md, "Conventions"; docs/architecture.md,
"Cryptography": the libjwt 1.10 sharp edges): only an unexpired HS256 token signed with the server's
subkey, with the claims the server issues, opens a protected route; logout
and account deletion revoke at once; everything else is 401 unauthorized.

Tokens the server would never issue are minted here with its own key,
derived from the stack's JWT_SECRET exactly as app/keys.c does."""
import base64
import os
import time

import pytest

from accounts import (TOKEN_LIFETIME, b64u, claims_for, hs_sign, jwt_encode_part,
                      jwt_key, jwt_parts, login_password, me, me_ok, mint,
                      new_password)
from conftest import assert_error, assert_standard_headers, bearer, delete_me, describe, register


@pytest.fixture(scope="module")
def account(stack):
    """(account_id, password, token) of one password account."""
    password = new_password()
    account_id, token = register(stack, password)
    return account_id, password, token


def session_claims(account, **override):
    """claims_for the account of account (id, password, token), in the live
    session of its token: a minted token passes only within a session that
    exists (its row is checked whenever the account record is not cached)."""
    return claims_for(account[0], **dict({"sid": jwt_parts(account[2])[1]["sid"]}, **override))


@pytest.fixture(scope="module")
def key(stack):
    return jwt_key(stack)


def assert_unauthorized(st, headers):
    r = st.get("/me", headers=headers)
    assert_error(r, 401, "unauthorized")
    assert_standard_headers(r)
    return r


def fresh_token(st, account_id, password):
    r = login_password(st, account_id, password)
    assert r.status_code == 200, describe(r)
    return r.json()["token"]


# -- the real thing ---------------------------------------------------------------
def test_issued_token_opens_get_me(stack, account):
    account_id, _, token = account
    assert me_ok(stack, token)["account_id"] == account_id


def test_issued_token_has_the_documented_header_and_claims(account):
    account_id, _, token = account
    header, claims, _ = jwt_parts(token)
    assert header == {"alg": "HS256", "typ": "JWT"}, header
    assert claims["iss"] == "sotto" and claims["aud"] == "sotto", claims
    assert claims["typ"] == "access" and claims["sub"] == account_id, claims
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16, claims
    assert abs(claims["iat"] - time.time()) < 300, claims
    assert claims["exp"] - claims["iat"] == TOKEN_LIFETIME, claims


def test_signing_key_derivation_matches_the_server(account, key):
    """The test's key reproduces the server's signature byte for byte, so
    the minted tokens below differ from a real one only where intended."""
    token = account[2]
    signing_input = token.rsplit(".", 1)[0]
    assert hs_sign(key, signing_input) == token.rsplit(".", 1)[1]


def test_token_minted_with_server_claims_is_accepted(stack, account, key):
    account_id = account[0]
    assert me_ok(stack, mint(key, session_claims(account)))["account_id"] == account_id


def test_token_minted_in_a_session_that_does_not_exist_is_401(stack, account, key):
    assert_unauthorized(stack, bearer(mint(key, claims_for(account[0]))))


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_bearer_scheme_is_case_insensitive(stack, account, scheme):
    r = stack.get("/me", headers={"Authorization": "%s %s" % (scheme, account[2])})
    assert r.status_code == 200, describe(r)


# -- forged and malformed tokens ------------------------------------------------------
def _swap_payload(token, **changes):
    h, p, s = token.split(".")
    _, claims, _ = jwt_parts(token)
    claims.update(changes)
    return "%s.%s.%s" % (h, jwt_encode_part(claims), s)


def test_payload_changed_to_another_account_keeping_signature_is_401(stack, account):
    other_id, _ = register(stack, new_password())
    assert_unauthorized(stack, bearer(_swap_payload(account[2], sub=other_id)))


def test_payload_with_later_expiry_keeping_signature_is_401(stack, account):
    _, claims, _ = jwt_parts(account[2])
    assert_unauthorized(stack, bearer(_swap_payload(account[2], exp=claims["exp"] + 60)))


@pytest.mark.parametrize("alg", ["none", "noNE", "None", "NONE"])
def test_alg_none_with_empty_signature_is_401(stack, account, alg):
    header = jwt_encode_part({"alg": alg, "typ": "JWT"})
    _, claims, _ = jwt_parts(account[2])
    token = "%s.%s." % (header, jwt_encode_part(claims))
    assert_unauthorized(stack, bearer(token))


def test_alg_none_with_fresh_claims_is_401(stack, account):
    header = jwt_encode_part({"alg": "none", "typ": "JWT"})
    assert_unauthorized(stack, bearer("%s.%s." % (header, jwt_encode_part(
        session_claims(account)))))


def test_header_relabelled_hs512_keeping_signature_is_401(stack, account):
    _, p, s = account[2].split(".")
    header = jwt_encode_part({"alg": "HS512", "typ": "JWT"})
    assert_unauthorized(stack, bearer("%s.%s.%s" % (header, p, s)))


@pytest.mark.parametrize("guess", [b"secret", b"", b"sotto"], ids=["secret", "empty", "sotto"])
def test_token_resigned_hs512_with_a_guessed_key_is_401(stack, account, guess):
    _, claims, _ = jwt_parts(account[2])
    assert_unauthorized(stack, bearer(mint(guess, claims, alg="HS512")))


def test_token_resigned_hs256_with_a_guessed_key_is_401(stack, account):
    _, claims, _ = jwt_parts(account[2])
    assert_unauthorized(stack, bearer(mint(b"secret", claims)))


@pytest.mark.parametrize("alg", ["HS512", "HS384"])
def test_token_signed_with_the_real_key_but_another_alg_is_401(stack, account, key, alg):
    """The server requires HS256 whatever the header says."""
    assert_unauthorized(stack, bearer(mint(key, session_claims(account), alg=alg)))


def test_token_signed_with_the_raw_jwt_secret_is_401(stack, account):
    """Only the derived subkey signs; the master secret itself must not."""
    from accounts import decode_secret
    master = decode_secret(stack.sotto_env()["JWT_SECRET"])
    assert_unauthorized(stack, bearer(mint(master, session_claims(account))))


@pytest.mark.parametrize("cut", ["last-char", "signature", "signature-and-dot", "half"])
def test_truncated_token_is_401(stack, account, cut):
    token = account[2]
    token = {"last-char": token[:-1],
             "signature": token.rsplit(".", 1)[0] + ".",
             "signature-and-dot": token.rsplit(".", 1)[0],
             "half": token[:len(token) // 2]}[cut]
    assert_unauthorized(stack, bearer(token))


def test_token_with_a_flipped_signature_bit_is_401(stack, account):
    h, p, s = account[2].split(".")
    raw = bytearray(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
    raw[0] ^= 0x80
    assert_unauthorized(stack, bearer("%s.%s.%s" % (h, p, b64u(bytes(raw)))))


@pytest.mark.parametrize("value", [
    "Bearer ",
    "Bearer",
    "Bearer " + "A" * 5120,
    "Bearer " + ".".join(["A" * 1700] * 3),
    "Bearer x.y.z",
    "Bearer ..",
    "Bearer \u00e9\u00e9.\u00e9.\u00e9",
], ids=["empty-token", "no-token", "5k-garbage", "5k-three-parts", "tiny-three-parts",
        "two-dots", "non-ascii"])
def test_malformed_bearer_value_is_401(stack, value):
    assert_unauthorized(stack, {"Authorization": value.encode("utf-8")})


@pytest.mark.parametrize("fmt", ["Basic %s", "Token %s", "%s", "Bearer %s extra",
                                 "Bearer %s.x"],
                         ids=["basic", "token", "no-scheme", "trailing-word", "fourth-part"])
def test_valid_token_in_a_wrong_authorization_form_is_401(stack, account, fmt):
    assert_unauthorized(stack, {"Authorization": fmt % account[2]})


def test_basic_credentials_are_401(stack):
    value = "Basic " + base64.b64encode(b"user:password").decode()
    assert_unauthorized(stack, {"Authorization": value})


# -- claims ---------------------------------------------------------------------------
def _now():
    return int(time.time())


BAD_CLAIMS = {
    "expired": lambda: dict(iat=_now() - TOKEN_LIFETIME - 60, exp=_now() - 60),
    "expired-just-now": lambda: dict(iat=_now() - TOKEN_LIFETIME, exp=_now() - 2),
    "iat-far-future": lambda: dict(iat=_now() + 3600, exp=_now() + 3600 + 600),
    "iat-after-exp": lambda: dict(iat=_now(), exp=_now() - 1),
    "lifetime-over-3600": lambda: dict(iat=_now(), exp=_now() + TOKEN_LIFETIME + 60),
    "lifetime-a-year": lambda: dict(iat=_now() - 10, exp=_now() + 365 * 86400),
    "iss-wrong": lambda: dict(iss="someone-else"),
    "aud-wrong": lambda: dict(aud="other"),
    "aud-list": lambda: dict(aud=["other"]),
    "typ-wrong": lambda: dict(typ="refresh"),
    "no-jti": lambda: dict(jti=None),
    "no-iss": lambda: dict(iss=None),
    "no-aud": lambda: dict(aud=None),
    "no-typ": lambda: dict(typ=None),
    "no-exp": lambda: dict(exp=None),
    "no-iat": lambda: dict(iat=None),
    "no-sub": lambda: dict(sub=None),
    "exp-as-string": lambda: dict(exp=str(_now() + 600)),
    "jti-empty": lambda: dict(jti=""),
}


@pytest.mark.parametrize("what", sorted(BAD_CLAIMS))
def test_token_with_bad_claims_signed_with_the_real_key_is_401(stack, account, key, what):
    assert_unauthorized(stack, bearer(mint(key, session_claims(account, **BAD_CLAIMS[what]()))))


def test_token_for_an_account_that_never_existed_is_401(stack, key):
    assert_unauthorized(stack, bearer(mint(key, claims_for(b64u(os.urandom(16))))))


def test_token_with_a_slightly_future_iat_within_skew_is_accepted(stack, account, key):
    claims = session_claims(account, iat=_now() + 20, exp=_now() + 20 + TOKEN_LIFETIME)
    assert me(stack, mint(key, claims)).status_code == 200


# -- logout and deletion ---------------------------------------------------------------
def test_logout_is_204_and_that_token_stops_working_at_once(stack):
    password = new_password()
    account_id, token = register(stack, password)
    assert me(stack, token).status_code == 200
    r = stack.request("POST", "/auth/logout", headers=bearer(token))
    assert r.status_code == 204, describe(r)
    assert r.content == b"", describe(r)
    assert_standard_headers(r, json_body=False)
    assert_unauthorized(stack, bearer(token))


def test_logout_leaves_other_tokens_of_the_account_working(stack):
    password = new_password()
    account_id, first = register(stack, password)
    second = fresh_token(stack, account_id, password)
    assert stack.request("POST", "/auth/logout", headers=bearer(first)).status_code == 204
    assert_unauthorized(stack, bearer(first))
    assert me_ok(stack, second)["account_id"] == account_id


def test_logout_twice_with_the_same_token_is_401(stack):
    _, token = register(stack, new_password())
    assert stack.request("POST", "/auth/logout", headers=bearer(token)).status_code == 204
    assert_error(stack.request("POST", "/auth/logout", headers=bearer(token)),
                 401, "unauthorized")


def test_logged_out_token_stays_revoked_with_lowercase_scheme(stack):
    _, token = register(stack, new_password())
    assert stack.request("POST", "/auth/logout", headers=bearer(token)).status_code == 204
    assert_unauthorized(stack, {"Authorization": "bearer " + token})


def test_every_token_of_a_deleted_account_stops_working(stack, key):
    password = new_password()
    account_id, first = register(stack, password)
    second = fresh_token(stack, account_id, password)
    r = delete_me(stack, first, password)
    assert r.status_code == 204, describe(r)
    assert_unauthorized(stack, bearer(first))
    assert_unauthorized(stack, bearer(second))
    # Not only the tokens seen so far: any token naming the account.
    assert_unauthorized(stack, bearer(mint(key, claims_for(account_id))))
