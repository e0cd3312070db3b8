"""`sotto rotate-keys`: every account's data key ends up wrapped under the
newest CONTENT_KEYS version, in batches, online; a second run rewraps
nothing; rows already under the newest version (an interrupted earlier run)
are left alone; the data keys themselves do not change, so sealed content
still reads back once the old master key is gone; keys that cannot be
unwrapped are counted and left alone (exit 1), and no key material is ever
printed.

How a second master key reaches the server and the command: stack.sh
generates CONTENT_KEYS=1:<k1> once into <var>/sotto.env, which the server
reads through SOTTO_ENV_FILE. A CONTENT_KEYS variable in the environment
wins over that file (include/config.h: env file < environment <
credentials), and stack.sh hands the caller's CONTENT_KEYS to the server,
restarting it on `start sotto` when it changed. So the tests put
CONTENT_KEYS="1:<k1>,2:<k2>" into the stack's settings, and run the command
with SOTTO_ENV_FILE plus that variable.

The database-level tests write accounts and wrapped keys themselves, wrapping
with an independent implementation of the format in include/crypto.h
(hashlib BLAKE2b for the subkey, PyNaCl's XChaCha20-Poly1305), so they do
not depend on the account handlers. The HTTP test goes through
/auth/register, /auth/login and GET /me.
"""
import base64
import hashlib
import os
import re
import struct

import pytest
from nacl.bindings import (crypto_aead_xchacha20poly1305_ietf_decrypt,
                           crypto_aead_xchacha20poly1305_ietf_encrypt)

from conftest import Stack, run_sotto

ROTATE_TIMEOUT = 60       # seconds, one `sotto rotate-keys` run
ROTATE_BATCH = 500        # rows per transaction (app/main.c)
PASSWORD_HASH = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
DONE_RE = re.compile(r"^rotate-keys: done: (\d+) keys rewrapped to version (\d+), "
                     r"(\d+) under a version not configured, (\d+) failed to unwrap, "
                     r"(\d+) left under older versions$", re.M)
PROGRESS_RE = re.compile(r"^rotate-keys: rewrapped (\d+) keys to version (\d+)$", re.M)


# -- the wrapped-key format, written independently of app/crypto.c ----------
def wrapping_subkey(master, version):
    """keys_derive(master, "datawrap", version): BLAKE2b root, then crypto_kdf."""
    root = hashlib.blake2b(master, digest_size=32).digest()
    return hashlib.blake2b(b"", digest_size=32, key=root,
                           salt=struct.pack("<Q", version) + bytes(8),
                           person=b"datawrap" + bytes(8)).digest()


def wrap_ad(version, owner):
    return b"sotto|dk|1|v=%d|o=%d" % (version, owner)


def wrap(master, version, owner, data_key):
    nonce = os.urandom(24)
    return nonce + crypto_aead_xchacha20poly1305_ietf_encrypt(
        data_key, wrap_ad(version, owner), nonce, wrapping_subkey(master, version))


def unwrap(master, version, owner, wrapped):
    assert len(wrapped) == 72
    return crypto_aead_xchacha20poly1305_ietf_decrypt(
        wrapped[24:], wrap_ad(version, owner), wrapped[:24],
        wrapping_subkey(master, version))


def b64(raw):
    return base64.b64encode(raw).decode()


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# -- the stack's database and the command -----------------------------------
def master_keys(st):
    """{version: key bytes} from the stack's generated CONTENT_KEYS."""
    out = {}
    for item in st.sotto_env()["CONTENT_KEYS"].split(","):
        v, k = item.split(":", 1)
        out[int(v)] = base64.b64decode(k)
    return out


def content_keys(keys):
    return ",".join("%d:%s" % (v, b64(k)) for v, k in sorted(keys.items()))


def psql(st, sql):
    return st.psql(sql)


def rotate(st, keys):
    """`sotto rotate-keys` with the stack's settings file and CONTENT_KEYS from keys."""
    env = {k: v for k, v in st.env.items()
           if not k.startswith(("SOTTO_", "ADMIN_")) and
           k not in ("DATABASE_URL", "REDIS_URL", "JWT_SECRET", "IP_HMAC_KEY", "CONTENT_KEYS")}
    env["SOTTO_ENV_FILE"] = os.path.join(st.var, "sotto.env")
    env["CONTENT_KEYS"] = content_keys(keys)
    return run_sotto(["rotate-keys"], env, timeout=ROTATE_TIMEOUT)


