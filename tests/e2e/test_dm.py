"""Direct messages (docs/dm.md): POST /dm/start_from_post,
GET /dm/list, GET /dm/{id}/messages, POST /dm/{id}/send, PUT /dm/{id}/key,
server-readable (sealed at rest with a per-conversation key) and end to end
(both sides set an X25519 key for the conversation; checked with
python3-nacl's Box on both sides, an implementation independent of the
server's libsodium); non-participants, deletion of one side, the export, the
dm.message event, proof of work and the DM rate class. What a curious
starter or author can learn is in test_hostile_starter.py."""
import base64
import json
import os
import threading

import nacl.public
import psycopg2
import pytest
from nacl.bindings import (crypto_aead_xchacha20poly1305_ietf_decrypt,
                           crypto_aead_xchacha20poly1305_ietf_encrypt)

from accounts import account_pk, b64u, today, unb64u
from content import (ID_RE, UNKNOWN_ID, assert_no_duplicates, assert_page, delete_ok, post,
                     uniq, walk)
from conftest import (DEFAULT_PASSWORD, TimeoutSession, assert_error, assert_standard_headers,
                      bearer, delete_me, describe, pow_header, register)
from test_dump import pg
from test_rotate_keys import master_keys, unwrap

LIST_KEYS = {"id", "origin_post_id", "day_last", "unread", "e2e", "my_x25519", "peer_x25519"}
SERVER_MESSAGE_KEYS = {"id", "seq", "mine", "day", "body"}
E2E_MESSAGE_KEYS = {"id", "seq", "mine", "day", "ciphertext", "nonce"}
POST_MAX_CHARS = 4000   # SOTTO_POST_MAX_CHARS default


# -- helpers -------------------------------------------------------------------
def start(st, token, post_id, headers=None, **extra):
    h = bearer(token)
    h.update(headers or {})
    return st.request("POST", "/dm/start_from_post", json=dict(post_id=post_id, **extra),
                      headers=h)


def start_ok(st, token, post_id, status=201, headers=None, **extra):
    r = start(st, token, post_id, headers, **extra)
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


def put_key_raw(st, token, cid, key):
    return st.request("PUT", "/dm/%s/key" % cid, json={"x25519_public": key},
                      headers=bearer(token))


def put_key(st, token, cid):
    """Set a fresh X25519 key for the caller's side of cid: the nacl PrivateKey."""
    sk = nacl.public.PrivateKey.generate()
    r = put_key_raw(st, token, cid, b64u(bytes(sk.public_key)))
    assert r.status_code == 200, describe(r)
    doc = r.json()
    assert set(doc) == LIST_KEYS and doc["id"] == cid, doc
    assert doc["my_x25519"] == b64u(bytes(sk.public_key)), doc
    return sk


