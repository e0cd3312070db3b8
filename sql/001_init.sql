-- 001_init.sql — the foundation.
--
-- Migrations run in order, each inside its own transaction opened by
-- `sotto migrate` (so a file must not contain BEGIN/COMMIT, nor statements
-- that refuse to run in a transaction such as CREATE INDEX CONCURRENTLY).
-- The migrator itself creates schema_migrations (version, applied_day).
--
-- User content tables (added by 002 and later) carry no timestamp
-- columns: a `day` number (days since 1970-01-01 UTC) and sequences only.

-- Small facts about this installation, for operators and later migrations.
CREATE TABLE sotto_meta (
    key   text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_]{0,62}$'),
    value text NOT NULL
);

INSERT INTO sotto_meta (key, value) VALUES ('schema', 'sotto');
