"""The admin page (docs/moderation.md, "Admin page": /admin/ in a browser), served by nginx from
nginx/admin/ with a Content-Security-Policy that allows only the page itself,
driven in headless Chromium over the DevTools protocol (tests/e2e/cdp.py):
it loads without console errors, keeps the tokens in memory only, shows and
refreshes the overview, shows API errors, and works the moderation queue
and the IP bans.

Every browser test saves a screenshot (also when it fails) under the test
output directory, printed by the test: $SOTTO_TEST_OUTPUT, default
build/test-output/ (the end-to-end flow's is admin-page.png). Chromium's own
log is chromium.log there. Without Chromium the browser tests skip, except
under CI or make check, where they fail: CI installs it
(scripts/packages-test.txt)."""
import base64
import html.parser
import json
import os
import re
import urllib.parse

import pytest

from cdp import chromium_missing, screenshot_page
from content import set_trust
from conftest import REPO, assert_error, describe, register, skip_unless_strict

OUT_DIR = os.environ.get("SOTTO_TEST_OUTPUT") or os.path.join(REPO, "build", "test-output")
PAGE_DIR = os.path.join(REPO, "nginx", "admin")
WAIT = 15            # seconds for anything the page does after a click
FLAGGERS_MAX = 20    # accounts (trust 1) flagging the flow test's post until it is queued

# The whole policy, directive by directive (nginx/sotto-locations.conf).
PAGE_CSP = {
    "default-src": ["'none'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'"],
    "connect-src": ["'self'"],
    "base-uri": ["'none'"],
    "form-action": ["'none'"],
    "frame-ancestors": ["'none'"],
}


def parse_csp(value):
    out = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def tokens(st):
    env = st.sotto_env()
    return env["ADMIN_UI_TOKEN"], env["ADMIN_REVIEW_TOKEN"]


# -- served by nginx (no browser needed) -----------------------------------------
def assert_page_headers(r):
    h = r.headers
    assert parse_csp(h.get("Content-Security-Policy", "")) == PAGE_CSP, describe(r)
    assert h.get("X-Frame-Options") == "DENY", describe(r)
    assert h.get("X-Content-Type-Options") == "nosniff", describe(r)
    assert h.get("Referrer-Policy") == "no-referrer", describe(r)
    assert h.get("Cache-Control") == "no-store", describe(r)
    assert re.search(r"max-age=\d+", h.get("Strict-Transport-Security", "")), describe(r)
    assert re.match(r"^[0-9a-f]{32}$", h.get("X-Request-Id", "")), describe(r)


@pytest.mark.parametrize("path,ctype", [
    ("/admin/", "text/html"),
    ("/admin/index.html", "text/html"),
    ("/admin/admin.js", "application/javascript"),
    ("/admin/admin.css", "text/css"),
    ("/admin/favicon.svg", "image/svg+xml"),
])
def test_admin_page_files_are_served_with_a_csp_allowing_only_the_page(stack, path, ctype):
    r = stack.get(path)
    assert r.status_code == 200, describe(r)
    assert r.headers.get("Content-Type", "").split(";")[0] == ctype, describe(r)
    assert_page_headers(r)
    name = "index.html" if path.endswith("/") else path.rsplit("/", 1)[1]
    with open(os.path.join(PAGE_DIR, name), "rb") as f:
        assert r.content == f.read(), "nginx serves another %s than nginx/admin/ has" % name


def test_admin_without_slash_redirects_and_unknown_files_are_json_404(stack):
    r = stack.get("/admin", allow_redirects=False)
    assert r.status_code == 301, describe(r)
    assert r.headers["Location"].endswith("/admin/"), describe(r)
    assert_error(stack.get("/admin/missing.js"), 404, "not_found")
    assert_error(stack.get("/admin/../sql/001_init.sql"), 404, "not_found")