def summary(r):
    """(rewrapped, version, unconfigured, failed, left) from the closing line."""
    m = DONE_RE.search(r.stdout)
    assert m, "no summary line:\nstdout:\n%s\nstderr:\n%s" % (r.stdout, r.stderr)
    return tuple(int(x) for x in m.groups())


def assert_no_key_material(r, secrets):
    """None of the secrets appears in any encoding we might print."""
    out = r.stdout + r.stderr
    for s in secrets:
        for text in (s.hex(), s.hex().upper(), b64(s), b64url(s)):
            assert text not in out, "rotate-keys printed key material"


def new_accounts(st, n):
    """n bare password accounts inserted directly; their pks in order. id_sealed
    is random filler: rotate-keys never reads it."""
    values = ",".join("(decode('%s', 'hex'), decode('%s', 'hex'), '%s', 1, 20000)"
                      % (os.urandom(32).hex(), os.urandom(67).hex(), PASSWORD_HASH)
                      for _ in range(n))
    rows = psql(st, "INSERT INTO accounts (id_hash, id_sealed, password_hash, auth, day_joined) "
                    "VALUES %s RETURNING pk" % values)
    return sorted(int(r[0]) for r in rows)


def store_keys(st, rows):
    """rows: [(pk, version, wrapped bytes)] into account_keys."""
    values = ",".join("(%d, %d, decode('%s', 'hex'))" % (pk, v, w.hex()) for pk, v, w in rows)
    psql(st, "INSERT INTO account_keys (account_pk, version, wrapped) VALUES %s" % values)


def stored_keys(st):
    """{pk: (version, wrapped bytes)} for every row of account_keys."""
    rows = psql(st, "SELECT account_pk, version, encode(wrapped, 'hex') FROM account_keys")
    return {int(pk): (int(v), bytes.fromhex(w)) for pk, v, w in rows}


@pytest.fixture(scope="module")
def rot(make_stack):
    return make_stack("rotate")


@pytest.fixture
def empty_accounts(rot):
    """The rotate stack with no accounts (account_keys cascades)."""
    psql(rot, "DELETE FROM accounts")
    yield rot
    psql(rot, "DELETE FROM accounts")


# -- database level: pass without the account handlers ----------------------
def test_rotate_keys_rewraps_old_keys_leaves_newest_ones_and_keeps_data_keys(empty_accounts):
    st = empty_accounts
    keys = master_keys(st)
    assert list(keys) == [1], "the stack starts with one generated master key"
    keys[2] = os.urandom(32)
    pks = new_accounts(st, 8)
    data = {pk: os.urandom(32) for pk in pks}
    # Every other row already under version 2, as after an interrupted run.
    versions = {pk: 1 if i % 2 == 0 else 2 for i, pk in enumerate(pks)}
    store_keys(st, [(pk, versions[pk], wrap(keys[versions[pk]], versions[pk], pk, data[pk]))
                    for pk in pks])
    before = stored_keys(st)

    r = rotate(st, keys)
    assert r.returncode == 0, r.stdout + r.stderr
    assert summary(r) == (4, 2, 0, 0, 0)
    assert PROGRESS_RE.findall(r.stdout) == [("4", "2")]
    after = stored_keys(st)
    assert sorted(after) == pks
    for pk in pks:
        version, wrapped = after[pk]
        assert version == 2
        assert unwrap(keys[2], 2, pk, wrapped) == data[pk]
        if versions[pk] == 2:
            assert wrapped == before[pk][1], "a key already under version 2 was rewritten"
        else:
            assert wrapped != before[pk][1]
    assert_no_key_material(r, list(keys.values()) + list(data.values()) +
                           [w for _, w in before.values()] + [w for _, w in after.values()])

    again = rotate(st, keys)
    assert again.returncode == 0, again.stdout + again.stderr
    assert summary(again) == (0, 2, 0, 0, 0)
    assert PROGRESS_RE.findall(again.stdout) == []
    assert stored_keys(st) == after


