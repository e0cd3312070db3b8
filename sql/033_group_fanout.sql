-- 033: a group send stores the message only; the members' group.message
-- events are queued by a separate, coalesced fan-out (docs/groups.md,
-- "Events").
--
-- Until now sotto_group_send (sql/030) moved every other member's pending
-- event in the sender's transaction, under the group row lock and until
-- its commit: in a group of 256, about 510 row writes and 255 event-head
-- locks per message, while every other send to the group waited. Now:
--
-- * The send locks the group row (FOR NO KEY UPDATE: sends queue on each
--   other and on membership changes, which take FOR UPDATE), checks the
--   member and the epoch, takes the next seq and inserts the message, and
--   commits. Nothing per member.
--
-- * The fan-out (sotto_group_fanout) runs in its own transaction, after
--   the send's commit, from committed state. It moves each current
--   member's pending group.message event to a new seq carrying the latest
--   message that member did not send, for every message after
--   group_fanout.fanned_seq up to the group's last_seq at once, and sets
--   fanned_seq to it. One fan-out per group runs at a time (a transaction
--   advisory lock, never waited for); a send whose message a fan-out
--   already covered does nothing, one that finds a fan-out running leaves
--   its message to it, and the one running calls again after its commit
--   until nothing is left. So under many concurrent senders one fan-out
--   serves many messages, and with one sender at a time each send fans out
--   its own message before it replies.
--
-- Ordering: a group's messages commit in seq order (the group row lock is
-- held by a send until its commit), so a committed last_seq = L means
-- messages 1..L are all committed: the fan-out reads last_seq and needs
-- nothing from uncommitted sends. A member's events still get their seqs
-- under the member's event head lock, held to commit (sql/005), so no
-- reader can acknowledge past an event that commits later.
--
-- Membership: the fan-out holds the group row FOR KEY SHARE while it
-- reads the members and writes their events. That does not wait for sends
-- (FOR NO KEY UPDATE) but excludes joins, leaves, removals and key posts
-- (FOR UPDATE) until it commits: a member removed before the fan-out is
-- not in its list, and a removal waits for a running fan-out, so no
-- removed member gets an event committed after their removal. A member
-- gets a message only from an epoch they were a member in (joined_epoch),
-- so a joiner gets nothing from before joining.
--
-- Lock order: advisory lock, then the group row (KEY SHARE), then event
-- heads in account order, then the group_fanout row: the group row before
-- the event heads, as every other group change (sql/018). The group_fanout
-- row is written only by a fan-out holding the group's KEY SHARE, so a
-- group's deletion (FOR UPDATE on the group first) never waits for it.
--
-- A crash between a send's commit and its fan-out leaves fanned_seq behind
-- last_seq: the group's next send fans those messages out with its own,
-- and `sotto cleanup` (sotto_group_fanout_sweep) finishes any group left
-- behind.

CREATE TABLE group_fanout (
    group_pk   bigint PRIMARY KEY REFERENCES groups (pk) ON DELETE CASCADE,
    -- the members' events carry every message up to this seq
    fanned_seq bigint NOT NULL CHECK (fanned_seq >= 0)
);

-- Every message so far was fanned out by its send (sql/030).
INSERT INTO group_fanout (group_pk, fanned_seq) SELECT pk, last_seq FROM groups;

DROP FUNCTION sotto_group_send(text, bigint, integer, text, integer, bytea, bytea);

-- Lock the group, check that acct is a member and that ep is the current
-- epoch with its key set posted, take the next seq and store the message.
-- One row: code 0 (stored: seq, the sender's member id, the group's pk for
-- the fan-out), 404 (no such group or not a member), 1 (not the current
-- epoch) or 2 (no key set yet).
CREATE FUNCTION sotto_group_send(gid text, acct bigint, ep integer, mid text, on_day integer,
                                 ct bytea, nc bytea)
RETURNS TABLE (code integer, seq bigint, from_member text, group_pk bigint)
LANGUAGE plpgsql AS $$
DECLARE
    cur integer;
    keyed integer;
    mpk bigint;
BEGIN
    SELECT g.pk, g.epoch, g.key_epoch INTO group_pk, cur, keyed FROM groups g
     WHERE g.id = gid FOR NO KEY UPDATE;
    IF group_pk IS NOT NULL THEN
        SELECT m.pk, m.id INTO mpk, from_member FROM group_members m
         WHERE m.group_pk = sotto_group_send.group_pk AND m.account_pk = acct;
    END IF;
    IF mpk IS NULL THEN
        code := 404;
    ELSIF ep <> cur THEN
        code := 1;
    ELSIF keyed <> cur THEN
        code := 2;
    END IF;
    IF code IS NOT NULL THEN
        from_member := NULL;
        group_pk := NULL;
        RETURN NEXT;
        RETURN;
    END IF;
    UPDATE groups g SET last_seq = g.last_seq + 1 WHERE g.pk = sotto_group_send.group_pk
    RETURNING g.last_seq INTO seq;
    INSERT INTO group_messages (group_pk, seq, id, epoch, sender, day, ciphertext, nonce)
    VALUES (sotto_group_send.group_pk, seq, mid, ep, from_member, on_day, ct, nc);
    code := 0;
    RETURN NEXT;
END $$;

