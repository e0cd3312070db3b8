"""Groups, end to end (docs/groups.md). Every client is python3-nacl, an
implementation independent of the server's libsodium: each member holds a
per-group X25519 key (PrivateKey), the group key of an epoch is distributed
with Box to each member's key, and messages are SecretBox under the group
key. The server only ever sees public keys, boxes and ciphertext.

Covered: a three-member group (send, read, remove, rekey, the removed
member's 404s, old-epoch sends 409), a join after messages exist, racing
key posts (one 201), a membership change racing sends, the admin leaving,
invites (reuse, several uses, expiry, revocation), a full group, outsiders'
404 on every route, the admin's list of open invites, coalesced
group.message events, real-time delivery over WebSocket (also of the
events an account deletion causes), export, account deletion, and a
database dump that holds no message text, no group key and no login id."""
import json
import threading
import time

import nacl.public
import nacl.secret
import nacl.utils
import pytest
import websocket

from accounts import b64u, today, unb64u
from conftest import assert_error, bearer, delete_me, describe, pow_header, register
from content import ID_RE, UNKNOWN_ID, uniq
from test_dump import pg
from test_events import cleanup

RECV_TIMEOUT = 5
EVENT_DEADLINE = 10        # seconds to wait for a queued event to show


# -- a client ------------------------------------------------------------------
class Member:
    """One account's membership of one group, with its own per-group key."""

    def __init__(self, st, token=None):
        self.st = st
        self.token = token if token is not None else register(st)[1]
        self.sk = nacl.public.PrivateKey.generate()
        self.group_id = None
        self.member_id = None
        self.keys = {}                  # epoch -> group key

    @property
    def public(self):
        return b64u(bytes(self.sk.public_key))

    def req(self, method, path, doc=None, **kw):
        return self.st.request(method, path, json=doc, headers=bearer(self.token), **kw)

    def g(self, suffix=""):
        return "/groups/%s%s" % (self.group_id, suffix)

    def info(self):
        r = self.req("GET", self.g())
        assert r.status_code == 200, describe(r)
        doc = r.json()
        assert set(doc) >= {"id", "epoch", "key_ready", "members"}, doc
        for m in doc["members"]:
            assert set(m) == {"member_id", "x25519_public", "role", "joined_epoch"}, m
        return doc

    def post_keys(self, epoch=None, members=None, key=None):
        """Box a fresh group key to each member: (response, key)."""
        info = self.info()
        epoch = info["epoch"] if epoch is None else epoch
        key = nacl.utils.random(32) if key is None else key
        members = info["members"] if members is None else members
        boxes = []
        for m in members:
            box = nacl.public.Box(self.sk, nacl.public.PublicKey(unb64u(m["x25519_public"])))
            nonce = nacl.utils.random(24)
            boxes.append({"member_id": m["member_id"], "nonce": b64u(nonce),
                          "box": b64u(box.encrypt(key, nonce).ciphertext)})
        return self.req("POST", self.g("/keys"), {"epoch": epoch, "keys": boxes}), key

    def rekey(self):
        r, _ = self.post_keys()
        assert r.status_code == 201, describe(r)
        return r.json()["epoch"]

    def key(self, epoch):
        """The group key of epoch, opened from this member's own box."""
        if epoch not in self.keys:
            r = self.req("GET", self.g("/keys"), params={"epoch": epoch})
            assert r.status_code == 200, describe(r)
            doc = r.json()
            assert set(doc) == {"epoch", "from_member_id", "box", "nonce"}, doc
            sender = [m for m in self.info()["members"]
                      if m["member_id"] == doc["from_member_id"]][0]
            box = nacl.public.Box(self.sk,
                                  nacl.public.PublicKey(unb64u(sender["x25519_public"])))
            self.keys[epoch] = box.decrypt(unb64u(doc["box"]), unb64u(doc["nonce"]))
        return self.keys[epoch]

    def send(self, text, epoch=None, key=None):
        epoch = self.info()["epoch"] if epoch is None else epoch
        sealed = nacl.secret.SecretBox(key or self.key(epoch)).encrypt(text.encode())
        return self.req("POST", self.g("/send"), {"epoch": epoch,
                                                  "ciphertext": b64u(sealed.ciphertext),
                                                  "nonce": b64u(sealed.nonce)})

    def send_ok(self, text):
        r = self.send(text)
        assert r.status_code == 201, describe(r)
        m = r.json()["message"]
        assert set(m) == {"id", "seq", "epoch", "member_id", "day"}, m
        assert m["member_id"] == self.member_id and abs(m["day"] - today()) <= 1, m
        return m

    def messages(self):
        """Every message this member may read, decrypted: [(member_id, text, item)]."""
        out, cursor = [], None
        while True:
            params = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            r = self.req("GET", self.g("/messages"), params=params)
            assert r.status_code == 200, describe(r)
            doc = r.json()
            for m in doc["items"]:
                assert set(m) == {"id", "seq", "epoch", "member_id", "mine", "ciphertext",
                                  "nonce", "day"}, m
                text = nacl.secret.SecretBox(self.key(m["epoch"])).decrypt(
                    unb64u(m["ciphertext"]), unb64u(m["nonce"])).decode()
                out.append((m["member_id"], text, m))
            cursor = doc["next_cursor"]
            if cursor is None:
                return out