class _Inline(html.parser.HTMLParser):
    """Collects what a strict CSP would block: inline scripts and styles,
    event-handler attributes, javascript: URLs."""

    def __init__(self):
        super().__init__()
        self.problems = []
        self.in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.in_script = True
            if not a.get("src"):
                self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("<style> element")
        for k, v in attrs:
            if k == "style" or k.startswith("on"):
                self.problems.append("%s attribute on <%s>" % (k, tag))
            if v and v.strip().lower().startswith("javascript:"):
                self.problems.append("javascript: URL on <%s>" % tag)

    def handle_endtag(self, tag):
        if tag == "script":
            self.in_script = False

    def handle_data(self, data):
        if self.in_script and data.strip():
            self.problems.append("script content: %r" % data[:60])


def test_admin_page_has_no_inline_code_and_no_unsafe_sinks():
    p = _Inline()
    with open(os.path.join(PAGE_DIR, "index.html")) as f:
        p.feed(f.read())
    assert p.problems == []
    with open(os.path.join(PAGE_DIR, "admin.js")) as f:
        # Code only: the comments may name what the code avoids.
        js = "\n".join(line for line in f if not line.lstrip().startswith("//"))
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "localStorage", "sessionStorage", "document.cookie",
                 "indexedDB", "location.hash", "history.pushState"):
        assert js.find(sink) < 0, "admin.js uses %s" % sink


# -- the browser -------------------------------------------------------------------
SHOT_NAMES = {
    "test_admin_page_decides_a_queued_item_and_adds_and_removes_a_ban": "admin-page.png",
}


@pytest.fixture
def page(request):
    """A fresh headless Chromium tab; a screenshot of it is saved at teardown,
    whatever the outcome."""
    why = chromium_missing()
    if why:
        skip_unless_strict("no Chromium: %s" % why)
    name = request.node.name
    shot = os.path.join(OUT_DIR, SHOT_NAMES.get(name, "admin-page-%s.png"
                                                % re.sub(r"[^A-Za-z0-9_-]", "_", name)))
    print("test output directory: %s" % OUT_DIR)
    with screenshot_page(os.path.join(OUT_DIR, "chromium.log"), shot) as p:
        yield p


def page_state(page):
    """The page's status lines and console problems, for failure messages."""
    try:
        lines = page.evaluate(
            "Array.from(document.querySelectorAll('.state')).map(e =>"
            " (e.id || ('item ' + (e.closest('[data-item-id]') || {dataset: {}}).dataset.itemId))"
            " + ': ' + e.textContent)")
    except Exception as e:  # noqa: BLE001
        lines = ["(cannot read the page: %s)" % e]
    return ("page status lines:\n  %s\nconsole problems:\n  %s"
            % ("\n  ".join(lines or []), "\n  ".join(page.console_problems(True)) or "none"))


def wait(page, expression, what, timeout=WAIT, extra=None):
    def describe():
        return page_state(page) + ("\n" + extra() if extra else "")
    return page.wait_for(expression, timeout, what, describe=describe)


def open_page(page, st):
    page.navigate(st.url("/admin/"))
    wait(page, "document.getElementById('js-needed').hidden", "admin.js to start")


def use_tokens(page, ui=None, review=None):
    if ui is not None:
        page.type_text("#ui-token", ui)
    if review is not None:
        page.type_text("#review-token", review)
    page.click("#token-use")


def set_refresh(page, seconds):
    page.evaluate("(() => { const s = document.getElementById('refresh-every');"
                  " s.value = '%d'; s.dispatchEvent(new Event('change')); })()" % seconds)


def refreshes(page):
    return int(page.evaluate("document.getElementById('overview').dataset.refreshes"))


def status_count(page, code):
    return page.evaluate(
        "(() => { for (const tr of document.querySelectorAll('#ov-status tbody tr'))"
        " if (tr.cells[0].textContent === '%s') return Number(tr.cells[1].textContent);"
        " return 0; })()" % code)


