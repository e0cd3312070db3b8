"""The consent page (docs/oauth.md, "The consent page"): static files served
by nginx at GET /oauth/authorize with the admin page's strict
Content-Security-Policy, driven in headless Chromium over the DevTools
protocol (tests/e2e/cdp.py). The whole flow: a client's authorization
request opens the page, the person logs in (password, or an Ed25519 key
through WebCrypto), sees the client's name and the scopes in plain words,
and allows (the browser goes to the registered redirect URI with code,
state and iss, and the code exchanges for tokens) or denies
(error=access_denied). A redirect URI that is not registered is never
visited. The approval's screenshot is oauth-consent.png in the test output
directory (tests/e2e/test_admin_page.py says where)."""
import html.parser
import os
import re
import time
import urllib.parse

import nacl.signing
import pytest

from accounts import b64u, register_key
from cdp import chromium_missing, screenshot_page
from conftest import REPO, assert_error, bearer, describe, register, skip_unless_strict
from oauth_flow import add_client, answer_params, exchange, pkce
from test_admin_page import PAGE_CSP, assert_page_headers, parse_csp

OUT_DIR = os.environ.get("SOTTO_TEST_OUTPUT") or os.path.join(REPO, "build", "test-output")
PAGE_DIR = os.path.join(REPO, "nginx", "oauth")
# Nothing listens there: the browser's navigation to it is what the test reads.
CALLBACK = "http://127.0.0.1:9/oauth/callback"
WAIT = 20
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def client(stack):
    return add_client(stack, "Photo Printer", CALLBACK)


def consent_url(st, client_id, challenge, scope="read write", state="st-42", uri=CALLBACK):
    q = urllib.parse.urlencode({"response_type": "code", "client_id": client_id,
                                "redirect_uri": uri, "code_challenge": challenge,
                                "code_challenge_method": "S256", "scope": scope,
                                "state": state})
    return st.url("/oauth/authorize?" + q)


# -- served by nginx (no browser needed) ---------------------------------------------
@pytest.mark.parametrize("path,ctype", [
    ("/oauth/authorize", "text/html"),
    ("/oauth/authorize?response_type=code&client_id=x", "text/html"),
    ("/oauth/consent.js", "application/javascript"),
    ("/oauth/consent.css", "text/css"),
])
def test_consent_page_files_are_served_with_the_admin_pages_csp(stack, path, ctype):
    r = stack.get(path)
    assert r.status_code == 200, describe(r)
    assert r.headers["Content-Type"].startswith(ctype), describe(r)
    assert_page_headers(r)
    assert parse_csp(r.headers["Content-Security-Policy"]) == PAGE_CSP


def test_post_to_the_page_reaches_the_api_and_other_oauth_paths_are_not_files(stack):
    r = stack.request("POST", "/oauth/authorize", json={})
    assert_error(r, 401, "unauthorized")
    assert_error(stack.get("/oauth/index.html"), 404, "not_found")
    assert_error(stack.get("/oauth/token"), 405, "method_not_allowed")


class Scan(html.parser.HTMLParser):
    """Inline code in the page: script bodies, event handler attributes, style."""

    def __init__(self):
        super().__init__()
        self.problems = []
        self.in_script = False

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k.startswith("on") or k == "style":
                self.problems.append("%s %s=" % (tag, k))
            if k in ("href", "src") and v and re.match(r"^\s*(javascript|data):", v, re.I):
                self.problems.append("%s %s=%s" % (tag, k, v))
        self.in_script = tag == "script"
        if tag == "style":
            self.problems.append("<style>")

    def handle_endtag(self, tag):
        self.in_script = False

    def handle_data(self, data):
        if self.in_script and data.strip():
            self.problems.append("inline script")


def test_consent_page_has_no_inline_code_and_no_unsafe_sinks():
    scan = Scan()
    with open(os.path.join(PAGE_DIR, "index.html")) as f:
        scan.feed(f.read())
    assert scan.problems == []
    with open(os.path.join(PAGE_DIR, "consent.js")) as f:
        js = f.read()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "localStorage", "sessionStorage", "document.cookie",
                 "indexedDB"):
        assert sink not in js, sink


# -- the browser -------------------------------------------------------------------
@pytest.fixture
def page(request):
    why = chromium_missing()
    if why:
        skip_unless_strict("no Chromium: %s" % why)
    shot = os.path.join(OUT_DIR, "oauth-page-%s.png" % re.sub(r"[^A-Za-z0-9_-]", "_",
                                                              request.node.name))
    with screenshot_page(os.path.join(OUT_DIR, "chromium.log"), shot) as p:
        yield p


def page_state(page):
    try:
        lines = page.evaluate("Array.from(document.querySelectorAll('.state'))"
                              ".map(e => e.id + ': ' + e.textContent)")
    except Exception as e:  # noqa: BLE001
        lines = ["(cannot read the page: %s)" % e]
    return ("page status lines:\n  %s\nconsole problems:\n  %s"
            % ("\n  ".join(lines or []), "\n  ".join(page.console_problems(True)) or "none"))


def wait(page, expression, what, timeout=WAIT):
    return page.wait_for(expression, timeout, what, describe=lambda: page_state(page))


def open_consent(page, url):
    page.navigate(url)
    wait(page, "document.getElementById('js-needed').hidden", "consent.js to start")


def callback_url(page):
    """The URL the browser was sent to at the redirect URI (nothing answers there)."""
    for method, url, _ in page.requests_sent():
        if url.startswith(CALLBACK):
            return url
    return None


