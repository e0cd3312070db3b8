"""A group message's events are queued by a fan-out in a transaction of its
own, after the message's (docs/groups.md, "Events"): concurrent senders
into one group leave every member one pending group.message for the
latest message, a fan-out a crash left undone is finished by the group's
next send or by `sotto cleanup`, a member removed before the fan-out gets
nothing, and one who joined after the message nothing either.

A send into a group of up to GROUP_INLINE_FANOUT (8) members fans out in
its own statement; a larger group's fans out after it. Both ways are run
here: concurrent senders into a group of each size. A message "committed
without its fan-out" is stored with sotto_group_send through SQL with an
inline_max of 0, exactly what a worker stopped between a large group's
send and its fan-out leaves behind."""
import threading

import nacl.secret
import nacl.utils
import pytest

from conftest import c_define, delete_me, describe, register
from test_events import cleanup_run
from test_groups import add, create, events_of, group_events, invite, join

INLINE_FANOUT = c_define("app/handlers_group_messages.c", "GROUP_INLINE_FANOUT")
SENDERS = 3
PER_SENDER = 8


def pending(m):
    """m's pending group.message events for its group: [message_id]."""
    return [e["data"]["message_id"] for e in group_events(m, "group.message")]


def ack_all(m):
    items = events_of(m)
    if items:
        r = m.req("POST", "/events/ack", {"up_to": items[-1]["seq"]})
        assert r.status_code == 204, describe(r)


def store(st, m, text, inline_max):
    """m's message, sent through SQL as the server sends it: the answer's
    first row [code, seq] and the message id."""
    epoch = m.info()["epoch"]
    sealed = nacl.secret.SecretBox(m.key(epoch)).encrypt(text.encode())
    mid = nacl.utils.random(16).hex()[:22]
    rows = st.psql(
        "SELECT code, seq FROM sotto_group_send('%s', "
        "(SELECT account_pk FROM group_members WHERE id = '%s'), %d, '%s', %d, "
        "'\\x%s'::bytea, '\\x%s'::bytea, %d)"
        % (m.group_id, m.member_id, epoch, mid, epoch_day(st),
           sealed.ciphertext.hex(), sealed.nonce.hex(), inline_max))
    return rows[0], mid


def store_without_fanout(st, m, text):
    """m's message, committed as a large group's send commits it, with no
    fan-out: its id."""
    first, mid = store(st, m, text, 0)
    assert first[0] == "3", first
    return mid


def epoch_day(st):
    return st.number("SELECT floor(extract(epoch FROM now()) / 86400)::integer")


def behind(st, m):
    """Messages of m's group that no fan-out covered yet."""
    return int(st.psql(
        "SELECT g.last_seq - coalesce(f.fanned_seq, 0) FROM groups g "
        "LEFT JOIN group_fanout f ON f.group_pk = g.pk WHERE g.id = '%s'" % m.group_id)[0][0])


def sweep(st):
    """One `sotto cleanup` run to its end, which fans out what was left."""
    r = cleanup_run(st)
    assert "fanned out the messages of" in r.stdout, r.stdout