def box_send(st, token, cid, my_sk, peer_pk_b64, text):
    box = nacl.public.Box(my_sk, nacl.public.PublicKey(unb64u(peer_pk_b64)))
    nonce = os.urandom(24)
    ct = box.encrypt(text.encode(), nonce).ciphertext
    return send(st, token, cid, {"ciphertext": b64u(ct), "nonce": b64u(nonce)}), ct, nonce


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
def test_start_is_201_then_200_with_the_same_conversation_from_the_same_post_only(stack):
    a, b = register(stack), register(stack)
    p1, p2 = post(stack, b[1]), post(stack, b[1])
    r = start(stack, a[1], p1["id"])
    assert r.status_code == 201, describe(r)
    assert_standard_headers(r)
    cid = r.json()["conversation_id"]
    assert start_ok(stack, a[1], p1["id"], status=200) == cid
    # another post of the same author: another conversation
    c2 = start_ok(stack, a[1], p2["id"])
    assert c2 != cid
    assert start_ok(stack, a[1], p2["id"], status=200) == c2
    # the author starting from a post of the starter: another one again
    p3 = post(stack, a[1])
    c3 = start_ok(stack, b[1], p3["id"])
    assert c3 not in (cid, c2)
    # another account from the same post gets another conversation
    c = register(stack)
    assert start_ok(stack, c[1], p1["id"]) not in (cid, c2, c3)
    ids = [x["id"] for x in walk(stack, "/dm/list", token=b[1], limit=100)[0]]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 4, ids


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

    def keep(r, status):
        # Only the answers the contract gives count: an error would prove nothing.
        assert r.status_code == status, describe(r)
        texts.append(r.text)
        return r

    p = post(stack, b[1])
    cid = keep(start(stack, a[1], p["id"]), 201).json()["conversation_id"]
    keep(start(stack, b[1], post(stack, a[1])["id"]), 201)
    keep(send(stack, a[1], cid, {"body": uniq("hi")}), 201)
    keep(send(stack, b[1], cid, {"body": uniq("hello")}), 201)
    for tok in (a[1], b[1]):
        keep(stack.get("/dm/list", headers=bearer(tok)), 200)
        keep(messages(stack, tok, cid), 200)
    put_key(stack, a[1], cid)
    put_key(stack, b[1], cid)
    keep(stack.get("/dm/list", headers=bearer(a[1])), 200)
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
    put_key(stack, a[1], cid)
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
    ska, skb = put_key(stack, a[1], cid), put_key(stack, b[1], cid)
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
    put_key(stack, a[1], cid)
    put_key(stack, b[1], cid)
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
    put_key(stack, a[1], cid)
    put_key(stack, b[1], cid)
    doc = {"ciphertext": b64u(os.urandom(ct_len))}
    if nonce is not None:
        doc["nonce"] = nonce
    assert_error(send(stack, a[1], cid, doc), 422, "invalid_field")
    assert all_messages(stack, a[1], cid) == []


def test_e2e_padding_is_refused(stack, conv):
    a, b, _, cid = conv
    put_key(stack, a[1], cid)
    put_key(stack, b[1], cid)
    padded = b64u(os.urandom(41)) + "="
    assert_error(send(stack, a[1], cid, {"ciphertext": padded, "nonce": b64u(os.urandom(24))}),
                 422, "invalid_field")


def test_e2e_stays_once_a_message_was_sent_even_after_the_peer_leaves(stack, conv):
    a, b, _, cid = conv
    send_ok(stack, a[1], cid)                 # server-readable before the keys
    ska, skb = put_key(stack, a[1], cid), put_key(stack, b[1], cid)
    r, _, _ = box_send(stack, a[1], cid, ska, b64u(bytes(skb.public_key)), uniq("e2e"))
    assert r.status_code == 201, describe(r)
    r = delete_me(stack, b[1])
    assert r.status_code == 204, describe(r)
    c = list_item(stack, a[1], cid)
    assert c["e2e"] is True and c["peer_x25519"] is None, c
    got = all_messages(stack, a[1], cid)
    assert set(got[0]) == SERVER_MESSAGE_KEYS and set(got[1]) == E2E_MESSAGE_KEYS, got


# -- keys: per conversation, set once per side -------------------------------------------
def test_a_second_different_key_is_409_and_the_first_key_stays(stack, conv):
    """A stolen token cannot swap a key in: the side's first key stays, the
    peer keeps seeing it, and the same key again changes nothing."""
    a, b, _, cid = conv
    sk = put_key(stack, a[1], cid)
    first = b64u(bytes(sk.public_key))
    thief = b64u(bytes(nacl.public.PrivateKey.generate().public_key))
    assert_error(put_key_raw(stack, a[1], cid, thief), 409, "conflict")
    assert_error(start(stack, a[1], list_item(stack, a[1], cid)["origin_post_id"],
                       x25519_public=thief), 409, "conflict")
    assert list_item(stack, a[1], cid)["my_x25519"] == first
    assert list_item(stack, b[1], cid)["peer_x25519"] == first
    r = put_key_raw(stack, a[1], cid, first)
    assert r.status_code == 200 and r.json()["my_x25519"] == first, describe(r)
    rows = stack.psql("SELECT count(*) FROM events e JOIN dm_participants p "
                      "ON p.account_pk = e.account_pk JOIN dm_conversations c "
                      "ON c.pk = p.conversation_pk WHERE c.id = '%s' AND e.type = 'dm.key'" % cid)
    assert rows == [["1"]], rows               # one event for the one key that was set