def create(st, token=None):
    m = Member(st, token)
    r = m.req("POST", "/groups", {"x25519_public": m.public})
    assert r.status_code == 201, describe(r)
    doc = r.json()
    assert set(doc) == {"group_id", "member_id", "epoch"} and doc["epoch"] == 1, doc
    assert ID_RE.match(doc["group_id"]) and ID_RE.match(doc["member_id"]), doc
    m.group_id, m.member_id = doc["group_id"], doc["member_id"]
    return m


def invite(admin, **doc):
    r = admin.req("POST", admin.g("/invites"), doc)
    assert r.status_code == 201, describe(r)
    out = r.json()
    assert set(out) == {"invite", "invite_id", "expires_day"}, out
    assert out["expires_day"] == today() + doc.get("days", 7), out
    return out


def join_req(st, secret, token=None):
    m = Member(st, token)
    return m, m.req("POST", "/groups/join", {"invite": secret, "x25519_public": m.public})


def join(st, secret, token=None):
    m, r = join_req(st, secret, token)
    assert r.status_code == 201, describe(r)
    doc = r.json()
    assert set(doc) == {"group_id", "member_id", "epoch"}, doc
    m.group_id, m.member_id = doc["group_id"], doc["member_id"]
    return m


def add(admin):
    return join(admin.st, invite(admin)["invite"])


def events_of(m, after=0):
    r = m.req("GET", "/events", params={"after": after, "limit": 100})
    assert r.status_code == 200, describe(r)
    return r.json()["items"]


def group_events(m, kind):
    return [e for e in events_of(m) if e["type"] == kind and
            e["data"].get("group_id") == m.group_id]


def assert_gone(m):
    """m is no member: 404 on every group route, as for no group at all."""
    for method, suffix, doc in ROUTES:
        r = m.req(method, m.g(suffix), doc)
        assert_error(r, 404, "not_found")


ROUTES = [("GET", "", None), ("GET", "/keys", None), ("GET", "/messages", None),
          ("POST", "/keys", {"epoch": 1, "keys": []}),
          ("POST", "/send", {"epoch": 1, "ciphertext": b64u(b"x" * 40),
                             "nonce": b64u(b"n" * 24)}),
          ("POST", "/invites", {}), ("GET", "/invites", None),
          ("DELETE", "/invites/" + UNKNOWN_ID, None),
          ("DELETE", "/members/me", None), ("DELETE", "/members/" + UNKNOWN_ID, None)]


@pytest.fixture
def trio(stack):
    a = create(stack)
    assert a.rekey() == 1
    b, c = add(a), add(a)
    assert c.info()["epoch"] == 3
    b.rekey()
    return a, b, c


