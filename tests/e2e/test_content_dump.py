"""What a stolen database reveals about content (docs/privacy.md;
sql/003_posts.sql): after posts, replies, communities, votes
and deletions on a stack of their own, a pg_dump holds none of the texts in
any encoding (raw, hex, base64, base64url); the posts, votes and communities
tables have no time-typed column; no column holds an IP; what was deleted is
gone from the tables."""
import base64
import glob
import os
import uuid

import pytest

from accounts import b64u, unb64u
from content import community, delete_ok, get_post, post, reply, vote_ok
from conftest import delete_me, describe, register
from test_dump import COPY_RE, IPV4_RE, pg

CONTENT_TABLES = ("posts", "votes", "communities")


def marker(kind):
    """A text with a unique token in it: (text, token)."""
    token = "MK%s%s" % (kind.upper(), uuid.uuid4().hex)
    return "Über %s — %s ✓ end" % (kind, token), token


def text_needles(text, token):
    """Ways the text (or its token) could show up: clear, hex, base64 and
    base64url at every byte alignment (the last group dropped: it mixes in
    the following bytes)."""
    raw = text.encode("utf-8")
    tok = token.encode("utf-8")
    folded = {text, token, raw.hex(), tok.hex()}
    exact = set()
    for blob in (raw, tok):
        for s in range(3):
            for enc in (base64.b64encode(blob[s:]).decode(),
                        base64.urlsafe_b64encode(blob[s:]).decode()):
                enc = enc.rstrip("=")
                if len(enc) > 8:
                    exact.add(enc[:-4])
    return folded, exact


@pytest.fixture(scope="module")
def content(make_stack):
    st = make_stack("content")
    texts = {}          # name -> (text, token)

    def mk(name):
        texts[name] = marker(name)
        return texts[name][0]

    a_id, a = register(st)
    b_id, b = register(st)
    c_id, c = register(st)

    comm = community(st, a, slug="dump-" + uuid.uuid4().hex[:12], title=mk("title"),
                     description=mk("description"))
    community(st, b, slug="dump-" + uuid.uuid4().hex[:12], title=mk("title2"), description="")
    p1 = post(st, a, mk("post1"), community=comm["slug"])
    p2 = post(st, a, mk("post2"))
    p3 = post(st, b, mk("post3"))
    r1 = reply(st, b, p1["id"], mk("reply1"))
    r2 = reply(st, c, p1["id"], mk("reply2"))
    r3 = reply(st, a, p3["id"], mk("reply3"))
    pc = post(st, c, mk("post-of-deleted-account"), community=comm["slug"])
    gone = post(st, a, mk("deleted-post"))
    gone_reply = reply(st, b, p2["id"], mk("deleted-reply"))

    vote_ok(st, b, p1["id"], 1)
    vote_ok(st, c, p1["id"], -1)
    vote_ok(st, a, p1["id"], 1)
    vote_ok(st, a, p3["id"], 1)
    vote_ok(st, b, r3["id"], -1)
    vote_ok(st, c, p3["id"], 1)
    vote_ok(st, a, pc["id"], 1)
    vote_ok(st, b, gone["id"], 1)

    delete_ok(st, a, gone["id"])
    delete_ok(st, b, gone_reply["id"])
    r = delete_me(st, c)
    assert r.status_code == 204, describe(r)
    for pid in (gone["id"], gone_reply["id"], pc["id"], r2["id"]):
        assert get_post(st, pid).status_code == 404

    dump = pg(st, "pg_dump", "-d", "sotto")
    tables = {m.group(1): m.group(3) for m in COPY_RE.finditer(dump)}
    for t in CONTENT_TABLES:
        assert "public." + t in tables, "pg_dump holds no %s data:\n%s" % (t, dump[:2000])
    live_posts = {p1["id"], p2["id"], p3["id"], r1["id"], r3["id"]}
    # votes still standing: b->p1, a->p1, a->p3, b->r3
    return {"stack": st, "dump": dump, "tables": tables, "texts": texts,
            "accounts": [a_id, b_id, c_id], "live_posts": live_posts, "live_votes": 4,
            "gone_posts": {gone["id"], gone_reply["id"], pc["id"], r2["id"]}}


def test_dump_holds_no_text_in_clear_hex_or_base64(content):
    dump = content["dump"]
    low = dump.lower()
    found = {}
    for name, (text, token) in content["texts"].items():
        folded, exact = text_needles(text, token)
        hits = sorted(n for n in folded if n.lower() in low) + \
            sorted(n for n in exact if n in dump)
        if hits:
            found[name] = hits
    assert not found, found


def test_dump_holds_no_account_id(content):
    dump = content["dump"].lower()
    for account_id in content["accounts"]:
        raw = unb64u(account_id)
        for n in (account_id, raw.hex(), b64u(raw), base64.b64encode(raw).decode().rstrip("=")):
            assert n.lower() not in dump, account_id


def test_deleted_posts_and_their_votes_are_gone_from_the_tables(content):
    st = content["stack"]
    ids = {row[0] for row in st.psql("SELECT id FROM posts")}
    assert ids == content["live_posts"], (ids, content["live_posts"])
    assert not ids & content["gone_posts"]
    assert st.psql("SELECT count(*) FROM votes") == [[str(content["live_votes"])]]
    assert st.psql("SELECT count(*) FROM accounts") == [["2"]]


def test_stored_texts_are_sealed_not_plain(content):
    st = content["stack"]
    rows = st.psql("SELECT length(body_sealed) FROM posts")
    assert rows and all(int(n) > 0 for (n,) in rows), rows
    # No text-typed column other than the public id and slug in these tables.
    cols = st.psql("SELECT table_name || '.' || column_name FROM information_schema.columns "
                   "WHERE table_schema = 'public' AND table_name IN ('posts', 'votes', "
                   "'communities') AND data_type IN ('text', 'character varying', "
                   "'character', 'json', 'jsonb')")
    assert sorted(c for (c,) in cols) == ["communities.slug", "posts.id"], cols


def test_content_tables_have_no_time_typed_column(content):
    rows = content["stack"].psql(
        "SELECT table_name || '.' || column_name || ' ' || data_type "
        "FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name IN ('posts', 'votes', 'communities') "
        "AND (data_type LIKE 'timestamp%' OR data_type LIKE 'time %' "
        "OR data_type IN ('date', 'time', 'interval'))")
    assert rows == [], rows


def test_no_column_holds_an_ip(content):
    rows = content["stack"].psql(
        "SELECT table_name || '.' || column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND data_type IN ('inet', 'cidr', 'macaddr', "
        "'macaddr8')")
    assert rows == [], rows
    dump = content["dump"]
    assert "127.0.0.1" not in dump
    found = {}
    for table, data in content["tables"].items():
        ips = IPV4_RE.findall(data)
        if ips or "7f000001" in data.lower() or "::1" in data:
            found[table] = ips or data[:200]
    assert not found, found


def test_no_text_in_the_logs(content):
    st = content["stack"]
    found = []
    for path in glob.glob(os.path.join(st.var, "log", "*")):
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            data = f.read().decode("utf-8", "replace")
        for name, (text, token) in content["texts"].items():
            if token in data:
                found.append((os.path.basename(path), name))
    assert not found, found
