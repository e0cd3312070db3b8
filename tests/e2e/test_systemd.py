"""The systemd contract (docs/deployment.md, docs/architecture.md): the units in
systemd/ are valid and hardened, and `sotto serve` works the way those units
drive it — socket activation (LISTEN_FDS), sd_notify READY/RELOADING/
STOPPING/WATCHDOG, reload by SIGHUP (ExecReload) without dropping a request,
and a clean stop on SIGTERM.

No running systemd is needed: `systemd-analyze verify` and `security
--offline=true` read unit files, and `systemd-socket-activate` passes a
listening socket exactly as sotto.socket would. sotto runs in development
mode with a database and Redis that do not exist, so /health answers 503
(a complete FastCGI response is all these tests need).

Settings: SOTTO_BIN overrides the binary (default: build/san/sotto when built,
else ./sotto).
"""
import base64
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import Stack, assert_clean_output, children_of, skip_unless_strict, sotto_binary
from fcgi import FcgiConnection, FcgiError, fcgi_request, parse_cgi

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UNIT_DIR = os.path.join(REPO, "systemd")
UNITS = ["sotto.socket", "sotto.service", "sotto-moderate.service",
         "sotto-cleanup.service", "sotto-cleanup.timer"]
SERVICES = [u for u in UNITS if u.endswith(".service")]
MAX_EXPOSURE = 2.0
WORKERS = 2
SHUTDOWN_TIMEOUT_MS = 3000
START_TIMEOUT = 15      # seconds until the first response (the sanitized build is slow)
CLIENT_ADDR = "192.0.2.1"   # REMOTE_ADDR of every request; must never reach the log


def need_tool(name):
    path = shutil.which(name)
    if path is None:
        skip_unless_strict("%s is not installed (package systemd)" % name)
    return path


def sotto_settings(tmp):
    """A development configuration whose database and Redis do not exist."""
    def key():
        return base64.b64encode(os.urandom(32)).decode()
    return {
        "SOTTO_DEV": "1",
        "SOTTO_WORKERS": str(WORKERS),
        "SOTTO_SHUTDOWN_TIMEOUT_MS": str(SHUTDOWN_TIMEOUT_MS),
        # Set, but socket activation must win: this path must never appear.
        "SOTTO_LISTEN": os.path.join(tmp, "not-used.sock"),
        "DATABASE_URL": "postgresql:///sotto?host=%s" % os.path.join(tmp, "no-pg"),
        "REDIS_URL": "unix://%s" % os.path.join(tmp, "no-redis.sock"),
        "JWT_SECRET": key(),
        "IP_HMAC_KEY": key(),
        "CONTENT_KEYS": "1:" + key(),
    }


# -- the unit files ---------------------------------------------------------

def test_units_pass_systemd_analyze_verify(tmp_path):
    """Every unit loads without a warning. verify insists that ExecStart=
    binaries exist, so the units are checked from a copy whose /usr/bin/sotto
    points at the built binary; everything else is checked as shipped."""
    analyze = need_tool("systemd-analyze")
    binary = sotto_binary()
    assert os.access(binary, os.X_OK), "build sotto first (make): %s" % binary
    for unit in UNITS:
        with open(os.path.join(UNIT_DIR, unit)) as f:
            text = f.read()
        if unit.endswith(".service"):
            assert re.search(r"^ExecStart=/usr/bin/sotto ", text, re.M), unit
        (tmp_path / unit).write_text(text.replace("/usr/bin/sotto", binary))

    r = subprocess.run([analyze, "verify"] + [str(tmp_path / u) for u in UNITS],
                       capture_output=True, text=True, timeout=120)
    out = (r.stdout + r.stderr).splitlines()
    # Only lines about our units count; a container may add unrelated noise.
    problems = [line for line in out if "sotto" in line]
    assert r.returncode == 0 and not problems, "\n".join(out)


@pytest.mark.parametrize("unit", SERVICES)
def test_service_security_exposure_is_at_most_2(unit):
    analyze = need_tool("systemd-analyze")
    r = subprocess.run([analyze, "security", "--offline=true", "--no-pager",
                        os.path.join(UNIT_DIR, unit)],
                       capture_output=True, text=True, timeout=120)
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", r.stdout)
    assert m, "no exposure level in output:\n%s%s" % (r.stdout, r.stderr)
    exposure = float(m.group(1))
    failing = [line for line in r.stdout.splitlines() if line.startswith("✗")]
    assert exposure <= MAX_EXPOSURE, "%s exposure %.1f:\n%s" % (
        unit, exposure, "\n".join(failing))