def test_key_at_start_is_the_starters_key_for_that_conversation_only(stack):
    a, b = register(stack), register(stack)
    p1, p2 = post(stack, b[1]), post(stack, b[1])
    key = b64u(bytes(nacl.public.PrivateKey.generate().public_key))
    cid = start_ok(stack, a[1], p1["id"], x25519_public=key)
    other = start_ok(stack, a[1], p2["id"])
    assert list_item(stack, a[1], cid)["my_x25519"] == key
    assert list_item(stack, b[1], cid)["peer_x25519"] == key
    assert list_item(stack, a[1], other)["my_x25519"] is None
    assert list_item(stack, b[1], other)["peer_x25519"] is None
    # starting again: with the same key or none 200, with another 409
    assert start_ok(stack, a[1], p1["id"], status=200, x25519_public=key) == cid
    assert start_ok(stack, a[1], p1["id"], status=200) == cid
    other_key = b64u(bytes(nacl.public.PrivateKey.generate().public_key))
    assert_error(start(stack, a[1], p1["id"], x25519_public=other_key), 409, "conflict")
    # a key set by PUT on a conversation started without one
    assert start_ok(stack, a[1], p2["id"], status=200, x25519_public=other_key) == other
    assert list_item(stack, a[1], other)["my_x25519"] == other_key


def test_second_side_key_turns_the_conversation_e2e_and_tells_the_peer(stack, conv):
    a, b, _, cid = conv
    put_key(stack, a[1], cid)
    assert list_item(stack, a[1], cid)["e2e"] is False
    put_key(stack, b[1], cid)
    assert list_item(stack, a[1], cid)["e2e"] is True
    apk, bpk = account_pk(stack, a[0]), account_pk(stack, b[0])
    # one event each (seqs count per account, so they say nothing of which
    # came first: the payloads do)
    rows = stack.psql("SELECT account_pk, data::text FROM events WHERE type = 'dm.key' "
                      "AND account_pk IN (%d, %d)" % (apk, bpk))
    got = sorted((int(pk), json.loads(data)) for pk, data in rows)
    assert got == sorted([(bpk, {"conversation_id": cid, "e2e": False}),
                          (apk, {"conversation_id": cid, "e2e": True})]), got


P = 2 ** 255 - 19
# libsodium's blocklist of X25519 points of small order (and non-canonical
# encodings of them): 0, 1, the two points of order 8, p-1, p, p+1.
SMALL_ORDER = {
    "zero": bytes(32),
    "one": (1).to_bytes(32, "little"),
    "order8-a": bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    "order8-b": bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    "p-1": (P - 1).to_bytes(32, "little"),
    "p": P.to_bytes(32, "little"),
    "p+1": (P + 1).to_bytes(32, "little"),
}


def _bad_keys():
    std = None
    while std is None:
        raw = bytes(nacl.public.PrivateKey.generate().public_key)
        text = base64.b64encode(raw).decode().rstrip("=")
        std = text if ("+" in text or "/" in text) else None
    cases = {"not-b64url": "not a key!", "31-bytes": b64u(os.urandom(31)),
             "33-bytes": b64u(os.urandom(33)), "empty": "", "standard-b64": std,
             "padded": b64u(os.urandom(32)) + "=", "number": 12, "list": ["x"]}
    cases.update({"small-order-" + k: b64u(v) for k, v in SMALL_ORDER.items()})
    return cases


BAD_KEYS = _bad_keys()


@pytest.mark.parametrize("what", sorted(BAD_KEYS))
def test_unusable_keys_are_422_at_start_and_on_put(stack, conv, what):
    a, b, p, cid = conv
    err = assert_error(put_key_raw(stack, a[1], cid, BAD_KEYS[what]), 422, "invalid_field")
    assert "x25519_public" in err["message"], err
    assert list_item(stack, a[1], cid)["my_x25519"] is None
    fresh = post(stack, b[1])
    assert_error(start(stack, a[1], fresh["id"], x25519_public=BAD_KEYS[what]),
                 422, "invalid_field")
    assert fresh["id"] not in [c["origin_post_id"] for c in
                               walk(stack, "/dm/list", token=a[1], limit=100)[0]]


