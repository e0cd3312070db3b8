"""PostgreSQL and Redis going away and coming back (docs/architecture.md, "Data"):
503 fast instead of a hang, anonymous reads fail open on Redis, writes fail
closed, and recovery without restarting sotto."""
import time

import pytest

from conftest import Stack, assert_error, assert_standard_headers, describe

PROMPT_S = 2.0
RECOVER_S = 15


def timed_get(stack, path, **kw):
    t0 = time.monotonic()
    r = stack.get(path, **kw)
    return r, time.monotonic() - t0


def assert_health(stack, db, redis):
    r, took = timed_get(stack, "/health")
    want = 200 if db == redis == "ok" else 503
    assert r.status_code == want, describe(r)
    assert took < PROMPT_S, "GET /health took %.2fs" % took
    doc = r.json()
    assert doc.get("db") == db and doc.get("redis") == redis, doc
    if want == 200:
        assert doc.get("status") == "ok", doc
    else:
        assert doc.get("status") != "ok", doc
    assert_standard_headers(r)
    return r


def wait_healthy(stack, in_a_row=6):
    """Until /health is 200 in_a_row times running, so that every worker has
    reconnected (each retries a lost connection at most every 250 ms)."""
    streak = [0]

    def ok():
        streak[0] = streak[0] + 1 if stack.get("/health").status_code == 200 else 0
        return streak[0] >= in_a_row
    Stack.wait_for(ok, RECOVER_S, "/health to be 200 again (%d in a row)" % in_a_row)


@pytest.fixture
def pg_down(stack):
    master = stack.sotto_pid()
    stack.stack("stop", "pg")
    try:
        yield master
    finally:
        stack.stack("start", "pg")
        wait_healthy(stack)


@pytest.fixture
def redis_down(stack):
    master = stack.sotto_pid()
    stack.stack("stop", "redis")
    try:
        yield master
    finally:
        stack.stack("start", "redis")
        wait_healthy(stack)


def test_database_down_health_is_503_promptly_and_recovers_without_restart(stack):
    master = stack.sotto_pid()
    workers = stack.worker_pids()
    stack.stack("stop", "pg")
    try:
        # Every worker must notice (requests spread over the pool), each promptly.
        for _ in range(6):
            r = assert_health(stack, "down", "ok")
            assert r.json()["status"] != "ok"
        r, took = timed_get(stack, "/config")
        assert r.status_code == 200, describe(r)
        assert took < PROMPT_S, took
    finally:
        stack.stack("start", "pg")
    wait_healthy(stack)
    for _ in range(6):
        assert_health(stack, "ok", "ok")
    assert stack.sotto_pid() == master, "sotto was restarted"
    assert stack.worker_pids() == workers, "workers were replaced (crashed?)"


def test_database_down_health_503_carries_retry_after(stack, pg_down):
    r = assert_health(stack, "down", "ok")
    retry = r.headers.get("Retry-After", "")
    assert retry.isdigit() and int(retry) >= 1, describe(r)


def test_database_down_routes_needing_it_are_503_unavailable_with_retry_after(stack):
    # GET /feed: an anonymous read that needs PostgreSQL.
    master = stack.sotto_pid()
    stack.stack("stop", "pg")
    try:
        for _ in range(4):
            r, took = timed_get(stack, "/feed")
            assert_error(r, 503, "unavailable")
            assert took < PROMPT_S, took
            assert r.headers.get("Retry-After", "").isdigit(), describe(r)
            assert_standard_headers(r)
    finally:
        stack.stack("start", "pg")
    wait_healthy(stack)
    Stack.wait_for(lambda: stack.get("/feed").status_code == 200, RECOVER_S, "/feed 200")
    assert stack.sotto_pid() == master


def test_redis_down_health_is_503_and_anonymous_reads_fail_open(stack, redis_down):
    for _ in range(6):
        r = assert_health(stack, "ok", "down")
        assert r.json()["status"] != "ok"
    for _ in range(6):
        r, took = timed_get(stack, "/config")
        assert r.status_code == 200, describe(r)
        assert took < PROMPT_S, took


def test_redis_restart_health_recovers_without_restarting_sotto(stack):
    master = stack.sotto_pid()
    workers = stack.worker_pids()
    stack.stack("stop", "redis")
    try:
        Stack.wait_for(lambda: stack.get("/health").status_code == 503, PROMPT_S * 2,
                       "/health 503 with Redis stopped")
    finally:
        stack.stack("start", "redis")
    wait_healthy(stack)
    for _ in range(6):
        assert_health(stack, "ok", "ok")
    assert stack.sotto_pid() == master, "sotto was restarted"
    assert stack.worker_pids() == workers, "workers were replaced (crashed?)"


def test_redis_down_writes_fail_closed_503_unavailable(stack):
    stack.stack("stop", "redis")
    try:
        for _ in range(4):
            t0 = time.monotonic()
            r = stack.request("POST", "/pow/challenge", json={"action": "post"})
            assert time.monotonic() - t0 < PROMPT_S
            assert_error(r, 503, "unavailable")
            assert r.headers.get("Retry-After", "").isdigit(), describe(r)
    finally:
        stack.stack("start", "redis")
    wait_healthy(stack)
    r = stack.request("POST", "/pow/challenge", json={"action": "post"})
    assert r.status_code == 200, describe(r)
