-- tests/bench/bans.sql — exactly :n active IP bans made by the bench
-- (reason 'bench-ban'), for the bans=N option of tests/bench/run.sh:
-- random tokens (so no request of the bench matches one), a dummy sealed
-- prefix (the bench never lists them), permanent. n = 0 removes them.
-- Run with: psql -v n=10000 -f tests/bench/bans.sql
BEGIN;
DELETE FROM ip_bans WHERE reason = 'bench-ban';
INSERT INTO ip_bans (id, token, key_version, prefix_sealed, seal_version, reason, day,
                     expires_day)
SELECT substr(md5(i::text || random()::text), 1, 22),
       decode(md5(random()::text) || md5(random()::text), 'hex'),
       1, '\x00'::bytea, 1, 'bench-ban', (extract(epoch FROM now()) / 86400)::integer, NULL
FROM generate_series(1, :n) AS i;
COMMIT;
