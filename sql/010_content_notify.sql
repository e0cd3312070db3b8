-- 010: tell every worker when posts appear, vanish or change status, so
-- that cached feed pages (app/feed_cache.c) never show a deleted, removed
-- or held post. Whoever makes the change -- a worker, `sotto moderate`,
-- another host, an operator's psql -- the workers LISTEN on this channel
-- (include/feed.h). Statement level: one notification per statement,
-- and PostgreSQL folds identical ones within a transaction.
CREATE FUNCTION posts_notify_content() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sotto_content', '');
    RETURN NULL;
END $$;
CREATE TRIGGER posts_notify_content
    AFTER INSERT OR DELETE OR UPDATE OF status ON posts
    FOR EACH STATEMENT EXECUTE FUNCTION posts_notify_content();
