"""
End-to-end fixtures: a real development stack (PostgreSQL, Redis, sotto,
nginx) in a temporary directory, driven through scripts/stack.sh, and
talked to over HTTPS exactly as a browser would.

Fixtures
  stack        session-scoped main stack (2 workers, small body limit,
               CORS for https://app.example, a global rate limit too high to
               be reached by the functional and load tests).
  make_stack   factory for extra stacks with their own settings (the
               rate-limit tests use one with a tiny GLOBAL class, since every
               test talks from 127.0.0.1 and would share its bucket).
  kill_worker  kill_worker(target, pid): kill a worker on purpose (SIGKILL by
               default) and tell target's teardown that its exit is expected.

Holding a lock: `with st.holding(sql) as h:` runs sql in a transaction of
a psql session of its own and waits (through pg_stat_activity, and
pg_locks when lock= names the lock) until every statement of it has run;
h.wait_for_waiters(...) waits until other sessions wait for a lock; the
transaction ends (COMMIT, ROLLBACK on an exception) and psql is reaped
when the block is left.

Every stack's teardown fails on anything in its logs (var/log/*: sotto
serve, sotto moderate, cleanup, migrate...) that shows a sanitizer report
(AddressSanitizer, LeakSanitizer, UBSan "runtime error:") or a worker exit
nobody asked for, and when sotto serve or sotto moderate died by itself.
Only exits of the pids a test passed to kill_worker are allowed. The bare
`sotto serve` processes some tests start (test_shutdown, test_systemd) and
every subcommand run through run_sotto() are held to the same rules.

Settings: SOTTO_BIN picks the server binary (default build/san/sotto when
built, else ./sotto); SOTTO_E2E_KEEP=1 keeps the temporary directories.
A test whose tool is missing (Chromium, systemd's) skips only when run by
hand: under CI=1 or SOTTO_TEST_STRICT=1 (make check sets it) it fails.
Other SOTTO_* variables of the caller are not passed to the stacks.
"""
import contextlib
import hashlib
import itertools
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import warnings

import pytest
import requests
import urllib3

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STACK_SH = os.path.join(REPO, "scripts", "stack.sh")
REQUEST_TIMEOUT = 5          # seconds, every HTTP request
# Deadlines, not expectations: on a loaded machine (2 cores, several suites)
# initdb and migrations under the sanitizers took over 90 s.
STACK_UP_TIMEOUT = 300       # seconds, `stack.sh up` (initdb + migrations)
STACK_CMD_TIMEOUT = 180      # seconds, `stack.sh stop|start|down`
LOG_TAIL_LINES = 40
DEADLOCK_REPORT_SECONDS = 3   # how long a "no deadlock" check watches the count
HOLD_TIMEOUT = 30            # seconds, a hold (or a waiter behind it) to show in PostgreSQL
RELEASE_TIMEOUT = 30         # seconds, a holder to end its transaction and exit
HOLD_POLL_INTERVAL = 0.1     # seconds between two looks at pg_stat_activity

# The stack uses a self-signed certificate.
urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)

# Settings the suite relies on; tests read them from here, not from literals.
MAIN_SETTINGS = {
    "SOTTO_WORKERS": "2",
    "SOTTO_BODY_MAX_BYTES": "4096",     # nginx itself allows 64 KiB
    "SOTTO_CORS_ORIGINS": "https://app.example",
    "SOTTO_RATE_GLOBAL": "1000000/60",  # load tests must never be limited
    "SOTTO_SHUTDOWN_TIMEOUT_MS": "10000",
    # Accounts: the main stack asks no proof of work and limits no sign-ups,
    # so that every test can make accounts freely; test_pow and the
    # rate-limit tests use stacks of their own for those.
    "SOTTO_POW_REGISTER": "0",
    "SOTTO_POW_LOGIN": "0",
    "SOTTO_RATE_REGISTER": "1000000/60",
    "SOTTO_RATE_LOGIN": "1000000/60",
    # Likewise for writing content: no proof of work, no class limits.
    **{"SOTTO_POW_%s" % a: "0"
       for a in ("POST", "REPLY", "VOTE", "FLAG", "DM", "COMMUNITY", "GROUP")},
    **{"SOTTO_RATE_%s" % c: "1000000/60"
       for c in ("POST", "VOTE", "FLAG", "DM", "COMMUNITY", "EXPORT", "CHALLENGE", "GROUP",
                 "REFRESH", "BLOCK", "MOD_INVITE", "MOD_JOIN", "MOD_DECISION")},
    # Accounts count as established from their first day, so that flags and
    # votes of freshly registered test accounts hold posts and move trust;
    # test_hostile_flagger.py checks the default (3 days) on a stack of its own.
    "SOTTO_FLAG_MIN_AGE_DAYS": "0",
    # Every ranked walk takes its own snapshot, so a test sees its own votes at once.
    "SOTTO_FEED_SNAPSHOT_SHARE": "0",
    # `sotto moderate` runs and scores every post but never holds one here:
    # tests post arbitrary texts. test_moderate.py uses stacks of its own.
    "SOTTO_MODERATION_THRESHOLD": "off",
}

