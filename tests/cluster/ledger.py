"""The load client of tests/cluster: writes (posts, replies, votes, direct
messages) from several threads, spread over the app hosts, and a ledger of
every request it sent and every answer it got.

An entry is acknowledged when the answer was 2xx. After a scenario,
verify() proves that every acknowledged write is there exactly once (read
back through the API, and the rows each table gained bounded by what was
sent), that every failure was a 503 with Retry-After (or, where a scenario
allows it, a connection lost with a host that died), and that no request
waited longer than the bound a statement timeout implies.
"""
import itertools
import random
import threading
import time
import uuid

import requests
import urllib3

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

REQUEST_TIMEOUT = 30       # seconds; a hang shows up as a latency, not a lost thread
OPS = ("post", "reply", "vote", "dm")


def marker(kind):
    return "%s %s" % (kind, uuid.uuid4().hex)


class Entry:
    __slots__ = ("op", "host", "account", "target", "body", "value", "sent", "done",
                 "status", "retry_after", "error", "result_id")

    def __init__(self, op, host, account, target=None, body=None, value=None):
        self.op, self.host, self.account, self.target = op, host, account, target
        self.body, self.value = body, value
        self.sent = self.done = None
        self.status = self.retry_after = self.error = self.result_id = None

    @property
    def acked(self):
        return self.status is not None and 200 <= self.status < 300

    def __repr__(self):
        return "<%s via %s: %s%s after %.2fs>" % (
            self.op, self.host, self.status, " " + self.error if self.error else "",
            (self.done or 0) - (self.sent or 0))


class Client:
    """HTTPS to the cluster's hosts (a dict name -> base URL)."""

    def __init__(self, bases, fresh=False):
        self.bases = bases
        self.fresh = fresh          # a new connection per request (no keep-alive)
        self.local = threading.local()

    def session(self):
        if self.fresh:
            s = requests.Session()
            s.headers["Connection"] = "close"
            return s
        s = getattr(self.local, "s", None)
        if s is None:
            s = self.local.s = requests.Session()
        return s

    def request(self, host, method, path, token=None, **kw):
        headers = dict(kw.pop("headers", {}))
        if token:
            headers["Authorization"] = "Bearer " + token
        s = self.session()
        try:
            return s.request(method, self.bases[host] + path, headers=headers, verify=False,
                             timeout=kw.pop("timeout", REQUEST_TIMEOUT), **kw)
        finally:
            if self.fresh:
                s.close()


class Account:
    def __init__(self, account_id, token):
        self.id, self.token = account_id, token
        self.posts = []         # ids of this account's seed posts


def must(r, status):
    assert r.status_code == status, "%s %s -> %d %s" % (r.request.method, r.request.url,
                                                         r.status_code, r.text[:300])
    return r.json() if r.content else None


def register(client, host):
    doc = must(client.request(host, "POST", "/auth/register",
                              json={"password": "correct horse battery"}), 201)
    return Account(doc["account_id"], doc["token"])