def test_admin_page_loads_without_console_errors_and_refreshes_the_overview(stack, page):
    ui, _ = tokens(stack)
    open_page(page, stack)
    assert page.text("#overview-state").startswith("Enter the UI token")
    use_tokens(page, ui=ui)
    set_refresh(page, 2)
    wait(page, "document.getElementById('overview').dataset.refreshes >= 1",
         "the first overview")
    assert page.text("#ov-workers") == "2 / 2", page_state(page)
    assert re.match(r"^\d+\.\d\d? ms$", page.text("#ov-p50")), page_state(page)
    assert re.match(r"^\d+\.\d\d? ms$", page.text("#ov-p95")), page_state(page)
    assert re.match(r"^\d+ of 500$", page.text("#ov-window")), page_state(page)
    assert re.match(r"^\d+$", page.text("#ov-pending")), page_state(page)
    assert status_count(page, "200") >= 1, page_state(page)

    # New traffic shows up on a later refresh, without touching the page.
    before, n = status_count(page, "404"), refreshes(page)
    for i in range(5):
        assert stack.get("/admin-page-missing-%d" % i).status_code == 404
    wait(page, "document.getElementById('overview').dataset.refreshes >= %d" % (n + 2),
         "two more refreshes (every 2 s)", timeout=10)
    assert status_count(page, "404") >= before + 5, page_state(page)
    assert "Updated at" in page.text("#overview-state"), page_state(page)
    assert page.console_problems() == [], page_state(page)


def test_admin_page_keeps_the_tokens_in_memory_only(stack, page):
    ui, review = tokens(stack)
    open_page(page, stack)
    use_tokens(page, ui=ui, review=review)
    wait(page, "document.getElementById('overview').dataset.refreshes >= 1", "the overview")
    page.pump(0.5)  # let the queue and ban requests go out too

    assert page.evaluate("document.getElementById('ui-token').value") == ""
    assert page.evaluate("document.getElementById('review-token').value") == ""
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("location.href") == stack.url("/admin/")
    assert "UI token: set" in page.text("#token-state"), page_state(page)

    sent = [(m, u, {k.lower(): v for k, v in h.items()}) for m, u, h in page.requests_sent()]
    for m, u, h in sent:
        assert ui not in u and review not in u, "a token in a URL: %s %s" % (m, u)
    api = [(m, u, h) for m, u, h in sent
           if not re.match(r"^/admin/([\w.-]+\.\w+)?$", urllib.parse.urlsplit(u).path)]
    overview = [h for m, u, h in api if urllib.parse.urlsplit(u).path == "/admin/overview"]
    assert overview and all(h.get("x-admin-token") == ui for h in overview), api
    moderation = [(u, h) for m, u, h in api if "/moderation/" in u]
    assert moderation and all(h.get("x-admin-token") == review for u, h in moderation), api

    # Forgetting stops the refreshes and clears what was shown.
    page.click("#token-forget")
    page.pump(0.5)
    n = refreshes(page)
    set_refresh(page, 2)
    page.pump(4.5)
    assert refreshes(page) == n, page_state(page)
    assert page.text("#ov-workers") == "–", page_state(page)
    assert "UI token: not set" in page.text("#token-state"), page_state(page)

    # A reload starts with no token at all.
    page.navigate(stack.url("/admin/"))
    assert page.text("#token-state") == "No tokens yet.", page_state(page)


def test_admin_page_shows_rejected_tokens_as_errors(stack, page):
    ui, review = tokens(stack)
    open_page(page, stack)
    use_tokens(page, ui="x" * len(ui), review=ui)  # a wrong one, and the other kind
    wait(page, "document.getElementById('overview-state').textContent"
         ".includes('401 unauthorized')", "the overview's 401 on the page")
    wait(page, "document.getElementById('queue-state').textContent"
         ".includes('401 unauthorized')", "the queue's 401 on the page")
    assert page.text("#overview-state").startswith("UI token rejected: 401 unauthorized"), \
        page_state(page)
    assert page.text("#queue-state").startswith("Review token rejected: 401 unauthorized"), \
        page_state(page)
    assert "UI token: not set" in page.text("#token-state"), page_state(page)
    assert "review token: not set" in page.text("#token-state"), page_state(page)
    # The browser logs the 401 answers themselves; nothing else may appear.
    assert page.console_problems(allow_http_errors=True) == [], page_state(page)

    # The right tokens afterwards work.
    use_tokens(page, ui=ui, review=review)
    wait(page, "document.getElementById('overview').dataset.refreshes >= 1", "the overview")


