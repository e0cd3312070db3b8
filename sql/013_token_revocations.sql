-- 013: logouts recorded in PostgreSQL as well as in Redis.
--
-- Redis answers "was this token logged out?" on every request (rv:<jti>),
-- but whoever can write to Redis can delete that marker. The cached
-- account record the request would then use is bound to the token and
-- expires within 30 seconds; after that the account is read from here, and
-- a token listed here is refused whatever Redis says.
--
-- jti holds a keyed hash (hex) of the token's random id, so a dump names
-- no token (app/auth.c jti_hash_text); expires_day is the
-- day its token expires, so `sotto cleanup` drops the row once it can no
-- longer matter. No timestamps.

CREATE TABLE token_revocations (
    jti         text PRIMARY KEY CHECK (length(jti) BETWEEN 1 AND 64),
    expires_day integer NOT NULL CHECK (expires_day >= 0)
);
