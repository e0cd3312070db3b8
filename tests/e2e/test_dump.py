"""What a stolen database reveals (docs/privacy.md):
after a realistic session of account activity on a stack of its own, a
pg_dump holds no password, no login id, no public key, no X25519 key, no IP,
no token and no configured secret, in any encoding; the account tables have
no time column; every data key is stored wrapped (72 bytes) and deleting an
account deletes its key."""
import base64
import os
import re
import subprocess

import nacl.public
import pytest

from accounts import (b64u, decode_secret, jwt_key, jwt_parts, login_key, login_password,
                      new_key, register_key, unb64u)
from conftest import bearer, delete_me, describe, register

PG_BIN = "/usr/lib/postgresql/15/bin"
IPV4_RE = re.compile(r"(?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9.])")
JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
COPY_RE = re.compile(r"^COPY (\S+) \(([^)]*)\) FROM stdin;\n(.*?)^\\\.$", re.M | re.S)


def pg(st, program, *args):
    """Run a PostgreSQL client against the stack's cluster (unix socket in
    <var>/run, role postgres run through runuser when we are root, as
    scripts/stack.sh does). Returns stdout."""
    role = "postgres" if os.geteuid() == 0 else None
    cmd = [os.path.join(PG_BIN, program), "-h", os.path.join(st.var, "run")]
    if role:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd + ["-U", role]
    p = subprocess.run(cmd + list(args), cwd="/", capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, "%s failed (%d): %s" % (program, p.returncode, p.stderr)
    return p.stdout


def sql(st, query):
    """Rows of query, one line each (fields joined by tabs)."""
    return ["\t".join(row) for row in st.psql(query)]


def encodings(raw):
    """How bytes can show up in a dump: hex (bytea), base64, base64url."""
    std = base64.b64encode(raw).decode().rstrip("=")
    return {raw.hex(), std, b64u(raw)}


@pytest.fixture(scope="module")
def session(make_stack):
    """Account activity on a fresh stack, then its dump. Returns a dict."""
    st = make_stack("dump")
    seen = {"passwords": [], "account_ids": [], "ed25519": [], "x25519": [], "tokens": []}

    def token_of(r, status):
        assert r.status_code == status, describe(r)
        seen["tokens"].append(r.json()["token"])
        return r.json()["token"]

    # Two password accounts (mixed-case passwords) and two key accounts.
    passwords = ["Dump-Pass-%s-XyZ" % os.urandom(8).hex() for _ in range(2)]
    accounts = [register(st, pw) for pw in passwords]
    signing = [register_key(st, new_key()) for _ in range(2)]
    seen["passwords"] += passwords
    seen["account_ids"] += [a for a, _ in accounts] + [a for _, a, _ in signing]
    seen["tokens"] += [t for _, t in accounts] + [t for _, _, t in signing]
    seen["ed25519"] += [bytes(sk.verify_key) for sk, _, _ in signing]
    # A conversation between a password and a key account, with an X25519
    # key on each side.
    r = st.request("POST", "/posts", json={"body": "dump post %s" % os.urandom(4).hex()},
                   headers=bearer(signing[0][2]))
    assert r.status_code == 201, describe(r)
    r = st.request("POST", "/dm/start_from_post", json={"post_id": r.json()["post"]["id"]},
                   headers=bearer(accounts[0][1]))
    assert r.status_code == 201, describe(r)
    cid = r.json()["conversation_id"]
    for token in (accounts[0][1], signing[0][2]):
        x = bytes(nacl.public.PrivateKey.generate().public_key)
        r = st.request("PUT", "/dm/%s/key" % cid, json={"x25519_public": b64u(x)},
                       headers=bearer(token))
        assert r.status_code == 200, describe(r)
        seen["x25519"].append(x)
    # Log in again with a password and with a key; log the first one out.
    again = token_of(login_password(st, accounts[0][0], passwords[0]), 200)
    token_of(login_key(st, signing[0][0]), 200)
    r = st.request("POST", "/auth/logout", headers=bearer(again))
    assert r.status_code == 204, describe(r)
    # Delete the second password account.
    r = delete_me(st, accounts[1][1], passwords[1])
    assert r.status_code == 204, describe(r)

    dump = pg(st, "pg_dump", "-d", "sotto")
    tables = {m.group(1): m.group(3) for m in COPY_RE.finditer(dump)}
    assert "public.accounts" in tables and "public.account_keys" in tables, \
        "pg_dump holds no account data:\n" + dump[:2000]
    return {"stack": st, "seen": seen, "dump": dump, "tables": tables, "live": 3}


def hits(text, needles, fold=False):
    hay = text.lower() if fold else text
    return sorted(n for n in needles if n and (n.lower() if fold else n) in hay)


def test_dump_holds_the_live_accounts_only(session):
    rows = session["tables"]["public.accounts"].strip().splitlines()
    assert len(rows) == session["live"], rows


def test_dump_contains_no_password_in_any_case(session):
    assert not hits(session["dump"], session["seen"]["passwords"], fold=True)


def test_dump_contains_no_account_id(session):
    needles = set()
    for account_id in session["seen"]["account_ids"]:
        needles |= {account_id} | encodings(unb64u(account_id))
    assert not hits(session["dump"], needles, fold=True)


def test_dump_contains_no_ed25519_public_key(session):
    needles = set().union(*(encodings(k) for k in session["seen"]["ed25519"]))
    assert not hits(session["dump"], needles, fold=True)


def test_dump_contains_no_x25519_public_key(session):
    # The keys are stored (sealed), so their absence in clear means something.
    stored = sql(session["stack"],
                 "SELECT count(*) FROM dm_participants WHERE x25519_sealed IS NOT NULL")
    assert stored == [str(len(session["seen"]["x25519"]))], stored
    needles = set().union(*(encodings(k) for k in session["seen"]["x25519"]))
    assert not hits(session["dump"], needles, fold=True)


def test_dump_user_tables_hold_no_ip_address(session):
    assert "127.0.0.1" not in session["dump"]
    found = {}
    for table, data in session["tables"].items():
        ips = IPV4_RE.findall(data)
        if ips or "7f000001" in data.lower() or "::1" in data:
            found[table] = ips or data[:200]
    assert not found, found


def test_dump_contains_no_token_or_jti(session):
    needles = set()
    for token in session["seen"]["tokens"]:
        jti = jwt_parts(token)[1]["jti"]
        needles |= {token, token.split(".")[2], jti} | encodings(unb64u(jti))
    assert not hits(session["dump"], needles)
    assert not JWT_RE.search(session["dump"]), JWT_RE.search(session["dump"]).group(0)


def test_dump_contains_no_configured_secret(session):
    st = session["stack"]
    env = st.sotto_env()
    needles = {}
    for name in ("JWT_SECRET", "IP_HMAC_KEY"):
        needles[name] = {env[name]} | encodings(decode_secret(env[name]))
    for item in env["CONTENT_KEYS"].split(","):
        text = item.split(":", 1)[1].strip()
        needles["CONTENT_KEYS " + item.split(":")[0]] = {text} | encodings(decode_secret(text))
    for name in ("ADMIN_REVIEW_TOKEN", "ADMIN_UI_TOKEN"):
        if env.get(name):
            needles[name] = {env[name]}
    needles["jwt subkey"] = encodings(jwt_key(st))
    found = {name: hits(session["dump"], vals, fold=True) for name, vals in needles.items()}
    assert not any(found.values()), {k: v for k, v in found.items() if v}


def test_account_tables_have_no_time_typed_column(session):
    rows = sql(session["stack"],
               "SELECT table_name || '.' || column_name || ' ' || data_type "
               "FROM information_schema.columns "
               "WHERE table_schema = 'public' AND table_name IN ('accounts', 'account_keys') "
               "AND (data_type LIKE 'timestamp%' OR data_type LIKE 'time %' "
               "OR data_type IN ('date', 'time', 'interval', 'abstime', 'reltime'))")
    assert rows == [], rows


def test_every_data_key_is_stored_wrapped_72_bytes_one_per_live_account(session):
    st = session["stack"]
    lengths = sql(st, "SELECT length(wrapped) FROM account_keys")
    assert lengths and all(n == "72" for n in lengths), lengths
    assert len(lengths) == session["live"], "deleted account's data key still stored? %s" % (
        lengths,)
    orphans = sql(st, "SELECT count(*) FROM accounts a "
                      "LEFT JOIN account_keys k ON k.account_pk = a.pk WHERE k.account_pk IS NULL")
    assert orphans == ["0"], "accounts without a data key: %s" % orphans