# Variables from the caller's environment that would leak into the stack.
_LEAKY = re.compile(r"^(SOTTO_|DATABASE_URL$|REDIS_URL$|JWT_SECRET$|IP_HMAC_KEY$|"
                    r"CONTENT_KEYS$|ADMIN_REVIEW_TOKEN$|ADMIN_UI_TOKEN$|"
                    r"LISTEN_FDS$|LISTEN_PID$|LISTEN_FDNAMES$|NOTIFY_SOCKET$|"
                    r"WATCHDOG_USEC$|WATCHDOG_PID$|CREDENTIALS_DIRECTORY$)")


def strict():
    """Must every test run (CI, make check), rather than skip for a missing tool?"""
    return (os.environ.get("CI", "").lower() not in ("", "0", "false")
            or os.environ.get("SOTTO_TEST_STRICT") == "1")


def skip_unless_strict(why):
    """Skip for a missing tool when run by hand; fail under CI or make check."""
    if strict():
        pytest.fail("required under CI and make check: %s" % why, pytrace=False)
    pytest.skip(why)


def sotto_binary():
    """$SOTTO_BIN when set, else the newer of the sanitized and the plain build
    (a sanitized build left over from older code must not be tested instead)."""
    if os.environ.get("SOTTO_BIN"):
        return os.path.abspath(os.environ["SOTTO_BIN"])
    plain = os.path.join(REPO, "sotto")
    san = os.path.join(REPO, "build", "san", "sotto")
    if not os.path.exists(san):
        return plain
    if os.path.exists(plain) and os.path.getmtime(plain) > os.path.getmtime(san):
        return plain
    return san


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class TimeoutSession(requests.Session):
    """A requests.Session that never waits forever and never verifies TLS."""

    def __init__(self, timeout=REQUEST_TIMEOUT):
        super().__init__()
        self.verify = False
        self.default_timeout = timeout

    def request(self, method, url, **kw):
        kw.setdefault("timeout", self.default_timeout)
        kw.setdefault("allow_redirects", False)
        # Per request: REQUESTS_CA_BUNDLE in the environment would override the
        # session's verify=False (requests' merge_environment_settings).
        kw.setdefault("verify", False)
        return super().request(method, url, **kw)


def tail(path, lines=LOG_TAIL_LINES):
    try:
        with open(path, "rb") as f:
            data = f.read()[-65536:]
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)
    text = data.decode("utf-8", "replace").splitlines()
    return "\n".join(text[-lines:])


def read_env_file(path):
    """KEY=VALUE lines (optionally quoted) -> dict. Comments and blanks skipped."""
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            if line.startswith("export "):
                line = line[len("export "):]
            k, v = line.split("=", 1)
            v = v.strip()
            if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
                v = v[1:-1]
            out[k.strip()] = v
    return out


