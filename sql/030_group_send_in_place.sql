-- 030: a group message moves each member's pending group.message event in
-- place (docs/groups.md, "Events").
--
-- sql/018 found a member's pending event through group_members.pending_seq,
-- so every message deleted the event, inserted a new one (a foreign-key
-- check on accounts for each) and updated every other member's row to
-- point at it: four row writes per member, and a group_members table that
-- bloated with a dead row per member and message, which every membership
-- check then had to step over. Now the event row says which member it is
-- pending for (group_member, the group_members pk; never reused) and a
-- message updates it to the new seq and the latest message: the member
-- rows are not written at all and no foreign key is checked (the account
-- does not change).
--
-- What a client sees is unchanged: still at most one pending group.message
-- per member and group, moved to a new seq by every message, carrying the
-- latest message; acknowledging it frees the slot, and the next message
-- queues a new one and is published in real time.
--
-- A member who leaves keeps the pending event in their queue (as before);
-- it names the member row that is gone, so joining the group again starts a
-- new one.

ALTER TABLE events ADD COLUMN group_member bigint;

UPDATE events e SET group_member = m.pk
  FROM group_members m
 WHERE e.account_pk = m.account_pk AND e.seq = m.pending_seq AND e.type = 'group.message';

CREATE UNIQUE INDEX events_group_pending ON events (group_member) WHERE group_member IS NOT NULL;

DROP FUNCTION sotto_group_message_push(bigint, bigint, integer, jsonb);
ALTER TABLE group_members DROP COLUMN pending_seq;

-- As in sql/018, but the other members' events are queued by one statement
-- in this function (its plan is kept from call to call, a SQL function's
-- is not): lock the others' event heads in account order (after the group
-- row), move each pending event to its new seq, and insert one for each
-- member who had none. Only those, the fresh ones, are returned to be told
-- in real time.
CREATE OR REPLACE FUNCTION sotto_group_send(gid text, acct bigint, ep integer, mid text,
                                            on_day integer, ct bytea, nc bytea)
RETURNS TABLE (account bigint, seq bigint, data text, code integer, from_member text)
LANGUAGE plpgsql AS $$
DECLARE
    gpk bigint;
    cur integer;
    keyed integer;
    mpk bigint;
    payload jsonb;
BEGIN
    SELECT g.pk, g.epoch, g.key_epoch INTO gpk, cur, keyed FROM groups g WHERE g.id = gid FOR UPDATE;
    IF gpk IS NOT NULL THEN
        SELECT m.pk, m.id INTO mpk, from_member FROM group_members m
         WHERE m.group_pk = gpk AND m.account_pk = acct;
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
        RETURN NEXT;
        RETURN;
    END IF;
    UPDATE groups g SET last_seq = g.last_seq + 1 WHERE g.pk = gpk RETURNING g.last_seq INTO seq;
    INSERT INTO group_messages (group_pk, seq, id, epoch, sender, day, ciphertext, nonce)
    VALUES (gpk, seq, mid, ep, from_member, on_day, ct, nc);
    payload := jsonb_build_object('group_id', gid, 'message_id', mid, 'epoch', ep);
    code := 0;
    data := payload::text;
    RETURN NEXT;
    code := NULL;
    from_member := NULL;
    RETURN QUERY
    WITH m AS (
        SELECT gm.pk, gm.account_pk FROM group_members gm
         WHERE gm.group_pk = gpk AND gm.pk <> mpk
    ), h AS (
        INSERT INTO event_heads AS eh (account_pk, seq)
        SELECT m.account_pk, 1 FROM m ORDER BY m.account_pk
        ON CONFLICT (account_pk) DO UPDATE SET seq = eh.seq + 1
        RETURNING eh.account_pk, eh.seq
    ), mh AS (
        SELECT m.pk, h.account_pk, h.seq FROM m JOIN h ON h.account_pk = m.account_pk
    ), moved AS (
        UPDATE events e SET seq = mh.seq, day = on_day, data = payload
          FROM mh
         WHERE e.group_member = mh.pk
        RETURNING e.group_member
    ), fresh AS (
        INSERT INTO events AS e (account_pk, seq, type, day, data, group_member)
        SELECT mh.account_pk, mh.seq, 'group.message', on_day, payload, mh.pk FROM mh
         WHERE NOT EXISTS (SELECT 1 FROM moved WHERE moved.group_member = mh.pk)
        RETURNING e.account_pk, e.seq
    )
    SELECT f.account_pk, f.seq, payload::text, NULL::integer, NULL::text FROM fresh f;
END $$;
