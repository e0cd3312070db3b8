"""Hostile path and query input, on every route of the route table.

The cases are generated from app/routes.c (the table the server routes
with) and from the query names the handlers read (http_query calls in
app/*.c), so a route or a query parameter added later is covered without
editing this file. The rules:

- a path parameter that does not decode to UTF-8, or is out of the shape of
  its kind ({id}, {<name>_id}: 22 base64url characters, {slug}: a community slug), names
  no resource: 404 not_found, for every method, with or without credentials;
- a query name or value that does not decode to UTF-8 is 400 bad_request,
  on every route, before anything else;
- no input of the kind ever makes the server answer 500.
"""
import os
import re
import secrets

import pytest

from conftest import assert_error, bearer, describe, register

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
APP = os.path.join(REPO, "app")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
WITH_BODY = ("POST", "PUT", "PATCH")

# Percent-encoded byte strings that are not UTF-8 (RFC 3629): a stray byte,
# a lead byte without its continuation, a truncated sequence, an overlong
# '/', a UTF-16 surrogate, a code point above U+10FFFF.
NOT_UTF8 = ("%FF%FE", "%C3%28", "ab%C3", "%C0%AF", "%ED%A0%80", "%F4%90%80%80")

# Valid UTF-8 out of shape: wrong alphabet, too short, too long, far too long.
BAD_SHAPE = {
    "id": ("A" * 21 + ".", "A" * 21 + "%2B", "A" * 21, "A" * 23, "A" * 2000,
           "%C3%A9" * 11, "..", "%2E%2E"),
    "slug": ("AB-C", "ab", "a" * 33, "a" * 2000, "abc_d", "a%20bc", "%C3%A9t%C3%A9"),
}
# {<name>_id} parameters are public ids too ({member_id} also takes "me").
BAD_SHAPE["invite_id"] = BAD_SHAPE["member_id"] = BAD_SHAPE["id"]
BAD_SHAPE["block_id"] = BAD_SHAPE["item_id"] = BAD_SHAPE["id"]
GOOD = {"id": lambda: secrets.token_urlsafe(16), "slug": lambda: "zz-%s" % secrets.token_hex(4)}

# Valid UTF-8 query values a handler must refuse (or ignore) with a 4xx.
ODD_VALUES = ("A" * 3000, "\u00e9" * 200, "-1", "0", "99999999999999999999999",
              "\u202e", "1e9", " ", "null")

ROUTE_RE = re.compile(r'\bR\(\s*(GET|POST|PUT|PATCH|DELETE),\s*"([^"]+)",\s*\w+,\s*([^,]+),')
QUERY_RE = re.compile(r'http_query\(\s*req,\s*"([^"]+)"\s*\)')


def route_table():
    """[(method, pattern, flags text)] from app/routes.c."""
    with open(os.path.join(APP, "routes.c")) as f:
        routes = ROUTE_RE.findall(f.read())
    assert len(routes) >= 30, "app/routes.c: expected the route table, found %d rows" % len(routes)
    return routes


def query_names():
    """Every query name a handler reads, plus one nobody reads."""
    names = {"unknown"}
    for name in sorted(os.listdir(APP)):
        if name.endswith(".c"):
            with open(os.path.join(APP, name)) as f:
                names.update(QUERY_RE.findall(f.read()))
    assert {"community", "cursor", "limit"} <= names, names
    return sorted(names)


ROUTES = route_table()
NAMES = query_names()
PARAM_ROUTES = sorted({p for _, p, _ in ROUTES if "{" in p})


def kinds(pattern):
    return re.findall(r"\{(\w+)\}", pattern)


def fill(pattern, override=None):
    """The pattern with each parameter a fresh value of its shape; override
    maps a parameter's position to a raw (already encoded) value."""
    out, i = [], 0
    for seg in pattern.split("/"):
        m = re.fullmatch(r"\{(\w+)\}", seg)
        if m:
            seg = (override or {}).get(i) or GOOD.get(m.group(1), GOOD["id"])()
            i += 1
        out.append(seg)
    return "/".join(out)


