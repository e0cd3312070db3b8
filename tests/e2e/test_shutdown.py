"""SIGTERM drains (docs/architecture.md, "Processes"): the master exits 0 once in-flight
requests have finished, and leaves no worker behind.

Each test starts its own bare `sotto serve` on a private unix socket (the
main stack's PostgreSQL and Redis, settings from its sotto.env) and talks
FastCGI to it directly, so a request can be held in flight by withholding
the end of its body, which nginx (buffering bodies) would never do.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading

import pytest

from conftest import (MAIN_SETTINGS, REPO, Stack, assert_clean_output, children_of, pid_alive,
                      read_text, sotto_binary)
from fcgi import FcgiConnection, FcgiError, cgi_params, fcgi_request

WORKERS = 2
BARE_IP = "192.0.2.10"   # its own rate-limit bucket, apart from the main stack's 127.0.0.1
EXIT_TIMEOUT = 10


class BareServer:
    def __init__(self, stack):
        self.tmp = tempfile.mkdtemp(prefix="sotto-e2e-bare-")
        os.chmod(self.tmp, 0o755)
        self.sock = os.path.join(self.tmp, "sotto.sock")
        self.log_path = os.path.join(self.tmp, "sotto.log")
        self.expected_exits = set()   # worker pids a test killed on purpose
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SOTTO_", "LISTEN_", "NOTIFY_", "WATCHDOG_"))}
        env.update(stack.sotto_env())
        env.update({
            "SOTTO_LISTEN": self.sock,
            "SOTTO_WORKERS": str(WORKERS),
            "SOTTO_SHUTDOWN_TIMEOUT_MS": "10000",
            "SOTTO_SOCKET_GROUP": "",
            "SOTTO_MIGRATIONS_DIR": os.path.join(REPO, "sql"),
            "SOTTO_RATE_GLOBAL": MAIN_SETTINGS["SOTTO_RATE_GLOBAL"],
            # long enough that a paused Redis holds a request in flight
            "SOTTO_REDIS_TIMEOUT_MS": "8000",
        })
        env.pop("SOTTO_ENV_FILE", None)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sotto_binary(), "serve"], cwd=REPO, env=env,
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        try:
            Stack.wait_for(self._answers, 15, "bare sotto serve to answer on %s" % self.sock)
            Stack.wait_for(lambda: len(children_of(self.proc.pid)) == WORKERS, 5,
                           "%d workers" % WORKERS)
        except AssertionError as e:
            self.stop()
            raise AssertionError("%s\n%s" % (e, self.output()))

    def _answers(self):
        if self.proc.poll() is not None:
            raise AssertionError("sotto serve exited %d" % self.proc.returncode)
        r = fcgi_request(self.sock, "GET", "/config", timeout=2, remote_addr=BARE_IP)
        return r.status == 200

    def output(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return "---- sotto serve output ----\n" + f.read()[-4000:].decode("utf-8", "replace")

    def stop(self):
        """Kill what still runs, remove the directory; AssertionError when the
        output shows a sanitizer report or an unasked worker exit."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()
        text = read_text(self.log_path)
        shutil.rmtree(self.tmp, ignore_errors=True)
        assert_clean_output(text, "bare sotto serve", self.expected_exits)


def sigterm_with_request_in_flight(bare):
    """SIGTERM the master while a request is held, give the shutdown time to
    start (the idle worker leaving shows it has), and check that the master
    itself stays until that request is answered."""
    os.kill(bare.proc.pid, signal.SIGTERM)
    try:
        Stack.wait_for(lambda: len(children_of(bare.proc.pid)) < WORKERS
                       or bare.proc.poll() is not None, 1, "the idle worker to leave")
    except AssertionError:
        pass
    assert bare.proc.poll() is None, \
        "the master exited with a request in flight\n" + bare.output()


@pytest.fixture
def bare(stack):
    srv = BareServer(stack)
    yield srv
    srv.stop()


