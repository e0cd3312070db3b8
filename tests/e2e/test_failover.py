"""What the cluster relies on, proven on one host (tests/cluster proves the rest):

- an ended session (logout) and a deleted account are decided by PostgreSQL
  on every cached-record miss, and a worker that connects to a new Redis
  server (a promoted replica, a restart, a flush) drops every cached account
  record before it answers, so neither a lost ended-session marker nor a
  lost deletion marker lets a token in;
- a commit the synchronous standby never confirms (PostgreSQL would wait for
  ever, and a cancelled wait answers success with a WARNING: committed on this
  node only) is answered 503 with Retry-After soon after the statement
  timeout, never 2xx;
- `sotto cleanup` may run on every host at once: one run works, the others
  see its lock and stop.
"""
import os
import subprocess
import time

import pytest

from accounts import jti_hash, jwt_parts, record_name
from conftest import (REPO, assert_error, bearer, delete_me, describe, register, sotto_binary)

CLEANUP_LOCK_KEY = "32492168282058083"   # app/cmd_cleanup.c


@pytest.fixture(scope="module")
def st(make_stack):
    return make_stack("failover", SOTTO_DB_STATEMENT_TIMEOUT_MS="1000")


def test_a_logout_survives_redis_losing_every_key(st):
    _, token = register(st)
    assert st.request("GET", "/me", headers=bearer(token)).status_code == 200
    assert st.request("POST", "/auth/logout", headers=bearer(token)).status_code == 204
    # Redis loses everything (as a promoted replica that never got the newest
    # writes would) and every worker's connection goes with it.
    st.redis("FLUSHALL")
    st.redis("CLIENT", "KILL", "TYPE", "normal")
    r = st.request("GET", "/me", headers=bearer(token))
    assert_error(r, 401, "unauthorized")
    assert st.redis("EXISTS", "rv-origin") == "1"


def test_a_new_redis_server_forgets_cached_records_a_lost_session_end_would_leave(st):
    """A failover that lost the ended-session marker and kept the token's
    cached record: the record is dropped before anything is served, and
    PostgreSQL (the session row is gone) refuses the token."""
    account_id, token = register(st)
    assert st.request("GET", "/me", headers=bearer(token)).status_code == 200
    key = record_name(st, account_id, token)
    record = st.redis("GET", key)
    assert record, key
    assert st.request("POST", "/auth/logout", headers=bearer(token)).status_code == 204
    st.redis("DEL", "rs:" + jwt_parts(token)[1]["sid"])
    st.redis("SET", key, record)
    st.redis("DEL", "rv-origin")
    st.redis("CLIENT", "KILL", "TYPE", "normal")
    assert_error(st.request("GET", "/me", headers=bearer(token)), 401, "unauthorized")
    assert st.redis("EXISTS", key) == "0"


def test_redis_names_no_token_id(st):
    _, token = register(st)
    jti = jwt_parts(token)[1]["jti"]
    assert st.request("GET", "/me", headers=bearer(token)).status_code == 200
    assert st.request("POST", "/auth/logout", headers=bearer(token)).status_code == 204
    keys = st.redis("--scan").split()
    assert "rs:" + jwt_parts(token)[1]["sid"] in keys
    assert [k for k in keys if k.endswith(":" + jti_hash(st, jti))], keys   # its record
    for key in keys:
        assert jti not in key, key
        if st.redis("TYPE", key) == "string":
            assert jti not in st.redis("GET", key), key


def test_a_new_redis_server_forgets_cached_records_a_lost_deletion_would_leave(st):
    _, token = register(st)
    known = set(st.redis("KEYS", "ac:*").split())
    assert st.request("GET", "/me", headers=bearer(token)).status_code == 200
    (key,) = set(st.redis("KEYS", "ac:*").split()) - known
    record = st.redis("GET", key)
    assert delete_me(st, token).status_code == 204
    # A failover that lost the deletion marker and kept the cached record.
    st.redis("DEL", "gone:" + key.split(":")[1])
    st.redis("SET", key, record)
    st.redis("DEL", "rv-origin")
    st.redis("CLIENT", "KILL", "TYPE", "normal")
    assert_error(st.request("GET", "/me", headers=bearer(token)), 401, "unauthorized")
    assert st.redis("EXISTS", key) == "0"


def test_a_commit_the_synchronous_standby_never_confirms_is_503_not_2xx(st):
    _, token = register(st)
    marker = "never confirmed %d" % time.monotonic_ns()
    st.psql("ALTER SYSTEM SET synchronous_standby_names = 'nobody'; SELECT pg_reload_conf();")
    try:
        st.wait_for(lambda: st.psql("SHOW synchronous_standby_names")[0][0] == "nobody", 10,
                    "synchronous_standby_names to take effect")
        started = time.monotonic()
        r = st.request("POST", "/posts", json={"body": marker}, headers=bearer(token))
        took = time.monotonic() - started
    finally:
        st.psql("ALTER SYSTEM RESET synchronous_standby_names; SELECT pg_reload_conf();")
    assert_error(r, 503, "unavailable")
    assert "could not confirm the write" in r.json()["error"]["message"], describe(r)
    assert int(r.headers["Retry-After"]) >= 1, describe(r)
    assert took < 10, "the statement timeout is 1 s; the answer took %.1f s" % took
    assert st.psql("SELECT count(*) FROM posts") != [["0"]]
    # It did commit on this node: exactly the write a failover could take back.
    st.wait_for(lambda: st.psql("SELECT current_setting('synchronous_standby_names') = ''")
                == [["t"]], 10, "synchronous_standby_names to be reset")
    r = st.request("POST", "/posts", json={"body": marker + " again"}, headers=bearer(token))
    assert r.status_code == 201, describe(r)


def cleanup(st):
    env = dict(os.environ, SOTTO_ENV_FILE=os.path.join(st.var, "sotto.env"))
    return subprocess.run([sotto_binary(), "cleanup"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)


def test_cleanup_on_several_hosts_at_once_lets_one_run(st):
    _, token = register(st)
    sid = jwt_parts(token)[1]["sid"]
    st.psql("UPDATE sessions SET day_created = 1000, day_last_used = 1000 WHERE id = '%s'" % sid)
    # another host's cleanup: the session-level lock, held until psql exits
    key = int(CLEANUP_LOCK_KEY)
    with st.holding("SELECT pg_advisory_lock(%s)" % CLEANUP_LOCK_KEY, name="cleanup",
                    lock="locktype = 'advisory' AND classid = %d AND objid = %d "
                         "AND objsubid = 1" % (key >> 32, key & 0xffffffff)):
        r = cleanup(st)
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert "another sotto cleanup is running; nothing to do" in r.stdout
    st.wait_for(lambda: st.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
                [0][0] == "0", 20, "the lock holder's session to end")
    r = cleanup(st)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert ", 1 idle sessions" in r.stdout, r.stdout
    assert st.psql("SELECT count(*) FROM sessions WHERE id = '%s'" % sid) == [["0"]]
