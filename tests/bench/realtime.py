#!/usr/bin/python3
"""tests/bench/realtime.py — the real-time line of `make bench` (run by
tests/bench/run.sh as the line `realtime`).

With BENCH_RT_SUBSCRIBERS (1000) idle WebSocket subscribers connected, each
on its own key account (so on its own nchan channel), it reports:
  (a) busy_workers: the pool's workers inside a request (/metrics
      sotto_workers_busy, minus the /metrics request itself) - idle
      subscribers must hold none: nginx holds them;
  (b) nginx memory growth per subscriber: the nginx workers' proportional
      set size (Pss, /proc/<pid>/smaps_rollup, so nchan's shared memory is
      not counted once per worker) before and after connecting;
  (c) p50/p99 from sending a reply (POST /posts/{id}/reply by a second
      account) to receiving its post.reply event on one more subscriber,
      while the others idle (BENCH_RT_SAMPLES, 200, one at a time).
Prints a human summary on stderr and one JSON line on stdout. Exit 1 when
busy_workers is not 0 or p99 is not under BENCH_RT_MAX_P99_MS (250).

Environment: BENCH_HTTPS_PORT, BENCH_VAR (the stack's SOTTO_VAR). The
accounts it makes are deleted at the end. Needs SOTTO_POW_REGISTER=0 and
SOTTO_POW_POST=SOTTO_POW_REPLY=0 and rate limits out of reach (run.sh's
BENCH_SETTINGS)."""
import base64
import concurrent.futures
import json
import os
import ssl
import sys
import threading
import time

import nacl.signing
import requests
import urllib3
import websocket

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

PORT = int(os.environ["BENCH_HTTPS_PORT"])
VAR = os.environ["BENCH_VAR"]
N = int(os.environ.get("BENCH_RT_SUBSCRIBERS", "1000"))
SAMPLES = int(os.environ.get("BENCH_RT_SAMPLES", "200"))
MAX_P99_MS = float(os.environ.get("BENCH_RT_MAX_P99_MS", "250"))
BASE = "https://127.0.0.1:%d" % PORT
JOBS = 8
TIMEOUT = 10

local = threading.local()


def say(msg):
    print("realtime: %s" % msg, file=sys.stderr, flush=True)


def session():
    """One per thread. verify=False goes on each request: REQUESTS_CA_BUNDLE
    in the environment would override a session's."""
    if not hasattr(local, "s"):
        local.s = requests.Session()
    return local.s


def call(method, path, token=None, doc=None, expect=(200, 201, 204)):
    h = {"Authorization": "Bearer " + token} if token else {}
    r = session().request(method, BASE + path, json=doc, headers=h, timeout=TIMEOUT,
                          verify=False)
    if r.status_code not in expect:
        raise RuntimeError("%s %s -> %d %s" % (method, path, r.status_code, r.text[:200]))
    return r.json() if r.content else None