# -- the life of a group -----------------------------------------------------------
def test_three_members_talk_end_to_end_and_a_removed_member_is_locked_out(stack, trio):
    a, b, c = trio
    sent = [a.send_ok("hello from a"), b.send_ok("hi from b"), c.send_ok("c here")]
    for m in trio:
        got = m.messages()
        assert [(s, t) for s, t, _ in got] == [(a.member_id, "hello from a"),
                                             (b.member_id, "hi from b"),
                                             (c.member_id, "c here")]
        assert [x["mine"] for _, _, x in got] == [x is m for x in trio]
    assert [s["seq"] for s in sent] == sorted(s["seq"] for s in sent)
    assert all(s["epoch"] == 3 for s in sent)

    r = a.req("DELETE", a.g("/members/" + c.member_id))
    assert r.status_code == 204, describe(r)
    info = a.info()
    assert info["epoch"] == 4 and info["key_ready"] is False
    assert {m["member_id"] for m in info["members"]} == {a.member_id, b.member_id}
    assert_gone(c)
    for m in (a, b):
        assert any(e["data"] == {"group_id": a.group_id, "epoch": 4}
                   for e in group_events(m, "group.rekey"))
        assert any(e["data"] == {"group_id": a.group_id, "epoch": 4,
                                 "member_id": c.member_id, "change": "left"}
                   for e in group_events(m, "group.member"))

    assert_error(b.send("too soon", epoch=4, key=nacl.utils.random(32)), 409, "conflict")
    assert_error(b.send("old epoch", epoch=3), 409, "conflict")
    # a key set that still includes the removed member is refused
    r, _ = b.post_keys(members=info["members"] + [{"member_id": c.member_id,
                                                    "x25519_public": c.public}])
    assert_error(r, 422, "invalid_field")
    r, _ = b.post_keys(members=info["members"][:1])
    assert_error(r, 422, "invalid_field")
    assert b.rekey() == 4
    assert_error(b.send("old epoch again", epoch=3), 409, "conflict")
    a.send_ok("after c left")
    assert [t for _, t, _ in b.messages()][-1] == "after c left"
    assert_error(c.req("GET", c.g("/keys"), params={"epoch": 4}), 404, "not_found")


def test_a_member_who_joins_later_reads_nothing_from_before(stack, trio):
    a, b, c = trio
    a.send_ok("before d")
    d = add(a)
    assert d.info()["epoch"] == 4
    for epoch in (1, 3):
        assert_error(d.req("GET", d.g("/keys"), params={"epoch": epoch}), 404, "not_found")
    assert d.messages() == []
    d.rekey()
    b.send_ok("after d")
    assert [t for _, t, _ in d.messages()] == ["after d"]
    assert [t for _, t, _ in a.messages()] == ["before d", "after d"]


def test_racing_key_posts_for_one_epoch_give_exactly_one_201(stack):
    a = create(stack)
    a.rekey()
    members = [a] + [add(a) for _ in range(3)]
    info = a.info()
    statuses, keys = [], {}
    barrier = threading.Barrier(len(members))

    def post(m):
        barrier.wait()
        r, key = m.post_keys(epoch=info["epoch"], members=info["members"])
        statuses.append(r.status_code)
        keys[m.member_id] = key

    threads = [threading.Thread(target=post, args=(m,)) for m in members]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] + [409] * (len(members) - 1), statuses
    # every member opens the same key: the winner's
    opened = {m.key(info["epoch"]) for m in members}
    assert len(opened) == 1 and opened <= set(keys.values())


def test_a_membership_change_racing_sends_never_stores_a_stale_epoch(stack):
    a = create(stack)
    a.rekey()
    b = add(a)
    b.rekey()
    epoch = a.info()["epoch"]
    key = a.key(epoch)
    secrets = [invite(a)["invite"] for _ in range(3)]
    results, joiners = [], []

    def sender():
        for i in range(15):
            r = a.send("race %d" % i, epoch=epoch, key=key)
            results.append(r.status_code)

    def joiner():
        for s in secrets:
            joiners.append(join(stack, s))

    threads = [threading.Thread(target=sender), threading.Thread(target=joiner)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) <= {201, 409}, results
    # once the first join committed no send for the old epoch got through
    assert results == sorted(results, key=lambda s: s == 409), results
    stored = [m for _, _, m in b.messages()]
    assert len(stored) == results.count(201)
    assert all(m["epoch"] == epoch for m in stored)
    assert a.info()["epoch"] == epoch + 3
    for j in joiners:
        assert j.messages() == []


def test_when_the_admin_leaves_the_longest_standing_member_becomes_admin(stack):
    a = create(stack)
    b, c = add(a), add(a)
    assert_error(b.req("POST", b.g("/invites"), {}), 403, "forbidden")
    assert_error(b.req("DELETE", b.g("/members/" + c.member_id)), 403, "forbidden")
    r = a.req("DELETE", a.g("/members/me"))
    assert r.status_code == 204, describe(r)
    assert_gone(a)
    roles = {m["member_id"]: m["role"] for m in c.info()["members"]}
    assert roles == {b.member_id: "admin", c.member_id: "member"}
    invite(b)
    r = b.req("GET", "/groups")
    assert r.status_code == 200, describe(r)
    mine = [g for g in r.json()["items"] if g["id"] == b.group_id]
    assert len(mine) == 1 and mine[0]["role"] == "admin" and mine[0]["member_count"] == 2
    assert set(mine[0]) == {"id", "member_id", "role", "epoch", "member_count", "unread"}