# -- the queue and bans against the contract (canned moderation API) ----------------
HOSTILE = '<img src=x onerror="document.title=\'pwned\'"> & <b>not bold</b>\nsecond line'
HOSTILE_NOTE = 'spam ring <img src=x onerror="document.title=\'pwned\'"> <b>x</b>'


class FakeModeration:
    """Answers the page's /moderation/* requests in the browser (CDP Fetch
    interception) the way the contract (docs/openapi.yaml) says, and records
    them, so the queue and ban UI can be checked whatever the server has."""

    def __init__(self, page, review):
        self.page = page
        self.review = review
        self.seen = []      # (method, path, query dict, headers lower-case, body or None)
        post = {"id": "P" * 22, "body": HOSTILE, "day": 20400, "score": -3, "reply_count": 0,
                "community": None, "parent_id": None, "mine": False, "my_vote": 0}
        self.items = [
            {"id": "A" * 22, "post": post, "source": "flag", "flag_count": 3,
             "reasons": {"spam": 2, "hate": 1}, "auto_score": None, "status": "pending",
             "day": 20410, "note": None},
            {"id": "B" * 22, "post": dict(post, id="Q" * 22, body="held by the classifier"),
             "source": "auto", "flag_count": 0, "reasons": {}, "auto_score": 0.93,
             "status": "pending", "day": 20411, "note": None},
        ]
        self.bans = [{"ban_id": "C" * 22, "prefix": "192.0.2.0/24", "reason": "<i>old</i>",
                      "day": 20400, "expires_day": None}]
        page.on("Fetch.requestPaused", self.answer)
        page.call("Fetch.enable", patterns=[{"urlPattern": "*/moderation/*",
                                              "requestStage": "Request"}])

    def log(self):
        return "requests the fake moderation API answered:\n  " + "\n  ".join(
            "%s %s %s %s" % (m, p, q, body) for m, p, q, h, body in self.seen)

    def reply(self, request_id, status, doc=None):
        body = b"" if doc is None else json.dumps(doc).encode()
        self.page.send("Fetch.fulfillRequest", requestId=request_id, responseCode=status,
                       responseHeaders=[{"name": "Content-Type", "value": "application/json"},
                                        {"name": "Cache-Control", "value": "no-store"}],
                       body=base64.b64encode(body).decode())

    @staticmethod
    def error(code, message):
        return {"error": {"code": code, "message": message}}

    def answer(self, ev):
        req = ev["request"]
        u = urllib.parse.urlsplit(req["url"])
        q = dict(urllib.parse.parse_qsl(u.query))
        headers = {k.lower(): v for k, v in req.get("headers", {}).items()}
        body = json.loads(req["postData"]) if req.get("postData") else None
        self.seen.append((req["method"], u.path, q, headers, body))
        rid = ev["requestId"]
        if headers.get("x-admin-token") != self.review:
            return self.reply(rid, 401, self.error("unauthorized", "invalid admin token"))
        m, path = req["method"], u.path
        if m == "GET" and path == "/moderation/queue":
            want = q.get("status", "pending")
            shown = [i for i in self.items if (i["status"] == "pending") == (want == "pending")]
            return self.reply(rid, 200, {"items": shown, "next_cursor": None})
        d = re.match(r"^/moderation/queue/([^/]+)/decision$", path)
        if m == "POST" and d:
            item = next((i for i in self.items if i["id"] == d.group(1)), None)
            if item is None:
                return self.reply(rid, 404, self.error("not_found", "no such item"))
            if item["id"] == "B" * 22 or item["status"] != "pending":
                return self.reply(rid, 409, self.error("conflict", "already decided"))
            item["status"] = "removed" if body["decision"] == "remove" else "kept"
            item["note"] = body.get("note")
            return self.reply(rid, 200, {"id": item["id"], "status": item["status"]})
        if m == "GET" and path == "/moderation/bans":
            return self.reply(rid, 200, {"items": self.bans, "next_cursor": None})
        if m == "POST" and path == "/moderation/ban/ip":
            if not re.match(r"^\d+\.\d+\.\d+\.\d+$", q.get("ip", "")):
                return self.reply(rid, 422, self.error("invalid_field", "ip: not an IP address"))
            ban = {"ban_id": "D" * 22, "prefix": q["ip"].rsplit(".", 1)[0] + ".0/24",
                   "reason": q.get("reason", ""), "day": 20414,
                   "expires_day": 20414 + int(q["days"]) if "days" in q else None}
            self.bans.append(ban)
            return self.reply(rid, 201, {k: ban[k] for k in ("ban_id", "prefix", "expires_day")})
        b = re.match(r"^/moderation/bans/([^/]+)$", path)
        if m == "DELETE" and b:
            before = len(self.bans)
            self.bans = [x for x in self.bans if x["ban_id"] != b.group(1)]
            if len(self.bans) == before:
                return self.reply(rid, 404, self.error("not_found", "no such ban"))
            return self.reply(rid, 204)
        return self.reply(rid, 404, self.error("not_found", "no such route"))