def test_put_key_without_a_key_is_422_and_for_a_stranger_404(stack, conv):
    a, _, _, cid = conv
    assert_error(stack.request("PUT", "/dm/%s/key" % cid, json={}, headers=bearer(a[1])),
                 422, "invalid_field")
    c = register(stack)
    key = b64u(bytes(nacl.public.PrivateKey.generate().public_key))
    assert_error(put_key_raw(stack, c[1], cid, key), 404, "not_found")
    assert_error(put_key_raw(stack, a[1], UNKNOWN_ID, key), 404, "not_found")
    assert_error(stack.request("PUT", "/dm/%s/key" % cid, json={"x25519_public": key}),
                 401, "unauthorized")
    assert list_item(stack, a[1], cid)["peer_x25519"] is None


def test_there_is_no_account_wide_key_anywhere(stack, conv):
    a, b, _, cid = conv
    key = b64u(bytes(nacl.public.PrivateKey.generate().public_key))
    for method in ("PUT", "GET", "POST", "DELETE"):
        r = stack.request(method, "/me/keys", json={"x25519_public": key}, headers=bearer(a[1]))
        assert_error(r, 404, "not_found")
    me = stack.get("/me", headers=bearer(a[1]))
    assert me.status_code == 200 and "x25519_public" not in me.json(), describe(me)
    cols = stack.psql("SELECT column_name FROM information_schema.columns "
                      "WHERE table_schema = 'public' AND table_name = 'accounts' "
                      "AND column_name LIKE '%x25519%'")
    assert cols == [], cols
    # a key set in one conversation shows in no other of the account's
    sk = put_key(stack, a[1], cid)
    other = start_ok(stack, a[1], post(stack, register(stack)[1])["id"])
    c = list_item(stack, a[1], other)
    assert c["my_x25519"] is None and b64u(bytes(sk.public_key)) not in json.dumps(c), c


def data_key(st, account_id):
    """The account's data key, unwrapped here with the stack's master key."""
    apk = account_pk(st, account_id)
    version, wrapped = st.psql("SELECT version, encode(wrapped, 'hex') FROM account_keys "
                               "WHERE account_pk = %d" % apk)[0]
    return apk, unwrap(master_keys(st)[int(version)], int(version), apk,
                       bytes.fromhex(wrapped))


def test_side_keys_are_sealed_for_their_conversation_and_migrated_ones_still_open(stack, conv):
    """A side's key is sealed with the owner's data key bound to the
    conversation (include/dm.h), opened here independently; a key copied by
    sql/016 from the old account-wide column (sealed bound to the account
    row, x25519_legacy) is shown and fixed like any other."""
    a, b, _, cid = conv
    sk = put_key(stack, b[1], cid)
    bpk, bdk = data_key(stack, b[0])
    (stored,) = stack.psql("SELECT encode(p.x25519_sealed, 'hex') FROM dm_participants p "
                           "JOIN dm_conversations c ON c.pk = p.conversation_pk "
                           "WHERE c.id = '%s' AND p.account_pk = %d" % (cid, bpk))[0]
    sealed = bytes.fromhex(stored)
    ad = b"sotto|f|1|kv=1|t=dm_participants|c=x25519_public|r=%s|o=%d" % (cid.encode(), bpk)
    assert sealed[:5] == b"\x01\x00\x00\x00\x01"
    assert crypto_aead_xchacha20poly1305_ietf_decrypt(sealed[29:], ad, sealed[5:29], bdk) == \
        bytes(sk.public_key)

    apk, adk = data_key(stack, a[0])
    old = bytes(nacl.public.PrivateKey.generate().public_key)
    nonce = os.urandom(24)
    legacy = b"\x01\x00\x00\x00\x01" + nonce + crypto_aead_xchacha20poly1305_ietf_encrypt(
        old, b"sotto|f|1|kv=1|t=accounts|c=x25519_public|r=%d|o=%d" % (apk, apk), nonce, adk)
    stack.psql("UPDATE dm_participants p SET x25519_sealed = '\\x%s', x25519_legacy = true "
               "FROM dm_conversations c WHERE c.pk = p.conversation_pk AND c.id = '%s' "
               "AND p.account_pk = %d" % (legacy.hex(), cid, apk))
    stack.psql("UPDATE dm_conversations SET e2e = true WHERE id = '%s'" % cid)  # as sql/016 does
    assert list_item(stack, a[1], cid)["my_x25519"] == b64u(old)
    assert list_item(stack, b[1], cid)["peer_x25519"] == b64u(old)
    r = put_key_raw(stack, a[1], cid, b64u(old))
    assert r.status_code == 200 and r.json()["e2e"] is True, describe(r)
    assert_error(put_key_raw(stack, a[1], cid, b64u(bytes(sk.public_key))), 409, "conflict")


