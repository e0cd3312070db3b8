"""Direct messages (docs/dm.md): POST /dm/start_from_post, GET /dm/list, GET /dm/{id}/messages,
POST /dm/{id}/send, server-readable (sealed at rest with a per-conversation
key) and end to end (both sides published X25519 keys; checked with
python3-nacl's Box on both sides, an implementation independent of the
server's libsodium); non-participants, deletion of one side, the export, the
dm.message event, proof of work and the DM rate class."""
import json
import os

import nacl.public
import pytest

from accounts import b64u, id_hash, today, unb64u
from content import (ID_RE, UNKNOWN_ID, assert_no_duplicates, assert_page, delete_ok, post,
                     uniq, walk)
from conftest import (assert_error, assert_standard_headers, bearer, delete_me, describe,
                      pow_header, register)
from test_dump import pg

LIST_KEYS = {"id", "origin_post_id", "day_last", "unread", "e2e", "peer_x25519"}
SERVER_MESSAGE_KEYS = {"id", "seq", "mine", "day", "body"}
E2E_MESSAGE_KEYS = {"id", "seq", "mine", "day", "ciphertext", "nonce"}
POST_MAX_CHARS = 4000   # SOTTO_POST_MAX_CHARS default


# -- helpers -------------------------------------------------------------------
def start(st, token, post_id, headers=None):
    h = bearer(token)
    h.update(headers or {})
    return st.request("POST", "/dm/start_from_post", json={"post_id": post_id}, headers=h)


def start_ok(st, token, post_id, status=201):
    r = start(st, token, post_id)
    assert r.status_code == status, describe(r)
    doc = r.json()
    assert set(doc) == {"conversation_id"} and ID_RE.match(doc["conversation_id"]), doc
    return doc["conversation_id"]


def dm_list(st, token, **params):
    return assert_page(st.get("/dm/list", headers=bearer(token), params=params))


def list_item(st, token, cid):
    items = [c for c in walk(st, "/dm/list", token=token, limit=100)[0] if c["id"] == cid]
    assert len(items) == 1, items
    c = items[0]
    assert set(c) == LIST_KEYS, c
    return c


def messages(st, token, cid, **params):
    return st.get("/dm/%s/messages" % cid, headers=bearer(token), params=params)


def all_messages(st, token, cid):
    return walk(st, "/dm/%s/messages" % cid, token=token, limit=100)[0]


def send(st, token, cid, doc, headers=None):
    h = bearer(token)
    h.update(headers or {})
    return st.request("POST", "/dm/%s/send" % cid, json=doc, headers=h)


def send_ok(st, token, cid, body=None):
    body = uniq("dm") if body is None else body
    r = send(st, token, cid, {"body": body})
    assert r.status_code == 201, describe(r)
    doc = r.json()
    assert set(doc) == {"message"}, doc
    m = doc["message"]
    assert set(m) == SERVER_MESSAGE_KEYS, m
    assert m["body"] == body and m["mine"] is True and ID_RE.match(m["id"]), m
    assert abs(m["day"] - today()) <= 1, m
    return m


def put_key(st, token):
    """Publish a fresh X25519 key: the nacl PrivateKey."""
    sk = nacl.public.PrivateKey.generate()
    r = st.request("PUT", "/me/keys", json={"x25519_public": b64u(bytes(sk.public_key))},
                   headers=bearer(token))
    assert r.status_code == 200, describe(r)
    return sk


def box_send(st, token, cid, my_sk, peer_pk_b64, text):
    box = nacl.public.Box(my_sk, nacl.public.PublicKey(unb64u(peer_pk_b64)))
    nonce = os.urandom(24)
    ct = box.encrypt(text.encode(), nonce).ciphertext
    return send(st, token, cid, {"ciphertext": b64u(ct), "nonce": b64u(nonce)}), ct, nonce


def account_pk(st, account_id):
    rows = st.psql("SELECT pk FROM accounts WHERE id_hash = '\\x%s'"
                   % id_hash(st, account_id).hex())
    assert len(rows) == 1, rows
    return int(rows[0][0])


def pair(st):
    """Two accounts and a conversation started by the first from a post of the
    second: (a, b, post, conversation id) with a and b (account_id, token)."""
    a, b = register(st), register(st)
    p = post(st, b[1])
    return a, b, p, start_ok(st, a[1], p["id"])