def test_the_last_member_leaving_removes_the_group(stack):
    a = create(stack)
    a.rekey()
    a.send_ok("alone")
    assert a.req("DELETE", a.g("/members/" + a.member_id)).status_code == 204
    assert_gone(a)
    assert stack.psql("SELECT count(*) FROM groups WHERE id = '%s'" % a.group_id) == [["0"]]


# -- invites ---------------------------------------------------------------------------
def test_an_invite_is_single_use_by_default(stack):
    a = create(stack)
    secret = invite(a)["invite"]
    join(stack, secret)
    _, r = join_req(stack, secret)
    assert_error(r, 404, "not_found")


def test_an_invite_with_uses_takes_that_many_joins(stack):
    a = create(stack)
    secret = invite(a, uses=2, days=1)["invite"]
    join(stack, secret)
    join(stack, secret)
    assert_error(join_req(stack, secret)[1], 404, "not_found")


def test_an_expired_or_revoked_or_unknown_invite_is_404(stack):
    a = create(stack)
    old, revoked = invite(a, uses=5), invite(a, uses=5)
    stack.psql("UPDATE group_invites SET expires_day = %d WHERE id = '%s'"
               % (today() - 1, old["invite_id"]))
    assert_error(join_req(stack, old["invite"])[1], 404, "not_found")
    r = cleanup(stack)                          # `sotto cleanup` drops expired invites
    assert r.returncode == 0 and "expired group invites" in r.stdout, (r.stdout, r.stderr)
    assert stack.psql("SELECT count(*) FROM group_invites WHERE id = '%s'"
                      % old["invite_id"]) == [["0"]]
    b = join(stack, revoked["invite"])
    assert_error(b.req("DELETE", b.g("/invites/" + revoked["invite_id"])), 403, "forbidden")
    r = a.req("DELETE", a.g("/invites/" + revoked["invite_id"]))
    assert r.status_code == 204, describe(r)
    assert_error(a.req("DELETE", a.g("/invites/" + revoked["invite_id"])), 404, "not_found")
    assert_error(join_req(stack, revoked["invite"])[1], 404, "not_found")
    for bad in (b64u(nacl.utils.random(32)), "short", "A" * 43):
        assert_error(join_req(stack, bad)[1], 404, "not_found")


def open_invites(m, limit=2):
    """Every open invite the admin m lists, walking pages of limit."""
    out, cursor = [], None
    while True:
        params = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        r = m.req("GET", m.g("/invites"), params=params)
        assert r.status_code == 200, describe(r)
        doc = r.json()
        assert set(doc) == {"items", "next_cursor"}, doc
        for item in doc["items"]:
            assert set(item) == {"invite_id", "expires_day", "uses_left"}, item
        out.extend(doc["items"])
        cursor = doc["next_cursor"]
        if cursor is None:
            return out


def test_the_admin_lists_open_invites_without_their_secrets(stack):
    a = create(stack)
    made = [invite(a), invite(a, uses=2, days=3), invite(a, uses=5, days=30)]
    listed = open_invites(a)
    assert [i["invite_id"] for i in listed] == [m["invite_id"] for m in made]
    assert [(i["expires_day"], i["uses_left"]) for i in listed] == \
        [(today() + 7, 1), (today() + 3, 2), (today() + 30, 5)]
    r = a.req("GET", a.g("/invites"))
    for m in made:
        assert m["invite"] not in r.text and unb64u(m["invite"]).hex() not in r.text
    # a join uses one: the single-use invite is gone, the other counts down
    join(stack, made[0]["invite"])
    join(stack, made[1]["invite"])
    assert [(i["invite_id"], i["uses_left"]) for i in open_invites(a, limit=1)] == \
        [(made[1]["invite_id"], 1), (made[2]["invite_id"], 5)]