class Ledger:
    """Accounts, seed posts and DM conversations, then load from threads."""

    def __init__(self, client, hosts, n_accounts=6):
        self.client, self.hosts = client, list(hosts)
        self.entries = []
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.threads = []
        host = itertools.cycle(self.hosts)
        self.accounts = [register(client, next(host)) for _ in range(n_accounts)]
        for a in self.accounts:
            doc = must(client.request(next(host), "POST", "/posts", a.token,
                                      json={"body": marker("seed")}), 201)
            a.posts.append(doc["post"]["id"])
        # One conversation per ordered pair of neighbours: (i starts it from i+1's post).
        self.conversations = []
        for i, a in enumerate(self.accounts):
            b = self.accounts[(i + 1) % len(self.accounts)]
            doc = must(client.request(next(host), "POST", "/dm/start_from_post", a.token,
                                      json={"post_id": b.posts[0]}), 201)
            self.conversations.append((a, b, doc["conversation_id"]))
        self.voted = set()      # (account id, post id): one vote each, so rows are countable

    # -- one write ---------------------------------------------------------
    def _one(self, rnd, host):
        op = rnd.choice(OPS)
        a = rnd.choice(self.accounts)
        if op == "post":
            e = Entry(op, host, a, body=marker("post"))
            method, path, doc = "POST", "/posts", {"body": e.body}
        elif op == "reply":
            target = rnd.choice(rnd.choice(self.accounts).posts)
            e = Entry(op, host, a, target=target, body=marker("reply"))
            method, path, doc = "POST", "/posts/%s/reply" % target, {"body": e.body}
        elif op == "vote":
            with self.lock:
                choices = [(a, p) for b in self.accounts if b is not a for p in b.posts
                           if (a.id, p) not in self.voted]
                if not choices:
                    return
                a, target = rnd.choice(choices)
                self.voted.add((a.id, target))
            e = Entry(op, host, a, target=target, value=rnd.choice((1, -1)))
            method, path, doc = "POST", "/posts/%s/vote" % target, {"value": e.value}
        else:
            a, _, cid = rnd.choice(self.conversations)
            e = Entry(op, host, a, target=cid, body=marker("dm"))
            method, path, doc = "POST", "/dm/%s/send" % cid, {"body": e.body}
        e.sent = time.monotonic()
        try:
            r = self.client.request(host, method, path, a.token, json=doc)
            e.status = r.status_code
            e.retry_after = r.headers.get("Retry-After")
            if e.acked and op in ("post", "reply"):
                e.result_id = r.json()["post"]["id"]
            elif e.acked and op == "dm":
                e.result_id = r.json()["message"]["id"]
            elif not e.acked:
                e.error = r.text[:200]
        except requests.RequestException as ex:
            e.error = type(ex).__name__
        e.done = time.monotonic()
        with self.lock:
            self.entries.append(e)
            # New top-level posts become reply and vote targets.
            if e.acked and op == "post" and len(a.posts) < 40:
                a.posts.append(e.result_id)

    def _run(self, seed, hosts):
        rnd = random.Random(seed)
        for host in itertools.cycle(hosts):
            if self.stop_flag.is_set():
                return
            self._one(rnd, host)

    def start(self, threads=4, hosts=None):
        hosts = list(hosts or self.hosts)
        self.stop_flag.clear()
        for i in range(threads):
            # Each thread starts on another host, so both always get load.
            mine = hosts[i % len(hosts):] + hosts[:i % len(hosts)]
            t = threading.Thread(target=self._run, args=(i, mine), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(REQUEST_TIMEOUT + 5)
        self.threads = []

    # -- what the ledger says ---------------------------------------------------
    def since(self, t):
        with self.lock:
            return [e for e in self.entries if e.sent >= t]

    def acked_after(self, t):
        with self.lock:
            return [e for e in self.entries if e.acked and e.done > t]

    def wait_acks(self, n, after, timeout, what="acknowledged writes"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.acked_after(after)) >= n:
                return
            time.sleep(0.1)
        raise AssertionError("fewer than %d %s within %ds after the event; last answers: %r"
                             % (n, what, timeout, self.entries[-8:]))

    def write_gap(self, start, end):
        """Longest time between two acknowledgements in [start, end] (the outage)."""
        with self.lock:
            times = sorted(e.done for e in self.entries if e.acked and start <= e.done <= end)
        points = [start] + times + [end]
        return max(b - a for a, b in zip(points, points[1:]))

    def failures(self):
        with self.lock:
            return [e for e in self.entries if not e.acked]

    def assert_failures_are_503(self, allow_lost=lambda e: False):
        bad = [e for e in self.failures()
               if not (e.status == 503 and e.retry_after and e.retry_after.isdigit())
               and not allow_lost(e)]
        assert not bad, "failures other than 503 with Retry-After: %r" % bad[:20]

    def assert_latency(self, bound):
        with self.lock:
            slow = [e for e in self.entries if e.done - e.sent > bound]
        assert not slow, "requests slower than %.1f s: %r" % (bound, slow[:20])

    def read(self, host, path, token, params=None, timeout=120):
        """GET path; a 503 or a lost connection (the cluster settling) is
        asked again until timeout. The last answer."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                r = self.client.request(host, "GET", path, token, params=params)
                if r.status_code != 503 or time.monotonic() > deadline:
                    return r
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.5)

    def verify(self, host, counts_before, counts_after):
        """Every acknowledged write is there, read back through host, and no
        table gained more rows than writes were sent to it."""
        acked = [e for e in self.entries if e.acked]
        sent = {op: sum(1 for e in self.entries if e.op == op) for op in OPS}
        ok = {op: sum(1 for e in acked if e.op == op) for op in OPS}
        missing = []
        for e in acked:
            if e.op in ("post", "reply"):
                r = self.read(host, "/posts/%s" % e.result_id, e.account.token)
                if r.status_code != 200 or r.json()["post"]["body"] != e.body:
                    missing.append((e, r.status_code))
            elif e.op == "vote":
                r = self.read(host, "/posts/%s" % e.target, e.account.token)
                if r.status_code != 200 or r.json()["post"]["my_vote"] != e.value:
                    missing.append((e, r.status_code))
        missing += self._verify_dms(host, [e for e in acked if e.op == "dm"])
        assert not missing, "%d acknowledged writes are missing: %r" % (len(missing), missing[:10])
        for table, op in (("posts_top", "post"), ("posts_reply", "reply"), ("votes", "vote"),
                          ("dm_messages", "dm")):
            gained = counts_after[table] - counts_before[table]
            assert ok[op] <= gained <= sent[op], (
                "%s gained %d rows for %d acknowledged and %d sent %s writes"
                % (table, gained, ok[op], sent[op], op))
        return ok, sent

    def _verify_dms(self, host, acked):
        missing = []
        by_conv = {}
        for e in acked:
            by_conv.setdefault(e.target, []).append(e)
        for cid, entries in by_conv.items():
            bodies = []
            cursor = None
            while True:
                params = {"limit": 100}
                if cursor:
                    params["cursor"] = cursor
                r = self.read(host, "/dm/%s/messages" % cid, entries[0].account.token, params)
                doc = must(r, 200)
                bodies += [m["body"] for m in doc["items"]]
                cursor = doc["next_cursor"]
                if not cursor:
                    break
            for e in entries:
                if bodies.count(e.body) != 1:
                    missing.append((e, "seen %d times" % bodies.count(e.body)))
        return missing