@pytest.fixture
def conv(stack):
    return pair(stack)


# -- POST /dm/start_from_post ----------------------------------------------------
def test_start_is_201_then_200_with_the_same_conversation_from_any_post_of_the_author(stack):
    a, b = register(stack), register(stack)
    p1, p2 = post(stack, b[1]), post(stack, b[1])
    r = start(stack, a[1], p1["id"])
    assert r.status_code == 201, describe(r)
    assert_standard_headers(r)
    cid = r.json()["conversation_id"]
    assert start_ok(stack, a[1], p1["id"], status=200) == cid
    assert start_ok(stack, a[1], p2["id"], status=200) == cid
    # the author starting from a post of the starter: still the one conversation
    p3 = post(stack, a[1])
    assert start_ok(stack, b[1], p3["id"], status=200) == cid
    # another account gets another conversation
    c = register(stack)
    assert start_ok(stack, c[1], p1["id"]) != cid


def test_start_from_a_reply_works(stack):
    a, b = register(stack), register(stack)
    p = post(stack, a[1])
    r = stack.request("POST", "/posts/%s/reply" % p["id"], json={"body": uniq("r")},
                      headers=bearer(b[1]))
    assert r.status_code == 201, describe(r)
    start_ok(stack, a[1], r.json()["post"]["id"])


def test_start_from_own_post_is_422(stack):
    a = register(stack)
    p = post(stack, a[1])
    assert_error(start(stack, a[1], p["id"]), 422, "invalid_field")


def test_start_from_unknown_removed_or_deleted_post_is_404(stack):
    a, b = register(stack), register(stack)
    assert_error(start(stack, a[1], UNKNOWN_ID), 404, "not_found")
    assert_error(start(stack, a[1], "short"), 404, "not_found")
    removed = post(stack, b[1])
    stack.psql("UPDATE posts SET status = 2 WHERE id = '%s'" % removed["id"])
    assert_error(start(stack, a[1], removed["id"]), 404, "not_found")
    held = post(stack, b[1])
    stack.psql("UPDATE posts SET status = 1 WHERE id = '%s'" % held["id"])
    assert_error(start(stack, a[1], held["id"]), 404, "not_found")
    deleted = post(stack, b[1])
    delete_ok(stack, b[1], deleted["id"])
    assert_error(start(stack, a[1], deleted["id"]), 404, "not_found")


def test_start_from_post_of_a_deleted_account_is_404(stack):
    a, b = register(stack), register(stack)
    p = post(stack, b[1])
    r = delete_me(stack, b[1])
    assert r.status_code == 204, describe(r)
    assert_error(start(stack, a[1], p["id"]), 404, "not_found")


@pytest.mark.parametrize("doc", [{}, {"post_id": 5}, {"post_id": None}, {"post_id": ["x"]},
                                 {"post": "AAAAAAAAAAAAAAAAAAAAAA"}])
def test_start_without_a_post_id_string_is_422(stack, doc):
    a = register(stack)
    r = stack.request("POST", "/dm/start_from_post", json=doc, headers=bearer(a[1]))
    assert_error(r, 422, "invalid_field")


def test_start_with_bad_json_is_400_and_without_token_401(stack):
    a = register(stack)
    h = bearer(a[1])
    h["Content-Type"] = "application/json"
    assert_error(stack.request("POST", "/dm/start_from_post", data=b"{\"post_id\":", headers=h),
                 400, "invalid_json")
    assert_error(stack.request("POST", "/dm/start_from_post", json={"post_id": UNKNOWN_ID}),
                 401, "unauthorized")
    assert_error(stack.get("/dm/list"), 401, "unauthorized")


