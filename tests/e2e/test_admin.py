"""The admin overview (docs/moderation.md, "Admin page"): GET /admin/overview with the UI token
(X-Admin-Token = ADMIN_UI_TOKEN): latency percentiles and status counts of the
whole worker pool (shared memory), the moderation and ban summaries, and the
workers; 401 for a missing, wrong or other-kind token; 404 when
ADMIN_UI_TOKEN is empty."""
import concurrent.futures
import re

import pytest

from conftest import (MAIN_SETTINGS, assert_error, assert_standard_headers, bearer, describe,
                      register)

OVERVIEW = "/admin/overview"
OVERVIEW_KEYS = {"latency_ms", "status_counts", "moderation_pending", "recent_flags",
                 "bans", "workers"}
WORKERS = int(MAIN_SETTINGS["SOTTO_WORKERS"])


def ui_token(st):
    return st.sotto_env()["ADMIN_UI_TOKEN"]


def review_token(st):
    return st.sotto_env()["ADMIN_REVIEW_TOKEN"]


def overview(st, token=None, headers=None):
    h = dict(headers or {})
    if token is not None:
        h["X-Admin-Token"] = token
    return st.get(OVERVIEW, headers=h)


def overview_ok(st):
    r = overview(st, ui_token(st))
    assert r.status_code == 200, describe(r)
    return r.json()


def is_count(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


# -- success -----------------------------------------------------------------------
def test_overview_with_the_ui_token_is_200_with_every_section(stack):
    stack.get("/health")  # at least one request in the ring
    r = overview(stack, ui_token(stack))
    assert r.status_code == 200, describe(r)
    assert_standard_headers(r)
    doc = r.json()
    assert OVERVIEW_KEYS <= set(doc), doc

    lat = doc["latency_ms"]
    assert lat["window"] == 500, lat
    for k in ("p50", "p95"):
        assert isinstance(lat[k], (int, float)) and not isinstance(lat[k], bool), lat
        assert 0 <= lat[k] < 60000, lat
    assert lat["p50"] <= lat["p95"], lat
    assert is_count(lat["samples"]) and 1 <= lat["samples"] <= 500, lat

    counts = doc["status_counts"]
    assert isinstance(counts, dict) and counts, doc
    for code, n in counts.items():
        assert code == "other" or (code.isdigit() and len(code) == 3), counts
        assert is_count(n) and n > 0, counts
    assert counts.get("200", 0) >= 1, counts

    assert is_count(doc["moderation_pending"]), doc
    assert isinstance(doc["recent_flags"], list), doc
    assert isinstance(doc["bans"], list), doc
    assert doc["workers"] == {"configured": WORKERS, "alive": WORKERS}, doc


def test_overview_carries_no_identity_or_address(stack):
    """Nothing in the overview names an account or a client address."""
    account_id, _ = register(stack)
    text = overview(stack, ui_token(stack)).text
    assert account_id not in text
    assert "127.0.0.1" not in text


# -- the whole pool ------------------------------------------------------------------
def test_overview_counts_and_latency_cover_the_whole_pool(stack):
    """Requests served by both workers all show up, whichever worker answers:
    with counts per worker each answer would see only its own share."""
    n = 120
    before = overview_ok(stack)["status_counts"].get("404", 0)

    def miss(i):
        return stack.session.get(stack.url("/admin-test-missing-%d" % i)).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
        statuses = list(ex.map(miss, range(n)))
    assert statuses == [404] * n, statuses

    for _ in range(8):  # several answers, from either worker
        doc = overview_ok(stack)
        got = doc["status_counts"].get("404", 0) - before
        assert got >= n, "overview saw %d of the %d new 404s: %s" % (got, n, doc)
        assert doc["latency_ms"]["samples"] >= min(500, n), doc["latency_ms"]
    assert doc["workers"]["alive"] == WORKERS, doc


def test_overview_status_counts_match_metrics(stack):
    """The overview and /metrics read the same shared counters."""
    doc = overview_ok(stack)
    text = stack.metrics()
    total = 0
    # route labels hold braces ("/posts/{id}"): match up to the status label
    for m in re.finditer(r'^sotto_requests_total\{.*,status="404"\} (\d+)$', text, re.M):
        total += int(m.group(1))
    # Requests between the two reads can only add.
    assert total >= doc["status_counts"].get("404", 0) > 0, (total, doc["status_counts"])


# -- tokens ----------------------------------------------------------------------------
def test_overview_without_a_token_is_401(stack):
    assert_error(overview(stack), 401, "unauthorized")


def test_overview_with_an_empty_token_is_401(stack):
    assert_error(overview(stack, ""), 401, "unauthorized")


def test_overview_with_a_wrong_token_is_401(stack):
    good = ui_token(stack)
    wrong = ("0" if good[0] != "0" else "1") + good[1:]
    assert_error(overview(stack, wrong), 401, "unauthorized")
    assert_error(overview(stack, good + "0"), 401, "unauthorized")
    assert_error(overview(stack, good[:-1]), 401, "unauthorized")


def test_overview_with_the_review_token_is_401(stack):
    assert_error(overview(stack, review_token(stack)), 401, "unauthorized")


def test_overview_with_a_bearer_token_is_401(stack):
    _, token = register(stack)
    assert_error(overview(stack, headers=bearer(token)), 401, "unauthorized")


def test_overview_answers_get_only(stack):
    r = stack.request("POST", OVERVIEW, headers={"X-Admin-Token": ui_token(stack)})
    assert_error(r, 405, "method_not_allowed")
    assert "GET" in r.headers.get("Allow", ""), describe(r)


# -- disabled ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def no_ui_stack(make_stack):
    return make_stack("noui", ADMIN_UI_TOKEN="")


def test_overview_is_404_when_the_ui_token_is_empty(no_ui_stack):
    st = no_ui_stack
    assert st.sotto_env()["ADMIN_UI_TOKEN"] != "", "the env file keeps its generated token"
    for token in (None, "", st.sotto_env()["ADMIN_UI_TOKEN"], review_token(st)):
        assert_error(overview(st, token), 404, "not_found")