def item_sel(item_id):
    return "#queue-list li[data-item-id='%s']" % item_id


def test_admin_page_works_the_queue_and_bans_as_the_contract_says(stack, page):
    ui, review = tokens(stack)
    fake = FakeModeration(page, review)
    open_page(page, stack)
    use_tokens(page, ui=ui, review=review)
    a, b = fake.items[0]["id"], fake.items[1]["id"]
    wait(page, "document.querySelectorAll('#queue-list li').length === 2", "two queued items")

    # User text is text: shown verbatim, never markup.
    assert page.text(item_sel(a) + " .post-body") == HOSTILE, page_state(page)
    assert page.evaluate("document.querySelectorAll('#queue-list img, #queue-list b').length") == 0
    assert page.evaluate("document.title") == "sotto admin"
    meta = page.text(item_sel(a) + " .meta")
    assert "P" * 22 in meta and "source: flag" in meta and "flags: 3" in meta, meta
    assert page.text(item_sel(a) + " .reasons") == "Reasons: spam ×2, hate ×1"
    assert "auto score: 0.93" in page.text(item_sel(b) + " .meta")
    assert page.evaluate("document.querySelector(\"label[for='\" + document.querySelector("
                         "%s).id + \"']\").textContent" % json.dumps(item_sel(a) + " input.note")) \
        == "Note (optional)"

    # Remove with a note: it shows, as text, among the recent decisions.
    page.type_text(item_sel(a) + " input.note", HOSTILE_NOTE)
    page.click(item_sel(a) + " button.remove")
    wait(page, "document.querySelector(%s).textContent.startsWith('Removed')"
         % json.dumps(item_sel(a) + " .item-state"), "the removal to be confirmed",
         extra=fake.log)
    decisions = [(p, body) for m, p, q, h, body in fake.seen if p.endswith("/decision")]
    assert decisions == [("/moderation/queue/%s/decision" % a,
                          {"decision": "remove", "note": HOSTILE_NOTE})], fake.seen
    decided = "#decided-list tr[data-item-id='%s']" % a
    wait(page, "document.querySelector(%s)" % json.dumps(decided), "the decision in the list",
         extra=fake.log)
    assert page.text(decided + " td:nth-child(2)") == "removed"
    assert page.text(decided + " td:nth-child(4)") == HOSTILE_NOTE
    assert page.evaluate("document.querySelectorAll('#decided-list img, #decided-list b').length") == 0

    # A conflict is shown, not thrown.
    page.click(item_sel(b) + " button.keep")
    wait(page, "document.querySelector(%s).textContent.includes('409 conflict')"
         % json.dumps(item_sel(b) + " .item-state"), "the 409 on the item")
    assert page.text(item_sel(b) + " .item-state") == \
        "Already decided: 409 conflict: already decided", page_state(page)
    assert fake.seen[-1][4] == {"decision": "keep"}, fake.seen[-1]

    # Bans: the list, a refused ban, a ban, its removal.
    wait(page, "document.querySelector(\"#ban-list tr[data-prefix='192.0.2.0/24']\")",
         "the existing ban in the list")
    assert page.text("#ban-list tr[data-prefix='192.0.2.0/24'] td:nth-child(2)") == "<i>old</i>"
    page.type_text("#ban-ip", "not-an-ip")
    page.click("#ban-add")
    wait(page, "document.getElementById('bans-state').textContent.includes('422')",
         "the 422 on the page")
    assert page.text("#bans-state") == "Ban failed: 422 invalid_field: ip: not an IP address"

    page.type_text("#ban-ip", "198.51.100.23")
    page.type_text("#ban-reason", "spam wave")
    page.type_text("#ban-days", "7")
    page.click("#ban-add")
    wait(page, "document.querySelector(\"#ban-list tr[data-prefix='198.51.100.0/24']\")",
         "the new ban in the list")
    posted = [q for m, p, q, h, body in fake.seen if p == "/moderation/ban/ip"]
    assert posted[-1] == {"ip": "198.51.100.23", "reason": "spam wave", "days": "7"}, posted
    assert page.text("#bans-state").startswith("Banned 198.51.100.0/24 until "), page_state(page)
    assert page.evaluate("document.getElementById('ban-ip').value") == ""

    page.click("#ban-list tr[data-prefix='198.51.100.0/24'] button")
    wait(page, "!document.querySelector(\"#ban-list tr[data-prefix='198.51.100.0/24']\")",
         "the ban to leave the list")
    assert ("DELETE", "/moderation/bans/" + "D" * 22) in [(m, p) for m, p, *_ in fake.seen]
    assert page.text("#bans-state") == "Removed the ban on 198.51.100.0/24.", page_state(page)

    # The next queue refresh drops the decided item.
    page.click("#queue-reload")
    page.pump(0.5)
    page.click("#queue-reload")
    wait(page, "!document.querySelector(%s)" % json.dumps(item_sel(a)), "the decided item to go")
    for m, p, q, h, body in fake.seen:
        assert h.get("x-admin-token") == review, (m, p)
    assert page.console_problems(allow_http_errors=True) == [], page_state(page)