# -- GET /dm/list --------------------------------------------------------------------
def test_list_shows_fields_unread_counts_and_newest_activity_first(stack):
    a, b, c = register(stack), register(stack), register(stack)
    pb, pc = post(stack, b[1]), post(stack, c[1])
    cb = start_ok(stack, a[1], pb["id"])
    cc = start_ok(stack, a[1], pc["id"])
    ids = [x["id"] for x in dm_list(stack, a[1])["items"]]
    assert ids == [cc, cb], ids              # the newer start first
    send_ok(stack, b[1], cb)
    send_ok(stack, b[1], cb)
    items = dm_list(stack, a[1])["items"]
    assert [x["id"] for x in items] == [cb, cc], items
    first = items[0]
    assert set(first) == LIST_KEYS, first
    assert first["origin_post_id"] == pb["id"], first
    assert first["unread"] == 2 and first["e2e"] is False and first["peer_x25519"] is None
    assert abs(first["day_last"] - today()) <= 1, first
    assert items[1]["unread"] == 0, items
    # the sender's own messages are never unread for it
    assert list_item(stack, b[1], cb)["unread"] == 0
    # reading the messages moves the read position
    r = messages(stack, a[1], cb)
    assert r.status_code == 200, describe(r)
    assert list_item(stack, a[1], cb)["unread"] == 0
    send_ok(stack, b[1], cb)
    assert list_item(stack, a[1], cb)["unread"] == 1
    # a reply of a sends moves cc to the front
    send_ok(stack, a[1], cc)
    assert [x["id"] for x in dm_list(stack, a[1])["items"]][:2] == [cc, cb]


def test_list_pages_walk_each_conversation_once(stack):
    a = register(stack)
    cids = []
    for _ in range(5):
        b = register(stack)
        cids.append(start_ok(stack, a[1], post(stack, b[1])["id"]))
    seen, pages = walk(stack, "/dm/list", token=a[1], limit=2)
    ids = [c["id"] for c in seen]
    assert ids == list(reversed(cids)), ids
    assert pages == 3


def test_origin_post_id_is_null_once_the_post_is_gone(stack):
    a, b = register(stack), register(stack)
    p = post(stack, b[1])
    cid = start_ok(stack, a[1], p["id"])
    delete_ok(stack, b[1], p["id"])
    assert list_item(stack, a[1], cid)["origin_post_id"] is None
    assert list_item(stack, b[1], cid)["origin_post_id"] is None


def test_no_response_carries_an_account_id(stack):
    a, b = register(stack), register(stack)
    texts = []

    def keep(r):
        texts.append(r.text)
        return r

    p = post(stack, b[1])
    cid = keep(start(stack, a[1], p["id"])).json()["conversation_id"]
    keep(start(stack, b[1], post(stack, a[1])["id"]))
    keep(send(stack, a[1], cid, {"body": uniq("hi")}))
    keep(send(stack, b[1], cid, {"body": uniq("hello")}))
    for tok in (a[1], b[1]):
        keep(stack.get("/dm/list", headers=bearer(tok)))
        keep(messages(stack, tok, cid))
    put_key(stack, a[1])
    put_key(stack, b[1])
    keep(stack.get("/dm/list", headers=bearer(a[1])))
    text = "\n".join(texts)
    for account_id in (a[0], b[0]):
        raw = unb64u(account_id)
        for needle in (account_id, raw.hex(), b64u(raw)):
            assert needle not in text, needle
    for key in ("account_id", "author", "peer_id", "sender"):
        assert '"%s"' % key not in text, key


# -- GET /dm/{id}/messages --------------------------------------------------------
def test_messages_are_oldest_first_with_mine_flags_for_both_sides(stack, conv):
    a, b, _, cid = conv
    sent = [send_ok(stack, a[1], cid), send_ok(stack, b[1], cid), send_ok(stack, a[1], cid)]
    for tok, mine in ((a[1], [True, False, True]), (b[1], [False, True, False])):
        got = all_messages(stack, tok, cid)
        assert [m["id"] for m in got] == [m["id"] for m in sent]
        assert [m["body"] for m in got] == [m["body"] for m in sent]
        assert [m["mine"] for m in got] == mine
        assert [m["seq"] for m in got] == [1, 2, 3]
        for m in got:
            assert set(m) == SERVER_MESSAGE_KEYS, m


def test_message_walk_has_no_duplicates_or_skips_while_new_messages_arrive(stack, conv):
    a, b, _, cid = conv
    for _ in range(7):
        send_ok(stack, a[1], cid)
    added = []

    def more(page, seen):
        added.append(send_ok(stack, b[1], cid)["id"])

    seen, pages = walk(stack, "/dm/%s/messages" % cid, token=b[1], limit=3, between=more)
    ids = [m["id"] for m in seen]
    assert_no_duplicates(ids)
    assert [m["seq"] for m in seen] == sorted(m["seq"] for m in seen)
    assert set(added) <= set(ids), (added, ids)
    assert len(ids) == 7 + len(added)


