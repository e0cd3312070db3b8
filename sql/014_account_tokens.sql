-- Token generations: the database, not Redis, decides which of an
-- account's tokens still work (include/auth.h). A token carries the
-- generation it was issued at; changing the password moves token_gen on,
-- which ends every token of an older generation at once, except the one
-- that made the change, whose jti is kept in token_keep (a random token
-- id, nothing about a person). Redis only caches these columns, so losing
-- Redis (a failover, a flush) cannot bring an ended token back.
ALTER TABLE accounts
    ADD COLUMN token_gen  integer NOT NULL DEFAULT 0 CHECK (token_gen >= 0),
    ADD COLUMN token_keep text CHECK (token_keep ~ '^[A-Za-z0-9_-]{1,32}$');
