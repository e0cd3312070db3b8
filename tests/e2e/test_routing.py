"""Routing, error format and the headers every response carries (docs/api.md, "Conventions")."""
import json
import os
import socket
import ssl

import yaml

from conftest import (REPO, REQUEST_ID_RE, assert_error, assert_standard_headers, bearer,
                      describe, raw_request, register)


def test_unknown_path_is_404_not_found_in_contract_format(stack):
    r = stack.get("/no/such/path")
    assert_error(r, 404, "not_found")
    assert_standard_headers(r)


def test_unknown_path_with_any_method_is_404(stack):
    r = stack.request("DELETE", "/definitely-not-a-route")
    assert_error(r, 404, "not_found")


def test_wrong_method_on_health_is_405_with_allow_listing_get(stack):
    r = stack.request("POST", "/health")
    assert_error(r, 405, "method_not_allowed")
    assert_standard_headers(r)
    allow = [m.strip().upper() for m in r.headers.get("Allow", "").split(",") if m.strip()]
    assert "GET" in allow, describe(r)
    assert "POST" not in allow, describe(r)
    # HEAD is served wherever GET is (docs/openapi.yaml), so it is listed.
    assert "HEAD" in allow, describe(r)


def test_405_allow_header_on_put_and_delete_too(stack):
    for method in ("PUT", "DELETE", "PATCH"):
        r = stack.request(method, "/config")
        assert_error(r, 405, "method_not_allowed")
        assert "GET" in r.headers.get("Allow", ""), describe(r)


def test_head_on_health_is_200_without_a_body(stack):
    r = stack.request("HEAD", "/health")
    assert r.status_code == 200, describe(r)
    assert r.content == b""
    assert_standard_headers(r)


def documented_get_paths():
    with open(os.path.join(REPO, "docs", "openapi.yaml"), encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    return sorted(p for p, ops in doc["paths"].items() if "get" in ops)


def test_head_is_answered_like_get_without_a_body_on_every_get_route(stack):
    """docs/openapi.yaml: HEAD wherever GET works. With every credential a
    route may take, so that each answers what it does for its own caller."""
    env = stack.sotto_env()
    token = register(stack)[1]
    unknown_id = "AAAAAAAAAAAAAAAAAAAAAA"
    paths = documented_get_paths()
    assert "/health" in paths and "/me" in paths, paths
    for path in paths:
        url = path.replace("{slug}", "no-such-community")
        url = url.replace("{id}", unknown_id).replace("{item_id}", unknown_id)
        assert "{" not in url, "a parameter this test does not fill: %s" % path
        headers = bearer(token)
        if path.startswith("/admin/"):
            headers["X-Admin-Token"] = env["ADMIN_UI_TOKEN"]
        elif path.startswith("/moderation/"):
            headers["X-Admin-Token"] = env["ADMIN_REVIEW_TOKEN"]
        get = stack.request("GET", url, headers=headers)
        head = stack.request("HEAD", url, headers=headers)
        assert get.status_code < 500, describe(get)
        assert head.status_code == get.status_code, (describe(get), describe(head))
        assert head.headers.get("Content-Type") == get.headers.get("Content-Type"), \
            (describe(get), describe(head))
        assert head.content == b"", describe(head)


def test_every_response_carries_the_standard_headers(stack):
    for method, path, status in (("GET", "/health", 200), ("GET", "/config", 200),
                                 ("GET", "/nope", 404), ("POST", "/health", 405)):
        r = stack.request(method, path)
        assert r.status_code == status, describe(r)
        assert_standard_headers(r)


def test_request_ids_differ_between_requests(stack):
    ids = {stack.get("/health").headers.get("X-Request-Id") for _ in range(5)}
    assert len(ids) == 5, ids


def test_server_header_reveals_no_version(stack):
    for path in ("/health", "/nope"):
        r = stack.get(path)
        server = r.headers.get("Server")
        assert server in (None, "nginx", "sotto"), "Server: %r" % server


def test_strict_transport_security_is_sent_on_https(stack):
    r = stack.get("/health")
    hsts = r.headers.get("Strict-Transport-Security", "")
    assert "max-age=" in hsts, describe(r)
    age = int(hsts.split("max-age=")[1].split(";")[0].strip())
    assert age >= 86400, hsts


def test_body_over_nginx_limit_is_413_payload_too_large_json(stack):
    """nginx answers this itself (client_max_body_size); it must still be the contract's JSON."""
    status, headers, body = raw_request(stack, "POST", "/pow/challenge",
                                        {"Content-Type": "application/json"},
                                        declared_length=8 * 1024 * 1024)
    assert status == 413, (status, headers, body[:300])
    assert headers.get("content-type", "").split(";")[0] == "application/json", headers
    doc = json.loads(body)
    assert doc["error"]["code"] == "payload_too_large", doc
    assert isinstance(doc["error"]["message"], str) and doc["error"]["message"]
    assert "max-age=" in headers.get("strict-transport-security", ""), headers
    assert REQUEST_ID_RE.match(headers.get("x-request-id", "")), headers
    assert headers.get("referrer-policy") == "no-referrer", headers
    assert headers.get("x-content-type-options") == "nosniff", headers
    assert headers.get("cache-control") == "no-store", headers
    server = headers.get("server")
    assert server in (None, "nginx"), server


def test_request_nginx_rejects_itself_still_gets_contract_json(stack):
    """A request nginx rejects before sotto (two Host headers) still gets the error JSON."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", stack.https_port), timeout=5) as raw:
        with ctx.wrap_socket(raw) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: again\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            status = int(head.split(b" ")[1])
            assert status == 400, head
            hdrs = {}
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                hdrs[k.strip().lower().decode()] = v.strip().decode()
            n = int(hdrs.get("content-length", "0"))
            while len(rest) < n:
                chunk = s.recv(4096)
                if not chunk:
                    break
                rest += chunk
            assert hdrs.get("content-type", "").split(";")[0] == "application/json", hdrs
            doc = json.loads(rest[:n])
            assert isinstance(doc["error"]["code"], str) and doc["error"]["code"], doc