def test_messages_cursor_of_another_conversation_or_garbage_is_400(stack, conv):
    a, b, _, cid = conv
    for _ in range(3):
        send_ok(stack, a[1], cid)
    doc = assert_page(messages(stack, a[1], cid, limit=1))
    assert doc["next_cursor"]
    other = start_ok(stack, a[1], post(stack, register(stack)[1])["id"])
    assert_error(messages(stack, a[1], other, cursor=doc["next_cursor"]), 400, "bad_request")
    assert_error(messages(stack, a[1], cid, cursor="garbage"), 400, "bad_request")
    assert_error(messages(stack, a[1], cid, limit=0), 422, "invalid_field")
    assert_error(messages(stack, a[1], cid, limit=101), 422, "invalid_field")


# -- POST /dm/{id}/send, server-readable -------------------------------------------
def test_send_round_trip_keeps_unicode(stack, conv):
    a, b, _, cid = conv
    body = uniq("Grüße ✓ 你好\nline two\tand a tab")
    m = send_ok(stack, a[1], cid, body)
    got = all_messages(stack, b[1], cid)
    assert got[-1]["body"] == body and got[-1]["id"] == m["id"] and got[-1]["mine"] is False


@pytest.mark.parametrize("body,reason", [("bad\x01control", "control_characters"),
                                         ("   ", "empty"),
                                         ("x" * (POST_MAX_CHARS + 1), "too_long")])
def test_guardrails_refuse_server_readable_bodies(stack, conv, body, reason):
    a, _, _, cid = conv
    err = assert_error(send(stack, a[1], cid, {"body": body}), 422, "content_rejected")
    assert err.get("reason") == reason, err
    assert all_messages(stack, a[1], cid) == []


def test_same_text_twice_is_refused_as_repeated(stack, conv):
    a, _, _, cid = conv
    text = uniq("twice")
    send_ok(stack, a[1], cid, text)
    err = assert_error(send(stack, a[1], cid, {"body": text}), 422, "content_rejected")
    assert err.get("reason") == "repeated", err


@pytest.mark.parametrize("doc", [{}, {"body": 5}, {"body": None}, {"body": ["x"]}])
def test_send_without_a_body_string_is_422(stack, conv, doc):
    a, _, _, cid = conv
    assert_error(send(stack, a[1], cid, doc), 422, "invalid_field")


def test_ciphertext_in_a_server_readable_conversation_is_422(stack, conv):
    a, _, _, cid = conv
    doc = {"ciphertext": b64u(os.urandom(40)), "nonce": b64u(os.urandom(24))}
    assert_error(send(stack, a[1], cid, doc), 422, "invalid_field")
    doc["body"] = uniq("both")
    assert_error(send(stack, a[1], cid, doc), 422, "invalid_field")
    assert all_messages(stack, a[1], cid) == []


def test_one_side_with_a_key_is_still_server_readable(stack, conv):
    a, b, _, cid = conv
    put_key(stack, a[1])
    c = list_item(stack, a[1], cid)
    assert c["e2e"] is False and c["peer_x25519"] is None, c
    assert list_item(stack, b[1], cid)["e2e"] is False
    send_ok(stack, b[1], cid)


# -- non-participants ------------------------------------------------------------------
def test_non_participant_gets_404_everywhere_and_no_list_entry(stack, conv):
    a, b, _, cid = conv
    send_ok(stack, a[1], cid)
    c = register(stack)
    assert_error(messages(stack, c[1], cid), 404, "not_found")
    assert_error(send(stack, c[1], cid, {"body": uniq("intruder")}), 404, "not_found")
    assert cid not in [x["id"] for x in walk(stack, "/dm/list", token=c[1], limit=100)[0]]
    assert_error(messages(stack, a[1], UNKNOWN_ID), 404, "not_found")
    assert_error(send(stack, a[1], UNKNOWN_ID, {"body": uniq("nowhere")}), 404, "not_found")
    assert len(all_messages(stack, a[1], cid)) == 1


