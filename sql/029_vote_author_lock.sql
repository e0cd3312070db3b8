-- A vote locks the post's author FOR NO KEY UPDATE, not FOR UPDATE.
--
-- Inserting a vote first checks its foreign keys, which takes a key-share
-- lock on the voter's account; votes_apply then locks the author. FOR
-- UPDATE conflicts with key-share, so two people voting on each other's
-- posts at the same moment each waited for the other's key-share lock and
-- PostgreSQL aborted one of them as a deadlock (a 503 after a second).
-- FOR NO KEY UPDATE still queues every vote on one author behind the
-- other (the trust update needs that), and conflicts with no key-share
-- lock: nothing the vote changes is a key.

CREATE OR REPLACE FUNCTION votes_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_v integer := CASE WHEN TG_OP = 'INSERT' THEN 0 ELSE OLD.value END;
    new_v integer := CASE WHEN TG_OP = 'DELETE' THEN 0 ELSE NEW.value END;
    old_lifts boolean := TG_OP <> 'INSERT' AND OLD.value = 1 AND OLD.moves_trust;
    new_lifts boolean := TG_OP <> 'DELETE' AND NEW.value = 1 AND NEW.moves_trust;
    r record := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    author bigint;
BEGIN
    SELECT author_pk INTO author FROM posts WHERE pk = r.post_pk;
    IF author IS NULL THEN
        RETURN NULL;            -- the post itself is being deleted
    END IF;
    -- The account first: every vote on this author's posts queues here.
    PERFORM 1 FROM accounts WHERE pk = author FOR NO KEY UPDATE;
    IF author <> r.voter_pk AND new_lifts IS DISTINCT FROM old_lifts THEN
        UPDATE accounts
           SET trust = LEAST(1.0, GREATEST(0.0,
                   trust + CASE WHEN new_lifts THEN 0.01 ELSE -0.01 END))
         WHERE pk = author;
    END IF;
    UPDATE posts SET score = score + new_v - old_v WHERE pk = r.post_pk;
    RETURN NULL;
END $$;
