"""Logs: one JSON object per line from sotto, and no client IP, token,
password or content in any log the stack keeps (sotto, nginx, PostgreSQL,
Redis)."""
import json
import os
import time

from conftest import raw_request

CLIENT = "127.0.0.2"          # a loopback address no configuration mentions
BEARER = "tok-" + "Z" * 40    # looks like a credential; must never be logged
ADMIN = "adm-" + "Q" * 40
CONTENT = "secret-words-" + "W" * 20


def _all_logs(stack):
    logdir = os.path.join(stack.var, "log")
    out = {}
    for name in sorted(os.listdir(logdir)):
        with open(os.path.join(logdir, name), "rb") as f:
            out[name] = f.read().decode("utf-8", "replace")
    return out


def _traffic(stack):
    headers = {"Authorization": "Bearer " + BEARER, "X-Admin-Token": ADMIN}
    body = json.dumps({"action": "post", "note": CONTENT}).encode()
    jhead = dict(headers, **{"Content-Type": "application/json"})
    raw_request(stack, "GET", "/config?q=" + CONTENT, headers=headers, source=CLIENT)
    raw_request(stack, "GET", "/no/such/" + CONTENT, headers=headers, source=CLIENT)
    raw_request(stack, "POST", "/health", headers=headers, source=CLIENT)
    raw_request(stack, "POST", "/pow/challenge", headers=jhead, body=body, source=CLIENT)
    raw_request(stack, "POST", "/pow/challenge", headers=jhead, body=b"{" + CONTENT.encode(),
                source=CLIENT)
    raw_request(stack, "POST", "/pow/challenge", headers=jhead, body=b"x" * 70000,
                source=CLIENT)   # nginx's own 413


def test_no_client_ip_token_or_content_reaches_any_log(stack):
    _traffic(stack)
    time.sleep(1.5)  # nginx flushes its buffered access log every second
    logs = _all_logs(stack)
    assert "/no/such" in logs["nginx-access.log"].replace("\\/", "/") or \
        '"status":404' in logs["nginx-access.log"], "the access log recorded nothing"
    for name, text in logs.items():
        for secret in (CLIENT, BEARER, ADMIN, CONTENT):
            assert secret not in text, "%s found in var/log/%s" % (secret, name)


def test_sotto_log_is_one_json_object_per_line_with_request_fields(stack):
    _traffic(stack)
    time.sleep(0.5)
    lines = _all_logs(stack)["sotto.log"].splitlines()
    requests_seen = 0
    for line in lines:
        if not line.startswith("{"):
            continue  # sanitizer or libc output, not ours
        obj = json.loads(line)
        assert obj["level"] in ("debug", "info", "warn", "error")
        if "request_id" in obj:
            requests_seen += 1
            assert len(obj["request_id"]) == 32
            assert set(obj) >= {"method", "route", "status", "duration_ms"}
            assert "/no/such" not in obj["route"], "the raw path must not be logged"
    assert requests_seen >= 4