-- Fan out group g's messages (see above), in the caller's transaction (its
-- own: the locks are held to its commit). The first row is the answer, in
-- code: 0 nothing to do (a fan-out covered every committed message, or the
-- group is gone), 1 another fan-out of g is running (it covers this one:
-- see below), 2 fanned out. After a 2, the events that are new in their
-- member's queue (the member had no unacknowledged group.message for g), to
-- publish in real time after the commit; moved ones are not told again
-- (sql/030).
--
-- Nobody waits for the lock (a waiter would hold its snapshot, and with it
-- the dead versions of every event head and event the fan-outs write).
-- Instead whoever got a 2 calls again once it has committed, until 0 or 1:
-- a send that got 1 had committed its message before it asked, so the
-- running fan-out's next call, after its commit, sees that message.
CREATE FUNCTION sotto_group_fanout(g bigint)
RETURNS TABLE (account bigint, seq bigint, data text, code integer)
LANGUAGE plpgsql AS $$
DECLARE
    gid text;
    last bigint;
    done bigint;
    top group_messages%ROWTYPE;
    other group_messages%ROWTYPE;
    on_day integer := floor(extract(epoch FROM now()) / 86400)::integer;
BEGIN
    SELECT gr.last_seq, coalesce(f.fanned_seq, 0) INTO last, done
      FROM groups gr LEFT JOIN group_fanout f ON f.group_pk = gr.pk WHERE gr.pk = g;
    code := 0;
    IF last IS NULL OR done >= last THEN
        RETURN NEXT;
        RETURN;
    END IF;
    -- one fan-out per group at a time: keys "sotg" in ASCII and the group
    -- (two groups 2^31 - 1 apart share a lock, which only serialises them)
    code := 1;
    IF NOT pg_try_advisory_xact_lock(1936684135, (g % 2147483647)::integer) THEN
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT gr.id, gr.last_seq INTO gid, last FROM groups gr WHERE gr.pk = g FOR KEY SHARE;
    SELECT coalesce(max(f.fanned_seq), 0) INTO done FROM group_fanout f WHERE f.group_pk = g;
    code := 0;
    IF gid IS NULL OR done >= last THEN
        RETURN NEXT;
        RETURN;
    END IF;
    code := 2;
    RETURN NEXT;
    code := NULL;
    SELECT * INTO top FROM group_messages m WHERE m.group_pk = g AND m.seq = last;
    -- the latest message in the batch that top's sender did not send
    SELECT * INTO other FROM group_messages m
     WHERE m.group_pk = g AND m.seq > done AND m.seq < last AND m.sender <> top.sender
     ORDER BY m.seq DESC LIMIT 1;
    RETURN QUERY
    WITH m AS (
        SELECT gm.pk, gm.account_pk,
               CASE WHEN gm.id <> top.sender THEN top.id ELSE other.id END AS message_id,
               CASE WHEN gm.id <> top.sender THEN top.epoch ELSE other.epoch END AS epoch,
               gm.joined_epoch
          FROM group_members gm WHERE gm.group_pk = g
    ), due AS (
        SELECT m.pk, m.account_pk,
               jsonb_build_object('group_id', gid, 'message_id', m.message_id,
                                  'epoch', m.epoch) AS payload
          FROM m WHERE m.message_id IS NOT NULL AND m.epoch >= m.joined_epoch
    ), h AS (
        INSERT INTO event_heads AS eh (account_pk, seq)
        SELECT due.account_pk, 1 FROM due ORDER BY due.account_pk
        ON CONFLICT (account_pk) DO UPDATE SET seq = eh.seq + 1
        RETURNING eh.account_pk, eh.seq
    ), dh AS (
        SELECT due.pk, due.payload, h.account_pk, h.seq FROM due JOIN h USING (account_pk)
    ), moved AS (
        UPDATE events e SET seq = dh.seq, day = on_day, data = dh.payload
          FROM dh
         WHERE e.group_member = dh.pk
        RETURNING e.group_member
    ), fresh AS (
        INSERT INTO events AS e (account_pk, seq, type, day, data, group_member)
        SELECT dh.account_pk, dh.seq, 'group.message', on_day, dh.payload, dh.pk FROM dh
         WHERE NOT EXISTS (SELECT 1 FROM moved WHERE moved.group_member = dh.pk)
        RETURNING e.account_pk, e.seq, e.data
    )
    SELECT f.account_pk, f.seq, f.data::text, NULL::integer FROM fresh f;
    INSERT INTO group_fanout AS f (group_pk, fanned_seq) VALUES (g, last)
    ON CONFLICT (group_pk) DO UPDATE SET fanned_seq = excluded.fanned_seq;
END $$;

-- The groups whose messages a fan-out has not covered (a worker stopped
-- between a send's commit and its fan-out), for `sotto cleanup` to fan
-- out: the pks of those after pk after, in order, at most lim.
CREATE FUNCTION sotto_group_fanout_behind(after bigint, lim integer)
RETURNS TABLE (group_pk bigint) LANGUAGE sql STABLE AS $$
    SELECT g.pk FROM groups g
      LEFT JOIN group_fanout f ON f.group_pk = g.pk
     WHERE g.pk > after AND g.last_seq > coalesce(f.fanned_seq, 0)
     ORDER BY g.pk LIMIT lim
$$;
