"""OAuth 2.1 for third-party clients (docs/oauth.md), through the API: the
metadata document, `sotto clients`, POST /oauth/authorize (what the consent
page calls), the form-encoded token endpoint with its RFC 6749 errors, codes
that are single use, short-lived and bound to client, redirect URI and PKCE
challenge, refresh rotation and reuse detection for client sessions, scopes
refused with 403, and the end of every session of a removed client. The
consent page itself is driven in Chromium by test_oauth_page.py."""
import time
import urllib.parse

import pytest

from conftest import (DEFAULT_PASSWORD, assert_error, bearer, delete_me, describe, register,
                      stack_command)
from content import community
from oauth_flow import (CODE_TTL, add_client, answer_params, assert_oauth_error, authorize,
                        code_for, exchange, pkce, token_call)
from test_dpop import ProofKey, dpop

APP = "https://app.example/oauth/cb"
APP_OTHER = "https://app.example/other-cb"


@pytest.fixture(scope="module")
def client(stack):
    return add_client(stack, "Test Reader", APP, APP_OTHER)


def issuer(st):
    return st.base_url


def tokens_for(st, client_id, scope="read", uri=APP):
    """A person's account, and the client's tokens for it: (account token, token body)."""
    _, token = register(st)
    code, verifier = code_for(st, token, client_id, uri, scope=scope)
    r = exchange(st, code, client_id, uri, verifier)
    assert r.status_code == 200, describe(r)
    return token, r.json()