def test_a_revoked_invite_leaves_the_list_and_cannot_be_used_again(stack):
    a = create(stack)
    keep, revoked = invite(a, uses=3), invite(a, uses=3)
    join(stack, revoked["invite"])
    r = a.req("DELETE", a.g("/invites/" + revoked["invite_id"]))
    assert r.status_code == 204, describe(r)
    assert [i["invite_id"] for i in open_invites(a)] == [keep["invite_id"]]
    assert_error(join_req(stack, revoked["invite"])[1], 404, "not_found")
    assert_error(a.req("DELETE", a.g("/invites/" + revoked["invite_id"])), 404, "not_found")
    join(stack, keep["invite"])


def test_an_expired_invite_is_neither_listed_nor_revocable(stack):
    a = create(stack)
    old, fresh = invite(a, uses=2), invite(a, days=1)
    stack.psql("UPDATE group_invites SET expires_day = %d WHERE id = '%s'"
               % (today() - 1, old["invite_id"]))
    assert [i["invite_id"] for i in open_invites(a)] == [fresh["invite_id"]]
    assert_error(a.req("DELETE", a.g("/invites/" + old["invite_id"])), 404, "not_found")
    assert_error(join_req(stack, old["invite"])[1], 404, "not_found")


def test_only_the_admin_sees_the_invites_and_only_its_own_groups(stack):
    a, other = create(stack), create(stack)
    secret = invite(a, uses=4)["invite"]
    b = join(stack, secret)
    assert_error(b.req("GET", b.g("/invites")), 403, "forbidden")
    outsider = Member(stack)
    outsider.group_id = a.group_id
    assert_error(outsider.req("GET", outsider.g("/invites")), 404, "not_found")
    # another group's invite is no invite here, to list or to revoke
    theirs = invite(other)
    assert_error(a.req("DELETE", a.g("/invites/" + theirs["invite_id"])), 404, "not_found")
    assert theirs["invite_id"] not in [i["invite_id"] for i in open_invites(a)]
    # a cursor of another list is refused
    create(stack, a.token)                  # a's second group: GET /groups has two pages
    r = a.req("GET", "/groups", params={"limit": 1})
    cursor = r.json()["next_cursor"]
    assert cursor, describe(r)
    assert_error(a.req("GET", a.g("/invites"), params={"cursor": cursor}), 400, "bad_request")
    for bad in ({"limit": 0}, {"limit": 101}, {"cursor": "nope"}):
        r = a.req("GET", a.g("/invites"), params=bad)
        assert r.status_code in (400, 422), describe(r)
        assert r.json()["error"]["code"] in ("bad_request", "invalid_field"), describe(r)


def test_the_database_holds_only_hashes_of_invites(stack):
    a = create(stack)
    secret = invite(a)["invite"]
    dump = pg(stack, "pg_dump", "-d", "sotto", "-t", "group_invites")
    assert secret not in dump and unb64u(secret).hex() not in dump


def test_joining_twice_is_409_and_keeps_the_invite(stack):
    a = create(stack)
    secret = invite(a, uses=2)["invite"]
    b = join(stack, secret)
    assert_error(join_req(stack, secret, b.token)[1], 409, "conflict")
    join(stack, secret)


def test_group_limits_proof_of_work_and_rate_class(make_stack):
    """SOTTO_GROUP_MAX_MEMBERS, the `group` proof of work on creating and
    joining, and the GROUP rate class (counted per IP prefix: every account
    of the test shares 127.0.0.1)."""
    st = make_stack("groups-small", SOTTO_GROUP_MAX_MEMBERS="2", SOTTO_POW_GROUP="4",
                    SOTTO_RATE_GROUP="6/3600")
    a = Member(st)
    assert_error(a.req("POST", "/groups", {"x25519_public": a.public}), 428, "pow_required")
    r = st.request("POST", "/groups", json={"x25519_public": a.public},
                   headers=dict(bearer(a.token), **pow_header(st, "group")))
    assert r.status_code == 201, describe(r)
    a.group_id, a.member_id = r.json()["group_id"], r.json()["member_id"]
    secret = invite(a, uses=3)["invite"]

    def join_pow(m):
        return st.request("POST", "/groups/join",
                          json={"invite": secret, "x25519_public": m.public},
                          headers=dict(bearer(m.token), **pow_header(st, "group")))

    b = Member(st)
    assert_error(b.req("POST", "/groups/join", {"invite": secret, "x25519_public": b.public}),
                 428, "pow_required")
    assert join_pow(b).status_code == 201
    assert_error(join_pow(Member(st)), 409, "conflict")      # full at 2
    statuses = [join_pow(Member(st)).status_code for _ in range(4)]
    assert 429 in statuses and set(statuses) <= {409, 429}, statuses


