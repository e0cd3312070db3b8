-- 040: an account with many posts can delete itself (docs/accounts.md,
-- "Deleting an account").
--
-- DELETE /me deletes the account row in one transaction, and the cascade
-- deletes every post of it (with the replies, votes, flags and review rows
-- that hang on them). For an account with tens of thousands of posts that
-- one statement ran past the statement timeout (about 4 s for 55 000 posts
-- on a quiet two-core machine, over 5 s under load): the deletion answered
-- 503 and nothing was deleted, however often it was asked again.
--
-- sotto_account_delete_posts(a, n) deletes n posts of account a, in a
-- transaction of its own, but only while a has more than n: the server
-- calls it until it answers 0, so an account with at most n posts left
-- is deleted whole in the final transaction, as before (all or nothing).
-- The posts of a batch are locked in pk order first, the order `sotto
-- moderate` locks a batch of posts in, so the two never wait for each
-- other in a cycle. Deleting a post needs no account lock: votes on it
-- change nothing once it is gone (votes_apply returns early), and a reply
-- of it only updates its parent's count (a post row).

CREATE FUNCTION sotto_account_delete_posts(a bigint, n integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    batch bigint[];
BEGIN
    SELECT array_agg(pk) INTO batch
      FROM (SELECT pk FROM posts WHERE author_pk = a LIMIT n + 1) s;
    IF batch IS NULL OR cardinality(batch) <= n THEN
        RETURN 0;
    END IF;
    batch := batch[1:n];
    PERFORM 1 FROM posts WHERE pk = ANY (batch) ORDER BY pk FOR UPDATE;
    DELETE FROM posts WHERE pk = ANY (batch);
    RETURN n;
END $$;

-- Deleting a post deletes its review items (mod_items.post_pk, ON DELETE
-- CASCADE), found until now through mod_items_pending alone, which covers
-- only pending items: PostgreSQL's cascade, which asks for every item of
-- the post, scanned the whole table once per deleted post.
CREATE INDEX mod_items_post ON mod_items (post_pk);
