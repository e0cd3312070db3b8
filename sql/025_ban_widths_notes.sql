-- 025: IPv6 bans wider than the /64 (issue 16).
--
-- A ban of an IPv6 address may take its /48 to its /64 (the review token's
-- `prefix=`). The token then covers "v6/NN" and the first NN bits
-- (sql/007_bans.sql); prefix_bits keeps NN so that every worker knows
-- which lengths to look a client up at. It is set only for a /48 to a
-- /63: NULL is a /24 or a /64, the only lengths before this file, so the
-- column does not tell an IPv4 ban from an IPv6 /64 one.
ALTER TABLE ip_bans ADD COLUMN prefix_bits smallint
    CHECK (prefix_bits BETWEEN 48 AND 63);
