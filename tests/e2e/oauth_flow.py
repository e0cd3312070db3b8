"""Helpers for the OAuth tests (docs/oauth.md): registering clients with
`sotto clients`, PKCE pairs, the authorization request and the token
endpoint's form-encoded calls."""
import hashlib
import os
import re
import urllib.parse

from accounts import b64u
from conftest import bearer, describe, stack_command

CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")
CODE_TTL = 60


def add_client(st, name, *uris):
    """`sotto clients add`: the new client's id."""
    args = ["clients", "add", "--name", name]
    for u in uris:
        args += ["--redirect-uri", u]
    r = stack_command(st, args)
    assert r.returncode == 0, r.stdout + r.stderr
    client_id = r.stdout.strip()
    assert CLIENT_ID_RE.match(client_id), r.stdout
    return client_id


def pkce():
    """(verifier, S256 challenge), RFC 7636 section 4.1 and 4.2."""
    verifier = b64u(os.urandom(32))
    return verifier, b64u(hashlib.sha256(verifier.encode()).digest())


def authorize(st, token, client_id, redirect_uri, challenge, scope="read", state="xyz"):
    """POST /oauth/authorize as the consent page does: the response."""
    body = {"client_id": client_id, "redirect_uri": redirect_uri, "code_challenge": challenge,
            "code_challenge_method": "S256", "scope": scope}
    if state is not None:
        body["state"] = state
    return st.request("POST", "/oauth/authorize", json=body, headers=bearer(token))


def answer_params(redirect, redirect_uri):
    """The query parameters the client receives at redirect_uri."""
    assert redirect.startswith(redirect_uri), redirect
    q = urllib.parse.urlsplit(redirect).query
    params = urllib.parse.parse_qs(q, keep_blank_values=True, strict_parsing=True)
    assert all(len(v) == 1 for v in params.values()), redirect
    return {k: v[0] for k, v in params.items()}


def code_for(st, token, client_id, redirect_uri, scope="read"):
    """A fresh code: (code, verifier)."""
    verifier, challenge = pkce()
    r = authorize(st, token, client_id, redirect_uri, challenge, scope=scope)
    assert r.status_code == 200, describe(r)
    return answer_params(r.json()["redirect"], redirect_uri)["code"], verifier


def token_call(st, form, headers=None):
    """POST /oauth/token with form (a dict or a raw body string) and headers."""
    body = form if isinstance(form, str) else urllib.parse.urlencode(form)
    return st.request("POST", "/oauth/token", data=body.encode(),
                      headers=dict(headers or {},
                                   **{"Content-Type": "application/x-www-form-urlencoded"}))


def exchange(st, code, client_id, redirect_uri, verifier):
    return token_call(st, {"grant_type": "authorization_code", "code": code,
                           "redirect_uri": redirect_uri, "client_id": client_id,
                           "code_verifier": verifier})


def assert_oauth_error(r, status, error):
    """RFC 6749 section 5.2: {"error": error, "error_description": text}, nothing else."""
    assert r.status_code == status, describe(r)
    body = r.json()
    assert body.get("error") == error, describe(r)
    assert set(body) <= {"error", "error_description"}, describe(r)
    assert r.headers.get("Cache-Control") == "no-store", describe(r)