# -- the whole flow against the real server -------------------------------------------
def queue_items(st, review, status):
    items, cursor = [], None
    for _ in range(50):
        params = {"status": status, "limit": 100}
        if cursor:
            params["cursor"] = cursor
        r = st.get("/moderation/queue", params=params, headers={"X-Admin-Token": review})
        assert r.status_code == 200, describe(r)
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return items
    raise AssertionError("the %s queue did not end within 50 pages" % status)


def active_bans(st, review):
    r = st.get("/moderation/bans", params={"limit": 100}, headers={"X-Admin-Token": review})
    assert r.status_code == 200, describe(r)
    return r.json()["items"]


def queue_a_post(st, review, author=None):
    """A new post (of author, a token; default a new account) flagged by new,
    fully trusted accounts until it is in the pending queue: (post, item)."""
    if author is None:
        _, author = register(st)
    body = "admin page test post %s <b>stays text</b>" % os.urandom(6).hex()
    r = st.request("POST", "/posts", json={"body": body},
                   headers={"Authorization": "Bearer " + author})
    assert r.status_code == 201, describe(r)
    post = r.json()["post"]
    for _ in range(FLAGGERS_MAX):
        flagger_id, flagger = register(st)
        set_trust(st, flagger_id, 1.0)  # flags weigh by the flagger's trust
        r = st.request("POST", "/moderation/flag", json={"post_id": post["id"], "reason": "spam"},
                       headers={"Authorization": "Bearer " + flagger})
        assert r.status_code == 202, describe(r)
        for item in queue_items(st, review, "pending"):
            if item["post"]["id"] == post["id"]:
                return post, item
    raise AssertionError("post %s not in the pending queue after %d flags"
                         % (post["id"], FLAGGERS_MAX))


