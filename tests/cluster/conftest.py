"""Fixtures of the cluster scenarios. These tests run inside the client's
namespace (tests/cluster/cluster.py check starts them there) against the
topology cluster.py built; they change it (kill nodes, cut links) and put it
back before the next scenario."""
import json
import subprocess
import time

import pytest

import cluster
from ledger import Client



@pytest.fixture(scope="session")
def state():
    st = cluster.load_state()
    assert st["procs"], "no cluster is up (tests/cluster/cluster.py up)"
    return st


@pytest.fixture(scope="session")
def client():
    bases = {h: cluster.host_url(h, "") for h in cluster.APP_HOSTS}
    bases["front"] = cluster.front_url("")
    return Client(bases)


@pytest.fixture(scope="session")
def fresh_client():
    bases = {h: cluster.host_url(h, "") for h in cluster.APP_HOSTS}
    bases["front"] = cluster.front_url("")
    return Client(bases, fresh=True)


@pytest.fixture(scope="session")
def figures():
    """Measured figures, written to cluster.figures_path() when the session ends
    (docs/scaling.md quotes them; tests/cluster/bench.py reads them)."""
    figs = {}
    yield figs
    with open(cluster.figures_path(), "w") as f:
        json.dump(figs, f, indent=1, sort_keys=True)


def psql(sql, timeout=120):
    """Rows of sql on the primary. The cluster may be settling after a
    scenario (a rejoining node, a switch): connection failures are retried
    until timeout."""
    deadline = time.monotonic() + timeout
    while True:
        r = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-F", "\t",
                            "-d", cluster.DATABASE_URL, "-c", sql],
                           capture_output=True, text=True, timeout=60)
        if r.returncode == 0:
            return [line.split("\t") for line in r.stdout.splitlines() if line]
        assert r.returncode == 2 and time.monotonic() < deadline, r.stderr
        time.sleep(1)


def counts():
    """Rows per table the ledger writes to."""
    row = psql("SELECT (SELECT count(*) FROM posts WHERE parent_pk IS NULL),"
               " (SELECT count(*) FROM posts WHERE parent_pk IS NOT NULL),"
               " (SELECT count(*) FROM votes), (SELECT count(*) FROM dm_messages)")[0]
    return dict(zip(("posts_top", "posts_reply", "votes", "dm_messages"), map(int, row)))


def healthy():
    """Three PostgreSQL members streaming with a synchronous standby, a Redis
    master the Sentinels agree on with its replica, both app hosts answering."""
    c = cluster.patroni_cluster()
    if c is None:
        return False
    members = c.get("members", [])
    if len(members) != 3 or not all(m.get("state") in ("running", "streaming") for m in members):
        return False
    if cluster.sync_standby() is None or cluster.pg_leader() is None:
        return False
    master = cluster.redis_master()
    if master is None or "connected_slaves:1" not in cluster.redis_cli(master, "INFO", "replication"):
        return False
    return all(cluster.app_health(h) for h in cluster.APP_HOSTS)


def settle():
    cluster.wait_for(healthy, 240, "the whole cluster to be healthy", interval=1)


@pytest.fixture
def whole():
    """The whole topology is up before the test and after it (the test puts
    back what it broke; this waits until that has settled)."""
    cluster.wait_for(healthy, 240, "the whole cluster to be healthy", interval=1)
    yield
    cluster.wait_for(healthy, 240, "the whole cluster to be healthy again", interval=1)


def wait_until(cond, timeout, what, interval=0.05):
    """Seconds until cond() held (polled), or AssertionError."""
    start = time.monotonic()
    cluster.wait_for(cond, timeout, what, interval)
    return time.monotonic() - start