def wait_exit(srv):
    try:
        return srv.proc.wait(EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("sotto serve still running %ds after SIGTERM\n%s"
                    % (EXIT_TIMEOUT, srv.output()))


def test_sigterm_on_idle_pool_exits_zero_and_leaves_no_worker(bare):
    workers = children_of(bare.proc.pid)
    assert len(workers) == WORKERS
    os.kill(bare.proc.pid, signal.SIGTERM)
    rc = wait_exit(bare)
    assert rc == 0, "exit status %d\n%s" % (rc, bare.output())
    Stack.wait_for(lambda: not any(pid_alive(p) for p in workers), 2,
                   "workers %s to be gone" % workers)


def test_sigterm_finishes_in_flight_request_then_exits_zero(bare):
    body = b'{"action":"post"}'
    headers = {"Content-Type": "application/json"}
    with FcgiConnection(bare.sock, timeout=EXIT_TIMEOUT) as c:
        c.begin()
        c.params(cgi_params("POST", "/pow/challenge", headers=headers, body=body,
                            remote_addr=BARE_IP))
        c.stdin(body[:3])                      # the worker now waits for the rest
        assert not c.readable(0.5), "POST /pow/challenge answered before reading its body"
        sigterm_with_request_in_flight(bare)
        c.stdin(body[3:])
        c.stdin(b"")
        resp = c.read_response()
    # The request is served in full: the challenge it asked for.
    assert resp.status == 200, resp
    assert resp.header("X-Request-Id"), resp
    assert json.loads(resp.body)["action"] == "post", resp
    rc = wait_exit(bare)
    assert rc == 0, "exit status %d\n%s" % (rc, bare.output())


@pytest.fixture
def paused_redis(stack):
    """Pause (SIGSTOP) the main stack's Redis; always resumed afterwards."""
    with open(os.path.join(stack.var, "run", "redis.pid")) as f:
        pid = int(f.read().strip())
    paused = []

    def pause():
        os.kill(pid, signal.SIGSTOP)
        paused.append(True)

    def resume():
        if paused:
            os.kill(pid, signal.SIGCONT)
            paused.clear()

    try:
        yield pause, resume
    finally:
        resume()


def test_sigterm_waits_for_request_blocked_on_slow_dependency_then_exits_zero(
        bare, paused_redis):
    """A request stuck on a slow Redis when SIGTERM arrives is answered normally."""
    pause, resume = paused_redis
    with FcgiConnection(bare.sock, timeout=EXIT_TIMEOUT) as c:
        pause()
        c.begin()
        c.params(cgi_params("GET", "/health", remote_addr=BARE_IP))
        c.stdin(b"")
        assert not c.readable(0.5), "answered although Redis is paused"
        sigterm_with_request_in_flight(bare)
        resume()
        resp = c.read_response()
    assert resp.status == 200, "%r\n%s" % (resp, bare.output())
    assert resp.header("X-Request-Id"), resp
    rc = wait_exit(bare)
    assert rc == 0, "exit status %d\n%s" % (rc, bare.output())


def one_request_phased(sock):
    """GET /config; returns 200-ish status, or which phase failed:
    "refused" (connect or send failed: no worker took it), "unanswered" (the
    connection closed before any response byte), "cut: ..." (a response was
    started and broken off: a bug)."""
    try:
        c = FcgiConnection(sock, timeout=EXIT_TIMEOUT)
    except (ConnectionRefusedError, FileNotFoundError):
        return "refused"
    with c:
        try:
            c.begin()
            c.params(cgi_params("GET", "/config", remote_addr=BARE_IP))
            c.stdin(b"")
        except (BrokenPipeError, ConnectionResetError):
            return "refused"
        try:
            return c.read_response().status
        except (FcgiError, ConnectionResetError) as e:
            if c.received == 0:
                return "unanswered"
            return "cut: %s after %d bytes" % (e, c.received)


def test_sigterm_under_load_cuts_no_response_and_exits_zero(bare):
    """Requests racing SIGTERM are either answered in full or never taken by a
    worker (refused, or closed unanswered from the listen queue); no response
    is broken off half way."""
    results = []
    stop = threading.Event()

    def client():
        while not stop.is_set():
            res = one_request_phased(bare.sock)
            results.append(res)
            if res == "refused":
                return

    threads = [threading.Thread(target=client, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    Stack.wait_for(lambda: len(results) >= 40, 10, "40 requests")
    os.kill(bare.proc.pid, signal.SIGTERM)
    rc = wait_exit(bare)
    stop.set()
    for t in threads:
        t.join(EXIT_TIMEOUT)
    assert rc == 0, "exit status %d\n%s" % (rc, bare.output())
    cut = [x for x in results if x not in (200, "refused", "unanswered")]
    assert cut == [], cut