def test_rotate_keys_walks_several_batches(empty_accounts):
    st = empty_accounts
    keys = master_keys(st)
    keys[5] = os.urandom(32)
    n = 2 * ROTATE_BATCH + 3
    pks = new_accounts(st, n)
    data = {pk: os.urandom(32) for pk in pks}
    store_keys(st, [(pk, 1, wrap(keys[1], 1, pk, data[pk])) for pk in pks])

    r = rotate(st, keys)
    assert r.returncode == 0, r.stdout + r.stderr
    assert PROGRESS_RE.findall(r.stdout) == [(str(ROTATE_BATCH), "5"),
                                            (str(ROTATE_BATCH), "5"), ("3", "5")]
    assert summary(r) == (n, 5, 0, 0, 0)
    after = stored_keys(st)
    assert {v for v, _ in after.values()} == {5}
    for pk in pks[:3] + pks[ROTATE_BATCH - 1:ROTATE_BATCH + 2] + pks[-3:]:
        assert unwrap(keys[5], 5, pk, after[pk][1]) == data[pk]


def test_rotate_keys_counts_unreadable_keys_leaves_them_and_exits_1(empty_accounts):
    st = empty_accounts
    keys = master_keys(st)
    keys[2] = os.urandom(32)
    good1, unconfigured, tampered, moved, good2 = new_accounts(st, 5)
    data = {pk: os.urandom(32) for pk in (good1, unconfigured, tampered, moved, good2)}
    bad = bytearray(wrap(keys[1], 1, tampered, data[tampered]))
    bad[40] ^= 1
    rows = [
        (good1, 1, wrap(keys[1], 1, good1, data[good1])),
        (unconfigured, 9, wrap(os.urandom(32), 9, unconfigured, data[unconfigured])),
        (tampered, 1, bytes(bad)),
        # A wrapped key copied from another account's row must not unwrap.
        (moved, 1, wrap(keys[1], 1, good2, data[moved])),
        (good2, 1, wrap(keys[1], 1, good2, data[good2])),
    ]
    store_keys(st, rows)

    r = rotate(st, keys)
    assert r.returncode == 1, r.stdout + r.stderr
    assert summary(r) == (2, 2, 1, 2, 3)
    assert "CONTENT_KEYS" in r.stdout       # tells what to do about version 9
    after = stored_keys(st)
    for pk in (good1, good2):
        assert after[pk][0] == 2
        assert unwrap(keys[2], 2, pk, after[pk][1]) == data[pk]
    for pk, v, w in rows[1:4]:
        assert after[pk] == (v, w), "an unreadable key was changed"
    assert_no_key_material(r, list(keys.values()) + list(data.values()) +
                           [w for _, _, w in rows])
    assert not re.search(r"\b(%s)\b" % "|".join(str(pk) for pk, _, _ in rows[1:4]),
                         r.stdout + r.stderr), "rotate-keys named an account"

    again = rotate(st, keys)
    assert again.returncode == 1, again.stdout + again.stderr
    assert summary(again) == (0, 2, 1, 2, 3)


def test_rotate_keys_skips_a_row_locked_by_another_transaction_and_the_next_run_resumes(
        empty_accounts):
    st = empty_accounts
    keys = master_keys(st)
    keys[2] = os.urandom(32)
    pks = new_accounts(st, 3)
    data = {pk: os.urandom(32) for pk in pks}
    store_keys(st, [(pk, 1, wrap(keys[1], 1, pk, data[pk])) for pk in pks])
    locked = pks[1]
    with st.holding("SELECT 1 FROM account_keys WHERE account_pk = %d FOR UPDATE" % locked,
                    name="account-key"):
        r = rotate(st, keys)     # must not wait for the lock
    assert r.returncode == 1, r.stdout + r.stderr
    assert summary(r) == (2, 2, 0, 0, 1)
    assert "run again" in r.stdout
    assert stored_keys(st)[locked][0] == 1

    again = rotate(st, keys)
    assert again.returncode == 0, again.stdout + again.stderr
    assert summary(again) == (1, 2, 0, 0, 0)
    after = stored_keys(st)
    assert {v for v, _ in after.values()} == {2}
    assert unwrap(keys[2], 2, locked, after[locked][1]) == data[locked]


