"""sql/016_dm_per_post.sql on a database that holds conversations of the old
kind (one per pair of accounts, account-wide X25519 keys): migrations up to
015 are applied to a scratch database of the stack's cluster, rows written
the way the old server wrote them, then 016. The server side of reading a
copied (legacy-sealed) key is in test_dm.py's migrated-key test."""
import glob
import os

from test_dump import pg

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KA, KB, KD = "\\x" + "a1" * 40, "\\x" + "b2" * 40, "\\x" + "d4" * 40

# Accounts 1 (A, key KA), 2 (B, key KB), 3 (C, no key), 4 (D, key KD);
# one post each. Conversations:
#   c1 A-B started by A from B's post, both keys: end to end by the keys
#   c2 A-C started by A from C's post, C without key: server-readable
#   c3 A-D marked end to end, D's side gone, origin post gone
#   c4 C-D started by D from C's post, only D with a key: server-readable
OLD_ROWS = """
INSERT INTO accounts (pk, id_hash, id_sealed, password_hash, auth, day_joined, x25519_sealed)
SELECT n, decode(lpad(to_hex(n), 64, '0'), 'hex'), '\\x00', '$argon2id$x', 1, 20000,
       k::bytea
  FROM (VALUES (1, '{ka}'), (2, '{kb}'), (3, NULL), (4, '{kd}')) AS v (n, k);
INSERT INTO posts (pk, id, author_pk, body_sealed, day)
SELECT n, 'post' || repeat('x', 17) || n, n, '\\x00', 20000 FROM generate_series(1, 4) n;
INSERT INTO dm_conversations (pk, id, low_pk, high_pk, origin_post_pk, e2e, day_last) VALUES
  (1, 'conv' || repeat('x', 17) || '1', 1, 2, 2, false, 20000),
  (2, 'conv' || repeat('x', 17) || '2', 1, 3, 3, false, 20000),
  (3, 'conv' || repeat('x', 17) || '3', 1, 4, NULL, true, 20000),
  (4, 'conv' || repeat('x', 17) || '4', 3, 4, 3, false, 20000);
INSERT INTO dm_participants (conversation_pk, side, account_pk, key_sealed) VALUES
  (1, 0, 1, '\\x01'), (1, 1, 2, '\\x02'), (2, 0, 1, '\\x03'), (2, 1, 3, '\\x04'),
  (3, 0, 1, '\\x05'), (4, 0, 3, '\\x06'), (4, 1, 4, '\\x07');
""".format(ka=KA, kb=KB, kd=KD)


def psql(st, db, sql):
    out = pg(st, "psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-F", "|",
             "-d", db, "-c", sql)
    return [line.split("|") for line in out.splitlines() if line]


def migrate(st, db, upto=None, only=None):
    for path in sorted(glob.glob(os.path.join(REPO, "sql", "[0-9][0-9][0-9]_*.sql"))):
        number = int(os.path.basename(path)[:3])
        if (upto is not None and number > upto) or (only is not None and number != only):
            continue
        with open(path) as f:
            text = f.read()
        pg(st, "psql", "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", text)


def test_016_keeps_keys_of_conversations_that_were_end_to_end_and_drops_the_rest(stack):
    db = "mig016_%s" % os.urandom(4).hex()
    pg(stack, "createdb", db)
    try:
        migrate(stack, db, upto=15)
        psql(stack, db, OLD_ROWS)
        migrate(stack, db, only=16)
        rows = psql(stack, db, "SELECT pk, coalesce(starter_pk::text, '-'), e2e "
                                "FROM dm_conversations ORDER BY pk")
        assert rows == [["1", "1", "t"], ["2", "1", "f"], ["3", "-", "t"], ["4", "4", "f"]], rows
        rows = psql(stack, db, "SELECT conversation_pk, side, "
                                "coalesce(encode(x25519_sealed, 'hex'), '-'), x25519_legacy, "
                                "encode(key_sealed, 'hex') "
                                "FROM dm_participants ORDER BY 1, 2")
        assert rows == [
            ["1", "0", KA[2:], "t", "01"], ["1", "1", KB[2:], "t", "02"],
            ["2", "0", "-", "f", "03"], ["2", "1", "-", "f", "04"],
            ["3", "0", KA[2:], "t", "05"],
            ["4", "0", "-", "f", "06"], ["4", "1", "-", "f", "07"],
        ], rows
        cols = psql(stack, db, "SELECT table_name || '.' || column_name "
                                "FROM information_schema.columns WHERE table_schema = 'public' "
                                "AND column_name IN ('x25519_sealed', 'low_pk', 'high_pk') "
                                "ORDER BY 1")
        assert cols == [["dm_participants.x25519_sealed"]], cols
        # one conversation per (starter, post), by a unique index; the pair
        # of accounts may have several
        insert = ("INSERT INTO dm_conversations (pk, id, starter_pk, origin_post_pk, day_last) "
                  "VALUES (%d, '%s', 1, 1, 20000) ON CONFLICT (starter_pk, origin_post_pk) "
                  "DO NOTHING RETURNING pk")
        assert psql(stack, db, insert % (10, "conv" + "y" * 18)) == [["10"]]
        assert psql(stack, db, insert % (11, "conv" + "z" * 18)) == []
        psql(stack, db, "INSERT INTO events (account_pk, seq, type, day, data) "
                        "VALUES (1, 1, 'dm.key', 20000, '{}')")
    finally:
        pg(stack, "dropdb", db)
