-- 004: votes without deadlocks, and bounded work per vote.
--
-- 003 let an up-vote lock its post, then the author's account, then
-- rewrite the rank of every post of that author: two up-votes on two
-- posts of one author could deadlock, and a prolific author made each
-- vote slow. Now a vote locks the author's account first (one order for
-- everyone), changes one post's score, and that post's rank is computed
-- with the author's trust at that moment. Other posts of the author take
-- the new trust at their own next vote; a moderation decision re-ranks
-- all of them at once (app/trust.c), which is rare.

DROP TRIGGER accounts_trust ON accounts;
DROP FUNCTION accounts_trust_rank();

-- The trust read into a variable first, so sotto_rank() can be inlined.
CREATE OR REPLACE FUNCTION posts_set_rank() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t real;
BEGIN
    SELECT trust INTO t FROM accounts WHERE pk = NEW.author_pk;
    NEW.rank := sotto_rank(NEW.score, t, NEW.day);
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION votes_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_v integer := CASE WHEN TG_OP = 'INSERT' THEN 0 ELSE OLD.value END;
    new_v integer := CASE WHEN TG_OP = 'DELETE' THEN 0 ELSE NEW.value END;
    r record := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    author bigint;
BEGIN
    SELECT author_pk INTO author FROM posts WHERE pk = r.post_pk;
    IF author IS NULL THEN
        RETURN NULL;            -- the post itself is being deleted
    END IF;
    -- The account first: every vote on this author's posts queues here.
    PERFORM 1 FROM accounts WHERE pk = author FOR UPDATE;
    IF author <> r.voter_pk AND (new_v = 1) IS DISTINCT FROM (old_v = 1) THEN
        UPDATE accounts
           SET trust = LEAST(1.0, GREATEST(0.0,
                   trust + CASE WHEN new_v = 1 THEN 0.01 ELSE -0.01 END))
         WHERE pk = author;
    END IF;
    UPDATE posts SET score = score + new_v - old_v WHERE pk = r.post_pk;
    RETURN NULL;
END $$;

-- A moderation decision moves an author's trust and re-ranks all their
-- posts at once (app/trust.c calls this). Returns the account's lookup
-- hash, so the caller can drop its cached record, or NULL when the
-- account does not exist.
CREATE FUNCTION sotto_adjust_trust(account bigint, delta double precision) RETURNS bytea
LANGUAGE plpgsql AS $$
DECLARE
    t real;
    h bytea;
BEGIN
    UPDATE accounts SET trust = LEAST(1.0, GREATEST(0.0, trust + delta))
     WHERE pk = account RETURNING trust, id_hash INTO t, h;
    IF h IS NOT NULL THEN
        UPDATE posts SET rank = sotto_rank(score, t, day) WHERE author_pk = account;
    END IF;
    RETURN h;
END $$;
