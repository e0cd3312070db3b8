"""What a curious participant can learn from direct messages (README "Direct
messages"). A conversation belongs to one (starter, origin post) pair, so:

- a starter who starts from two posts of one author sees nothing that differs
  in kind from starting from two posts of two authors (statuses, ids, keys,
  day_last, unread counts, messages, events);
- an author cannot tell whether two conversations have the same starter:
  nothing the author sees is equal between two conversations of one starter
  unless it is equally equal with a conversation of another starter.

Keys are set per conversation (PUT /dm/{id}/key); end to end is checked with
python3-nacl's Box, independent of the server's libsodium."""
import json

import nacl.exceptions
import nacl.public

from accounts import today, unb64u
from content import ID_RE, post, uniq
from conftest import bearer, describe, register
from test_dm import (LIST_KEYS, all_messages, box_send, list_item,
                     put_key, send_ok, start)
from test_events import all_events


def started(st, token, post_id):
    """Start from post_id: (status, conversation id)."""
    r = start(st, token, post_id)
    assert r.status_code in (200, 201), describe(r)
    doc = r.json()
    assert set(doc) == {"conversation_id"} and ID_RE.match(doc["conversation_id"]), doc
    return r.status_code, doc["conversation_id"]


def shape(value):
    """The kind of a JSON value: its type, and for an object its keys' kinds."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__


def starter_view(st, starter, author_tokens, posts):
    """Everything the starter sees of starting from two posts and of what the
    author(s) then do the same way in both conversations; author_tokens[i]
    wrote posts[i]. Returns a dict of observations with ids replaced by
    their relations (same / different), so one author and two authors can be
    compared field by field."""
    first = [started(st, starter, p["id"]) for p in posts]
    again = [started(st, starter, p["id"]) for p in posts]
    cids = [cid for _, cid in first]
    fresh = [item_view(list_item(st, starter, cid)) for cid in cids]
    # each author answers in its conversation and sets a key for it
    for tok, cid in zip(author_tokens, cids):
        send_ok(st, tok, cid, uniq("hello from the author"))
        put_key(st, tok, cid)
    after = [list_item(st, starter, cid) for cid in cids]
    msgs = [all_messages(st, starter, cid) for cid in cids]
    return {
        "statuses": [s for s, _ in first] + [s for s, _ in again],
        "same_id_again": [a[1] == f[1] for a, f in zip(again, first)],
        "ids_differ": cids[0] != cids[1],
        "fresh": fresh,
        "after": [item_view(c) for c in after],
        "peer_keys_differ": after[0]["peer_x25519"] != after[1]["peer_x25519"],
        "messages": [[(shape(m), m["seq"], m["mine"], m["day"] - today()) for m in ms]
                     for ms in msgs],
        "message_ids_differ": msgs[0][0]["id"] != msgs[1][0]["id"],
    }


def item_view(c):
    """A list item without its ids: shape, flags, counts, day relative to today,
    which keys are set."""
    assert set(c) == LIST_KEYS, c
    return (shape({k: v for k, v in c.items() if k not in ("id", "origin_post_id")}),
            c["e2e"], c["unread"], c["day_last"] - today(),
            c["my_x25519"] is not None, c["peer_x25519"] is not None)


def test_two_posts_of_one_author_look_like_posts_of_two_authors(stack):
    starter = register(stack)[1]
    one = register(stack)[1]
    two, three = register(stack)[1], register(stack)[1]
    same_author = starter_view(stack, starter, [one, one], [post(stack, one), post(stack, one)])
    two_authors = starter_view(stack, starter, [two, three],
                               [post(stack, two), post(stack, three)])
    assert same_author == two_authors, (same_author, two_authors)
    assert same_author["statuses"] == [201, 201, 200, 200], same_author
    assert same_author["ids_differ"] and same_author["peer_keys_differ"], same_author


def test_starting_from_many_posts_groups_nothing(stack):
    """Ids of conversations started from posts of one author are as unrelated
    as any two ids: all distinct, no shared prefix beyond chance."""
    starter = register(stack)[1]
    author = register(stack)[1]
    cids = [started(stack, starter, post(stack, author)["id"])[1] for _ in range(6)]
    assert len(set(cids)) == 6, cids
    rows = stack.psql("SELECT count(DISTINCT c.pk) FROM dm_conversations c WHERE c.id IN (%s)"
                      % ",".join("'%s'" % c for c in cids))
    assert rows == [["6"]], rows


def author_view(st, author, cid):
    """What the author sees of one conversation: its list item, its messages
    (without ids) and the data of its events."""
    c = list_item(st, author, cid)
    msgs = all_messages(st, author, cid)
    return c, msgs


def test_the_author_cannot_tell_two_conversations_of_one_starter_apart(stack):
    author = register(stack)[1]
    p1, p2 = post(stack, author), post(stack, author)
    s, t = register(stack)[1], register(stack)[1]
    by_s1 = started(stack, s, p1["id"])[1]
    by_s2 = started(stack, s, p2["id"])[1]
    by_t = started(stack, t, p1["id"])[1]
    convs = {"s1": (s, by_s1), "s2": (s, by_s2), "t": (t, by_t)}
    keys = {}
    for name, (tok, cid) in convs.items():
        keys[name] = put_key(stack, tok, cid)
        send_ok(stack, tok, cid, uniq("hi from a starter"))
    views = {name: author_view(stack, author, cid) for name, (_, cid) in convs.items()}
    # every field of the author's list items: equal between s's two
    # conversations exactly when it is equal between s's and t's
    ignore = ("id", "origin_post_id")      # unique per conversation / per post by design
    for k in LIST_KEYS - set(ignore):
        same_starter = views["s1"][0][k] == views["s2"][0][k]
        other_starter = views["s1"][0][k] == views["t"][0][k]
        assert same_starter == other_starter, (k, views)
    peer_keys = {v[0]["peer_x25519"] for v in views.values()}
    assert len(peer_keys) == 3, views
    for name, (c, msgs) in views.items():
        assert unb64u(c["peer_x25519"]) == bytes(keys[name].public_key)
        assert [(shape(m), m["seq"], m["mine"]) for m in msgs] == \
            [(shape(views["t"][1][0]), 1, False)], msgs
    # the author's events name conversations and messages only
    items = all_events(stack, author)
    dm_events = [e for e in items if e["type"].startswith("dm.")]
    assert len(dm_events) == 6, dm_events           # a dm.key and a dm.message each
    for e in dm_events:
        assert set(e["data"]) <= {"conversation_id", "message_id", "e2e"}, e
        assert e["data"]["conversation_id"] in (by_s1, by_s2, by_t), e
    text = json.dumps(items)
    for _, (_, cid) in convs.items():
        assert text.count(cid) == 2, (cid, text)


def test_end_to_end_keys_are_per_conversation_on_both_sides(stack):
    """The starter's two conversations with one author: four different keys,
    and Box on each side opens only its own conversation's messages."""
    author = register(stack)[1]
    s = register(stack)[1]
    cids = [started(stack, s, post(stack, author)["id"])[1] for _ in range(2)]
    sk = {(who, cid): put_key(stack, tok, cid)
          for cid in cids for who, tok in (("s", s), ("a", author))}
    publics = {bytes(k.public_key) for k in sk.values()}
    assert len(publics) == 4
    for cid in cids:
        mine = list_item(stack, s, cid)
        assert mine["e2e"] is True
        assert unb64u(mine["peer_x25519"]) == bytes(sk[("a", cid)].public_key)
        text = uniq("only for this conversation")
        r, ct, nonce = box_send(stack, s, cid, sk[("s", cid)], mine["peer_x25519"], text)
        assert r.status_code == 201, describe(r)
        got = all_messages(stack, author, cid)[-1]
        box = nacl.public.Box(sk[("a", cid)], nacl.public.PublicKey(
            unb64u(list_item(stack, author, cid)["peer_x25519"])))
        assert box.decrypt(unb64u(got["ciphertext"]), unb64u(got["nonce"])).decode() == text
    wrong = nacl.public.Box(sk[("a", cids[1])], sk[("s", cids[1])].public_key)
    got = all_messages(stack, author, cids[0])[-1]
    try:
        wrong.decrypt(unb64u(got["ciphertext"]), unb64u(got["nonce"]))
        opened = True
    except nacl.exceptions.CryptoError:
        opened = False
    assert not opened, "a message opened with the other conversation's keys"


def test_starter_sees_the_same_for_an_author_who_never_answers(stack):
    """Before the author does anything, a conversation looks the same whoever
    wrote the post: fresh items of one author and of two are equal in kind."""
    s = register(stack)[1]
    one, two = register(stack)[1], register(stack)[1]
    a1, a2 = post(stack, one), post(stack, one)
    b1 = post(stack, two)
    items = [list_item(stack, s, started(stack, s, p["id"])[1]) for p in (a1, a2, b1)]
    views = [item_view(c) for c in items]
    assert views[0] == views[1] == views[2], views
    for c in items:
        assert c["unread"] == 0 and c["e2e"] is False and c["peer_x25519"] is None, c
    r = stack.get("/dm/%s/messages" % items[0]["id"], headers=bearer(s))
    assert r.status_code == 200 and r.json()["items"] == [], describe(r)
