"""`sotto bench-data`: the synthetic content the benchmarks measure is stored
exactly as the server stores its own, so the server can open it: account
ids found by their keyed lookup hash and sealed with the account's data
key, data keys wrapped under the master key, post bodies sealed for
{posts, body, public id, author}; counters, scores and ranks as the schema's
triggers keep them; and it refuses to run outside a development stack.

Everything is checked at the database level, with an independent
implementation of include/crypto.h (hashlib BLAKE2b, PyNaCl's
XChaCha20-Poly1305), so these tests do not need the posts handlers.
"""
import base64
import hashlib
import os
import re
import struct

import pytest
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt

from conftest import run_sotto

RUN_TIMEOUT = 120          # seconds, one small bench-data run
DONE_RE = re.compile(r"^bench-data: done: (\d+) posts in ", re.M)
BODY_RE = re.compile(r"^[A-Za-z' .]{40,400}$")


def derive(master, context, subkey_id):
    """keys_derive(): BLAKE2b root of the master secret, then crypto_kdf."""
    root = hashlib.blake2b(master, digest_size=32).digest()
    return hashlib.blake2b(b"", digest_size=32, key=root,
                           salt=struct.pack("<Q", subkey_id) + bytes(8),
                           person=context.encode() + bytes(8)).digest()


def secret(text):
    """A generated secret: base64, standard or url-safe, padding optional."""
    text = text.strip()
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_")


def open_sealed(key, sealed, ad):
    """A sealed field: [1][key version, 4 bytes BE][nonce 24][ciphertext]."""
    assert sealed[0] == 1 and struct.unpack(">I", sealed[1:5])[0] == 1
    return crypto_aead_xchacha20poly1305_ietf_decrypt(sealed[29:], ad, sealed[5:29], key)


def bench_data(st, *args, **env_extra):
    """Run the command with the stack's settings file, as make bench-data does."""
    env = {k: v for k, v in st.env.items()
           if not k.startswith(("SOTTO_", "ADMIN_")) and
           k not in ("DATABASE_URL", "REDIS_URL", "JWT_SECRET", "IP_HMAC_KEY", "CONTENT_KEYS")}
    env["SOTTO_ENV_FILE"] = os.path.join(st.var, "sotto.env")
    env.update(env_extra)
    return run_sotto(["bench-data"] + [str(a) for a in args], env, timeout=RUN_TIMEOUT)


@pytest.fixture(scope="module")
def bd(make_stack):
    return make_stack("benchdata")


@pytest.fixture(scope="module")
def filled(bd):
    """The stack after one run: 300 posts by 7 new accounts, in 2 jobs."""
    before = bd.number("SELECT coalesce(max(pk), 0) FROM accounts")
    r = bench_data(bd, 300, 7, 2)
    assert r.returncode == 0, r.stdout + r.stderr
    return bd, before, r


def test_bench_data_adds_the_accounts_and_top_level_posts_asked_for(filled):
    st, before, r = filled
    m = DONE_RE.search(r.stdout)
    assert m and m.group(1) == "300", r.stdout
    assert st.number("SELECT count(*) FROM accounts WHERE pk > %d" % before) == 7
    assert st.number("SELECT count(*) FROM account_keys WHERE account_pk > %d" % before) == 7
    assert st.number("SELECT count(*) FROM posts WHERE parent_pk IS NULL "
                     "AND author_pk > %d" % before) == 300
    # Replies answer top-level posts written before them.
    assert st.number("SELECT count(*) FROM posts r JOIN posts p ON p.pk = r.parent_pk "
                     "WHERE p.parent_pk IS NOT NULL OR r.pk < p.pk") == 0


def test_bench_data_counters_scores_and_ranks_are_what_the_triggers_keep(filled):
    st = filled[0]
    assert st.number("SELECT count(*) FROM votes") > 0
    assert st.number("""
        SELECT count(*) FROM posts p WHERE p.score <>
               coalesce((SELECT sum(value) FROM votes v WHERE v.post_pk = p.pk), 0)""") == 0
    assert st.number("""
        SELECT count(*) FROM posts p WHERE p.reply_count <>
               (SELECT count(*) FROM posts r WHERE r.parent_pk = p.pk AND r.status = 0)""") == 0
    # A rank is computed with its author's trust as of the post's last vote
    # (sql/004), so it lies between the ranks at trust 0 and trust 1.
    assert st.number("""
        SELECT count(*) FROM posts p
         WHERE p.rank < LEAST(sotto_rank(p.score, 0, p.day), sotto_rank(p.score, 1, p.day)) - 1e-6
            OR p.rank > GREATEST(sotto_rank(p.score, 0, p.day),
                                 sotto_rank(p.score, 1, p.day)) + 1e-6""") == 0
    # Every post within the last 365 days, and never in the future.
    assert st.number("SELECT count(*) FROM posts WHERE day > (now()::date - date '1970-01-01') "
                     "OR day < (now()::date - date '1970-01-01') - 366") == 0


