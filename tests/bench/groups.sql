-- tests/bench/groups.sql — :n synthetic members added to the bench group
-- :'group' for the group_send lines of tests/bench/run.sh, and that
-- group's epoch marked as keyed, so the bench account (its first member)
-- can send. The members are accounts that cannot log in (a random key
-- hash, id_sealed 'bench-group'), each with a random per-group key; they
-- get the group.message events as real members do. run.sh deletes them
-- and the bench groups at the end.
-- Run with: psql -v group=<group id> -v n=255 -f tests/bench/groups.sql
BEGIN;
WITH a AS (
    INSERT INTO accounts (id_hash, id_sealed, key_hash, auth, day_joined)
    SELECT decode(md5(random()::text) || md5(random()::text), 'hex'),
           convert_to('bench-group', 'UTF8'),
           decode(md5(random()::text) || md5(random()::text), 'hex'),
           2, floor(extract(epoch FROM now()) / 86400)::integer
    FROM generate_series(1, :n)
    RETURNING pk
)
INSERT INTO group_members (group_pk, id, account_pk, x25519, joined_epoch)
SELECT g.pk, substr(md5(random()::text), 1, 22), a.pk,
       decode(md5(random()::text) || md5(random()::text), 'hex'), g.epoch
FROM a, groups g WHERE g.id = :'group';
UPDATE groups SET member_count = member_count + :n, key_epoch = epoch WHERE id = :'group';
COMMIT;
