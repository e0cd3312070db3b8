-- 011: no NOTIFY when a post is inserted. A transaction that notifies
-- takes one database-wide lock at commit and holds it until its commit
-- record is flushed, so with a NOTIFY in every post's transaction the
-- posts committed one at a time, each waiting for its own WAL flush
-- (measured: POST /posts at 0.06 x the same machine's single-row inserts).
--
-- The classifier no longer needs waking: `sotto moderate` looks at
-- mod_scan every MODERATE_IDLE_MS while it is idle (include/moderate.h).
-- Cached feed pages need no word of a new post either: a worker that
-- inserts one tells its pool through shared memory (feed_content_changed),
-- and a post inserted elsewhere (another host, psql) shows within the
-- cache's lifetime. What must never be stale still notifies: a post that
-- vanishes or changes status.
CREATE OR REPLACE FUNCTION posts_queue_scan() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO mod_scan (post_pk) VALUES (NEW.pk);
    RETURN NULL;
END $$;

DROP TRIGGER posts_notify_content ON posts;
CREATE TRIGGER posts_notify_content
    AFTER DELETE OR UPDATE OF status ON posts
    FOR EACH STATEMENT EXECUTE FUNCTION posts_notify_content();
