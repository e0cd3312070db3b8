-- 039: an account's deletion takes every lock of leaving its groups in one
-- order before it writes anything (docs/groups.md, "Export and deletion").
--
-- sotto_account_leave_groups (sql/032) left the groups one by one: group
-- row, then that group's members' event heads, then the next group. So
-- the event heads it held were in account order per group, not overall:
-- leaving G1 it held Y's head, then waited (leaving G2) for X's, while a
-- send into a third group with X and Y, which takes heads in account order,
-- held X's and waited for Y's. PostgreSQL broke the cycle by failing one
-- of them (503). tests/e2e/test_groups_fanout.py
-- (test_a_deletion_and_a_send_elsewhere_take_event_heads_in_one_order)
-- builds exactly that.
--
-- Now it first locks all its group rows, in pk order (FOR UPDATE, as
-- sotto_group_leave does: nobody joins, leaves or sends in them until the
-- deletion commits), then the event heads of every other member of those
-- groups, in account order, creating the ones that do not exist yet (a
-- member who never had an event; the new head starts at 1, so that
-- account's first event is 2). Then it leaves them as before: every head it
-- writes is already held. A send elsewhere holding one of those heads waits
-- for the deletion or the deletion for it, never both.

CREATE OR REPLACE FUNCTION sotto_account_leave_groups(a bigint)
RETURNS TABLE (account bigint, seq bigint, kind text, payload jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    m record;
    on_day integer := floor(extract(epoch FROM now()) / 86400)::integer;
BEGIN
    PERFORM 1 FROM groups g
      WHERE g.pk IN (SELECT mine.group_pk FROM group_members mine WHERE mine.account_pk = a)
      ORDER BY g.pk FOR UPDATE;
    INSERT INTO event_heads AS eh (account_pk, seq)
    SELECT DISTINCT o.account_pk, 1
      FROM group_members mine JOIN group_members o ON o.group_pk = mine.group_pk
     WHERE mine.account_pk = a AND o.account_pk <> a
     ORDER BY 1
    ON CONFLICT (account_pk) DO UPDATE SET seq = eh.seq;
    FOR m IN SELECT gm.pk, gm.group_pk FROM group_members gm WHERE gm.account_pk = a
              ORDER BY gm.group_pk LOOP
        RETURN QUERY SELECT * FROM sotto_group_leave(m.group_pk, m.pk, on_day);
    END LOOP;
END $$;