# -- outsiders and bad input -------------------------------------------------------------
def test_anyone_not_a_member_gets_404_on_every_group_route(stack, trio):
    a = trio[0]
    outsider = Member(stack)
    outsider.group_id = a.group_id
    assert_gone(outsider)
    outsider.group_id = UNKNOWN_ID
    assert_gone(outsider)
    r = outsider.req("GET", "/groups")
    assert r.status_code == 200 and r.json() == {"items": [], "next_cursor": None}, describe(r)
    assert_error(stack.request("GET", "/groups"), 401, "unauthorized")


@pytest.mark.parametrize("key", [None, "", "abc", b64u(b"\0" * 32), b64u(b"k" * 31), 5])
def test_a_bad_x25519_key_is_422(stack, key):
    m = Member(stack)
    doc = {} if key is None else {"x25519_public": key}
    assert_error(m.req("POST", "/groups", doc), 422, "invalid_field")


def test_bad_key_sets_and_messages_are_422(stack):
    a = create(stack)
    good = {"member_id": a.member_id, "box": b64u(b"b" * 48), "nonce": b64u(b"n" * 24)}
    for doc in ({"keys": [good]}, {"epoch": 0, "keys": [good]}, {"epoch": 1},
                {"epoch": 1, "keys": []}, {"epoch": 1, "keys": [good, good]},
                {"epoch": 1, "keys": [dict(good, box=b64u(b"b" * 16))]},
                {"epoch": 1, "keys": [dict(good, box=b64u(b"b" * 200))]},
                {"epoch": 1, "keys": [dict(good, nonce=b64u(b"n" * 23))]},
                {"epoch": 1, "keys": [dict(good, member_id="short")]},
                {"epoch": 1, "keys": ["x"]}):
        assert_error(a.req("POST", a.g("/keys"), doc), 422, "invalid_field")
    a.rekey()
    key = a.key(1)
    nonce = b64u(b"n" * 24)
    for doc in ({"epoch": 1, "body": "plain"},
                {"epoch": 1, "ciphertext": b64u(b"c" * 16), "nonce": nonce},
                {"epoch": 1, "ciphertext": b64u(b"c" * 40), "nonce": b64u(b"n" * 25)},
                {"epoch": "1", "ciphertext": b64u(b"c" * 40), "nonce": nonce}):
        assert_error(a.req("POST", a.g("/send"), doc), 422, "invalid_field")
    # bounded: one byte over 16 + 4 x post_max_chars is refused (by the body limit
    # first when that is the smaller bound)
    r = a.req("POST", a.g("/send"), {"epoch": 1, "nonce": nonce,
                                     "ciphertext": b64u(b"c" * (16 + 4 * 4000 + 1))})
    assert r.status_code in (413, 422), describe(r)
    assert_error(a.req("GET", a.g("/keys"), params={"epoch": "x"}), 400, "bad_request")
    for doc in ({"uses": 0}, {"uses": 257}, {"days": 31}, {"days": "7"}):
        assert_error(a.req("POST", a.g("/invites"), doc), 422, "invalid_field")
    assert a.send("fine", epoch=1, key=key).status_code == 201


# -- events ------------------------------------------------------------------------------
def test_group_messages_coalesce_into_one_pending_event_per_member(stack):
    a = create(stack)
    a.rekey()
    b = add(a)
    b.rekey()
    last = [a.send_ok("m%d" % i) for i in range(5)][-1]
    pending = group_events(b, "group.message")
    assert len(pending) == 1, pending
    assert pending[0]["data"] == {"group_id": a.group_id, "message_id": last["id"],
                                  "epoch": last["epoch"]}
    assert group_events(a, "group.message") == []      # not for the sender
    # the latest message moves the event to a new seq: a client past it sees it
    seen = pending[0]["seq"]
    nxt = a.send_ok("m5")
    after = events_of(b, after=seen)
    assert [e["data"]["message_id"] for e in after if e["type"] == "group.message"] == \
        [nxt["id"]]
    assert b.req("POST", "/events/ack", {"up_to": after[-1]["seq"]}).status_code == 204
    assert group_events(b, "group.message") == []
    third = a.send_ok("m6")
    assert [e["data"]["message_id"] for e in group_events(b, "group.message")] == [third["id"]]
    r = b.req("GET", "/groups")
    item = [g for g in r.json()["items"] if g["id"] == a.group_id][0]
    assert item["unread"] == 7
    b.messages()
    r = b.req("GET", "/groups")
    assert [g for g in r.json()["items"] if g["id"] == a.group_id][0]["unread"] == 0


