-- 017: only established accounts weigh on others.
--
-- A vote from an account younger than SOTTO_FLAG_MIN_AGE_DAYS or below
-- neutral trust moves the post's score but not its author's trust, so
-- fresh accounts cannot lift one another (decided when the vote is cast;
-- the vote keeps the answer). A vote changed or withdrawn
-- later takes back exactly the trust it gave. Existing votes keep moving
-- trust as they did.

-- Established: joined on newest_day or before (the caller passes today
-- minus SOTTO_FLAG_MIN_AGE_DAYS) and of neutral trust (0.5, a new
-- account's) or more. The flags of accounts that are not established
-- weigh 0: they open or join a review item but never hold a post.
CREATE FUNCTION sotto_established(day_joined integer, trust real, newest_day integer)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT day_joined <= newest_day AND trust >= 0.5
$$;

ALTER TABLE votes ADD COLUMN moves_trust boolean NOT NULL DEFAULT true;

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
    PERFORM 1 FROM accounts WHERE pk = author FOR UPDATE;
    IF author <> r.voter_pk AND new_lifts IS DISTINCT FROM old_lifts THEN
        UPDATE accounts
           SET trust = LEAST(1.0, GREATEST(0.0,
                   trust + CASE WHEN new_lifts THEN 0.01 ELSE -0.01 END))
         WHERE pk = author;
    END IF;
    UPDATE posts SET score = score + new_v - old_v WHERE pk = r.post_pk;
    RETURN NULL;
END $$;
