-- 015: logouts that survive a Redis failover. The auth check reads
-- "rv:<jti>" from Redis; a Sentinel failover (or a Redis restart without
-- persistence) may lose the newest keys, so every logout is written here
-- first, and a worker that connects to a Redis server which has not been
-- given them yet writes the live ones back (app/revocation.c). Rows go
-- once the token has expired (`sotto cleanup`).
CREATE TABLE token_revocations (
    jti text PRIMARY KEY CHECK (length(jti) BETWEEN 1 AND 32),
    expires_at bigint NOT NULL   -- the token's exp, seconds since the epoch
);
CREATE INDEX token_revocations_expires ON token_revocations (expires_at);