class Stack:
    """One development stack under its own temporary directory."""

    def __init__(self, name, settings):
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix="sotto-e2e-%s-" % name)
        # postgres (runuser -u postgres) must traverse it when we run as root.
        os.chmod(self.tmp, 0o755)
        self.var = os.path.join(self.tmp, "var")
        self.https_port, self.http_port = free_ports(2)
        self.settings = dict(settings)
        self.base_url = "https://127.0.0.1:%d" % self.https_port
        self.http_url = "http://127.0.0.1:%d" % self.http_port
        self.session = TimeoutSession()
        self.up_output = ""
        self.started = False
        self.expected_exits = set()   # worker pids a test killed on purpose

    # -- environment and stack.sh ------------------------------------------
    @property
    def env(self):
        env = {k: v for k, v in os.environ.items() if not _LEAKY.match(k)}
        env.update({
            "SOTTO_VAR": self.var,
            "SOTTO_HTTPS_PORT": str(self.https_port),
            "SOTTO_HTTP_PORT": str(self.http_port),
            "SOTTO_BIN": sotto_binary(),
        })
        env.update(self.settings)
        return env

    def _run(self, args, timeout):
        """Run stack.sh; returns (returncode, output). Output goes through a file,
        not a pipe, so a daemon that inherits stdout cannot keep us waiting.
        On timeout the script's own process group is killed (the services it
        started daemonize into sessions of their own) and TimeoutError raised."""
        with tempfile.TemporaryFile() as out:
            p = subprocess.Popen(["bash", STACK_SH] + args, cwd=REPO, env=self.env,
                                 stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
            try:
                rc = p.wait(timeout)
            except subprocess.TimeoutExpired:
                stuck = process_tree(p.pid)
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
                rc = None
            out.seek(0)
            text = out.read().decode("utf-8", "replace")
        if rc is None:
            raise TimeoutError("stack.sh %s timed out after %ds\n%s\n"
                               "processes of stack.sh when it timed out:\n%s"
                               % (" ".join(args), timeout, text, stuck))
        return rc, text

    def up(self):
        if not os.path.exists(STACK_SH):
            raise RuntimeError("scripts/stack.sh does not exist yet")
        if not os.access(sotto_binary(), os.X_OK):
            raise RuntimeError("no sotto binary at %s (run make)" % sotto_binary())
        self.started = True  # from here on something may run: always tear down
        try:
            rc, self.up_output = self._run(["up"], STACK_UP_TIMEOUT)
        except TimeoutError as e:
            raise RuntimeError("%s\n%s" % (e, self.log_tails()))
        if rc != 0:
            raise RuntimeError("stack.sh up exited %d\n%s\n%s"
                               % (rc, self.up_output, self.log_tails()))
        # stack.sh up should only return once nginx answers; make sure.
        self.wait_for(lambda: self.get("/health").status_code == 200, 30,
                      "GET /health to answer 200 after stack.sh up")

    def down(self):
        """Stop everything and remove the directory; then raise AssertionError
        when the logs show a sanitizer report, an unasked worker exit or a
        service that died by itself (the directory is kept then)."""
        problems = []
        if self.started:
            problems = self.dead_services()
            try:
                rc, out = self._run(["down"], STACK_CMD_TIMEOUT)
                if rc != 0:
                    print("stack.sh down exited %d:\n%s" % (rc, out))
            except TimeoutError as e:
                print(e)
            self.started = False
            # After down: LeakSanitizer reports as a process exits.
            problems += self.log_problems()
        self.session.close()
        if os.environ.get("SOTTO_E2E_KEEP") == "1" or problems:
            print("keeping %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if problems:
            raise AssertionError("the %s stack (%s):\n%s"
                                 % (self.name, self.var, "\n".join(problems)))

    def dead_services(self):
        """sotto serve and sotto moderate when their pid file names a process
        that is gone: nothing but a crash ends them (stack.sh stop removes the
        pid file)."""
        dead = []
        for svc in ("sotto", "moderate"):
            try:
                with open(os.path.join(self.var, "run", "%s.pid" % svc)) as f:
                    pid = int(f.read().strip() or 0)
            except (OSError, ValueError):
                continue
            if pid and not pid_alive(pid):
                dead.append("%s (pid %d) died while the stack was up" % (svc, pid))
        return dead

    def log_problems(self):
        """Sanitizer reports and unasked worker exits in every log of the stack."""
        logdir = os.path.join(self.var, "log")
        try:
            names = sorted(os.listdir(logdir))
        except OSError:
            return []
        out = []
        for n in names:
            path = os.path.join(logdir, n)
            if os.path.isfile(path):
                out += log_problems(read_text(path), "log/" + n, self.expected_exits)
        return out

    def stack(self, cmd, service):
        """`stack.sh stop|start SERVICE`; raises on a non-zero exit."""
        rc, out = self._run([cmd, service], STACK_CMD_TIMEOUT)
        if rc != 0:
            raise AssertionError("stack.sh %s %s exited %d:\n%s" % (cmd, service, rc, out))
        return out

    # -- processes ---------------------------------------------------------
    def sotto_pid(self):
        with open(os.path.join(self.var, "run", "sotto.pid")) as f:
            return int(f.read().strip())

    def worker_pids(self, master=None):
        """Live children of the master (the workers), sorted."""
        master = master or self.sotto_pid()
        return children_of(master)

    def sotto_env(self):
        return read_env_file(os.path.join(self.var, "sotto.env"))

    def redis_cli(self, *args, text=True, timeout=10):
        """redis-cli on the stack's Redis as the stack's ACL user (the password,
        from REDIS_URL unix://user:password@/path, goes through the environment)."""
        m = re.match(r"^unix://([^:@]*):([^@]*)@(/.*)$", self.sotto_env()["REDIS_URL"])
        assert m, "the stack's REDIS_URL carries no credentials"
        env = dict(os.environ, REDISCLI_AUTH=m.group(2))
        return subprocess.run(["redis-cli", "--user", m.group(1), "-s", m.group(3)] + list(args),
                              capture_output=True, text=text, timeout=timeout, env=env)

    def redis(self, *args):
        """One redis-cli command against the stack's Redis; its output, stripped."""
        r = self.redis_cli(*args)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r.stdout.strip()

    def psql(self, sql):
        """Run sql (on stdin: batches may be long) against the stack's database;
        rows as lists of text fields."""
        r = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
                            "-F", "\t", "-d", self.sotto_env()["DATABASE_URL"], "-f", "-"],
                           input=sql, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, "psql failed: %s" % r.stderr
        return [line.split("\t") for line in r.stdout.splitlines() if line]

    def number(self, sql):
        """The one whole number sql selects: one row of one field."""
        (value,), = self.psql(sql)
        return int(value)

    @contextlib.contextmanager
    def holding(self, sql, lock=None, name="holder", end="COMMIT", timeout=HOLD_TIMEOUT):
        """Hold what sql takes while the block runs: sql (one or more
        statements) runs after BEGIN in a psql session of its own, and the
        block starts once PostgreSQL shows that session idle in its
        transaction after all of sql, and, when lock is given (a condition
        on pg_locks' columns, e.g. "relation = 'posts'::regclass AND mode =
        'ShareLock'"), holding such a lock granted. Never a sleep: a bounded
        wait that fails with what the holder's session was doing. Yields a
        Holder (wait_for_waiters, send). Leaving the block sends end
        (COMMIT), or ROLLBACK when the block raised, and reaps psql; psql
        exiting non-zero then fails the test. A session-level lock (e.g.
        pg_advisory_lock) goes with the session, once psql has exited."""
        h = Holder(self, name)
        ok = False
        try:
            h.start(sql)
            h.wait_held(lock, timeout)
            yield h
            ok = True
        finally:
            h.release(end if ok else "ROLLBACK", check=ok)

    def deadlocks(self):
        """Deadlocks PostgreSQL found in the stack's database so far (its log
        leaves ERROR lines out, so they are counted, not grepped)."""
        return int(self.psql("SELECT deadlocks FROM pg_stat_database "
                             "WHERE datname = current_database()")[0][0])

    def assert_no_deadlock_since(self, before):
        """No deadlock since the count before. A backend reports its count
        about a second after it goes idle, so the count is watched for a
        few seconds: a deadlock reported late fails the test, one reported
        later still is missed (a weaker check, never a false failure)."""
        deadline = time.monotonic() + DEADLOCK_REPORT_SECONDS
        while time.monotonic() < deadline:
            assert self.deadlocks() == before, self.log_tails()
            time.sleep(0.25)

    # -- HTTP --------------------------------------------------------------
    def url(self, path):
        return self.base_url + path

    def get(self, path, **kw):
        return self.session.get(self.url(path), **kw)

    def request(self, method, path, **kw):
        return self.session.request(method, self.url(path), **kw)

    def metrics(self):
        r = self.get("/metrics")
        assert r.status_code == 200, (r.status_code, r.text[:500])
        return r.text

    # -- diagnostics -------------------------------------------------------
    def log_tails(self):
        logdir = os.path.join(self.var, "log")
        parts = []
        try:
            names = sorted(os.listdir(logdir))
        except OSError:
            return "(no log directory %s)" % logdir
        for n in names:
            if n.endswith(".log"):
                parts.append("---- %s (%s) ----\n%s" % (n, self.name,
                                                          tail(os.path.join(logdir, n))))
        return "\n".join(parts)

    @staticmethod
    def wait_for(cond, timeout, what, interval=0.05):
        """Poll cond() (exceptions count as false) until true or timeout."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                if cond():
                    return
            except Exception as e:  # noqa: BLE001 - a refused request is "not yet"
                last = e
            if time.monotonic() >= deadline:
                raise AssertionError("timed out after %.1fs waiting for %s (last error: %r)"
                                     % (timeout, what, last))
            time.sleep(interval)


def c_define(source, name):
    """The whole number a #define in source (relative to the repository)
    gives name: a test that depends on a server constant reads it, so
    the two cannot drift apart."""
    with open(os.path.join(REPO, source)) as f:
        m = re.search(r"^#define %s (\d+)\b" % re.escape(name), f.read(), re.M)
    assert m, "no #define %s in %s" % (name, source)
    return int(m.group(1))


def sql_literal(text):
    """text as an SQL string literal (standard_conforming_strings)."""
    return "'%s'" % text.replace("'", "''")


class Holder:
    """A psql session that holds a transaction open (Stack.holding)."""

    _names = itertools.count(1)

    def __init__(self, st, name):
        self.st = st
        # Its application_name in pg_stat_activity: unique, within 63 bytes.
        self.name = ("sotto-test-%s-%d-%d" % (name, os.getpid(), next(self._names)))[-63:]
        self.marker = "held by " + self.name
        self.proc = None
        self.pid = None          # the session's backend pid, once held
        self._err = tempfile.TemporaryFile()

    def start(self, sql):
        url = self.st.sotto_env()["DATABASE_URL"]
        self.proc = subprocess.Popen(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._err, text=True,
            env=dict(os.environ, PGAPPNAME=self.name))
        # The marker runs last: once it is the session's query, idle in
        # transaction, every statement before it has run.
        try:
            self.send("BEGIN;\n%s\nSELECT %s;"
                      % (self._statements(sql), sql_literal(self.marker)))
        except OSError as e:     # psql is gone already (it could not connect)
            try:
                self.proc.wait(RELEASE_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
            raise AssertionError("the psql session to hold a lock (%s) stopped reading "
                                 "(%s):\n%s" % (self.name, e, self.stderr()))

    @staticmethod
    def _statements(sql):
        sql = sql.strip()
        return sql if sql.endswith(";") else sql + ";"

    def send(self, sql):
        """More statements for the holder's transaction (not waited for)."""
        self.proc.stdin.write(self._statements(sql) + "\n")
        self.proc.stdin.flush()

    def stderr(self):
        self._err.seek(0)
        return self._err.read().decode("utf-8", "replace")

    def session(self):
        """The holder's row of pg_stat_activity, for a failure's message."""
        return self.st.psql("SELECT pid, state, wait_event_type, wait_event, query "
                            "FROM pg_stat_activity WHERE application_name = %s"
                            % sql_literal(self.name))

    def _poll(self, cond, timeout, what):
        """Call cond() until it is true; fail at the deadline or when psql exits."""
        deadline = time.monotonic() + timeout
        while not cond():
            if self.proc.poll() is not None:
                raise AssertionError("the psql session holding the lock (%s) exited %d "
                                     "before %s:\n%s"
                                     % (self.name, self.proc.returncode, what, self.stderr()))
            if time.monotonic() >= deadline:
                raise AssertionError("timed out after %.1fs waiting for %s; the holder's "
                                     "session (%s): %r; psql's errors: %r"
                                     % (timeout, what, self.name, self.session(),
                                        self.stderr()))
            time.sleep(HOLD_POLL_INTERVAL)

    def wait_held(self, lock, timeout):
        granted = ("AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.granted "
                   "AND (%s))" % lock) if lock else ""

        def held():
            rows = self.st.psql(
                "SELECT a.pid FROM pg_stat_activity a WHERE a.application_name = %s "
                "AND a.state = 'idle in transaction' AND strpos(a.query, %s) > 0 %s"
                % (sql_literal(self.name), sql_literal(self.marker), granted))
            if rows:
                self.pid = int(rows[0][0])
            return bool(rows)
        self._poll(held, timeout, "the hold%s to be in place" % (" (%s)" % lock if lock else ""))

    def waiters(self, like):
        """Sessions other than the holder's waiting for a lock while running a
        statement that contains like."""
        return int(self.st.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> %d AND strpos(query, %s) > 0"
            % (self.pid, sql_literal(like)))[0][0])

    def wait_for_waiters(self, like, count=1, what=None, unless=None, timeout=HOLD_TIMEOUT):
        """Wait until exactly count sessions wait for a lock (pg_stat_activity:
        wait_event_type 'Lock') while running a statement containing like;
        or until unless(), when given, is true (the session got through
        without waiting)."""
        what = what or "%d session(s) running %r to wait for a lock" % (count, like)
        self._poll(lambda: (unless is not None and unless()) or self.waiters(like) == count,
                   timeout, what)

    def release(self, end, check):
        """End the transaction with end, close psql's input and reap it.
        check: fail when psql does not end it and exit 0 (not while another
        error is on its way; a holder that never got its lock is then ended
        at once rather than waited for)."""
        if self.proc is None:        # psql never started
            self._err.close()
            return
        try:
            if not check and self.pid is None and self.proc.poll() is None:
                self._terminate()
            try:
                if self.proc.poll() is None:
                    self.proc.stdin.write(end + ";\n")
                self.proc.stdin.close()
            except OSError:          # psql has exited already: nothing to end
                pass
            try:
                rc = self.proc.wait(RELEASE_TIMEOUT)
            except subprocess.TimeoutExpired:
                stuck = self.session()
                self._terminate()
                self.proc.kill()
                self.proc.wait()
                if check:
                    raise AssertionError("the psql session holding the lock (%s) did not end "
                                         "within %ds of %s: %r"
                                         % (self.name, RELEASE_TIMEOUT, end, stuck))
                return
            if check and rc != 0:
                raise AssertionError("the psql session holding the lock (%s) exited %d:\n%s"
                                     % (self.name, rc, self.stderr()))
        finally:
            if self.proc.returncode is None:     # whatever failed above: never leave it
                self.proc.kill()
                self.proc.wait()
            self._err.close()

    def _terminate(self):
        self.st.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE application_name = %s" % sql_literal(self.name))