# -- lock order: a message against the peer's account deletion ----------------------------
def waiting_backends(st):
    """Queries of the stack's database that wait for a lock."""
    return [q for (q,) in st.psql("SELECT query FROM pg_stat_activity WHERE datname = "
                                  "current_database() AND wait_event_type = 'Lock'")]


def test_a_message_and_the_peers_account_deletion_take_locks_in_one_order(stack):
    """b started a conversation from a's post; a sends while b deletes its
    account. The deletion's cascade takes b's event_heads row (sql/005)
    before the tables of later migrations; the test holds b's flag (sql/006)
    so that the deletion stops right after event_heads, and a's message
    then takes the conversation row and waits for event_heads. Locked in
    two orders, letting go gives PostgreSQL a deadlock and one request fails
    (503); with DELETE /me taking the conversations first, the message
    waits for the deletion and both succeed."""
    a, b = register(stack), register(stack)
    p = post(stack, a[1])
    cid = start_ok(stack, b[1], p["id"])
    send_ok(stack, a[1], cid)                  # b's event_heads row exists
    r = stack.request("POST", "/moderation/flag", json={"post_id": p["id"], "reason": "other"},
                      headers=bearer(b[1]))
    assert r.status_code == 202, describe(r)
    bpk = account_pk(stack, b[0])
    results = {}
    conn = psycopg2.connect(stack.sotto_env()["DATABASE_URL"])
    try:
        cur = conn.cursor()
        cur.execute("SELECT 1 FROM flags WHERE flagger_pk = %s FOR UPDATE", (bpk,))
        assert cur.rowcount == 1

        def run(name, method, path, **kw):
            with TimeoutSession(timeout=60) as s:
                results[name] = s.request(method, stack.url(path), **kw)

        deleter = threading.Thread(target=run, args=("delete", "DELETE", "/me"),
                                   kwargs={"headers": bearer(b[1]),
                                           "json": {"password": DEFAULT_PASSWORD}})
        deleter.start()
        stack.wait_for(lambda: any("DELETE FROM accounts" in q for q in waiting_backends(stack)),
                       30, "DELETE /me to wait for the flag row")
        sender = threading.Thread(target=run, args=("send", "POST", "/dm/%s/send" % cid),
                                  kwargs={"headers": bearer(a[1]),
                                          "json": {"body": uniq("during the deletion")}})
        sender.start()
        stack.wait_for(lambda: len(waiting_backends(stack)) >= 2, 30,
                       "the message to wait for a lock as well")
    finally:
        conn.rollback()
        conn.close()
    deleter.join(90)
    sender.join(90)
    assert results["delete"].status_code == 204, describe(results["delete"])
    assert results["send"].status_code == 201, describe(results["send"])
    got = all_messages(stack, a[1], cid)
    assert len(got) == 2 and all(m["mine"] for m in got), got


DM_DELETION_ROUNDS = 10     # rounds of messages racing the peer's deletion
DM_RACING_SENDS = 6         # messages a sends during each deletion



