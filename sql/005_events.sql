-- 005: per-account event queues (issue 6), used by replies, direct messages
-- and moderation decisions.
--
-- seq is strictly increasing per account and is handed out by a row lock on
-- event_heads, held until the writing transaction commits: a second writer
-- for the same account waits, so events commit in seq order and a client
-- that has seen seq N is never later handed an event with seq <= N. (A
-- global sequence would not do: concurrent transactions commit out of order.)
--
-- Lock order: event_heads is always the LAST row a transaction locks
-- (votes lock accounts then posts; decisions lock accounts, posts, then
-- event_heads), so pushing an event can never close a deadlock cycle.
--
-- No timestamps: `day` only (sotto cleanup expires by day). data holds
-- public ids only (conversation, message, post), never an account id.

CREATE TABLE event_heads (
    account_pk bigint PRIMARY KEY REFERENCES accounts (pk) ON DELETE CASCADE,
    seq        bigint NOT NULL CHECK (seq > 0)
);

CREATE TABLE events (
    account_pk bigint NOT NULL REFERENCES accounts (pk) ON DELETE CASCADE,
    seq        bigint NOT NULL CHECK (seq > 0),
    type       text NOT NULL
               CHECK (type IN ('dm.message', 'post.reply', 'moderation.decision')),
    day        integer NOT NULL CHECK (day >= 0),
    data       jsonb NOT NULL,
    PRIMARY KEY (account_pk, seq)
);
CREATE INDEX events_day ON events (day);

-- Append an event inside the caller's transaction. Returns its seq, or NULL
-- when the account does not exist (deleted meanwhile).
CREATE FUNCTION sotto_event_push(account bigint, kind text, on_day integer, payload jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    s bigint;
BEGIN
    INSERT INTO event_heads AS h (account_pk, seq)
    SELECT account, 1 WHERE EXISTS (SELECT 1 FROM accounts WHERE pk = account)
    ON CONFLICT (account_pk) DO UPDATE SET seq = h.seq + 1
    RETURNING h.seq INTO s;
    IF s IS NOT NULL THEN
        INSERT INTO events (account_pk, seq, type, day, data)
        VALUES (account, s, kind, on_day, payload);
    END IF;
    RETURN s;
END $$;