def children_of(pid):
    """Child pids of pid from /proc (task children file, else a /proc scan)."""
    path = "/proc/%d/task/%d/children" % (pid, pid)
    try:
        with open(path) as f:
            return sorted(int(x) for x in f.read().split())
    except FileNotFoundError:
        if not os.path.exists("/proc/%d" % pid):
            return []
    except OSError:
        pass
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            kids.append(int(d))
    return sorted(kids)


def process_tree(pid):
    """pid and its descendants as 'pid state wchan: cmdline' lines (diagnostics)."""
    lines, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/cmdline" % p, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
            with open("/proc/%d/wchan" % p) as f:
                wchan = f.read().strip()
            with open("/proc/%d/stat" % p) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        lines.append("%d %s %s: %s" % (p, state, wchan, cmd))
        todo.extend(children_of(p))
    return "\n".join(lines)


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


# -- what no log may hold ---------------------------------------------------
# ASan and LSan open with "==pid==ERROR: <tool>", UBSan with
# "file:line:col: runtime error: ..."; each ends with a SUMMARY line.
SANITIZER_RE = re.compile(r"ERROR: (?:AddressSanitizer|LeakSanitizer|MemorySanitizer|"
                          r"ThreadSanitizer)|SUMMARY: (?:AddressSanitizer|LeakSanitizer|"
                          r"UndefinedBehaviorSanitizer)|:\d+:\d+: runtime error: ")
