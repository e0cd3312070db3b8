"""Reads from a standby (DATABASE_READ_URL, app/standby.c, docs/scaling.md)
on one host, where there is no standby: the read URL reaches the same
database as a role that may only read, with every transaction read-only as
on a standby. So every read route the standby may answer is answered through
it (the role's sessions show its statements), a write through it would fail
loudly, and an account's own writes are marked in Redis under a keyed hash,
never its id. The cluster scenarios (tests/cluster) read from a real one."""
import re
import time

import pytest

from content import auth, community, feed_ids, get_post_ok, post, reply
from conftest import assert_error, describe, register, run_sotto

READER = "sotto_reader"
RYW_S = 3


@pytest.fixture(scope="module")
def sst(make_stack):
    st = make_stack("standby", SOTTO_READ_YOUR_WRITES_S=str(RYW_S),
                    SOTTO_FEED_SNAPSHOT_SHARE="0")
    # The stack's first `sotto cleanup` runs beside this and rewrites
    # account_keys (VACUUM FULL gives its pg_class row a new version): a GRANT
    # reading the old one fails with "tuple concurrently updated". Holding a
    # lock that conflicts with the rewrite makes the two take turns.
    st.psql("BEGIN;\n"
            "LOCK TABLE account_keys IN SHARE UPDATE EXCLUSIVE MODE;\n"
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%s') THEN "
            "CREATE ROLE %s LOGIN; END IF; END $$;\n"
            "GRANT USAGE ON SCHEMA public TO %s;\n"
            "GRANT SELECT ON ALL TABLES IN SCHEMA public TO %s;\n"
            "ALTER ROLE %s SET default_transaction_read_only = on;\n"
            "COMMIT;\n"
            % ((READER,) * 5))
    url = st.sotto_env()["DATABASE_URL"]
    read_url = re.sub(r"^postgresql://[^@/]*@", "postgresql://%s@" % READER, url)
    assert read_url != url, "the stack's DATABASE_URL names no role: %s" % url
    st.settings["DATABASE_READ_URL"] = read_url
    st.stack("start", "sotto")      # restarts it: started with other variables
    st.wait_for(lambda: st.get("/health").status_code == 200, 30, "GET /health after restart")
    return st


def reader_statements(st):
    """The statements the read role's sessions ran last (one per session)."""
    return [row[0] for row in st.psql("SELECT query FROM pg_stat_activity WHERE usename = '%s' "
                                      "AND query <> ''" % READER)]


def marks(st):
    return sorted(k for k in st.redis("--scan", "--pattern", "rw:*").split() if k)


def test_reads_go_through_the_read_url_and_writes_do_not(sst):
    _, token = register(sst)
    c = community(sst, token)
    p = post(sst, token, community=c["slug"])
    reply(sst, token, p["id"])
    # anonymous reads of every route the standby may answer
    deadline = time.monotonic() + 30
    while True:
        assert p["id"] in feed_ids(sst, None, sort="new", limit=50)
        assert get_post_ok(sst, p["id"])["post"]["id"] == p["id"]
        for path in ("/communities", "/communities/" + c["slug"], "/moderation/log",
                     "/communities/%s/log" % c["slug"], "/communities/%s/moderators" % c["slug"]):
            r = sst.get(path)
            assert r.status_code == 200, describe(r)
        # a session of the read role that last ran a route's statement, not
        # only the check of how far it had replayed
        ran = reader_statements(sst)
        if any("pg_last_wal_replay_lsn" not in q for q in ran):
            break
        assert time.monotonic() < deadline, "no read went through DATABASE_READ_URL: %r" % ran
        time.sleep(0.2)


def test_an_accounts_write_is_marked_under_a_keyed_hash_for_a_few_seconds(sst):
    account_id, token = register(sst)
    before = set(marks(sst))
    p = post(sst, token)
    new = [k for k in marks(sst) if k not in before]
    assert len(new) == 1, "one write, one new mark: %r" % new
    key = new[0]
    assert re.fullmatch(r"rw:[0-9a-f]{64}", key), key
    assert account_id not in key
    value = sst.redis("GET", key).strip()
    assert re.fullmatch(r"[0-9a-f]{16}", value), value
    ttl = int(sst.redis("TTL", key).strip())
    assert 0 < ttl <= RYW_S
    # read back at once by the same account: always there
    assert get_post_ok(sst, p["id"], token)["post"]["mine"] is True
    assert p["id"] in feed_ids(sst, token, sort="new", limit=50)
    # a later write keeps the higher position
    post(sst, token)
    later = sst.redis("GET", key).strip()
    assert later >= value


def test_anonymous_reads_and_logins_leave_no_mark(sst):
    account_id, token = register(sst)
    before = set(marks(sst))
    feed_ids(sst, None, sort="new")
    feed_ids(sst, token, sort="new")
    r = sst.get("/communities")
    assert r.status_code == 200, describe(r)
    assert set(marks(sst)) == before


def test_a_mark_that_is_not_a_position_sends_reads_to_the_primary(sst):
    _, token = register(sst)
    before = set(marks(sst))
    p = post(sst, token)
    key = [k for k in marks(sst) if k not in before][0]
    for junk in ("not-a-position", "FFFFFFFFFFFFFFFF", "0/0"):
        sst.redis("SET", key, junk, "EX", str(RYW_S))
        assert get_post_ok(sst, p["id"], token)["post"]["id"] == p["id"]
        assert p["id"] in feed_ids(sst, token, sort="new", limit=50)


def test_a_token_on_a_route_that_does_not_check_it_still_reads(sst):
    _, token = register(sst)
    c = community(sst, token)
    r = sst.get("/communities/" + c["slug"], headers=auth(token))
    assert r.status_code == 200, describe(r)
    assert r.json()["slug"] == c["slug"]
    # and a bad token there is ignored, as without a read URL
    r = sst.get("/communities/" + c["slug"], headers=auth("not-a-token"))
    assert r.status_code == 200, describe(r)


def test_a_bad_token_on_a_read_route_is_still_401(sst):
    assert_error(sst.get("/feed", headers=auth("not-a-token")), 401, "unauthorized")


def test_check_config_refuses_a_mark_shorter_than_the_lag_bound(sst):
    env = dict(sst.sotto_env(), SOTTO_READ_MAX_LAG_MS="3000", SOTTO_READ_YOUR_WRITES_S="3")
    env.pop("SOTTO_ENV_FILE", None)
    r = run_sotto(["check-config"], env)
    assert r.returncode != 0
    assert "SOTTO_READ_YOUR_WRITES_S" in r.stderr and "SOTTO_READ_MAX_LAG_MS" in r.stderr