# -- end to end ---------------------------------------------------------------------
def test_e2e_conversation_with_nacl_box_on_both_sides(stack, conv):
    a, b, _, cid = conv
    ska, skb = put_key(stack, a[1]), put_key(stack, b[1])
    ca, cb = list_item(stack, a[1], cid), list_item(stack, b[1], cid)
    assert ca["e2e"] is True and cb["e2e"] is True
    assert unb64u(ca["peer_x25519"]) == bytes(skb.public_key)
    assert unb64u(cb["peer_x25519"]) == bytes(ska.public_key)

    text_a, text_b = uniq("secret from a ✓"), uniq("secret from b")
    r, ct, nonce = box_send(stack, a[1], cid, ska, ca["peer_x25519"], text_a)
    assert r.status_code == 201, describe(r)
    m = r.json()["message"]
    assert set(m) == E2E_MESSAGE_KEYS and m["mine"] is True, m
    assert unb64u(m["ciphertext"]) == ct and unb64u(m["nonce"]) == nonce
    r, _, _ = box_send(stack, b[1], cid, skb, cb["peer_x25519"], text_b)
    assert r.status_code == 201, describe(r)

    got = all_messages(stack, b[1], cid)
    assert [set(x) for x in got] == [E2E_MESSAGE_KEYS] * 2, got
    assert unb64u(got[0]["ciphertext"]) == ct and unb64u(got[0]["nonce"]) == nonce
    box_b = nacl.public.Box(skb, nacl.public.PublicKey(unb64u(cb["peer_x25519"])))
    assert box_b.decrypt(unb64u(got[0]["ciphertext"]),
                         unb64u(got[0]["nonce"])).decode() == text_a
    assert [x["mine"] for x in got] == [False, True]
    got_a = all_messages(stack, a[1], cid)
    box_a = nacl.public.Box(ska, nacl.public.PublicKey(unb64u(ca["peer_x25519"])))
    assert box_a.decrypt(unb64u(got_a[1]["ciphertext"]),
                         unb64u(got_a[1]["nonce"])).decode() == text_b


def test_e2e_refuses_a_plaintext_body_as_a_downgrade(stack, conv):
    a, b, _, cid = conv
    put_key(stack, a[1])
    put_key(stack, b[1])
    text = uniq("should never be stored")
    assert_error(send(stack, a[1], cid, {"body": text}), 422, "invalid_field")
    assert_error(send(stack, b[1], cid, {"body": text, "ciphertext": b64u(os.urandom(40)),
                                         "nonce": b64u(os.urandom(24))}), 422, "invalid_field")
    assert all_messages(stack, a[1], cid) == []


@pytest.mark.parametrize("ct_len,nonce", [
    (40, b64u(os.urandom(23))), (40, b64u(os.urandom(25))), (40, "not base64!"),
    (40, b64u(os.urandom(24)) + "=="), (40, 24), (40, None),
    (0, b64u(os.urandom(24))), (16, b64u(os.urandom(24))),
])
def test_e2e_refuses_bad_nonce_or_ciphertext_sizes(stack, conv, ct_len, nonce):
    a, b, _, cid = conv
    put_key(stack, a[1])
    put_key(stack, b[1])
    doc = {"ciphertext": b64u(os.urandom(ct_len))}
    if nonce is not None:
        doc["nonce"] = nonce
    assert_error(send(stack, a[1], cid, doc), 422, "invalid_field")
    assert all_messages(stack, a[1], cid) == []


def test_e2e_padding_is_refused(stack, conv):
    a, b, _, cid = conv
    put_key(stack, a[1])
    put_key(stack, b[1])
    padded = b64u(os.urandom(41)) + "="
    assert_error(send(stack, a[1], cid, {"ciphertext": padded, "nonce": b64u(os.urandom(24))}),
                 422, "invalid_field")


def test_e2e_stays_once_a_message_was_sent_even_after_the_peer_leaves(stack, conv):
    a, b, _, cid = conv
    send_ok(stack, a[1], cid)                 # server-readable before the keys
    ska, skb = put_key(stack, a[1]), put_key(stack, b[1])
    r, _, _ = box_send(stack, a[1], cid, ska, b64u(bytes(skb.public_key)), uniq("e2e"))
    assert r.status_code == 201, describe(r)
    r = delete_me(stack, b[1])
    assert r.status_code == 204, describe(r)
    c = list_item(stack, a[1], cid)
    assert c["e2e"] is True and c["peer_x25519"] is None, c
    got = all_messages(stack, a[1], cid)
    assert set(got[0]) == SERVER_MESSAGE_KEYS and set(got[1]) == E2E_MESSAGE_KEYS, got