@pytest.fixture(scope="module")
def creds(stack):
    """Header sets to try: none, a valid bearer token, the review token, the UI token."""
    _, token = register(stack)
    env = stack.sotto_env()
    return {
        "anonymous": {},
        "bearer": bearer(token),
        "review": {"X-Admin-Token": env["ADMIN_REVIEW_TOKEN"]},
        "ui": {"X-Admin-Token": env["ADMIN_UI_TOKEN"]},
        "bearer+review": dict(bearer(token), **{"X-Admin-Token": env["ADMIN_REVIEW_TOKEN"]}),
    }


def send(st, method, path, headers):
    kw = {"headers": dict(headers), "allow_redirects": False}
    if method in WITH_BODY:
        kw["json"] = {}
    return st.request(method, path, **kw)


def assert_not_found(r):
    if r.request.method == "HEAD":
        assert r.status_code == 404, describe(r)
        assert r.content == b"", describe(r)
    else:
        assert_error(r, 404, "not_found")


def test_the_cases_cover_every_parameter_kind_of_the_table():
    """A new kind of path parameter needs a shape here (and in the router)."""
    assert PARAM_ROUTES, ROUTES
    for pattern in PARAM_ROUTES:
        for kind in kinds(pattern):
            assert kind in BAD_SHAPE, "%s: no cases for {%s}" % (pattern, kind)


@pytest.mark.parametrize("pattern", PARAM_ROUTES)
def test_path_parameter_not_utf8_is_404_for_every_method_and_credential(stack, creds, pattern):
    for pos in range(len(kinds(pattern))):
        for bad in NOT_UTF8:
            path = fill(pattern, {pos: bad})
            for method in METHODS:
                for headers in creds.values():
                    assert_not_found(send(stack, method, path, headers))


@pytest.mark.parametrize("pattern", PARAM_ROUTES)
def test_path_parameter_out_of_shape_is_404_for_every_method_and_credential(stack, creds,
                                                                           pattern):
    for pos, kind in enumerate(kinds(pattern)):
        for bad in BAD_SHAPE[kind]:
            path = fill(pattern, {pos: bad})
            for method in METHODS:
                for headers in creds.values():
                    assert_not_found(send(stack, method, path, headers))


def test_the_examples_of_the_report_are_404(stack, creds):
    for path in ("/posts/%FF%FE", "/communities/%C3%28", "/dm/%FF/messages"):
        for headers in creds.values():
            assert_error(stack.get(path, headers=headers), 404, "not_found")
    for headers in creds.values():
        assert_error(stack.get("/feed?community=%C3%28", headers=headers), 400, "bad_request")


@pytest.mark.parametrize("method,pattern", sorted({(m, p) for m, p, _ in ROUTES}))
def test_query_not_utf8_is_400_on_every_route(stack, creds, method, pattern):
    path = fill(pattern)
    for i, name in enumerate(NAMES):
        bad = NOT_UTF8[i % len(NOT_UTF8)]
        for headers in creds.values():
            r = send(stack, method, "%s?%s=%s" % (path, name, bad), headers)
            assert_error(r, 400, "bad_request")
    for bad in NOT_UTF8:
        r = send(stack, method, "%s?%s=1" % (path, bad), creds["bearer+review"])
        assert_error(r, 400, "bad_request")


@pytest.mark.parametrize("method,pattern,flags",
                         [r for r in ROUTES if r[0] == "GET" and r[1] != "/events/stream"])
def test_odd_query_values_never_answer_500(stack, creds, method, pattern, flags):
    """Values that decode fine but are too long, negative, huge or of the
    wrong alphabet reach the handlers: each answers them without a 5xx."""
    headers = creds["ui"] if "ROUTE_ADMIN_UI" in flags else creds["bearer+review"]
    path = fill(pattern)
    for name in NAMES:
        for value in ODD_VALUES:
            r = stack.request(method, path, params={name: value}, headers=headers)
            assert r.status_code < 500, describe(r)
            if r.status_code >= 400:
                assert_error(r, r.status_code, r.json()["error"]["code"])


def test_event_stream_refuses_odd_tickets_without_500(stack):
    for value in ODD_VALUES:
        r = stack.get("/events/stream", params={"ticket": value}, stream=True)
        try:
            assert 400 <= r.status_code < 500, describe(r)
        finally:
            r.close()