def test_a_member_who_left_with_an_event_pending_gets_a_new_one_on_joining_again(stack):
    a = create(stack)
    a.rekey()
    b = add(a)
    b.rekey()
    first = a.send_ok("before")
    assert [e["data"]["message_id"] for e in group_events(b, "group.message")] == [first["id"]]
    assert b.req("DELETE", b.g("/members/me")).status_code == 204
    back = join(stack, invite(a)["invite"], token=b.token)
    assert back.group_id == a.group_id and back.member_id != b.member_id
    a.rekey()
    # the old membership's event stays as it was; the new membership has its own
    nxt = a.send_ok("after")
    assert [e["data"]["message_id"] for e in group_events(back, "group.message")] == \
        [first["id"], nxt["id"]]
    third = a.send_ok("again")
    moved = group_events(back, "group.message")
    assert [e["data"]["message_id"] for e in moved] == [first["id"], third["id"]]
    assert moved[1]["seq"] > moved[0]["seq"]


def test_group_message_arrives_over_websocket(stack):
    a = create(stack)
    a.rekey()
    b = add(a)
    b.rekey()
    r = b.req("POST", "/events/ticket")
    assert r.status_code == 200, describe(r)
    ws = websocket.create_connection(
        "wss://127.0.0.1:%d/events/stream?ticket=%s" % (stack.https_port, r.json()["ticket"]),
        timeout=RECV_TIMEOUT, sslopt={"cert_reqs": 0})
    try:
        sent = a.send_ok("live")
        msg = json.loads(ws.recv())
    finally:
        ws.close()
    assert msg["type"] == "group.message", msg
    assert msg["data"] == {"group_id": a.group_id, "message_id": sent["id"],
                           "epoch": sent["epoch"]}, msg


def ws_open(m):
    r = m.req("POST", "/events/ticket")
    assert r.status_code == 200, describe(r)
    return websocket.create_connection(
        "wss://127.0.0.1:%d/events/stream?ticket=%s" % (m.st.https_port, r.json()["ticket"]),
        timeout=RECV_TIMEOUT, sslopt={"cert_reqs": 0})


def ws_group_events(ws, group_id, want):
    """Events of group_id read from ws until want (a set of types) are all
    in or EVENT_DEADLINE passes: {type: data}."""
    got, deadline = {}, time.monotonic() + EVENT_DEADLINE
    while not want <= set(got) and time.monotonic() < deadline:
        msg = json.loads(ws.recv())
        if msg["data"].get("group_id") == group_id:
            got[msg["type"]] = msg["data"]
    return got


def test_deleting_an_account_tells_the_others_in_real_time(stack, trio):
    """DELETE /me leaves every group; each remaining member's event stream
    gets group.member and group.rekey as soon as the deletion commits."""
    a, b, c = trio
    d = create(stack, c.token)                  # c's second group, with e
    e = join(stack, invite(d)["invite"])
    socks = {m.group_id: ws_open(m) for m in (b, e)}
    try:
        r = delete_me(stack, c.token)
        assert r.status_code == 204, describe(r)
        seen = {gid: ws_group_events(ws, gid, {"group.member", "group.rekey"})
                for gid, ws in socks.items()}
    finally:
        for ws in socks.values():
            ws.close()
    assert seen[a.group_id] == {
        "group.member": {"group_id": a.group_id, "epoch": 4, "member_id": c.member_id,
                         "change": "left"},
        "group.rekey": {"group_id": a.group_id, "epoch": 4}}
    assert seen[d.group_id] == {
        "group.member": {"group_id": d.group_id, "epoch": 3, "member_id": d.member_id,
                         "change": "left"},
        "group.rekey": {"group_id": d.group_id, "epoch": 3}}
    # the second group's only other member took over as admin
    assert [m["role"] for m in e.info()["members"]] == ["admin"]


