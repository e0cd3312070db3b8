"""CORS (docs/api.md, "Conventions"): listed origins get CORS headers, others none.

The main stack runs with SOTTO_CORS_ORIGINS=https://app.example.
"""
from conftest import MAIN_SETTINGS, assert_standard_headers, describe

ALLOWED = MAIN_SETTINGS["SOTTO_CORS_ORIGINS"]
EVIL = "https://evil.example"
REQUIRED_HEADERS = {"authorization", "content-type", "x-pow", "x-admin-token", "dpop"}


def cors_headers(r):
    return {k: v for k, v in r.headers.items() if k.lower().startswith("access-control-")}


def split_list(v):
    return {x.strip().lower() for x in (v or "").split(",") if x.strip()}


def test_allowed_origin_gets_allow_origin_and_vary(stack):
    r = stack.get("/config", headers={"Origin": ALLOWED})
    assert r.status_code == 200, describe(r)
    assert r.headers.get("Access-Control-Allow-Origin") == ALLOWED, describe(r)
    assert "origin" in split_list(r.headers.get("Vary")), describe(r)
    # No cookies are used: credentials must not be allowed.
    assert r.headers.get("Access-Control-Allow-Credentials") is None, describe(r)


def test_allowed_origin_gets_cors_headers_on_errors_too(stack):
    r = stack.get("/no-such-route", headers={"Origin": ALLOWED})
    assert r.status_code == 404
    assert r.headers.get("Access-Control-Allow-Origin") == ALLOWED, describe(r)


def test_an_allowed_origin_may_read_the_auth_challenge(stack):
    """A browser client of bound tokens reads WWW-Authenticate (DPoP's algs)."""
    r = stack.get("/me", headers={"Origin": ALLOWED})
    assert r.status_code == 401, describe(r)
    exposed = {h.lower() for h in split_list(r.headers.get("Access-Control-Expose-Headers"))}
    assert {"www-authenticate", "x-request-id", "retry-after"} <= exposed, describe(r)


def test_other_origin_gets_no_cors_headers(stack):
    for origin in (EVIL, "https://app.example.evil.example", "http://app.example",
                   "https://app.example:444", "null"):
        r = stack.get("/config", headers={"Origin": origin})
        assert r.status_code == 200, describe(r)
        assert cors_headers(r) == {}, "%s got %r" % (origin, cors_headers(r))


def test_preflight_from_allowed_origin_is_204_with_methods_and_headers(stack):
    r = stack.request("OPTIONS", "/config", headers={
        "Origin": ALLOWED,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization, content-type, x-pow, x-admin-token, dpop",
    })
    assert r.status_code == 204, describe(r)
    assert r.content == b""
    assert r.headers.get("Access-Control-Allow-Origin") == ALLOWED, describe(r)
    methods = {m.upper() for m in split_list(r.headers.get("Access-Control-Allow-Methods"))}
    assert "GET" in methods, describe(r)
    allowed_headers = split_list(r.headers.get("Access-Control-Allow-Headers"))
    assert REQUIRED_HEADERS <= allowed_headers, describe(r)
    assert_standard_headers(r, json_body=False)


def test_preflight_for_post_route_lists_post(stack):
    r = stack.request("OPTIONS", "/pow/challenge", headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-pow"})
    assert r.status_code == 204, describe(r)
    methods = {m.upper() for m in split_list(r.headers.get("Access-Control-Allow-Methods"))}
    assert "POST" in methods, describe(r)


def test_preflight_from_other_origin_gets_no_cors_headers(stack):
    r = stack.request("OPTIONS", "/config", headers={
        "Origin": EVIL, "Access-Control-Request-Method": "GET"})
    # OPTIONS is answered for everyone (204 with Allow); only CORS is withheld.
    assert r.status_code == 204, describe(r)
    assert cors_headers(r) == {}, describe(r)