# -- what the database holds ----------------------------------------------------------
def test_pg_dump_holds_no_message_text(stack, conv):
    a, b, _, cid = conv
    token = "DMMARK" + os.urandom(12).hex()
    body = "Über secret %s ✓" % token
    send_ok(stack, a[1], cid, body)
    assert all_messages(stack, b[1], cid)[-1]["body"] == body
    dump = pg(stack, "pg_dump", "-d", "sotto")
    assert "public.dm_messages" in dump
    low = dump.lower()
    for needle in (token, token.encode().hex(), b64u(token.encode())[:-4]):
        assert needle.lower() not in low, needle
    assert body.encode().hex() not in low
    cols = stack.psql("SELECT table_name || '.' || column_name FROM information_schema.columns "
                      "WHERE table_schema = 'public' AND table_name LIKE 'dm\\_%' AND "
                      "data_type NOT IN ('bigint', 'integer', 'smallint', 'boolean', 'bytea')")
    assert sorted(c for (c,) in cols) == ["dm_conversations.id", "dm_messages.id"], cols


def test_dm_message_event_for_the_peer_only(stack, conv):
    a, b, _, cid = conv
    m = send_ok(stack, a[1], cid)
    apk, bpk = account_pk(stack, a[0]), account_pk(stack, b[0])
    rows = stack.psql("SELECT account_pk, data->>'conversation_id', data->>'message_id', day "
                      "FROM events WHERE type = 'dm.message' AND data->>'message_id' = '%s'"
                      % m["id"])
    assert rows == [[str(bpk), cid, m["id"], str(today())]], rows
    rows = stack.psql("SELECT data::text FROM events WHERE type = 'dm.message' "
                      "AND account_pk = %d" % bpk)
    for (data,) in rows:
        assert set(json.loads(data)) == {"conversation_id", "message_id"}, data
    assert stack.psql("SELECT count(*) FROM events WHERE type = 'dm.message' "
                      "AND account_pk = %d" % apk) == [["0"]]


# -- deletion -----------------------------------------------------------------------------
def test_after_one_side_deletes_the_other_still_reads_everything(stack, conv):
    a, b, p, cid = conv
    sent = [send_ok(stack, a[1], cid), send_ok(stack, b[1], cid), send_ok(stack, b[1], cid)]
    bpk = account_pk(stack, b[0])
    r = delete_me(stack, b[1])
    assert r.status_code == 204, describe(r)
    got = all_messages(stack, a[1], cid)
    assert [m["body"] for m in got] == [m["body"] for m in sent]
    assert [m["mine"] for m in got] == [True, False, False]
    c = list_item(stack, a[1], cid)
    assert c["origin_post_id"] is None and c["peer_x25519"] is None, c
    # b's copy of the key and its participant row are gone
    assert stack.psql("SELECT count(*) FROM dm_participants WHERE account_pk = %d" % bpk) == [["0"]]
    rows = stack.psql("SELECT count(*) FROM dm_participants p JOIN dm_conversations c "
                      "ON c.pk = p.conversation_pk WHERE c.id = '%s'" % cid)
    assert rows == [["1"]], rows
    assert_error(send(stack, a[1], cid, {"body": uniq("anyone there")}), 410, "gone")


def test_when_both_sides_are_gone_the_conversation_goes(stack, conv):
    a, b, _, cid = conv
    send_ok(stack, a[1], cid)
    for tok in (a[1], b[1]):
        r = delete_me(stack, tok)
        assert r.status_code == 204, describe(r)
    assert stack.psql("SELECT count(*) FROM dm_conversations WHERE id = '%s'" % cid) == [["0"]]


# -- export ----------------------------------------------------------------------------------
def test_export_includes_conversations_and_messages(stack):
    a, b, p, cid = pair(stack)
    m1 = send_ok(stack, a[1], cid)
    m2 = send_ok(stack, b[1], cid)
    c2 = start_ok(stack, a[1], post(stack, register(stack)[1])["id"])
    r = stack.get("/me/export", headers=bearer(a[1]))
    assert r.status_code == 200, describe(r)
    convs = {c["id"]: c for c in r.json()["conversations"]}
    assert set(convs) == {cid, c2}, convs
    c = convs[cid]
    assert c["origin_post_id"] == p["id"] and c["e2e"] is False, c
    assert [(m["id"], m["body"], m["mine"]) for m in c["messages"]] == \
        [(m1["id"], m1["body"], True), (m2["id"], m2["body"], False)]
    assert convs[c2]["messages"] == []
    assert a[0] not in json.dumps(r.json()["conversations"]) and b[0] not in r.text