def unwrap(st, pk, version, wrapped):
    """The data key of account pk from its account_keys row, as the server unwraps it."""
    masters = {int(v): secret(k) for v, k in
               (item.split(":", 1) for item in st.sotto_env()["CONTENT_KEYS"].split(","))}
    return crypto_aead_xchacha20poly1305_ietf_decrypt(
        wrapped[24:], b"sotto|dk|1|v=%d|o=%d" % (version, pk), wrapped[:24],
        derive(masters[version], "datawrap", version))


def open_body(data_key, sealed_hex, post_id, pk):
    """A post body, opened for {posts, body, post_id, pk}."""
    return open_sealed(data_key, bytes.fromhex(sealed_hex),
                       b"sotto|f|1|kv=1|t=posts|c=body|r=%s|o=%d" % (post_id.encode(), pk)).decode()


def test_bench_data_content_opens_with_the_keys_the_server_uses(filled):
    st, before, _ = filled
    env = st.sotto_env()
    lookup = derive(secret(env["IP_HMAC_KEY"]), "acctlkup", 1)
    accounts = st.psql("SELECT a.pk, encode(a.id_hash, 'hex'), encode(a.id_sealed, 'hex'), "
                       "k.version, encode(k.wrapped, 'hex'), a.password_hash, a.auth "
                       "FROM accounts a JOIN account_keys k ON k.account_pk = a.pk "
                       "WHERE a.pk > %d ORDER BY a.pk" % before)
    assert len(accounts) == 7
    for pk, id_hash, id_sealed, version, wrapped, pwhash, auth in accounts:
        pk, version, wrapped = int(pk), int(version), bytes.fromhex(wrapped)
        assert auth == "1" and pwhash.startswith("$argon2id$")
        data_key = unwrap(st, pk, version, wrapped)
        account_id = open_sealed(data_key, bytes.fromhex(id_sealed),
                                 b"sotto|f|1|kv=1|t=accounts|c=account_id|r=%d|o=%d" % (pk, pk))
        assert re.fullmatch(rb"[A-Za-z0-9_-]{22}", account_id)
        assert hashlib.blake2b(b"acct:" + account_id, digest_size=32,
                               key=lookup).hexdigest() == id_hash
        posts = st.psql("SELECT id, encode(body_sealed, 'hex') FROM posts "
                        "WHERE author_pk = %d" % pk)
        assert posts
        for post_id, sealed in posts:
            body = open_body(data_key, sealed, post_id, pk)
            assert re.fullmatch(r"[A-Za-z0-9_-]{22}", post_id)
            assert BODY_RE.match(body), body


def test_bench_data_post_rows_are_posts_of_a_new_account_sealed_but_not_stored(bd):
    before = bd.number("SELECT coalesce(max(pk), 0) FROM accounts")
    posts = bd.number("SELECT count(*) FROM posts")
    r = bench_data(bd, "--post-rows", 40)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"^bench-data: post rows of account (\d+)$", r.stdout, re.M)
    assert m, r.stdout
    pk = int(m.group(1))
    assert pk > before
    assert bd.number("SELECT count(*) FROM posts") == posts
    version, wrapped = bd.psql("SELECT version, encode(wrapped, 'hex') FROM account_keys "
                               "WHERE account_pk = %d" % pk)[0]
    data_key = unwrap(bd, pk, int(version), bytes.fromhex(wrapped))
    rows = bd.psql("SELECT n, id, encode(body, 'hex') FROM bench_post_rows ORDER BY n")
    assert [int(n) for n, _, _ in rows] == list(range(40))
    assert len({post_id for _, post_id, _ in rows}) == 40
    for _, post_id, sealed in rows:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", post_id)
        assert BODY_RE.match(open_body(data_key, sealed, post_id, pk))
    # A second run starts the table afresh, for another new account.
    r = bench_data(bd, "--post-rows", 5)
    assert r.returncode == 0, r.stdout + r.stderr
    assert bd.number("SELECT count(*) FROM bench_post_rows") == 5
    assert "post rows of account %d\n" % pk not in r.stdout
    bd.psql("DROP TABLE bench_post_rows")


def test_bench_data_prints_no_key_material(filled):
    st, _, r = filled
    env = st.sotto_env()
    out = r.stdout + r.stderr
    for name in ("IP_HMAC_KEY", "JWT_SECRET"):
        assert env[name] not in out
    for item in env["CONTENT_KEYS"].split(","):
        assert item.split(":", 1)[1] not in out


def test_bench_data_refuses_outside_a_development_stack(bd):
    before = bd.number("SELECT count(*) FROM posts")
    r = bench_data(bd, 10, SOTTO_DEV="0")
    assert r.returncode == 1
    assert "SOTTO_DEV=1" in r.stderr
    assert bd.number("SELECT count(*) FROM posts") == before


@pytest.mark.parametrize("args", [[], ["0"], ["10", "0"], ["x"], ["10", "5", "0"],
                                  ["10", "5", "2", "extra"], ["--post-rows"],
                                  ["--post-rows", "0"], ["--post-rows", "5", "6"]])
def test_bench_data_rejects_malformed_arguments_with_usage(bd, args):
    r = bench_data(bd, *args)
    assert r.returncode == 2
    assert "usage: sotto bench-data" in r.stderr
