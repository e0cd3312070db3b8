-- 040: an account with many posts or votes can delete itself
-- (docs/accounts.md).
--
-- DELETE /me deletes the account row in one transaction, and the cascade
-- deletes every post of it (with the replies, votes, flags and review rows
-- that hang on them) and every vote it cast. For an account with tens of
-- thousands of either, that one statement ran past the statement timeout
-- (5 s): 120 000 posts, or 60 000 votes, answered 503 and nothing was
-- deleted, however often it was asked again. Votes cost more than their
-- number: each one deleted updates its author's account row (trust), and
-- a row updated over and over in one transaction leaves a chain of
-- versions that every next update walks.
--
-- sotto_account_delete_batch(a, n) deletes n posts of account a, or once
-- a has at most n posts, n of its votes, in a transaction of its own, and
-- answers how many; 0 once a has at most n of each. The server calls it
-- until it answers 0, so an account with at most n posts and n votes is
-- deleted whole in the final transaction, as before (all or nothing).
-- - The posts of a batch are locked in pk order first, the order `sotto
--   moderate` locks a batch of posts in, so the two never wait for each
--   other in a cycle. Deleting a post needs no account lock: votes on it
--   change nothing once it is gone (votes_apply returns early), and a
--   reply of it only updates its parent's count (a post row).
-- - Deleting a vote locks its post's author, then the post (votes_apply,
--   sql/029). A batch first locks all the authors of its votes in pk order,
--   as the final transaction does (account_delete_lock), so it never holds
--   one author while waiting for another that a voter or another deletion
--   holds.

CREATE FUNCTION sotto_account_delete_batch(a bigint, n integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    batch bigint[];
BEGIN
    SELECT array_agg(pk) INTO batch
      FROM (SELECT pk FROM posts WHERE author_pk = a LIMIT n + 1) s;
    IF cardinality(batch) > n THEN
        batch := batch[1:n];
        PERFORM 1 FROM posts WHERE pk = ANY (batch) ORDER BY pk FOR UPDATE;
        DELETE FROM posts WHERE pk = ANY (batch);
        RETURN n;
    END IF;
    SELECT array_agg(post_pk) INTO batch
      FROM (SELECT post_pk FROM votes WHERE voter_pk = a LIMIT n + 1) s;
    IF cardinality(batch) > n THEN
        batch := batch[1:n];
        PERFORM 1 FROM accounts
         WHERE pk IN (SELECT author_pk FROM posts WHERE pk = ANY (batch))
         ORDER BY pk FOR NO KEY UPDATE;
        DELETE FROM votes WHERE voter_pk = a AND post_pk = ANY (batch);
        RETURN n;
    END IF;
    RETURN 0;
END $$;

-- Deleting a post deletes its review items (mod_items.post_pk, ON DELETE
-- CASCADE), found until now through mod_items_pending alone, which covers
-- only pending items: PostgreSQL's cascade, which asks for every item of
-- the post, scanned the whole table once per deleted post.
CREATE INDEX mod_items_post ON mod_items (post_pk);