def test_rotate_keys_without_a_database_exits_2_and_says_so(tmp_path):
    strong = lambda: b64(os.urandom(32))  # noqa: E731
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SOTTO_", "ADMIN_", "LISTEN_", "NOTIFY_")) and
           k not in ("DATABASE_URL", "REDIS_URL", "JWT_SECRET", "IP_HMAC_KEY",
                     "CONTENT_KEYS", "CREDENTIALS_DIRECTORY")}
    key = os.urandom(32)
    env.update({
        "DATABASE_URL": "postgresql:///sotto?host=%s" % tmp_path,
        "REDIS_URL": "unix://%s/redis.sock" % tmp_path,
        "JWT_SECRET": strong(),
        "IP_HMAC_KEY": strong(),
        "CONTENT_KEYS": "1:" + b64(key),
    })
    r = run_sotto(["rotate-keys"], env, timeout=ROTATE_TIMEOUT)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "cannot connect" in r.stderr
    assert_no_key_material(r, [key])


# -- through the API: needs the account handlers ------------------------------
def register(st, password):
    r = st.request("POST", "/auth/register", json={"password": password})
    assert r.status_code == 201, (r.status_code, r.text[:300])
    return r.json()["account_id"], r.json()["token"]


def bearer(token):
    return {"Authorization": "Bearer " + token}


def restart_sotto_with(st, keys):
    st.settings["CONTENT_KEYS"] = content_keys(keys)
    st.stack("start", "sotto")      # restarts: the caller's CONTENT_KEYS changed
    Stack.wait_for(lambda: st.get("/health").status_code == 200, 30,
                   "GET /health after restarting sotto")


def test_accounts_read_their_sealed_keys_after_rotation_without_the_old_master_key(make_stack):
    st = make_stack("rotate-api")
    keys = master_keys(st)
    accounts = []       # (account_id, password, its X25519 key in the conversation or None)
    tokens = []
    for i in range(3):
        password = "rotate-password-%d-%s" % (i, b64url(os.urandom(8)))
        account_id, token = register(st, password)
        tokens.append(token)
        accounts.append((account_id, password, b64url(os.urandom(32)) if i < 2 else None))
    # accounts 0 and 1 share a conversation, each with its key for it (sealed
    # with the account's data key)
    r = st.request("POST", "/posts", json={"body": "rotate post"}, headers=bearer(tokens[1]))
    assert r.status_code == 201, (r.status_code, r.text[:300])
    r = st.request("POST", "/dm/start_from_post", headers=bearer(tokens[0]),
                   json={"post_id": r.json()["post"]["id"], "x25519_public": accounts[0][2]})
    assert r.status_code == 201, (r.status_code, r.text[:300])
    r = st.request("PUT", "/dm/%s/key" % r.json()["conversation_id"], headers=bearer(tokens[1]),
                   json={"x25519_public": accounts[1][2]})
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert {v for v, _ in stored_keys(st).values()} == {1}

    # Step 1: every server learns version 2; new accounts are wrapped with it.
    keys[2] = os.urandom(32)
    restart_sotto_with(st, keys)
    password = "rotate-password-new-%s" % b64url(os.urandom(8))
    account_id, _ = register(st, password)
    accounts.append((account_id, password, None))
    assert sorted(v for v, _ in stored_keys(st).values()) == [1, 1, 1, 2]

    # Step 2: rotate, twice.
    r = rotate(st, keys)
    assert r.returncode == 0, r.stdout + r.stderr
    assert summary(r) == (3, 2, 0, 0, 0)
    assert {v for v, _ in stored_keys(st).values()} == {2}
    assert_no_key_material(r, list(keys.values()))
    again = rotate(st, keys)
    assert again.returncode == 0, again.stdout + again.stderr
    assert summary(again) == (0, 2, 0, 0, 0)

    # Step 3: drop version 1; everything still reads back.
    del keys[1]
    restart_sotto_with(st, keys)
    for account_id, password, x25519 in accounts:
        r = st.request("POST", "/auth/login",
                       json={"account_id": account_id, "password": password})
        assert r.status_code == 200, (r.status_code, r.text[:300])
        me = st.get("/me", headers=bearer(r.json()["token"]))
        assert me.status_code == 200, (me.status_code, me.text[:300])
        assert me.json()["account_id"] == account_id
        dms = st.get("/dm/list", headers=bearer(r.json()["token"]))
        assert dms.status_code == 200, (dms.status_code, dms.text[:300])
        assert [c["my_x25519"] for c in dms.json()["items"]] == ([x25519] if x25519 else [])