def test_admin_page_decides_a_queued_item_and_adds_and_removes_a_ban(stack, page):
    ui, review = tokens(stack)
    post, item = queue_a_post(stack, review)

    open_page(page, stack)
    use_tokens(page, ui=ui, review=review)
    wait(page, "document.getElementById('overview').dataset.refreshes >= 1", "the overview")
    wait(page, "document.getElementById('queue-state').classList.contains('ok')",
         "the first page of the queue")
    # Other tests' items may come first: page on until ours shows.
    for _ in range(50):
        if page.evaluate("!!document.querySelector(%s)" % json.dumps(item_sel(item["id"]))):
            break
        if page.evaluate("document.getElementById('queue-more').hidden"):
            break
        n = page.evaluate("document.querySelectorAll('#queue-list li').length")
        page.click("#queue-more")
        wait(page, "document.querySelectorAll('#queue-list li').length > %d" % n,
             "the next page of the queue")
    wait(page, "document.querySelector(%s)" % json.dumps(item_sel(item["id"])),
         "the queued post on the page")
    assert page.text(item_sel(item["id"]) + " .post-body") == post["body"], page_state(page)
    assert int(page.text("#ov-pending")) >= 1, page_state(page)

    page.type_text(item_sel(item["id"]) + " input.note", "spam, removed by the page test")
    page.click(item_sel(item["id"]) + " button.remove")
    wait(page, "document.querySelector(%s).textContent.startsWith('Removed')"
         % json.dumps(item_sel(item["id"]) + " .item-state"), "the removal to be confirmed")
    assert item["id"] not in [i["id"] for i in queue_items(stack, review, "pending")]
    decided = [i for i in queue_items(stack, review, "decided") if i["id"] == item["id"]]
    assert [i["note"] for i in decided] == ["spam, removed by the page test"], decided
    row = "#decided-list tr[data-item-id='%s']" % item["id"]
    wait(page, "document.querySelector(%s)" % json.dumps(row), "the decision with its note")
    assert page.text(row + " td:nth-child(4)") == "spam, removed by the page test", page_state(page)

    ip = "198.51.100.%d" % (os.urandom(1)[0] % 250 + 1)
    reason = "page test %s" % os.urandom(4).hex()
    row = "#ban-list tr[data-prefix='198.51.100.0/24']"
    page.type_text("#ban-ip", ip)
    page.type_text("#ban-reason", reason)
    page.type_text("#ban-days", "2")
    page.click("#ban-add")
    wait(page, "document.querySelector(%s)" % json.dumps(row), "the new ban in the list")
    assert page.text(row + " td:nth-child(2)") == reason, page_state(page)
    ours = [b for b in active_bans(stack, review) if b["reason"] == reason]
    assert len(ours) == 1 and ours[0]["prefix"] == "198.51.100.0/24", ours

    page.click(row + " button")
    wait(page, "!document.querySelector(%s)" % json.dumps(row), "the ban to leave the list")
    assert not [b for b in active_bans(stack, review) if b["reason"] == reason]
    wait(page, "document.getElementById('bans-state').textContent.startsWith('Removed')",
         "the removal message")

    # An IPv6 ban of a wider prefix: a length outside 48..64 is refused by
    # the form itself, 52 is sent and comes back as the /52.
    page.type_text("#ban-ip", "2001:db8:abcd:ef12::1")
    page.type_text("#ban-reason", reason)
    page.type_text("#ban-prefix", "47")
    assert page.evaluate("document.getElementById('ban-prefix').validity.rangeUnderflow")
    page.click("#ban-add")
    page.pump(0.5)
    assert not [b for b in active_bans(stack, review) if b["reason"] == reason]
    page.type_text("#ban-prefix", "52")
    page.click("#ban-add")
    row = "#ban-list tr[data-prefix='2001:db8:abcd:e000::/52']"
    wait(page, "document.querySelector(%s)" % json.dumps(row), "the /52 ban in the list")
    ours = [b for b in active_bans(stack, review) if b["reason"] == reason]
    assert [b["prefix"] for b in ours] == ["2001:db8:abcd:e000::/52"], ours
    page.click(row + " button")
    wait(page, "!document.querySelector(%s)" % json.dumps(row), "the /52 ban to leave the list")
    assert not [b for b in active_bans(stack, review) if b["reason"] == reason]
    assert page.console_problems() == [], page_state(page)