# -- metadata -------------------------------------------------------------------
def test_metadata_describes_the_endpoints_pkce_and_dpop(stack):
    r = stack.get("/.well-known/oauth-authorization-server")
    assert r.status_code == 200, describe(r)
    m = r.json()
    assert m["issuer"] == issuer(stack)
    assert m["authorization_endpoint"] == issuer(stack) + "/oauth/authorize"
    assert m["token_endpoint"] == issuer(stack) + "/oauth/token"
    assert m["response_types_supported"] == ["code"]
    assert m["code_challenge_methods_supported"] == ["S256"]
    assert m["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert m["token_endpoint_auth_methods_supported"] == ["none"]
    assert m["scopes_supported"] == ["read", "write", "dm", "account"]
    assert sorted(m["dpop_signing_alg_values_supported"]) == ["ES256", "EdDSA"]
    assert m["authorization_response_iss_parameter_supported"] is True


# -- sotto clients ----------------------------------------------------------------
@pytest.mark.parametrize("uri", [
    "http://app.example/cb", "https://app.example/cb#x", "javascript:alert(1)",
    "https://user@app.example/cb", "app:/cb", "https://app.example/" + "a" * 600,
])
def test_clients_add_refuses_redirect_uris_no_client_may_use(stack, uri):
    r = stack_command(stack, ["clients", "add", "--name", "Bad", "--redirect-uri", uri])
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stdout == ""


def test_clients_add_needs_a_name_and_a_uri_and_list_shows_them(stack):
    for args in (["--name", "x"], ["--redirect-uri", APP], ["--name", "", "--redirect-uri", APP],
                 ["--name", "a\tb", "--redirect-uri", APP], ["--name", "x" * 65, "--redirect-uri", APP],
                 ["--name", "x", "--redirect-uri", APP, "--redirect-uri", APP], ["--bogus"]):
        r = stack_command(stack, ["clients", "add"] + args)
        assert r.returncode == 2, (args, r.stdout + r.stderr)
    cid = add_client(stack, "Listed Ünïcode", "com.example.app:/cb", "http://127.0.0.1:9/cb")
    r = stack_command(stack, ["clients", "list"])
    assert r.returncode == 0, r.stderr
    assert "%s\tListed Ünïcode\tcom.example.app:/cb http://127.0.0.1:9/cb" % cid in r.stdout.splitlines()
    r = stack_command(stack, ["clients", "remove", "AAAAAAAAAAAAAAAAAAAAAA"])
    assert r.returncode == 1 and "no such client" in r.stderr


# -- POST /oauth/authorize -------------------------------------------------------
def test_authorize_answers_a_redirect_with_code_state_and_iss(stack, client):
    _, token = register(stack)
    _, challenge = pkce()
    r = authorize(stack, token, client, APP, challenge, scope="read write", state="s t&=ä")
    assert r.status_code == 200, describe(r)
    p = answer_params(r.json()["redirect"], APP + "?")
    assert set(p) == {"code", "state", "iss"}
    assert p["state"] == "s t&=ä"
    assert p["iss"] == issuer(stack)
    assert len(p["code"]) == 43
    # a redirect URI with a query of its own keeps it
    cid = add_client(stack, "Query", "https://app.example/cb?tenant=7")
    r = authorize(stack, token, cid, "https://app.example/cb?tenant=7", challenge, state=None)
    assert r.status_code == 200, describe(r)
    assert r.json()["redirect"].startswith("https://app.example/cb?tenant=7&code=")
    assert "state=" not in r.json()["redirect"]


@pytest.mark.parametrize("uri", [
    APP + "/", APP.upper(), "https://app.example/oauth", APP + "?x=1", APP + "#",
    "https://app.example:443/oauth/cb", "https://evil.example/oauth/cb", "",
])
def test_authorize_refuses_a_redirect_uri_not_registered_character_for_character(
        stack, client, uri):
    _, token = register(stack)
    _, challenge = pkce()
    r = authorize(stack, token, client, uri, challenge)
    assert_error(r, 422, "invalid_field")
    assert "redirect" not in r.json()


def test_authorize_refuses_unknown_clients_and_malformed_requests(stack, client):
    _, token = register(stack)
    verifier, challenge = pkce()
    for cid in ("AAAAAAAAAAAAAAAAAAAAAA", "short", 5, None):
        r = authorize(stack, token, cid, APP, challenge)
        assert_error(r, 422, "invalid_field")
    for change in ({"code_challenge_method": "plain", "code_challenge": verifier},
                   {"code_challenge": challenge[:-1]}, {"code_challenge": None},
                   {"scope": ""}, {"scope": "admin"}, {"scope": "read read"}, {"scope": 1},
                   {"state": "x" * 513}, {"state": 7}):
        body = {"client_id": client, "redirect_uri": APP, "code_challenge": challenge,
                "code_challenge_method": "S256", "scope": "read", "state": "s"}
        body.update(change)
        body = {k: v for k, v in body.items() if v is not None}
        r = stack.request("POST", "/oauth/authorize", json=body, headers=bearer(token))
        assert_error(r, 422, "invalid_field")
    r = stack.request("POST", "/oauth/authorize", json={"client_id": client})
    assert_error(r, 401, "unauthorized")


def test_a_client_token_cannot_approve_clients_change_the_password_or_delete(stack, client):
    _, body = tokens_for(stack, client, scope="read write dm account")
    client_token = body["access_token"]
    _, challenge = pkce()
    assert_error(authorize(stack, client_token, client, APP, challenge), 403, "forbidden")
    r = stack.request("POST", "/me/password", json={"password": DEFAULT_PASSWORD,
                                                    "new_password": "another long password"},
                      headers=bearer(client_token))
    assert_error(r, 403, "forbidden")
    assert_error(delete_me(stack, client_token), 403, "forbidden")
    assert stack.get("/me", headers=bearer(client_token)).status_code == 200


# -- POST /oauth/token: the exchange ------------------------------------------------
def test_exchange_gives_a_scoped_session_that_rotates_and_lists_the_client(stack, client):
    token, body = tokens_for(stack, client, scope="read")
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert body["token_type"] == "Bearer" and body["scope"] == "read"
    assert body["expires_in"] == 900
    at = body["access_token"]
    assert stack.get("/me", headers=bearer(at)).status_code == 200
    assert stack.get("/feed", headers=bearer(at)).status_code == 200
    # beyond the scope: 403, whatever the route
    assert_error(stack.request("POST", "/posts", json={"body": "hi"}, headers=bearer(at)),
                 403, "forbidden")
    assert_error(stack.get("/me/sessions", headers=bearer(at)), 403, "forbidden")
    assert_error(stack.get("/me/export", headers=bearer(at)), 403, "forbidden")
    assert_error(stack.get("/dm/list", headers=bearer(at)), 403, "forbidden")
    assert_error(stack.get("/events", headers=bearer(at)), 403, "forbidden")
    # the person sees the client's session by its name
    items = stack.get("/me/sessions", headers=bearer(token)).json()["items"]
    assert sorted(i["client"] or "" for i in items) == ["", "Test Reader"]
    # refresh: rotation, scope kept
    r = token_call(stack, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                           "client_id": client})
    assert r.status_code == 200, describe(r)
    fresh = r.json()
    assert fresh["scope"] == "read" and fresh["refresh_token"] != body["refresh_token"]
    assert_error(stack.request("POST", "/posts", json={"body": "hi"},
                               headers=bearer(fresh["access_token"])), 403, "forbidden")
    # the old refresh token again: reuse, the whole session ends
    r = token_call(stack, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                           "client_id": client})
    assert_oauth_error(r, 400, "invalid_grant")
    for t in (at, fresh["access_token"]):
        assert_error(stack.get("/me", headers=bearer(t)), 401, "unauthorized")
    r = token_call(stack, {"grant_type": "refresh_token", "refresh_token": fresh["refresh_token"],
                           "client_id": client})
    assert_oauth_error(r, 400, "invalid_grant")


