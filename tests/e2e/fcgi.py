"""
A small FastCGI client (responder role) for talking to `sotto serve` on its
unix socket without nginx, step by step when a test needs a request to stay
in flight (for example: parameters sent, body half sent).

    c = FcgiConnection("/path/sock", timeout=5)
    c.begin(); c.params({...}); c.stdin(b"..."); c.stdin(b"")  # end of body
    resp = c.read_response()   # FcgiResponse(status, headers, body, stderr)

or simply fcgi_request(sock, "GET", "/health").
"""
import os
import select
import socket
import struct

FCGI_VERSION = 1
FCGI_BEGIN_REQUEST = 1
FCGI_ABORT_REQUEST = 2
FCGI_END_REQUEST = 3
FCGI_PARAMS = 4
FCGI_STDIN = 5
FCGI_STDOUT = 6
FCGI_STDERR = 7
FCGI_RESPONDER = 1
REQUEST_ID = 1


class FcgiError(Exception):
    pass


class FcgiResponse:
    def __init__(self, status, headers, body, stderr, app_status):
        self.status = status          # int, from the Status: header (200 if absent)
        self.headers = headers        # list of (name, value)
        self.body = body              # bytes
        self.stderr = stderr          # bytes
        self.app_status = app_status  # appStatus of END_REQUEST

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return "FcgiResponse(%d, %r, %r)" % (self.status, self.headers, self.body[:200])


def _nv_len(n):
    return struct.pack("!B", n) if n < 128 else struct.pack("!I", n | 0x80000000)


def encode_params(params):
    out = b""
    for k, v in params.items():
        kb = k.encode() if isinstance(k, str) else k
        vb = v.encode() if isinstance(v, str) else v
        out += _nv_len(len(kb)) + _nv_len(len(vb)) + kb + vb
    return out


def record(rtype, content, req_id=REQUEST_ID):
    pad = (-len(content)) % 8
    return struct.pack("!BBHHBB", FCGI_VERSION, rtype, req_id, len(content), pad, 0) \
        + content + b"\0" * pad


class FcgiConnection:
    def __init__(self, path, timeout=5.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self._buf = b""
        self.received = 0   # response bytes read so far

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, rtype, content):
        # Records carry at most 65535 bytes of content.
        if not content:
            self.sock.sendall(record(rtype, b""))
            return
        for i in range(0, len(content), 65535):
            self.sock.sendall(record(rtype, content[i:i + 65535]))

    def begin(self, keep_conn=False):
        body = struct.pack("!HB5x", FCGI_RESPONDER, 1 if keep_conn else 0)
        self.send(FCGI_BEGIN_REQUEST, body)

    def params(self, params):
        """Send the parameters and the empty record that ends them."""
        data = encode_params(params)
        if data:
            self.send(FCGI_PARAMS, data)
        self.send(FCGI_PARAMS, b"")

    def stdin(self, data):
        """Send body bytes; b"" ends the body."""
        self.send(FCGI_STDIN, data)

    def send_request(self, params):
        """A request without a body in one write: begin, parameters, end of body."""
        data = encode_params(params)
        self.sock.sendall(
            record(FCGI_BEGIN_REQUEST, struct.pack("!HB5x", FCGI_RESPONDER, 0))
            + (record(FCGI_PARAMS, data) if data else b"")
            + record(FCGI_PARAMS, b"") + record(FCGI_STDIN, b""))

    def readable(self, timeout):
        """True when the server has sent something (or closed) within timeout."""
        r, _, _ = select.select([self.sock], [], [], timeout)
        return bool(r)

    def _read_exact(self, n):
        while len(self._buf) < n:
            chunk = self.sock.recv(65536)
            self.received += len(chunk)
            if not chunk:
                raise FcgiError("connection closed after %d of %d bytes"
                                % (len(self._buf), n))
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def read_response(self):
        return parse_cgi(*self.read_records())

    def read_records(self):
        """(stdout, stderr, app_status) up to END_REQUEST, unparsed."""
        stdout = b""
        stderr = b""
        while True:
            hdr = self._read_exact(8)
            _ver, rtype, _rid, clen, plen, _ = struct.unpack("!BBHHBB", hdr)
            content = self._read_exact(clen)
            self._read_exact(plen)
            if rtype == FCGI_STDOUT:
                stdout += content
            elif rtype == FCGI_STDERR:
                stderr += content
            elif rtype == FCGI_END_REQUEST:
                app_status = struct.unpack("!I", content[:4])[0]
                break
        return stdout, stderr, app_status


def parse_cgi(stdout, stderr, app_status):
    sep = stdout.find(b"\r\n\r\n")
    seplen = 4
    if sep < 0:
        sep = stdout.find(b"\n\n")
        seplen = 2
    if sep < 0:
        raise FcgiError("no header/body separator in %r" % stdout[:200])
    head, body = stdout[:sep].decode("latin-1"), stdout[sep + seplen:]
    headers = []
    status = 200
    for line in head.replace("\r\n", "\n").split("\n"):
        if not line:
            continue
        k, _, v = line.partition(":")
        k, v = k.strip(), v.strip()
        if k.lower() == "status":
            status = int(v.split()[0])
        headers.append((k, v))
    return FcgiResponse(status, headers, body, stderr, app_status)


def cgi_params(method, path, query="", headers=None, body=b"", remote_addr="127.0.0.1",
               request_id=None):
    """The parameters nginx's fastcgi_params would pass for this request."""
    uri = path + ("?" + query if query else "")
    p = {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_SOFTWARE": "nginx",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REQUEST_METHOD": method,
        "REQUEST_URI": uri,
        "DOCUMENT_URI": path,
        "SCRIPT_NAME": path,
        "QUERY_STRING": query,
        "REMOTE_ADDR": remote_addr,
        "REMOTE_PORT": "40000",
        "SERVER_ADDR": "127.0.0.1",
        "SERVER_PORT": "443",
        "SERVER_NAME": "localhost",
        "HTTPS": "on",
        "REQUEST_SCHEME": "https",
        "REQUEST_ID": request_id or os.urandom(16).hex(),
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "CONTENT_TYPE": "",
        "HTTP_HOST": "localhost",
    }
    for k, v in (headers or {}).items():
        name = k.upper().replace("-", "_")
        if name == "CONTENT_TYPE":
            p["CONTENT_TYPE"] = v
        elif name == "CONTENT_LENGTH":
            p["CONTENT_LENGTH"] = v
        else:
            p["HTTP_" + name] = v
    return p


def fcgi_request(path_sock, method, path, query="", headers=None, body=b"", timeout=5.0,
                 remote_addr="127.0.0.1"):
    """One complete request; returns FcgiResponse."""
    with FcgiConnection(path_sock, timeout) as c:
        c.begin()
        c.params(cgi_params(method, path, query, headers, body, remote_addr=remote_addr))
        if body:
            c.stdin(body)
        c.stdin(b"")
        return c.read_response()