def test_socket_unit_is_group_only_fastcgi_socket():
    with open(os.path.join(UNIT_DIR, "sotto.socket")) as f:
        text = f.read()
    assert re.search(r"^ListenStream=/run/sotto/sotto\.sock$", text, re.M)
    assert re.search(r"^SocketMode=0660$", text, re.M)
    assert re.search(r"^SocketGroup=www-data$", text, re.M)


def test_nchan_publisher_socket_sits_in_a_0750_directory_only_sotto_and_root_reach():
    """nginx makes unix sockets 0666: the directory of the publisher socket is
    the guard. nginx/sotto.conf listens in it, tmpfiles makes it 0750 for root
    and a group that sysusers creates and sotto.service (only) joins."""
    with open(os.path.join(REPO, "nginx", "sotto.conf")) as f:
        listen = re.findall(r"^\s*listen unix:(\S+);", f.read(), re.M)
    assert len(listen) == 1, listen
    directory = os.path.dirname(listen[0])
    with open(os.path.join(UNIT_DIR, "sotto.tmpfiles")) as f:
        lines = [line.split() for line in f if line.strip() and not line.startswith("#")]
    assert [["d", directory, "0750", "root", "sotto-nchan", "-"]] == \
        [line for line in lines if line[1] == directory], lines
    with open(os.path.join(UNIT_DIR, "sotto.sysusers")) as f:
        assert re.search(r"^g sotto-nchan -$", f.read(), re.M)
    for unit in SERVICES:
        with open(os.path.join(UNIT_DIR, unit)) as f:
            joins = re.findall(r"^SupplementaryGroups=(.*)$", f.read(), re.M)
        assert joins == (["sotto-nchan"] if unit == "sotto.service" else []), (unit, joins)


def test_service_unit_matches_what_sotto_serve_implements():
    with open(os.path.join(UNIT_DIR, "sotto.service")) as f:
        text = f.read()
    for line in ("Type=notify", "NotifyAccess=main", "ExecStartPre=/usr/bin/sotto migrate",
                 "ExecStart=/usr/bin/sotto serve", "ExecReload=/bin/kill -HUP $MAINPID",
                 "KillMode=mixed", "EnvironmentFile=-/etc/sotto/sotto.env"):
        assert re.search("^" + re.escape(line) + "$", text, re.M), line
    assert re.search(r"^WatchdogSec=\d+", text, re.M)
    # Credential IDs are the variable names config.c looks up in $CREDENTIALS_DIRECTORY.
    for name in ("JWT_SECRET", "IP_HMAC_KEY", "CONTENT_KEYS", "ADMIN_REVIEW_TOKEN",
                 "ADMIN_UI_TOKEN", "DATABASE_URL", "REDIS_URL"):
        assert re.search(r"^LoadCredential=%s:/etc/sotto/credentials/%s$" % (name, name),
                         text, re.M), name
    timer = open(os.path.join(UNIT_DIR, "sotto-cleanup.timer")).read()
    assert re.search(r"^OnCalendar=daily$", timer, re.M)


# -- sotto serve under socket activation -----------------------------------