def test_scopes_open_exactly_their_routes(stack, client):
    _, body = tokens_for(stack, client, scope="write dm account")
    at = bearer(body["access_token"])
    assert_error(stack.get("/me", headers=at), 403, "forbidden")         # read
    assert stack.request("POST", "/posts", json={"body": "from an app"}, headers=at).status_code == 201
    assert stack.get("/dm/list", headers=at).status_code == 200
    assert stack.get("/me/sessions", headers=at).status_code == 200
    assert stack.request("POST", "/auth/logout", headers=at).status_code == 204
    assert_error(stack.get("/dm/list", headers=at), 401, "unauthorized")


def test_blocks_and_mutes_follow_the_scopes_and_moderating_is_first_party(stack, client):
    """Blocking and muting are writes, the block list a read; acting as a
    community's moderator is never a client's: 403 whatever its scopes,
    even for the community's own creator (whose own token may)."""
    _, reader = tokens_for(stack, client, scope="read")
    owner, writer = tokens_for(stack, client, scope="read write dm account")
    read_only, full = bearer(reader["access_token"]), bearer(writer["access_token"])
    slug = community(stack, owner)["slug"]
    assert stack.get("/blocks", headers=read_only).status_code == 200
    assert_error(stack.request("POST", "/communities/%s/mute" % slug, headers=read_only),
                 403, "forbidden")
    assert_error(stack.request("POST", "/blocks", json={"post_id": "x" * 22}, headers=read_only),
                 403, "forbidden")
    # Filing an appeal is a write.
    assert_error(stack.request("POST", "/moderation/appeals",
                               json={"appeal_id": "x" * 22, "note": "mine"}, headers=read_only),
                 403, "forbidden")
    r = stack.request("POST", "/communities/%s/mute" % slug, headers=full)
    assert r.status_code in (200, 201, 204), describe(r)
    for method, path in (("POST", "/communities/%s/moderators/invites" % slug),
                         ("GET", "/communities/%s/queue" % slug),
                         ("GET", "/communities/%s/appeals" % slug),
                         ("DELETE", "/communities/%s/moderators/me" % slug)):
        assert_error(stack.request(method, path, headers=full), 403, "forbidden")
    r = stack.request("POST", "/communities/%s/moderators/invites" % slug, headers=bearer(owner))
    assert r.status_code == 201, describe(r)


def test_a_refresh_token_presented_by_another_client_ends_its_session(stack, client):
    other = add_client(stack, "Other", APP)
    _, body = tokens_for(stack, client)
    r = token_call(stack, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                           "client_id": other})
    assert_oauth_error(r, 400, "invalid_grant")
    assert_error(stack.get("/me", headers=bearer(body["access_token"])), 401, "unauthorized")


def test_a_code_with_a_wrong_verifier_fails_and_is_spent(stack, client):
    _, token = register(stack)
    code, verifier = code_for(stack, token, client, APP)
    wrong, _ = pkce()
    assert_oauth_error(exchange(stack, code, client, APP, wrong), 400, "invalid_grant")
    assert_oauth_error(exchange(stack, code, client, APP, verifier), 400, "invalid_grant")
    # a verifier of the wrong shape is no better
    code, verifier = code_for(stack, token, client, APP)
    assert_oauth_error(exchange(stack, code, client, APP, verifier[:42]), 400, "invalid_grant")


def test_a_code_used_twice_fails_and_ends_what_the_first_use_opened(stack, client):
    _, token = register(stack)
    code, verifier = code_for(stack, token, client, APP)
    first = exchange(stack, code, client, APP, verifier)
    assert first.status_code == 200, describe(first)
    at = first.json()["access_token"]
    assert stack.get("/me", headers=bearer(at)).status_code == 200
    assert_oauth_error(exchange(stack, code, client, APP, verifier), 400, "invalid_grant")
    assert_error(stack.get("/me", headers=bearer(at)), 401, "unauthorized")
    r = token_call(stack, {"grant_type": "refresh_token", "client_id": client,
                           "refresh_token": first.json()["refresh_token"]})
    assert_oauth_error(r, 400, "invalid_grant")


