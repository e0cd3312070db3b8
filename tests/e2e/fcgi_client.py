"""Minimal FastCGI client (responder role) for talking to sotto's unix socket.

One request per connection, as nginx talks to the pool (no keep-alive):
BEGIN_REQUEST, PARAMS, an empty PARAMS, STDIN (the body, then empty), then
read STDOUT/STDERR records until END_REQUEST. The FastCGI 1.0 specification
defines the record layout used here.

    from fcgi_client import request
    resp = request("/run/sotto/sotto.sock", "GET", "/health")
    resp.status, resp.headers["content-type"], resp.json()
"""

import json
import socket
import struct

FCGI_VERSION_1 = 1
FCGI_BEGIN_REQUEST = 1
FCGI_END_REQUEST = 3
FCGI_PARAMS = 4
FCGI_STDIN = 5
FCGI_STDOUT = 6
FCGI_STDERR = 7
FCGI_RESPONDER = 1
FCGI_REQUEST_COMPLETE = 0

_HEADER = struct.Struct("!BBHHBx")
_MAX_CONTENT = 65535


class FcgiError(Exception):
    """The peer broke the protocol or closed the connection early."""


class Response:
    """A parsed CGI-style response: status, lower-cased headers, body bytes."""

    def __init__(self, status, headers, body, stderr, app_status):
        self.status = status
        self.headers = headers
        self.body = body
        self.stderr = stderr
        self.app_status = app_status

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "Response(status=%d, %d body bytes)" % (self.status, len(self.body))


def _record(rtype, content, request_id=1):
    out = bytearray()
    view = memoryview(content)
    # An empty record is meaningful (end of stream), so emit at least one.
    while True:
        chunk = view[:_MAX_CONTENT]
        view = view[_MAX_CONTENT:]
        pad = (-len(chunk)) % 8
        out += _HEADER.pack(FCGI_VERSION_1, rtype, request_id, len(chunk), pad)
        out += chunk
        out += b"\0" * pad
        if not view:
            return bytes(out)


def _nv_len(n):
    if n < 128:
        return struct.pack("!B", n)
    return struct.pack("!I", n | 0x80000000)


def encode_params(params):
    """Encode a dict of name -> value (str or bytes) as FastCGI name-value pairs."""
    out = bytearray()
    for name, value in params.items():
        name = name.encode() if isinstance(name, str) else name
        value = value.encode() if isinstance(value, str) else value
        out += _nv_len(len(name)) + _nv_len(len(value)) + name + value
    return bytes(out)


def _recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise FcgiError("connection closed before END_REQUEST")
        buf += chunk
    return bytes(buf)


def parse_cgi(stdout):
    """Split CGI output into (status, headers, body). Status defaults to 200."""
    sep = stdout.find(b"\r\n\r\n")
    skip = 4
    if sep < 0:
        sep = stdout.find(b"\n\n")
        skip = 2
    if sep < 0:
        raise FcgiError("no header/body separator in the response")
    headers = {}
    status = 200
    for line in stdout[:sep].decode("latin-1").splitlines():
        if not line:
            continue
        name, _, value = line.partition(":")
        name = name.strip().lower()
        value = value.strip()
        if name == "status":
            status = int(value.split()[0])
        elif name in headers:
            headers[name] += ", " + value
        else:
            headers[name] = value
    return status, headers, stdout[sep + skip:]


def raw_request(sock_path, params, body=b"", timeout=10.0):
    """Send one request; returns (stdout bytes, stderr bytes, app status)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(sock_path)
        begin = struct.pack("!HB5x", FCGI_RESPONDER, 0)  # flags 0: close after
        msg = _record(FCGI_BEGIN_REQUEST, begin)
        enc = encode_params(params)
        if enc:
            msg += _record(FCGI_PARAMS, enc)
        msg += _record(FCGI_PARAMS, b"")
        if body:
            msg += _record(FCGI_STDIN, body)
        msg += _record(FCGI_STDIN, b"")
        sock.sendall(msg)

        stdout = bytearray()
        stderr = bytearray()
        while True:
            version, rtype, _rid, clen, plen = _HEADER.unpack(
                _recv_exact(sock, _HEADER.size))
            if version != FCGI_VERSION_1:
                raise FcgiError("bad FastCGI version %d" % version)
            content = _recv_exact(sock, clen) if clen else b""
            if plen:
                _recv_exact(sock, plen)
            if rtype == FCGI_STDOUT:
                stdout += content
            elif rtype == FCGI_STDERR:
                stderr += content
            elif rtype == FCGI_END_REQUEST:
                app_status, proto = struct.unpack("!IB3x", content)
                if proto != FCGI_REQUEST_COMPLETE:
                    raise FcgiError("protocol status %d" % proto)
                return bytes(stdout), bytes(stderr), app_status
    finally:
        sock.close()


def request(sock_path, method, uri, body=b"", headers=None, extra=None,
            timeout=10.0):
    """Send an HTTP-like request through FastCGI the way nginx would.

    uri may carry a query string. headers (dict) become HTTP_* params;
    extra (dict) is merged last to override any param. Returns a Response.
    """
    path, _, query = uri.partition("?")
    params = {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_SOFTWARE": "fcgi_client.py",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "443",
        "HTTPS": "on",
        "REQUEST_METHOD": method,
        "REQUEST_URI": uri,
        "SCRIPT_NAME": path,
        "DOCUMENT_URI": path,
        "QUERY_STRING": query,
        "REMOTE_ADDR": "192.0.2.1",
        "REMOTE_PORT": "40000",
        "REQUEST_ID": "0123456789abcdef0123456789abcdef",
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "CONTENT_TYPE": "",
    }
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            params[key] = value
        else:
            params["HTTP_" + key] = value
    params.update(extra or {})
    stdout, stderr, app_status = raw_request(sock_path, params, body, timeout)
    status, hdrs, resp_body = parse_cgi(stdout)
    return Response(status, hdrs, resp_body, stderr, app_status)


if __name__ == "__main__":
    import sys

    if len(sys.argv) < 3:
        sys.exit("usage: fcgi_client.py SOCKET PATH [METHOD]")
    r = request(sys.argv[1], sys.argv[3] if len(sys.argv) > 3 else "GET",
                sys.argv[2])
    print(r.status, r.headers)
    sys.stdout.write(r.body.decode("utf-8", "replace"))
