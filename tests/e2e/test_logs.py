"""Logs: one JSON object per line from sotto, and no client IP, token,
password or content in any log the stack keeps (sotto, nginx, PostgreSQL,
Redis)."""
import json
import os
import re

from conftest import Stack, raw_request

CLIENT = "127.0.0.2"          # a loopback address no configuration mentions
BEARER = "tok-" + "Z" * 40    # looks like a credential; must never be logged
ADMIN = "adm-" + "Q" * 40
CONTENT = "secret-words-" + "W" * 20
# The only lines of sotto.log that are not sotto's JSON: the stack's own
# marker before each start, and what `sotto migrate` prints on stdout.
NOT_JSON_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ stack: [a-z]+$|"
                         r"^applied \d{3}_[a-z0-9_]+\.sql$|^nothing to do$")


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


def _access_log_413s(stack):
    return _all_logs(stack)["nginx-access.log"].count('"status":413')


def test_no_client_ip_token_or_content_reaches_any_log(stack):
    before = _access_log_413s(stack)
    _traffic(stack)
    # nginx writes its buffered access log out every second or so: wait for
    # this traffic's last request (nginx's own 413) to be there.
    Stack.wait_for(lambda: _access_log_413s(stack) > before, 30,
                   "the access log to record the traffic")
    logs = _all_logs(stack)
    for name, text in logs.items():
        for secret in (CLIENT, BEARER, ADMIN, CONTENT):
            assert secret not in text, "%s found in var/log/%s" % (secret, name)


def _request_lines(stack):
    return sum('"request_id"' in line for line in _all_logs(stack)["sotto.log"].splitlines())


def test_sotto_log_is_one_json_object_per_line_with_request_fields(stack):
    before = _request_lines(stack)
    _traffic(stack)
    # nginx answers the oversized body itself: five requests reach sotto.
    Stack.wait_for(lambda: _request_lines(stack) >= before + 5, 30,
                   "sotto to log the traffic's requests")
    lines = _all_logs(stack)["sotto.log"].splitlines()
    requests_seen = 0
    for line in lines:
        if NOT_JSON_RE.match(line):
            continue
        obj = json.loads(line)  # anything else (a library's or a sanitizer's text) fails
        assert obj["level"] in ("debug", "info", "warn", "error")
        if "request_id" in obj:
            requests_seen += 1
            assert len(obj["request_id"]) == 32
            assert set(obj) >= {"method", "route", "status", "duration_ms"}
            assert "/no/such" not in obj["route"], "the raw path must not be logged"
    assert requests_seen >= 4
