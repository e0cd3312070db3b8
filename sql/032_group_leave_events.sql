-- 032: an account's deletion tells the groups it leaves in real time.
--
-- sotto_account_leave_groups (sql/018) queued group.member and group.rekey
-- for the remaining members of every group the account left, but returned
-- nothing, so DELETE /me could not publish them: the others learnt of the
-- new epoch only when they next polled their queue. It now returns the
-- events it pushed, as sotto_group_leave does for one group (account, seq,
-- kind, payload), for the caller to publish after its commit. Locks and
-- their order are unchanged: group rows in pk order, before any account row.
-- A caller of the old form (SELECT sotto_account_leave_groups($1)) still
-- works: the rows are there to ignore.

DROP FUNCTION sotto_account_leave_groups(bigint);

CREATE FUNCTION sotto_account_leave_groups(a bigint)
RETURNS TABLE (account bigint, seq bigint, kind text, payload jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    m record;
    on_day integer := floor(extract(epoch FROM now()) / 86400)::integer;
BEGIN
    FOR m IN SELECT pk, group_pk FROM group_members WHERE account_pk = a ORDER BY group_pk LOOP
        RETURN QUERY SELECT * FROM sotto_group_leave(m.group_pk, m.pk, on_day);
    END LOOP;
END $$;