def appeal_sel(appeal_id):
    return "#appeal-list li[data-appeal-id='%s']" % appeal_id


def appealed_post(st, review):
    """A post removed through the queue and appealed by its author: (post, appeal_id)."""
    _, author = register(st)
    post, item = queue_a_post(st, review, author)
    r = st.request("POST", "/moderation/queue/%s/decision" % item["id"],
                   json={"decision": "remove"}, headers={"X-Admin-Token": review})
    assert r.status_code == 200, describe(r)
    rows = st.psql("SELECT a.id FROM mod_appeals a JOIN posts p ON p.pk = a.post_pk "
                   "WHERE p.id = '%s'" % post["id"])
    assert len(rows) == 1, rows
    appeal_id = rows[0][0]
    r = st.request("POST", "/moderation/appeals",
                   json={"appeal_id": appeal_id, "note": "not spam <i>really</i>"},
                   headers={"Authorization": "Bearer " + author})
    assert r.status_code == 201, describe(r)
    return post, appeal_id


def test_admin_page_shows_and_decides_instance_appeals(stack, page):
    ui, review = tokens(stack)
    kept, kept_id = appealed_post(stack, review)
    upheld, upheld_id = appealed_post(stack, review)

    open_page(page, stack)
    use_tokens(page, ui=ui, review=review)
    for appeal_id in (kept_id, upheld_id):
        wait(page, "document.querySelector(%s)" % json.dumps(appeal_sel(appeal_id)),
             "the appeal on the page")
    # The post and the author's note, as text.
    assert page.text(appeal_sel(kept_id) + " .post-body") == kept["body"], page_state(page)
    assert page.text(appeal_sel(kept_id) + " .appeal-note") == \
        "Author's note: not spam <i>really</i>", page_state(page)

    page.click(appeal_sel(kept_id) + " button.reverse")
    wait(page, "document.querySelector(%s).textContent.startsWith('Reversed')"
         % json.dumps(appeal_sel(kept_id) + " .item-state"), "the reversal to be confirmed")
    assert stack.get("/posts/%s" % kept["id"]).status_code == 200
    page.click(appeal_sel(upheld_id) + " button.uphold")
    wait(page, "document.querySelector(%s).textContent.startsWith('Upheld')"
         % json.dumps(appeal_sel(upheld_id) + " .item-state"), "the uphold to be confirmed")
    assert stack.get("/posts/%s" % upheld["id"]).status_code == 404
    r = stack.get("/moderation/appeals", params={"status": "decided", "limit": 100},
                  headers={"X-Admin-Token": review})
    decided = {a["id"]: a["status"] for a in r.json()["items"]}
    assert decided.get(kept_id) == "reversed" and decided.get(upheld_id) == "upheld", decided
    assert page.console_problems() == [], page_state(page)
