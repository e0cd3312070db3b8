"""Rate limits (docs/api.md, docs/accounts.md): 429 rate_limited with Retry-After and RateLimit-*.

Every test talks from 127.0.0.1, so one IP bucket is shared by the whole
suite; this module runs its own stack whose GLOBAL class (which applies to
every route) is tiny: SOTTO_RATE_GLOBAL=5/2 (a burst of 5, then one request
per 0.4 s).
"""
import time

import pytest

from conftest import assert_error, assert_standard_headers, describe, raw_request

LIMIT, WINDOW = 5, 2


@pytest.fixture(scope="module")
def limited(make_stack):
    return make_stack("ratelimit", SOTTO_RATE_GLOBAL="%d/%d" % (LIMIT, WINDOW))


def ratelimit_headers(r):
    vals = {}
    for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        v = r.headers.get(name)
        assert v is not None and v.isdigit(), "%s missing or not an integer: %s" % (name, describe(r))
        vals[name] = int(v)
    return vals


def burst_until_429(st, path="/config", max_requests=60):
    """Requests as fast as possible until the first 429; returns (successes, the 429)."""
    ok = []
    for _ in range(max_requests):
        r = st.get(path)
        if r.status_code == 429:
            return ok, r
        assert r.status_code == 200, describe(r)
        ok.append(r)
    pytest.fail("no 429 after %d requests within a %d/%d limit" % (max_requests, LIMIT, WINDOW))


def wait_replenished(st):
    """Let the bucket fill again (polling would itself spend tokens)."""
    time.sleep(WINDOW + 0.2)


def test_successful_limited_requests_carry_ratelimit_headers(limited):
    wait_replenished(limited)
    r = limited.get("/config")
    assert r.status_code == 200, describe(r)
    h = ratelimit_headers(r)
    assert h["RateLimit-Limit"] == LIMIT, h
    assert 0 <= h["RateLimit-Remaining"] < LIMIT, h
    assert 0 <= h["RateLimit-Reset"] <= WINDOW, h


def test_exceeding_the_limit_is_429_rate_limited_with_retry_after(limited):
    wait_replenished(limited)
    ok, r = burst_until_429(limited)
    assert len(ok) >= 1, "not a single request allowed after the bucket refilled"
    assert len(ok) <= LIMIT, "%d requests allowed in a burst, limit %d" % (len(ok), LIMIT)
    remaining = [ratelimit_headers(x)["RateLimit-Remaining"] for x in ok]
    # Counts down as tokens are spent (a token may come back mid-burst on a slow machine).
    assert remaining[-1] <= remaining[0] and remaining[-1] <= 1, remaining
    assert_error(r, 429, "rate_limited")
    assert_standard_headers(r)
    retry = r.headers.get("Retry-After", "")
    assert retry.isdigit() and 1 <= int(retry) <= WINDOW, describe(r)
    h = ratelimit_headers(r)
    assert h["RateLimit-Limit"] == LIMIT, h
    assert h["RateLimit-Remaining"] == 0, h
    assert 1 <= h["RateLimit-Reset"] <= WINDOW, h


def test_request_after_retry_after_succeeds_again(limited):
    wait_replenished(limited)
    _, r = burst_until_429(limited)
    time.sleep(int(r.headers["Retry-After"]))
    r2 = limited.get("/config")
    assert r2.status_code == 200, describe(r2)


def test_limit_is_per_client_address(limited):
    """Another client (127.0.0.2) is not limited by 127.0.0.1's burst."""
    wait_replenished(limited)
    burst_until_429(limited)
    status, headers, body = raw_request(limited, "GET", "/config", source="127.0.0.2")
    assert status == 200, (status, headers, body[:300])
    assert headers.get("ratelimit-limit") == str(LIMIT), headers