class Activated:
    """`sotto serve` behind systemd-socket-activate, with a fake NOTIFY_SOCKET."""

    def __init__(self, tmp, watchdog_usec=None):
        self.tmp = tmp
        self.sock = os.path.join(tmp, "sotto.sock")
        self.settings = sotto_settings(tmp)
        self.log_path = os.path.join(tmp, "sotto.log")
        self.notify_path = os.path.join(tmp, "notify.sock")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.notify.settimeout(0.1)
        self.messages = []          # (monotonic time, {key: value})
        env = dict(self.settings, NOTIFY_SOCKET=self.notify_path)
        if watchdog_usec:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        args = [need_tool("systemd-socket-activate"), "-l", self.sock]
        # systemd-socket-activate hands the program only the -E variables.
        for k, v in env.items():
            args += ["-E", "%s=%s" % (k, v)]
        args += [sotto_binary(), "serve"]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        Stack.wait_for(lambda: os.path.exists(self.sock), 5, "the activation socket")
        self.sock_stat = os.stat(self.sock)

    def get(self, path, timeout=10.0):
        return fcgi_request(self.sock, "GET", path, timeout=timeout, remote_addr=CLIENT_ADDR)

    def pump(self, seconds=0.0):
        """Collect notifications for up to seconds (at least one read)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                data = self.notify.recv(4096).decode()
                fields = dict(line.split("=", 1) for line in data.splitlines() if "=" in line)
                self.messages.append((time.monotonic(), fields))
            except socket.timeout:
                pass
            if time.monotonic() >= deadline:
                return

    def wait_message(self, key, value, timeout, after=0):
        """Index of the first message (from index after) with key=value."""
        deadline = time.monotonic() + timeout
        while True:
            for i, (_, m) in enumerate(self.messages[after:], after):
                if m.get(key) == value:
                    return i
            if time.monotonic() >= deadline:
                raise AssertionError("no %s=%s from sotto within %ss; got %r\n%s"
                                     % (key, value, timeout,
                                        [m for _, m in self.messages], self.log_tail()))
            self.pump(0.05)

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_tail(self, lines=30):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self, timeout=SHUTDOWN_TIMEOUT_MS / 1000 + 10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

    def close(self):
        """Stop sotto; AssertionError when its output shows a sanitizer report
        or an unasked worker exit."""
        self.stop()
        self.log.close()
        self.notify.close()
        assert_clean_output(self.log_text(), "socket-activated sotto serve")


@pytest.fixture
def activated():
    tmp = tempfile.mkdtemp(prefix="sotto-sd-")
    made = []

    def make(**kw):
        a = Activated(tmp, **kw)
        made.append(a)
        return a
    yield make
    for a in made:
        a.close()
    if os.environ.get("SOTTO_E2E_KEEP") != "1":
        shutil.rmtree(tmp, ignore_errors=True)


def first_response(a):
    """The first request also triggers the exec of sotto (socket-activate waits for it)."""
    holder = {}

    def ok():
        holder["r"] = a.get("/health", timeout=START_TIMEOUT)
        return True
    Stack.wait_for(ok, START_TIMEOUT, "a FastCGI response through the activated socket")
    return holder["r"]


def test_socket_activation_serves_a_fastcgi_response(activated):
    a = activated()
    r = first_response(a)
    # Without PostgreSQL and Redis /health answers 503 in JSON: a real response.
    assert r.status == 503, r
    assert (r.header("content-type") or "").startswith("application/json")
    assert "status" in json.loads(r.body.decode("utf-8"))
    log = a.log_text()
    assert "listening on the socket passed by systemd" in log, a.log_tail()
    # The inherited socket is systemd's: not replaced, not re-permissioned,
    # and no socket of our own was bound at SOTTO_LISTEN.
    st = os.stat(a.sock)
    assert (st.st_ino, stat.S_IMODE(st.st_mode)) == (
        a.sock_stat.st_ino, stat.S_IMODE(a.sock_stat.st_mode))
    assert not os.path.exists(a.settings["SOTTO_LISTEN"])
    Stack.wait_for(lambda: len(children_of(a.proc.pid)) == WORKERS, 5, "%d workers" % WORKERS)
    # The client address we sent must not reach the log.
    assert CLIENT_ADDR not in log

    assert a.stop() == 0, a.log_tail()
    assert os.path.exists(a.sock), "sotto removed the socket systemd owns"


def test_sd_notify_ready_reloading_watchdog_stopping(activated):
    a = activated(watchdog_usec=400000)
    first_response(a)
    ready = a.wait_message("READY", "1", START_TIMEOUT)
    assert "STATUS" in a.messages[ready][1]
    assert len(children_of(a.proc.pid)) == WORKERS

    # Pings at least every WATCHDOG_USEC / 2 (= 200 ms): expect several in a second.
    start = len(a.messages)
    a.pump(1.0)
    pings = [t for t, m in a.messages[start:] if m.get("WATCHDOG") == "1"]
    assert len(pings) >= 3, a.messages[start:]

    # systemctl reload == SIGHUP: RELOADING=1 (with MONOTONIC_USEC), then READY=1.
    mark = len(a.messages)
    a.proc.send_signal(signal.SIGHUP)
    rel = a.wait_message("RELOADING", "1", 5, after=mark)
    assert re.fullmatch(r"\d+", a.messages[rel][1].get("MONOTONIC_USEC", "")), a.messages[rel]
    a.wait_message("READY", "1", 5, after=rel + 1)
    assert a.get("/health").status == 503   # answered by the new workers (no PostgreSQL)

    mark = len(a.messages)
    a.proc.send_signal(signal.SIGTERM)
    a.wait_message("STOPPING", "1", 5, after=mark)
    assert a.stop() == 0, a.log_tail()


def test_reload_under_load_drops_no_request(activated):
    """ExecReload sends SIGHUP: a new generation starts, the old one drains,
    and clients of the shared socket see no failure at all."""
    a = activated()
    first_response(a)
    a.wait_message("READY", "1", START_TIMEOUT)
    stop = threading.Event()
    lock = threading.Lock()
    counts = {"ok": 0, "failed": 0}
    errors = []

    def client():
        while not stop.is_set():
            try:
                r = a.get("/config", timeout=10)
                ok = r.status == 200
            except Exception as e:  # noqa: BLE001 - any failure counts
                ok = False
                errors.append(repr(e))
            with lock:
                counts["ok" if ok else "failed"] += 1

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        reloads = 5
        for _ in range(reloads):
            time.sleep(0.3)
            mark = len(a.messages)
            a.proc.send_signal(signal.SIGHUP)
            a.wait_message("READY", "1", 10, after=mark)
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert counts["failed"] == 0, (counts, errors[:5], a.log_tail())
    assert counts["ok"] > 50, counts
    # The old generations are gone and the counters say what happened.
    Stack.wait_for(lambda: len(children_of(a.proc.pid)) == WORKERS, SHUTDOWN_TIMEOUT_MS / 1000 + 5,
             "only the newest generation left")
    metrics = a.get("/metrics").body.decode()
    m = re.search(r"^sotto_reloads_total (\d+)$", metrics, re.M)
    assert m and int(m.group(1)) == reloads, metrics
    assert a.stop() == 0, a.log_tail()


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_stop_signal_while_a_connection_awaits_its_first_bytes_loses_nothing(activated, sig):
    """A worker that has accepted a connection but not yet read from it is
    inside libfcgi's OS_Accept(), in a select() that waits for the first
    bytes. A stop signal handled there makes libfcgi close the connection,
    so the worker must keep its stop signals blocked while it accepts."""
    a = activated()
    first_response(a)
    a.wait_message("READY", "1", START_TIMEOUT)
    c = None
    try:
        c = FcgiConnection(a.sock, timeout=10)
        time.sleep(0.3)             # an idle worker accepts it and waits for data
        a.proc.send_signal(sig)     # reload retires that worker; stop drains it
        time.sleep(0.3)
        params = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "/config",
                  "REQUEST_URI": "/config", "QUERY_STRING": "", "REMOTE_ADDR": CLIENT_ADDR}
        c.send_request(params)
        out, err, app_status = c.read_records()
    except (OSError, FcgiError) as e:
        pytest.fail("the held connection was dropped: %r\n%s" % (e, a.log_tail()))
    finally:
        if c is not None:
            c.close()
    status = parse_cgi(out, err, app_status).status
    assert status == 200, out
    if sig == signal.SIGTERM:
        assert a.stop() == 0, a.log_tail()


def test_sigterm_drains_and_exits_zero(activated):
    a = activated()
    first_response(a)
    a.wait_message("READY", "1", START_TIMEOUT)
    workers = children_of(a.proc.pid)
    assert len(workers) == WORKERS
    t0 = time.monotonic()
    assert a.stop() == 0, a.log_tail()
    # Idle workers leave at once; nothing waits for the SIGKILL deadline.
    assert time.monotonic() - t0 < SHUTDOWN_TIMEOUT_MS / 1000, a.log_tail()
    for w in workers:
        assert not os.path.exists("/proc/%d" % w) or \
            open("/proc/%d/stat" % w).read().rsplit(")", 1)[1].split()[0] == "Z"
    assert "did not drain" not in a.log_text()
    assert json.loads(a.log_text().splitlines()[-1])["msg"] == "stopped"