# -- export, deletion, the dump ----------------------------------------------------------------
def test_export_lists_groups_and_own_messages_as_stored(stack, trio):
    a, b, _ = trio
    mine = b.send_ok("exported")
    a.send_ok("not b's")
    r = b.req("GET", "/me/export")
    assert r.status_code == 200, describe(r)
    groups = [g for g in r.json()["groups"] if g["id"] == b.group_id]
    assert len(groups) == 1, r.json()["groups"]
    g = groups[0]
    assert g["member_id"] == b.member_id and g["role"] == "member"
    assert [m["id"] for m in g["messages"]] == [mine["id"]]
    m = g["messages"][0]
    assert nacl.secret.SecretBox(b.key(m["epoch"])).decrypt(
        unb64u(m["ciphertext"]), unb64u(m["nonce"])) == b"exported"


def test_deleting_an_account_leaves_its_groups_with_a_new_epoch(stack, trio):
    a, b, c = trio
    c.send_ok("from c")
    r = delete_me(stack, c.token)
    assert r.status_code == 204, describe(r)
    info = a.info()
    assert info["epoch"] == 4 and len(info["members"]) == 2
    assert any(e["data"].get("change") == "left" and e["data"]["member_id"] == c.member_id
               for e in group_events(a, "group.member"))
    assert any(e["data"]["epoch"] == 4 for e in group_events(b, "group.rekey"))
    # c's message stays readable to the others, under its member id only
    assert [(s, t) for s, t, _ in a.messages()] == [(c.member_id, "from c")]


def test_a_dump_holds_no_message_text_and_no_group_key(stack, trio):
    a, b, _ = trio
    marker = uniq("group-secret-text")
    a.send_ok(marker)
    dump = pg(stack, "pg_dump", "-d", "sotto")
    key = a.key(3)
    assert marker not in dump
    assert key.hex() not in dump and b64u(key) not in dump


def test_export_has_every_group_and_only_own_messages_byte_for_byte(stack, trio):
    a, b, _ = trio
    other = create(stack, b.token)
    other.rekey()
    sent = {}
    for m, text in ((b, "b in trio"), (other, "b in its own"), (a, "a's, not b's")):
        r = m.send(text)
        assert r.status_code == 201, describe(r)
        stored = [x for _, _, x in m.messages() if x["id"] == r.json()["message"]["id"]][0]
        sent[stored["id"]] = stored
    r = b.req("GET", "/me/export")
    assert r.status_code == 200, describe(r)
    groups = {g["id"]: g for g in r.json()["groups"]}
    assert set(groups) == {b.group_id, other.group_id}, groups
    assert (groups[b.group_id]["role"], groups[other.group_id]["role"]) == ("member", "admin")
    assert groups[other.group_id]["member_id"] == other.member_id
    for gid in groups:
        for m in groups[gid]["messages"]:
            want = sent[m["id"]]
            assert (m["ciphertext"], m["nonce"], m["epoch"], m["seq"]) == \
                (want["ciphertext"], want["nonce"], want["epoch"], want["seq"]), m
    exported = sorted(m["id"] for g in groups.values() for m in g["messages"])
    assert exported == sorted(i for i, x in sent.items() if x["member_id"] != a.member_id)
    # a group left is no longer the account's
    assert other.req("DELETE", other.g("/members/me")).status_code == 204
    r = b.req("GET", "/me/export")
    assert [g["id"] for g in r.json()["groups"]] == [b.group_id]


def test_a_dump_ties_no_member_to_a_login_id_and_copies_no_member_key(stack):
    """The member -> account link is an internal account number, as for a
    post's author: the login id is nowhere in the dump. Each per-group X25519
    key is stored once, on its membership, and nowhere else."""
    ids = [register(stack) for _ in range(3)]
    a = create(stack, ids[0][1])
    a.rekey()
    b, c = join(stack, invite(a)["invite"], ids[1][1]), join(stack, invite(a)["invite"], ids[2][1])
    c.rekey()
    marker = uniq("member-link-text")
    b.send_ok(marker)
    dump = pg(stack, "pg_dump", "-d", "sotto")
    assert marker not in dump
    for account_id, _ in ids:
        assert not any(x in dump for x in (account_id, unb64u(account_id).hex())), account_id
    for m in (a, b, c):
        assert dump.count(bytes(m.sk.public_key).hex()) == 1, m.member_id
