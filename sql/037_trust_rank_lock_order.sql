-- 037: a trust change locks the author's posts in pk order.
--
-- sotto_adjust_trust (sql/004) re-ranks every post of an author with one
-- UPDATE ... WHERE author_pk, which locks the rows in whatever order its
-- scan meets them: table or author-index order, where a post rewritten
-- since (a vote, a hold) sits after newer ones. `sotto moderate` holds the
-- posts of a batch one by one in pk order (app/cmd_moderate.c). A decision
-- on an author while the moderator held two of their posts could lock the
-- second, then wait for the first, which the moderator held while it
-- waited for the second: a deadlock, one side aborted. The rows are now
-- locked in pk order first (a locking subquery, sorted before it locks),
-- the order every other writer of several posts uses.

CREATE OR REPLACE FUNCTION sotto_adjust_trust(account bigint, delta double precision) RETURNS bytea
LANGUAGE plpgsql AS $$
DECLARE
    t real;
    h bytea;
BEGIN
    UPDATE accounts SET trust = LEAST(1.0, GREATEST(0.0, trust + delta))
     WHERE pk = account RETURNING trust, id_hash INTO t, h;
    IF h IS NOT NULL THEN
        UPDATE posts p SET rank = sotto_rank(p.score, t, p.day)
          FROM (SELECT o.pk FROM posts o WHERE o.author_pk = account
                 ORDER BY o.pk FOR NO KEY UPDATE) l
         WHERE p.pk = l.pk;
    END IF;
    RETURN h;
END $$;
