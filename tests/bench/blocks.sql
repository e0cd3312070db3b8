-- tests/bench/blocks.sql — exactly :n blocks and :n / 10 muted communities
-- for the bench account :account (its internal key), for the blocks=N
-- option of tests/bench/run.sh. The blocks are of replies by other authors
-- elsewhere (never on a feed page, never in the bench thread, whose replies
-- are by an author it does not block), so both sides answer the same
-- items and the difference is the filtering alone. The mutes are of the
-- empty communities setup_blocks made. n = 0 removes them all.
-- Run with: psql -v account=123 -v n=100 -f tests/bench/blocks.sql
BEGIN;
DELETE FROM blocks WHERE blocker_pk = :account;
DELETE FROM community_mutes WHERE account_pk = :account;
INSERT INTO blocks (id, blocker_pk, author_pk, post_pk, origin_post_id, day)
SELECT substr(md5(p.pk::text || random()::text), 1, 22), :account, p.author_pk, p.pk, p.id,
       p.day
FROM (SELECT pk, author_pk, id, day FROM posts p
      WHERE parent_pk IS NOT NULL AND author_pk <> :account
        AND NOT EXISTS (SELECT 1 FROM posts par
                         WHERE par.pk = p.parent_pk AND par.author_pk = :account)
      ORDER BY pk LIMIT :n) p;
INSERT INTO community_mutes (account_pk, community_pk)
SELECT :account, pk FROM communities
WHERE creator_pk = :account AND slug LIKE 'bench-mute-%' ORDER BY pk LIMIT :n / 10;
COMMIT;