# The pool's line for a worker exit nobody asked for (app/pool.c, pool_reap);
# asked-for exits (reload, shutdown) are logged at level info.
WORKER_EXIT_RE = re.compile(r"^worker (\d+) \(slot \d+\) (?:killed by signal \d+|"
                            r"exited with status \d+|exited unasked)$")
PROBLEM_CONTEXT_LINES = 12


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)


def log_problems(text, where, expected_exits=()):
    """What in text (a log, or a process's output) shows a memory or
    undefined-behaviour error, or a worker that exited although nobody asked
    it to (pids in expected_exits excepted): one description per finding,
    with the lines that follow a sanitizer report."""
    lines = text.splitlines()
    found = []
    reported_until = -1
    for i, line in enumerate(lines):
        if i <= reported_until:
            continue
        if SANITIZER_RE.search(line):
            reported_until = i + PROBLEM_CONTEXT_LINES
            found.append("%s:%d: sanitizer report:\n  %s" % (
                where, i + 1, "\n  ".join(lines[i:reported_until + 1])))
            continue
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        m = WORKER_EXIT_RE.match(str(obj.get("msg", ""))) if isinstance(obj, dict) else None
        if m and obj.get("level") != "info" and int(m.group(1)) not in expected_exits:
            found.append("%s:%d: unasked worker exit: %s" % (where, i + 1, line))
    return found


