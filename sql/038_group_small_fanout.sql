-- 038: in a small group the send fans its message out in its own statement
-- (docs/groups.md, "Events").
--
-- Since sql/033 every send was two transactions: the message (under the
-- group row lock), then a fan-out of the members' events in a transaction
-- of its own, and, once that committed, a second fan-out call to take over
-- what concurrent sends left to it. Three statements, two commits and two
-- WAL flushes a message. In a group of 256 that buys what it was built for:
-- the group row is not held while 255 events are written, and one fan-out
-- covers every message committed meanwhile. In a group of a few members it
-- buys nothing: the fan-out writes about as many rows as the message
-- itself, and a direct message does the same (its peer's event) in its
-- send's one statement.
--
-- Now sotto_group_send takes inline_max, the largest group it fans out in
-- place (the server passes GROUP_INLINE_FANOUT, 8): at most 7 event heads
-- and 7 events written under the group row lock it holds anyway, in the
-- same transaction and flush as the message. Larger groups, and a send
-- that finds another fan-out of its group running (the sweep of `sotto
-- cleanup`, or a fan-out from when the group was larger), keep sql/033's
-- way: the answer says whether the caller must fan out.
--
-- The fan-out itself is one function, sotto_group_fanout_run, shared by the
-- two ways; its locks and invariants are sql/033's. In place, the group row
-- is held FOR NO KEY UPDATE by the send (stronger than the fan-out's KEY
-- SHARE, and taken first, as there), then the advisory lock is tried (never
-- waited for), then the event heads in account order: the same order.

-- Fan out group g's messages after done up to last (all committed, or
-- written by the caller's transaction), to the members at this moment:
-- the caller holds the group's advisory fan-out lock and its row (KEY SHARE
-- or stronger). Returns the events that are new in their member's queue,
-- to publish after the commit, and sets group_fanout.fanned_seq to last.
CREATE FUNCTION sotto_group_fanout_run(g bigint, gid text, done bigint, last bigint)
RETURNS TABLE (account bigint, seq bigint, data text)
LANGUAGE plpgsql AS $$
DECLARE
    top group_messages%ROWTYPE;
    other group_messages%ROWTYPE;
    on_day integer := floor(extract(epoch FROM now()) / 86400)::integer;
BEGIN
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
    SELECT f.account_pk, f.seq, f.data::text FROM fresh f;
    INSERT INTO group_fanout AS f (group_pk, fanned_seq) VALUES (g, last)
    ON CONFLICT (group_pk) DO UPDATE SET fanned_seq = excluded.fanned_seq;
END $$;

-- The group's advisory fan-out lock, tried: keys "sotg" in ASCII and the
-- group (two groups 2^31 - 1 apart share a lock, which only serialises
-- their fan-outs).
CREATE FUNCTION sotto_group_fanout_try_lock(g bigint) RETURNS boolean
LANGUAGE sql AS $$
    SELECT pg_try_advisory_xact_lock(1936684135, (g % 2147483647)::integer)
$$;

-- As in sql/033 (codes 0 nothing to do, 1 another fan-out runs, 2 fanned
-- out; after a 2, the new events), with the work in sotto_group_fanout_run.
CREATE OR REPLACE FUNCTION sotto_group_fanout(g bigint)
RETURNS TABLE (account bigint, seq bigint, data text, code integer)
LANGUAGE plpgsql AS $$
DECLARE
    gid text;
    last bigint;
    done bigint;
BEGIN
    SELECT gr.last_seq, coalesce(f.fanned_seq, 0) INTO last, done
      FROM groups gr LEFT JOIN group_fanout f ON f.group_pk = gr.pk WHERE gr.pk = g;
    code := 0;
    IF last IS NULL OR done >= last THEN
        RETURN NEXT;
        RETURN;
    END IF;
    code := 1;
    IF NOT sotto_group_fanout_try_lock(g) THEN
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
    RETURN QUERY SELECT r.account, r.seq, r.data, NULL::integer
                   FROM sotto_group_fanout_run(g, gid, done, last) r;
END $$;

DROP FUNCTION sotto_group_send(text, bigint, integer, text, integer, bytea, bytea);

-- Lock the group, check that acct is a member and that ep is the current
-- epoch with its key set posted, take the next seq and store the message;
-- in a group of at most inline_max members, fan it out too (see above).
-- The first row is the answer: code 0 stored and fanned out (or left to
-- a fan-out of the group that is running, which takes it over), 3 stored,
-- the caller fans out (sotto_group_fanout, after the commit), 404 no such
-- group or not a member, 1 not the current epoch, 2 no key set yet; with
-- 0 or 3, seq is the message's, from_member the sender's member id and
-- group_pk the group's. After a 0, the events to publish once committed
-- (account, seq, data; code NULL).
CREATE FUNCTION sotto_group_send(gid text, acct bigint, ep integer, mid text, on_day integer,
                                 ct bytea, nc bytea, inline_max integer)
RETURNS TABLE (account bigint, seq bigint, data text, code integer, from_member text,
               group_pk bigint)
LANGUAGE plpgsql AS $$
DECLARE
    cur integer;
    keyed integer;
    members integer;
    mpk bigint;
    done bigint;
    msg_seq bigint;
BEGIN
    SELECT g.pk, g.epoch, g.key_epoch, g.member_count INTO group_pk, cur, keyed, members
      FROM groups g WHERE g.id = gid FOR NO KEY UPDATE;
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
    RETURNING g.last_seq INTO msg_seq;
    INSERT INTO group_messages (group_pk, seq, id, epoch, sender, day, ciphertext, nonce)
    VALUES (sotto_group_send.group_pk, msg_seq, mid, ep, from_member, on_day, ct, nc);
    seq := msg_seq;
    IF members > inline_max THEN
        code := 3;
        RETURN NEXT;
        RETURN;
    END IF;
    code := 0;
    RETURN NEXT;
    IF NOT sotto_group_fanout_try_lock(sotto_group_send.group_pk) THEN
        RETURN;
    END IF;
    SELECT coalesce(max(f.fanned_seq), 0) INTO done FROM group_fanout f
     WHERE f.group_pk = sotto_group_send.group_pk;
    RETURN QUERY SELECT r.account, r.seq, r.data, NULL::integer, NULL::text, NULL::bigint
                   FROM sotto_group_fanout_run(sotto_group_send.group_pk, gid, done, msg_seq) r;
END $$;