def wait_for_callback(page, timeout=WAIT):
    """Pump the browser's events until it has gone to the redirect URI: that URL."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        url = callback_url(page)
        if url is not None:
            return url
        page.pump(0.1)
    raise AssertionError("the browser did not go to the redirect URI within %ss\n%s"
                         % (timeout, page_state(page)))


def test_the_whole_flow_approve_through_the_consent_page(stack, client, page):
    account_id, token = register(stack, PASSWORD)
    verifier, challenge = pkce()
    open_consent(page, consent_url(stack, client, challenge, scope="read dm"))
    wait(page, "document.getElementById('client-name').textContent === 'Photo Printer'",
         "the client's name")
    scopes = page.evaluate("Array.from(document.querySelectorAll('#scope-list li'))"
                           ".map(li => [li.dataset.scope, li.textContent])")
    assert [s for s, _ in scopes] == ["read", "dm"]
    assert all(len(words) > 20 and s not in ("", None) for s, words in scopes)
    assert page.text("#redirect-origin") == "http://127.0.0.1:9"
    page.type_text("#account-id", account_id)
    page.type_text("#password", PASSWORD)
    print("screenshot: %s" % page.screenshot(os.path.join(OUT_DIR, "oauth-consent.png")))
    # no policy violation, exception or failed request on the way here
    assert page.console_problems() == [], page.console_problems()
    page.click("#approve")
    got = wait_for_callback(page)
    p = answer_params(got, CALLBACK + "?")
    assert set(p) == {"code", "state", "iss"}
    assert p["state"] == "st-42" and p["iss"] == stack.base_url
    r = exchange(stack, p["code"], client, CALLBACK, verifier)
    assert r.status_code == 200, describe(r)
    body = r.json()
    assert body["scope"] == "read dm"
    assert stack.get("/me", headers=bearer(body["access_token"])).json()["account_id"] == account_id
    # the page's own login session ended; the person's and the client's remain
    items = stack.get("/me/sessions", headers=bearer(token)).json()["items"]
    assert sorted(i["client"] or "" for i in items) == ["", "Photo Printer"], items
    assert [m for m, u, h in page.requests_sent() if u.startswith(CALLBACK)] == ["GET"]
    # nothing of the login or the tokens was kept by the browser for our origin
    open_consent(page, stack.url("/oauth/authorize"))
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert page.evaluate("document.cookie") == ""


def test_deny_sends_access_denied_with_state_and_iss_and_issues_nothing(stack, client, page):
    _, token = register(stack, PASSWORD)
    _, challenge = pkce()
    open_consent(page, consent_url(stack, client, challenge, state="deny me"))
    wait(page, "!document.getElementById('answer').hidden", "the answer buttons")
    page.click("#deny")
    p = answer_params(wait_for_callback(page), CALLBACK + "?")
    assert p == {"error": "access_denied", "state": "deny me", "iss": stack.base_url}
    items = stack.get("/me/sessions", headers=bearer(token)).json()["items"]
    assert len(items) == 1


def test_an_ed25519_key_logs_in_through_webcrypto(stack, client, page):
    sk = nacl.signing.SigningKey.generate()
    register_key(stack, sk)
    verifier, challenge = pkce()
    open_consent(page, consent_url(stack, client, challenge, scope="read"))
    wait(page, "!document.getElementById('answer').hidden", "the answer buttons")
    page.click("#method-key")
    page.type_text("#private-key", b64u(bytes(sk)))
    page.click("#approve")
    p = answer_params(wait_for_callback(page), CALLBACK + "?")
    r = exchange(stack, p["code"], client, CALLBACK, verifier)
    assert r.status_code == 200, describe(r)
    assert stack.get("/me", headers=bearer(r.json()["access_token"])).json()["auth"] == "key"


def test_wrong_credentials_are_shown_and_nothing_is_sent_to_the_client(stack, client, page):
    account_id, _ = register(stack, PASSWORD)
    _, challenge = pkce()
    open_consent(page, consent_url(stack, client, challenge))
    wait(page, "!document.getElementById('answer').hidden", "the answer buttons")
    page.type_text("#account-id", account_id)
    page.type_text("#password", "not the password at all")
    page.click("#approve")
    wait(page, "document.getElementById('answer-state').classList.contains('error')",
         "the error")
    assert "not right" in page.text("#answer-state")
    assert callback_url(page) is None


@pytest.mark.parametrize("change", [
    {"redirect_uri": CALLBACK + "/evil"},
    {"redirect_uri": "https://evil.example/cb"},
    {"client_id": "AAAAAAAAAAAAAAAAAAAAAA"},
    {"code_challenge_method": "plain"},
    {"scope": "admin"},
    {"response_type": "token"},
])
def test_a_bad_request_is_refused_on_the_page_and_never_redirected(stack, client, page, change):
    _, challenge = pkce()
    q = {"response_type": "code", "client_id": client, "redirect_uri": CALLBACK,
         "code_challenge": challenge, "code_challenge_method": "S256", "scope": "read",
         "state": "s"}
    q.update(change)
    open_consent(page, stack.url("/oauth/authorize?" + urllib.parse.urlencode(q)))
    wait(page, "document.getElementById('request-state').classList.contains('error')",
         "the page to refuse the request")
    assert page.evaluate("document.getElementById('answer').hidden") is True
    assert not any(u.startswith(("https://evil.example", CALLBACK))
                   for _, u, _ in page.requests_sent())
