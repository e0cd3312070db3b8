"""System routes: /health, /config, /metrics, and HTTP -> HTTPS (docs/api.md)."""
import json
import re
from urllib.parse import urlsplit

from conftest import MAIN_SETTINGS, assert_standard_headers, describe, metric_value, raw_request

POW_ACTIONS = {"register", "login", "post", "reply", "vote", "flag", "dm", "community", "group"}


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def test_health_is_200_with_db_and_redis_ok(stack):
    r = stack.get("/health")
    assert r.status_code == 200, describe(r)
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    doc = r.json()
    # The contract's three fields exactly; additional fields are allowed.
    assert {k: doc.get(k) for k in ("status", "db", "redis")} == \
        {"status": "ok", "db": "ok", "redis": "ok"}, doc
    assert_standard_headers(r)


def test_config_lists_pow_for_every_action_limits_and_features(stack):
    r = stack.get("/config")
    assert r.status_code == 200, describe(r)
    assert_standard_headers(r)
    doc = r.json()
    pow_ = doc["pow"]
    assert set(pow_) == POW_ACTIONS, pow_
    assert all(is_int(v) and 0 <= v <= 256 for v in pow_.values()), pow_
    limits = doc["limits"]
    assert is_int(limits["post_max_chars"]) and limits["post_max_chars"] > 0, limits
    assert is_int(limits["body_max_bytes"]), limits
    assert limits["group_max_members"] == 256, limits
    assert isinstance(doc["features"], dict), doc


def test_config_reflects_configured_body_limit(stack):
    doc = stack.get("/config").json()
    assert doc["limits"]["body_max_bytes"] == int(MAIN_SETTINGS["SOTTO_BODY_MAX_BYTES"]), doc


def test_config_reveals_no_secret(stack):
    text = stack.get("/config").text
    env = stack.sotto_env()
    for name in ("JWT_SECRET", "IP_HMAC_KEY", "ADMIN_REVIEW_TOKEN", "ADMIN_UI_TOKEN",
                 "DATABASE_URL", "REDIS_URL"):
        val = env.get(name, "")
        if len(val) >= 8:
            assert val not in text, "%s appears in /config" % name
    for part in env.get("CONTENT_KEYS", "").split(","):
        key = part.split(":", 1)[-1]
        if len(key) >= 8:
            assert key not in text, "a content key appears in /config"


def test_metrics_from_loopback_is_prometheus_text(stack):
    for _ in range(3):
        assert stack.get("/health").status_code == 200
    stack.get("/metrics-no-such-path")  # a 404 to count
    r = stack.get("/metrics")
    assert r.status_code == 200, describe(r)
    assert r.headers["Content-Type"].startswith("text/plain"), r.headers
    text = r.text
    # counters by route and status
    n = metric_value(text, "sotto_requests_total", {"route": "/health", "status": "200"})
    assert n is not None and n >= 3, "no sotto_requests_total for /health 200:\n" + text[:2000]
    assert re.search(r'^sotto_requests_total\{[^}]*status="404"[^}]*\}\s+[1-9]', text, re.M), \
        "404s are not counted:\n" + text[:2000]
    # a latency histogram: buckets with le, +Inf, _sum and _count
    m = re.search(r'^(sotto_[a-z_]+)_bucket\{[^}]*le="\+Inf"[^}]*\}\s+(\d+)', text, re.M)
    assert m, "no histogram with an +Inf bucket:\n" + text[:2000]
    hist = m.group(1)
    assert re.search(r"^%s_sum(\{[^}]*\})?\s+\S+" % hist, text, re.M), hist
    assert re.search(r"^%s_count(\{[^}]*\})?\s+\d+" % hist, text, re.M), hist
    assert re.search(r"^# TYPE %s histogram" % hist, text, re.M), hist
    # live workers
    alive = metric_value(text, "sotto_workers_alive")
    assert alive == int(MAIN_SETTINGS["SOTTO_WORKERS"]), "sotto_workers_alive = %r" % alive


def test_metrics_is_refused_to_other_clients(stack):
    """nginx serves /metrics to 127.0.0.1 and ::1 only; 127.0.0.2 is another client."""
    status, headers, body = raw_request(stack, "GET", "/metrics", source="127.0.0.2")
    assert status == 403, (status, headers, body[:300])
    assert b"sotto_" not in body
    doc = json.loads(body)
    assert doc["error"]["code"] == "forbidden", doc


def test_metrics_count_requests_pool_wide(stack):
    """Counters live in shared memory: every request shows, whichever worker served it."""
    def count():
        return metric_value(stack.metrics(), "sotto_requests_total",
                            {"route": "/config", "status": "200"}) or 0
    before = count()
    for _ in range(20):
        assert stack.get("/config").status_code == 200
    after = count()
    assert after - before >= 20, (before, after)


def per_worker(text, name):
    """{worker slot: value} of a per-worker gauge."""
    return {int(m.group(1)): int(m.group(2))
            for m in re.finditer(r'^%s\{worker="(\d+)"\} (-?\d+)$' % name, text, re.M)}


def test_metrics_name_each_workers_pid_and_heap(stack):
    """Every running worker's slot gives its pid, a worker of this pool, and
    its heap in use and held free (glibc's figures: zero under ASan, whose
    allocator glibc does not see), so a soak can match /proc/PID."""
    gauges = ("sotto_worker_pid", "sotto_worker_heap_bytes", "sotto_worker_heap_free_bytes")
    for _ in range(10):
        assert stack.get("/config").status_code == 200
    text = stack.metrics()
    found = {name: per_worker(text, name) for name in gauges}
    alive = metric_value(text, "sotto_workers_alive")
    assert len(found["sotto_worker_pid"]) == alive, text[-2000:]
    for name in gauges:
        assert set(found[name]) == set(found["sotto_worker_pid"]), (name, text[-2000:])
    assert sorted(found["sotto_worker_pid"].values()) == stack.worker_pids(), text[-2000:]


def test_plain_http_redirects_to_https(stack):
    r = stack.session.get(stack.http_url + "/health?x=1", allow_redirects=False)
    assert r.status_code in (301, 308), describe(r)
    loc = urlsplit(r.headers["Location"])
    assert loc.scheme == "https", r.headers["Location"]
    assert loc.path == "/health" and loc.query == "x=1", r.headers["Location"]
    # The dev stack's redirect must be followable: the HTTPS port, not 443.
    assert loc.port == stack.https_port, r.headers["Location"]
    server = r.headers.get("Server")
    assert server in (None, "nginx"), server


def test_plain_http_post_is_redirected_too(stack):
    r = stack.session.post(stack.http_url + "/health", allow_redirects=False)
    assert r.status_code in (301, 308), describe(r)
    assert urlsplit(r.headers["Location"]).scheme == "https"