def test_messages_racing_the_peers_account_deletion_never_deadlock(stack):
    """Unforced, many times: a sends a burst of messages while b deletes its
    account, both let go at once. Every deletion is 204; every message is
    201 until the deletion has committed and 410 gone after it (never
    503 or 500), and PostgreSQL's log shows no deadlock."""
    before = stack.deadlocks()
    for _ in range(DM_DELETION_ROUNDS):
        a, b = register(stack), register(stack)
        cid = start_ok(stack, b[1], post(stack, a[1])["id"])
        send_ok(stack, b[1], cid)                  # both sides have an event head
        send_ok(stack, a[1], cid)
        go = threading.Barrier(2)
        sent, deleted = [], {}

        def sender():
            with TimeoutSession(timeout=60) as s:
                go.wait(10)
                for _ in range(DM_RACING_SENDS):
                    sent.append(s.post(stack.url("/dm/%s/send" % cid), headers=bearer(a[1]),
                                       json={"body": uniq("racing")}).status_code)

        def deleter():
            with TimeoutSession(timeout=60) as s:
                go.wait(10)
                deleted["r"] = s.delete(stack.url("/me"), headers=bearer(b[1]),
                                        json={"password": DEFAULT_PASSWORD})

        threads = [threading.Thread(target=sender), threading.Thread(target=deleter)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        assert deleted["r"].status_code == 204, describe(deleted["r"])
        assert len(sent) == DM_RACING_SENDS, sent
        first_gone = sent.index(410) if 410 in sent else len(sent)
        assert sent == [201] * first_gone + [410] * (len(sent) - first_gone), sent
        assert send(stack, a[1], cid, {"body": "after"}).status_code == 410
    stack.assert_no_deadlock_since(before)


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
    ska, skb = put_key(stack, a[1], cid), put_key(stack, b[1], cid)
    r, ct, nonce = box_send(stack, a[1], cid, ska, b64u(bytes(skb.public_key)), uniq("x"))
    assert r.status_code == 201, describe(r)
    r = stack.get("/me/export", headers=bearer(b[1]))
    assert r.status_code == 200, describe(r)
    c = [x for x in r.json()["conversations"] if x["id"] == cid][0]
    assert c["e2e"] is True and c["my_x25519"] == b64u(bytes(skb.public_key)), c
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


def test_start_and_send_need_dm_proof_of_work(dm_pow_stack):
    st = dm_pow_stack
    a, b = register(st), register(st)
    p = post(st, b[1])
    assert_error(start(st, a[1], p["id"]), 428, "pow_required")
    assert_error(start(st, a[1], p["id"], headers=pow_header(st, "post")), 403, "pow_invalid")
    assert walk(st, "/dm/list", token=a[1], limit=100)[0] == []
    cid = start_ok(st, a[1], p["id"], headers=pow_header(st, "dm"))
    assert_error(send(st, a[1], cid, {"body": uniq("nopow")}), 428, "pow_required")
    r = send(st, a[1], cid, {"body": uniq("pow")}, headers=pow_header(st, "dm"))
    assert r.status_code == 201, describe(r)
    r = send(st, a[1], cid, {"body": uniq("wrong action")}, headers=pow_header(st, "post"))
    assert_error(r, 403, "pow_invalid")
    assert len(all_messages(st, b[1], cid)) == 1


def test_e2e_ciphertext_is_bounded_by_post_max_chars(dm_pow_stack):
    st = dm_pow_stack
    a, b = register(st), register(st)
    cid = start_ok(st, a[1], post(st, b[1])["id"], headers=pow_header(st, "dm"))
    put_key(st, a[1], cid)
    put_key(st, b[1], cid)
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
    assert start_ok(st, a[1], posts[0]["id"], status=200) == cid
    r = send(st, a[1], cid, {"body": uniq("last one")})
    assert r.status_code == 201, describe(r)
    assert r.headers.get("RateLimit-Limit"), describe(r)
    r = send(st, a[1], cid, {"body": uniq("one too many")})
    assert_error(r, 429, "rate_limited")
    assert r.headers.get("Retry-After"), describe(r)
    assert_error(start(st, a[1], posts[2]["id"]), 429, "rate_limited")
    # reading is not limited by the class
    assert len(all_messages(st, a[1], cid)) == 1