def test_a_code_is_bound_to_its_redirect_uri_and_client(stack, client):
    _, token = register(stack)
    code, verifier = code_for(stack, token, client, APP)
    # another URI registered for the same client
    assert_oauth_error(exchange(stack, code, client, APP_OTHER, verifier), 400, "invalid_grant")
    code, verifier = code_for(stack, token, client, APP)
    other = add_client(stack, "Thief", APP)
    assert_oauth_error(exchange(stack, code, other, APP, verifier), 400, "invalid_grant")


def test_a_code_expires_after_60_seconds(stack, client):
    """Time is simulated: the code's Redis key (its only copy) is given the
    last millisecond of its 60 s, and the exchange waits until it is gone."""
    _, token = register(stack)
    before = set(stack.redis("KEYS", "oc:*").split())
    code, verifier = code_for(stack, token, client, APP)
    keys = set(stack.redis("KEYS", "oc:*").split()) - before
    assert len(keys) == 1, keys
    key = keys.pop()
    assert 0 < int(stack.redis("TTL", key)) <= CODE_TTL
    assert code not in key and code not in stack.redis("GET", key)
    assert stack.redis("PEXPIRE", key, "1") == "1"
    stack.wait_for(lambda: stack.redis("EXISTS", key) == "0", 10, "the code's key to expire")
    assert_oauth_error(exchange(stack, code, client, APP, verifier), 400, "invalid_grant")


# -- the token endpoint's request layer --------------------------------------------
def test_token_endpoint_takes_only_strict_forms_and_answers_rfc6749_errors(stack, client):
    r = stack.request("POST", "/oauth/token", json={"grant_type": "authorization_code"})
    assert_oauth_error(r, 415, "invalid_request")
    assert_oauth_error(token_call(stack, "grant_type=refresh_token&grant_type=authorization_code"),
                       400, "invalid_request")
    for raw in ("grant_type", "grant_type=a&&x=1", "grant_type=%zz", "a=%00", "=x"):
        assert_oauth_error(token_call(stack, raw), 400, "invalid_request")
    assert_oauth_error(token_call(stack, ""), 400, "invalid_request")
    assert_oauth_error(token_call(stack, {"grant_type": "password"}), 400,
                       "unsupported_grant_type")
    assert_oauth_error(token_call(stack, {"grant_type": "client_credentials"}), 400,
                       "unsupported_grant_type")
    for missing in ("code", "redirect_uri", "client_id", "code_verifier"):
        form = {"grant_type": "authorization_code", "code": "c" * 43, "redirect_uri": APP,
                "client_id": client, "code_verifier": "v" * 43}
        form[missing] = ""
        assert_oauth_error(token_call(stack, form), 400, "invalid_request")
    assert_oauth_error(token_call(stack, {"grant_type": "refresh_token", "client_id": client}),
                       400, "invalid_request")
    assert_oauth_error(token_call(stack, {"grant_type": "authorization_code", "code": "c" * 43,
                                          "redirect_uri": APP, "client_id": client,
                                          "code_verifier": "v" * 43}), 400, "invalid_grant")
    big = "grant_type=refresh_token&refresh_token=" + "a" * 5000
    r = token_call(stack, big)
    assert r.status_code == 413, describe(r)


# -- removing a client ---------------------------------------------------------------
def test_removing_a_client_ends_every_session_opened_through_it(stack):
    cid = add_client(stack, "Short-lived", APP)
    sessions = [tokens_for(stack, cid) for _ in range(2)]
    for _, body in sessions:
        assert stack.get("/me", headers=bearer(body["access_token"])).status_code == 200
    r = stack_command(stack, ["clients", "remove", cid])
    assert r.returncode == 0, r.stderr
    assert "2 sessions ended" in r.stdout
    for token, body in sessions:
        assert_error(stack.get("/me", headers=bearer(body["access_token"])), 401, "unauthorized")
        r = token_call(stack, {"grant_type": "refresh_token", "client_id": cid,
                               "refresh_token": body["refresh_token"]})
        assert_oauth_error(r, 400, "invalid_grant")
        # the person's own session is untouched
        assert stack.get("/me", headers=bearer(token)).status_code == 200
    assert cid not in stack_command(stack, ["clients", "list"]).stdout
    _, challenge = pkce()
    assert_error(authorize(stack, sessions[0][0], cid, APP, challenge), 422, "invalid_field")