def test_export_gives_e2e_messages_as_stored(stack, conv):
    a, b, _, cid = conv
    ska, skb = put_key(stack, a[1]), put_key(stack, b[1])
    r, ct, nonce = box_send(stack, a[1], cid, ska, b64u(bytes(skb.public_key)), uniq("x"))
    assert r.status_code == 201, describe(r)
    r = stack.get("/me/export", headers=bearer(b[1]))
    assert r.status_code == 200, describe(r)
    c = [x for x in r.json()["conversations"] if x["id"] == cid][0]
    assert c["e2e"] is True
    m = c["messages"][0]
    assert unb64u(m["ciphertext"]) == ct and unb64u(m["nonce"]) == nonce and m["mine"] is False


# -- proof of work and the DM rate class ------------------------------------------------------
DM_RATE = 3
SMALL_MAX_CHARS = 100


@pytest.fixture(scope="module")
def dm_pow_stack(make_stack):
    return make_stack("dmpow", SOTTO_POW_DM="4", SOTTO_POST_MAX_CHARS=str(SMALL_MAX_CHARS))


@pytest.fixture(scope="module")
def dm_rate_stack(make_stack):
    # Every test talks from 127.0.0.1: the class bucket is this stack's alone.
    return make_stack("dmrate", SOTTO_RATE_DM="%d/3600" % DM_RATE)


def test_send_needs_dm_proof_of_work_and_start_does_not(dm_pow_stack):
    st = dm_pow_stack
    a, b = register(st), register(st)
    cid = start_ok(st, a[1], post(st, b[1])["id"])
    assert_error(send(st, a[1], cid, {"body": uniq("nopow")}), 428, "pow_required")
    r = send(st, a[1], cid, {"body": uniq("pow")}, headers=pow_header(st, "dm"))
    assert r.status_code == 201, describe(r)
    r = send(st, a[1], cid, {"body": uniq("wrong action")}, headers=pow_header(st, "post"))
    assert_error(r, 403, "pow_invalid")
    assert len(all_messages(st, b[1], cid)) == 1


def test_e2e_ciphertext_is_bounded_by_post_max_chars(dm_pow_stack):
    st = dm_pow_stack
    a, b = register(st), register(st)
    cid = start_ok(st, a[1], post(st, b[1])["id"])
    put_key(st, a[1])
    put_key(st, b[1])
    largest = 16 + 4 * SMALL_MAX_CHARS
    doc = {"ciphertext": b64u(os.urandom(largest + 1)), "nonce": b64u(os.urandom(24))}
    assert_error(send(st, a[1], cid, doc, headers=pow_header(st, "dm")), 422, "invalid_field")
    ct = os.urandom(largest)
    doc["ciphertext"] = b64u(ct)
    r = send(st, a[1], cid, doc, headers=pow_header(st, "dm"))
    assert r.status_code == 201, describe(r)
    assert unb64u(all_messages(st, b[1], cid)[0]["ciphertext"]) == ct


def test_dm_rate_class_limits_starts_and_sends(dm_rate_stack):
    st = dm_rate_stack
    a, b = register(st), register(st)
    posts = [post(st, b[1]) for _ in range(DM_RATE + 1)]
    cid = start_ok(st, a[1], posts[0]["id"])
    assert start_ok(st, a[1], posts[1]["id"], status=200) == cid
    r = send(st, a[1], cid, {"body": uniq("last one")})
    assert r.status_code == 201, describe(r)
    assert r.headers.get("RateLimit-Limit"), describe(r)
    r = send(st, a[1], cid, {"body": uniq("one too many")})
    assert_error(r, 429, "rate_limited")
    assert r.headers.get("Retry-After"), describe(r)
    assert_error(start(st, a[1], posts[2]["id"]), 429, "rate_limited")
    # reading is not limited by the class
    assert len(all_messages(st, a[1], cid)) == 1