def assert_clean_output(text, what, expected_exits=()):
    problems = log_problems(text, what, expected_exits)
    assert not problems, "\n".join(problems)


def run_sotto(args, env, timeout=60, **kw):
    """`sotto ARGS` (the binary under test) from the top of the tree, output
    captured as text; fails on a sanitizer report in that output whatever
    the exit status the test expects."""
    r = subprocess.run([sotto_binary()] + list(args), cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    assert_clean_output(r.stdout + r.stderr, "sotto %s" % " ".join(args))
    return r


def pytest_configure(config):
    # pytest resets warning filters around each test; register ours with it.
    config.addinivalue_line(
        "filterwarnings", "ignore::urllib3.exceptions.InsecureRequestWarning")


# -- fixtures --------------------------------------------------------------
_ACTIVE_STACKS = []


def _start(name, settings):
    st = Stack(name, settings)
    _ACTIVE_STACKS.append(st)
    try:
        st.up()
    except Exception as e:
        msg = str(e)
        try:
            st.down()
        except AssertionError as found:
            msg += "\n%s" % found
        _ACTIVE_STACKS.remove(st)
        pytest.fail("could not start the %s stack: %s" % (name, msg), pytrace=False)
    return st


def _stop(st):
    if st in _ACTIVE_STACKS:
        _ACTIVE_STACKS.remove(st)
    st.down()


@pytest.fixture(scope="session")
def stack():
    st = _start("main", MAIN_SETTINGS)
    yield st
    _stop(st)


@pytest.fixture(scope="module")
def make_stack():
    """Factory: make_stack(name, **settings) -> a started Stack, torn down with the module."""
    made = []

    def make(name, **settings):
        merged = dict(MAIN_SETTINGS)
        merged.update(settings)
        st = _start(name, merged)
        made.append(st)
        return st

    yield make
    problems = []
    for st in made:
        try:
            _stop(st)
        except AssertionError as e:
            problems.append(str(e))
    assert not problems, "\n".join(problems)


@pytest.fixture
def kill_worker():
    """kill_worker(target, pid, sig=SIGKILL): a test that kills workers on
    purpose says so by taking this fixture and killing through it; target
    (a Stack, or a server with expected_exits) then lets that pid's exit
    pass its log check. No other test may have a worker exit."""
    def kill(target, pid, sig=signal.SIGKILL):
        target.expected_exits.add(pid)
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return kill


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    uses_stack = {"stack", "make_stack"} & set(getattr(item, "fixturenames", ()))
    if rep.failed and uses_stack and _ACTIVE_STACKS:
        for st in list(_ACTIVE_STACKS):
            rep.sections.append(("sotto logs: %s stack (%s)" % (st.name, st.var),
                                 st.log_tails()))


# -- contract helpers shared by the tests -----------------------------------
REQUEST_ID_RE = re.compile(r"^[0-9a-f]{32}$")
CSP = "default-src 'none'; frame-ancestors 'none'"


def describe(r):
    return "%s %s -> %d %r %s" % (r.request.method, r.request.url, r.status_code,
                                  dict(r.headers), r.text[:300])


def assert_error(r, status, code):
    """r is the contract's error: status, JSON {"error":{"code","message"}}."""
    assert r.status_code == status, describe(r)
    ctype = r.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip() == "application/json", describe(r)
    body = r.json()
    assert isinstance(body, dict) and set(body) == {"error"}, describe(r)
    err = body["error"]
    assert isinstance(err, dict), describe(r)
    assert err.get("code") == code, describe(r)
    assert isinstance(err.get("message"), str) and err["message"], describe(r)
    return err


def assert_standard_headers(r, json_body=True):
    """The headers the contract (docs/api.md) puts on every response (through nginx, over TLS)."""
    h = r.headers
    rid = h.get("X-Request-Id", "")
    assert REQUEST_ID_RE.match(rid), "X-Request-Id %r: %s" % (rid, describe(r))
    assert h.get("Cache-Control") == "no-store", describe(r)
    assert h.get("X-Content-Type-Options") == "nosniff", describe(r)
    assert h.get("Referrer-Policy") == "no-referrer", describe(r)
    if json_body:
        assert h.get("Content-Security-Policy") == CSP, describe(r)
    hsts = h.get("Strict-Transport-Security", "")
    assert re.search(r"max-age=\d+", hsts), describe(r)
    server = h.get("Server")
    assert server is None or not re.search(r"\d", server), \
        "Server header reveals a version: %r" % server


def raw_request(st, method, path, headers=None, body=None, source=None,
                declared_length=None):
    """One HTTPS request with http.client, for what requests cannot do: a
    source address other than 127.0.0.1 (source="127.0.0.2"; still loopback,
    but another client for nginx and sotto), or a Content-Length larger than
    the body actually sent. Returns (status, {lower-case name: value}, body)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", st.https_port, timeout=REQUEST_TIMEOUT,
                                       context=ctx,
                                       source_address=(source, 0) if source else None)
    try:
        conn.putrequest(method, path)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if declared_length is not None:
            conn.putheader("Content-Length", str(declared_length))
        elif body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        if body:
            conn.send(body)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


class Load:
    """n threads hammering GET path until stopped; each keeps its own session.

    results: list of status codes (int) or exception class names (str).
    """

    def __init__(self, st, path="/config", threads=4):
        self.st = st
        self.path = path
        self.n = threads
        self.stop_event = threading.Event()
        self.results = []
        self.lock = threading.Lock()
        self.threads = []

    def _run(self):
        s = TimeoutSession()
        url = self.st.url(self.path)
        try:
            while not self.stop_event.is_set():
                try:
                    r = s.get(url)
                    res = r.status_code
                except requests.RequestException as e:
                    res = type(e).__name__
                with self.lock:
                    self.results.append(res)
        finally:
            s.close()

    def __enter__(self):
        for _ in range(self.n):
            t = threading.Thread(target=self._run, daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(REQUEST_TIMEOUT + 5)

    def __exit__(self, *exc):
        self.stop()

    def count(self):
        with self.lock:
            return len(self.results)

    def wait_requests(self, n, timeout=10):
        Stack.wait_for(lambda: self.count() >= n, timeout, "%d load requests" % n)

    def failures(self):
        with self.lock:
            return [x for x in self.results if x != 200]


def metric_value(text, name, labels=None):
    """Value of the first sample `name{labels}` in Prometheus text, or None."""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                              m.group(2) or ""))
        if labels and any(got.get(k) != v for k, v in labels.items()):
            continue
        return float(m.group(3))
    return None


def solve_pow(action, challenge, difficulty):
    """The nonce (decimal string) that solves a challenge, with Python's hashlib
    as an independent SHA-256: leading zero bits, most significant first."""
    prefix = ("sotto-pow:%s:%s:" % (action, challenge)).encode()
    nonce = 0
    while True:
        digest = hashlib.sha256(prefix + str(nonce).encode()).digest()
        if int.from_bytes(digest, "big") >> (256 - difficulty) == 0:
            return str(nonce)
        nonce += 1


def pow_header(st, action):
    """Ask st for a challenge for action and solve it: {"X-PoW": "<challenge>:<nonce>"}."""
    r = st.request("POST", "/pow/challenge", json={"action": action})
    assert r.status_code == 200, describe(r)
    body = r.json()
    return {"X-PoW": "%s:%s" % (body["challenge"],
                                solve_pow(action, body["challenge"], body["difficulty"]))}


CLEANUP_TIMEOUT = 60


def stack_command(st, args, timeout=CLEANUP_TIMEOUT):
    """`sotto ARGS` with the stack's settings file only, as the operator
    (or a timer) runs it on the host."""
    env = {k: v for k, v in st.env.items()
           if not k.startswith(("SOTTO_", "ADMIN_")) and
           k not in ("DATABASE_URL", "REDIS_URL", "JWT_SECRET", "IP_HMAC_KEY", "CONTENT_KEYS")}
    env["SOTTO_ENV_FILE"] = os.path.join(st.var, "sotto.env")
    return run_sotto(args, env, timeout=timeout)


def cleanup(st):
    """`sotto cleanup` with the stack's settings file, as the timer runs it."""
    return stack_command(st, ["cleanup"])


DEFAULT_PASSWORD = "correct horse battery"


def register(st, password=DEFAULT_PASSWORD, headers=None):
    """A new password account on st: (account_id, token)."""
    r = st.request("POST", "/auth/register", json={"password": password},
                   headers=headers or {})
    assert r.status_code == 201, describe(r)
    body = r.json()
    return body["account_id"], body["token"]


def commandstats(st):
    """Calls per Redis command so far, from INFO commandstats."""
    calls = {}
    for line in st.redis("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_"):
            name, rest = line[len("cmdstat_"):].split(":", 1)
            calls[name] = int(rest.split("calls=", 1)[1].split(",", 1)[0])
    return calls


def bearer(token):
    return {"Authorization": "Bearer " + token}


def delete_me(st, token, password=DEFAULT_PASSWORD, proof=None):
    """DELETE /me with the credentials again: {"password"}, or for a key
    account proof, the fields of a fresh key proof (accounts.key_proof)."""
    return st.request("DELETE", "/me", json=proof if proof is not None else {"password": password},
                      headers=bearer(token))