def test_a_code_of_a_deleted_account_opens_nothing(stack, client):
    _, token = register(stack)
    code, verifier = code_for(stack, token, client, APP)
    assert delete_me(stack, token).status_code == 204
    assert_oauth_error(exchange(stack, code, client, APP, verifier), 400, "invalid_grant")


def test_consent_page_lookup_names_the_client_only_for_a_registered_uri(stack, client):
    q = "?redirect_uri=" + urllib.parse.quote(APP, safe="")
    r = stack.get("/oauth/clients/%s%s" % (client, q))
    assert r.status_code == 200, describe(r)
    assert r.json() == {"client_id": client, "name": "Test Reader"}
    r = stack.get("/oauth/clients/%s?redirect_uri=%s" % (client, urllib.parse.quote(APP + "/")))
    assert_error(r, 422, "invalid_field")
    assert_error(stack.get("/oauth/clients/%s" % client), 422, "invalid_field")
    assert_error(stack.get("/oauth/clients/AAAAAAAAAAAAAAAAAAAAAA" + q), 422, "invalid_field")
    assert_error(stack.get("/oauth/clients/bad!" + q), 404, "not_found")



# -- DPoP at the token endpoint (RFC 9449 section 5) -----------------------------
@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_a_proof_at_the_token_endpoint_binds_the_clients_session(stack, client, alg):
    key = ProofKey(alg)
    _, token = register(stack)
    code, verifier = code_for(stack, token, client, APP, scope="read account")
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": APP,
            "client_id": client, "code_verifier": verifier}
    r = token_call(stack, form, headers={"DPoP": key.proof("POST", stack.url("/oauth/token"))})
    assert r.status_code == 200, describe(r)
    body = r.json()
    assert body["token_type"] == "DPoP"
    at = body["access_token"]
    assert stack.get("/me", headers=dpop(at, key.proof("GET", stack.url("/me"), at))).status_code == 200
    assert_error(stack.get("/me", headers=bearer(at)), 401, "unauthorized")
    items = stack.get("/me/sessions", headers=dpop(at, key.proof("GET", stack.url("/me/sessions"),
                                                                 at))).json()["items"]
    assert {(i["client"], i["bound"]) for i in items} == {(None, False), ("Test Reader", True)}
    # the bound refresh token needs a proof of the same key; without one nothing changes
    refresh_form = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                    "client_id": client}
    assert_oauth_error(token_call(stack, refresh_form), 400, "invalid_dpop_proof")
    other = ProofKey(alg)
    assert_oauth_error(token_call(stack, refresh_form, headers={
        "DPoP": other.proof("POST", stack.url("/oauth/token"))}), 400, "invalid_dpop_proof")
    r = token_call(stack, refresh_form,
                   headers={"DPoP": key.proof("POST", stack.url("/oauth/token"))})
    assert r.status_code == 200, describe(r)
    assert r.json()["token_type"] == "DPoP" and r.json()["scope"] == "read account"


def test_a_bad_or_replayed_proof_at_the_token_endpoint_is_invalid_dpop_proof(stack, client):
    key = ProofKey("EdDSA")
    _, token = register(stack)
    code, verifier = code_for(stack, token, client, APP)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": APP,
            "client_id": client, "code_verifier": verifier}
    for proof in (key.proof("GET", stack.url("/oauth/token")),
                  key.proof("POST", stack.url("/auth/refresh")),
                  key.proof("POST", stack.url("/oauth/token"), iat=int(time.time()) - 600),
                  "not.a.proof"):
        assert_oauth_error(token_call(stack, form, headers={"DPoP": proof}), 400,
                           "invalid_dpop_proof")
    proof = key.proof("POST", stack.url("/oauth/token"))
    assert token_call(stack, form, headers={"DPoP": proof}).status_code == 200
    # the same proof again, with a fresh code: refused before the code is looked at
    code, verifier = code_for(stack, token, client, APP)
    form.update(code=code, code_verifier=verifier)
    assert_oauth_error(token_call(stack, form, headers={"DPoP": proof}), 400, "invalid_dpop_proof")
    assert exchange(stack, code, client, APP, verifier).status_code == 200