@pytest.mark.parametrize("size", [SENDERS + 1, INLINE_FANOUT + 2])
def test_concurrent_senders_leave_each_member_the_latest_message_pending(stack, size):
    a = create(stack)
    a.rekey()
    members = [a] + [add(a) for _ in range(size - 1)]
    members[-1].rekey()
    epoch = a.info()["epoch"]
    for m in members:
        m.key(epoch)
    senders, reader = members[:SENDERS], members[SENDERS]
    sent, errors = [], []
    barrier = threading.Barrier(SENDERS)
    deadlocks = stack.deadlocks()

    def send_all(m):
        barrier.wait()
        for i in range(PER_SENDER):
            r = m.send("%s %d" % (m.member_id, i), epoch=epoch)
            if r.status_code != 201:
                errors.append(describe(r))
                return
            msg = r.json()["message"]
            sent.append((msg["seq"], msg["id"], m.member_id, "%s %d" % (m.member_id, i)))

    threads = [threading.Thread(target=send_all, args=(m,)) for m in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stack.assert_no_deadlock_since(deadlocks)
    sent.sort()
    assert [s[0] for s in sent] == list(range(sent[0][0], sent[0][0] + len(sent)))
    # every message readable, once each, in seq order
    assert [(x["id"], who, t) for who, t, x in reader.messages()] == \
        [(mid, who, text) for _, mid, who, text in sent]
    # nothing left to fan out: every fan-out that found new messages ran
    # again after its commit, except one that stopped at its 16th in a row
    # just as the sends ended (docs/groups.md), whose rest the sweep takes
    if behind(stack, a) > 0:
        sweep(stack)
    assert behind(stack, a) == 0
    # each member's one pending event carries the latest message it did
    # not send itself
    for m in members:
        latest = [mid for _, mid, who, _ in sent if who != m.member_id][-1]
        assert pending(m) == [latest], (m.member_id, pending(m))


def test_each_send_has_fanned_out_before_it_replies(stack):
    a = create(stack)
    a.rekey()
    b = add(a)
    b.rekey()
    for i in range(3):
        mid = a.send_ok("m%d" % i)["id"]
        assert pending(b) == [mid]
        assert behind(stack, a) == 0


def test_a_small_groups_send_fans_out_in_its_own_statement(stack):
    a = create(stack)
    a.rekey()
    b = add(a)
    b.rekey()
    first, mid = store(stack, a, "in place", INLINE_FANOUT)
    assert first[0] == "0", first
    assert behind(stack, a) == 0
    assert pending(b) == [mid]
    # one member more than inline_max: stored, the fan-out left to the caller
    first, mid = store(stack, a, "after", 1)
    assert first[0] == "3", first
    assert behind(stack, a) == 1


def test_a_small_groups_send_leaves_its_message_to_a_fanout_that_runs(stack):
    """A send that finds its group's fan-out lock held (the sweep's, say)
    stores the message and answers; the holder's next round, or the group's
    next send, fans it out."""
    a = create(stack)
    a.rekey()
    b = add(a)
    b.rekey()
    pk = stack.number("SELECT pk FROM groups WHERE id = '%s'" % a.group_id)
    # the group's fan-out lock (sql/038: key 1936684135, pk % 2147483647)
    with stack.holding("SELECT sotto_group_fanout_try_lock(%d)" % pk, name="fanout",
                       lock="locktype = 'advisory' AND classid = 1936684135 AND objid = %d "
                            "AND objsubid = 2" % (pk % 2147483647)):
        left = a.send_ok("left to the holder")["id"]
        assert behind(stack, a) == 1
        assert pending(b) == []
    nxt = b.send_ok("next")["id"]
    assert behind(stack, a) == 0
    assert pending(a) == [nxt] and pending(b) == [left]


def test_the_sweep_finishes_a_fanout_a_crash_left_undone(stack):
    a = create(stack)
    a.rekey()
    b = add(a)
    b.rekey()
    first = a.send_ok("fanned out")["id"]
    assert pending(b) == [first]
    lost = store_without_fanout(stack, a, "left behind")
    assert behind(stack, a) == 1
    assert pending(b) == [first]
    sweep(stack)
    assert behind(stack, a) == 0
    assert pending(b) == [lost]
    assert [t for _, t, _ in b.messages()] == ["fanned out", "left behind"]
    # the sweep finds nothing more to do for this group
    sweep(stack)
    assert pending(b) == [lost]


def test_the_next_send_fans_out_what_a_crash_left_undone(stack):
    a = create(stack)
    a.rekey()
    b, c = add(a), add(a)
    c.rekey()
    lost = store_without_fanout(stack, a, "left behind")
    assert pending(b) == [] and pending(c) == []
    nxt = c.send_ok("next")["id"]
    assert behind(stack, a) == 0
    # one event each, carrying the latest message the member did not send
    assert pending(a) == [nxt] and pending(b) == [nxt] and pending(c) == [lost]


def test_a_member_removed_before_the_fanout_gets_nothing(stack):
    a = create(stack)
    a.rekey()
    b, c = add(a), add(a)
    c.rekey()
    ack_all(b)
    lost = store_without_fanout(stack, a, "before the removal")
    r = a.req("DELETE", a.g("/members/" + b.member_id))
    assert r.status_code == 204, describe(r)
    sweep(stack)
    assert pending(c) == [lost]
    r = b.req("GET", "/events", params={"after": 0, "limit": 100})
    assert r.status_code == 200, describe(r)
    assert [e for e in r.json()["items"] if e["type"] == "group.message"] == []


def test_a_member_who_joined_after_the_message_gets_nothing_of_it(stack):
    a = create(stack)
    a.rekey()
    b = add(a)
    b.rekey()
    lost = store_without_fanout(stack, a, "before the join")
    d = join(stack, invite(a)["invite"])
    sweep(stack)
    assert pending(b) == [lost]
    assert pending(d) == []
    # the next message, once the new epoch has its key, reaches d
    d.rekey()
    nxt = b.send_ok("after the join")["id"]
    assert pending(d) == [nxt]
    assert [t for _, t, _ in d.messages()] == ["after the join"]


def test_a_fanout_for_a_deleted_group_does_nothing(stack):
    a = create(stack)
    a.rekey()
    a.send_ok("alone")
    pk = stack.psql("SELECT pk FROM groups WHERE id = '%s'" % a.group_id)[0][0]
    assert stack.psql("SELECT fanned_seq FROM group_fanout WHERE group_pk = %s" % pk) == [["1"]]
    r = a.req("DELETE", a.g("/members/me"))
    assert r.status_code == 204, describe(r)
    assert stack.psql("SELECT code FROM sotto_group_fanout(%s)" % pk) == [["0"]]
    assert stack.psql("SELECT count(*) FROM group_fanout WHERE group_pk = %s" % pk) == [["0"]]


def test_a_deletion_and_a_send_elsewhere_take_event_heads_in_one_order(stack):
    """D leaves G1 (with Y) and G2 (with X) as its account is deleted; S
    sends into G3 (with X and Y), which D is not in. The send takes the
    event heads of X, then Y; the deletion must not hold Y's while it waits
    for X's. The deletion is held at G2's row (a share lock from psql)
    after it has left G1, the send started, then the deletion let go."""
    tx, ty = register(stack)[1], register(stack)[1]
    d1 = create(stack)
    y1 = join(stack, invite(d1)["invite"], ty)
    d2 = create(stack, d1.token)
    x2 = join(stack, invite(d2)["invite"], tx)
    s3 = create(stack)
    x3 = join(stack, invite(s3)["invite"], tx)
    y3 = join(stack, invite(s3)["invite"], ty)
    y3.rekey()
    epoch = s3.info()["epoch"]
    s3.key(epoch)
    pks = dict(stack.psql(
        "SELECT m.id, m.account_pk FROM group_members m WHERE m.id IN ('%s', '%s')"
        % (x2.member_id, y1.member_id)))
    assert int(pks[x2.member_id]) < int(pks[y1.member_id])
    groups = [int(r[0]) for r in stack.psql(
        "SELECT pk FROM groups WHERE id IN ('%s', '%s') ORDER BY pk" % (d1.group_id, d2.group_id))]
    assert groups == sorted(groups) and len(groups) == 2
    g2 = stack.number("SELECT pk FROM groups WHERE id = '%s'" % d2.group_id)
    assert g2 == groups[1]

    answers = {}
    deletion = threading.Thread(target=lambda: answers.update(
        deletion=delete_me(stack, d1.token)))
    send = threading.Thread(target=lambda: answers.update(
        send=s3.send("while D goes", epoch=epoch)))
    # a share lock on G2's row
    with stack.holding("SELECT 1 FROM groups WHERE pk = %d FOR SHARE" % g2, name="g2") as h:
        deletion.start()
        h.wait_for_waiters("sotto_account_leave_groups", what="the deletion waiting for G2")
        send.start()
        h.wait_for_waiters("sotto_group_send", what="the send",
                           unless=lambda: "send" in answers)
        before = stack.deadlocks()
    deletion.join(30)
    send.join(30)
    assert answers["deletion"].status_code == 204, describe(answers["deletion"])
    assert answers["send"].status_code == 201, describe(answers["send"])
    stack.assert_no_deadlock_since(before)
    assert [t for _, t, _ in x3.messages()] == ["while D goes"]