def b64u(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def key_proof(sk):
    """A fresh Ed25519 proof of sk: register, log in, or delete the account."""
    pub = b64u(bytes(sk.verify_key))
    ch = call("POST", "/auth/challenge", doc={"public_key": pub})["challenge"]
    sig = b64u(sk.sign(b"sotto-auth:" + ch.encode()).signature)
    return {"public_key": pub, "challenge": ch, "signature": sig}


def register_key(_=None):
    """A new key account: (signing key, token)."""
    sk = nacl.signing.SigningKey.generate()
    return sk, call("POST", "/auth/register", doc=key_proof(sk))["token"]


def delete_account(account):
    """DELETE /me asks for the credentials again: a fresh proof of the key.
    True when the account is gone; a failure is reported by the caller, so a
    clean-up that goes wrong never hides the figures already taken."""
    sk, token = account
    try:
        call("DELETE", "/me", token, doc=key_proof(sk), expect=(204,))
        return True
    except Exception as e:  # noqa: BLE001 - counted and reported
        delete_account.last_error = repr(e)[:300]
        return False


def subscribe(token):
    t = call("POST", "/events/ticket", token)["ticket"]
    return websocket.create_connection("wss://127.0.0.1:%d/events/stream?ticket=%s" % (PORT, t),
                                       timeout=TIMEOUT, sslopt={"cert_reqs": ssl.CERT_NONE})


def nginx_pss_kib():
    with open(os.path.join(VAR, "run", "nginx.pid")) as f:
        master = int(f.read().strip())
    with open("/proc/%d/task/%d/children" % (master, master)) as f:
        workers = [int(p) for p in f.read().split()]
    total = 0
    for pid in workers:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
    return total, len(workers)


def busy_workers():
    r = session().get(BASE + "/metrics", timeout=TIMEOUT, verify=False)
    for line in r.text.splitlines():
        if line.startswith("sotto_workers_busy "):
            return int(float(line.split()[1])) - 1  # this /metrics request
    raise RuntimeError("no sotto_workers_busy in /metrics")


def pct(sorted_ms, q):
    return sorted_ms[min(len(sorted_ms) - 1, max(0, int(round(q * len(sorted_ms))) - 1))]


def measure_latency(owner, writer):
    """SAMPLES replies by writer to owner's post; ms from send to receipt."""
    post_id = call("POST", "/posts", owner, {"body": "realtime bench %s" % b64u(os.urandom(8))})[
        "post"]["id"]
    ws = subscribe(owner)
    arrived, lock = {}, threading.Lock()

    def receive():
        try:
            while len(arrived) < SAMPLES:
                item = json.loads(ws.recv())
                with lock:
                    arrived[item["data"]["reply_id"]] = time.monotonic()
        except Exception as e:  # noqa: BLE001 - reported as missing samples
            say("receiver stopped: %r" % e)

    th = threading.Thread(target=receive, daemon=True)
    th.start()
    sent = {}
    for i in range(SAMPLES):
        t0 = time.monotonic()
        rid = call("POST", "/posts/%s/reply" % post_id, writer,
                   {"body": "reply %d %s" % (i, b64u(os.urandom(6)))})["post"]["id"]
        sent[rid] = t0
        deadline = time.monotonic() + 2
        while rid not in arrived and time.monotonic() < deadline:
            time.sleep(0.0005)
    th.join(2)
    ws.close()
    ms = sorted((arrived[r] - sent[r]) * 1000 for r in sent if r in arrived)
    return ms, SAMPLES - len(ms)


def main():
    pool = concurrent.futures.ThreadPoolExecutor(JOBS)
    say("registering %d key accounts" % (N + 2))
    accounts = list(pool.map(register_key, range(N + 2)))
    owner, writer, idle = (accounts[0][1], accounts[1][1], [t for _, t in accounts[2:]])
    conns = []
    try:
        time.sleep(1)
        pss0, n_workers = nginx_pss_kib()
        say("connecting %d idle WebSocket subscribers" % N)
        conns = list(pool.map(subscribe, idle))
        time.sleep(2)
        pss1, _ = nginx_pss_kib()
        busy = busy_workers()
        ms, lost = measure_latency(owner, writer)
        busy_after = busy_workers()
        alive = sum(1 for c in conns if c.connected)
    finally:
        for c in conns:
            try:
                c.close()
            except Exception:  # noqa: BLE001
                pass
        say("deleting the accounts")
        left = sum(1 for gone in pool.map(delete_account, accounts) if not gone)
        if left:
            say("warning: %d of the %d accounts stay on the stack (the last failure: %s)"
                % (left, len(accounts), getattr(delete_account, "last_error", "?")))
    per_sub = (pss1 - pss0) / N
    res = {
        "name": "realtime", "subscribers": N, "subscribers_alive": alive,
        "busy_workers": busy, "busy_workers_after_samples": busy_after,
        "nginx_workers": n_workers, "nginx_pss_kib_before": pss0, "nginx_pss_kib_after": pss1,
        "nginx_kib_per_subscriber": round(per_sub, 2), "samples": len(ms), "lost": lost,
        "p50_ms": round(pct(ms, 0.50), 3) if ms else None,
        "p99_ms": round(pct(ms, 0.99), 3) if ms else None,
        "accounts_not_deleted": left,
    }
    say("%d idle subscribers (%d still connected): busy workers %d (%d after the samples); "
        "nginx Pss %d -> %d KiB over %d workers = %.2f KiB per subscriber; send->receipt "
        "p50 %s ms, p99 %s ms over %d samples (%d lost)"
        % (N, alive, busy, busy_after, pss0, pss1, n_workers, per_sub, res["p50_ms"],
           res["p99_ms"], len(ms), lost))
    print(json.dumps(res), flush=True)
    ok = busy == 0 and lost == 0 and ms and pct(ms, 0.99) < MAX_P99_MS and alive == N
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
