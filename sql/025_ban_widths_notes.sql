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

-- The moderator's note of a decision, kept with it (issue 16) and shown to
-- the review token in the decided queue: sealed (app/crypto.c layout) with
-- a subkey of CONTENT_KEYS version note_version (context "modnotes"),
-- associated data binding table, column and the item's public id, owner
-- 0: moderators have no account and the note is bound to none. At most
-- 500 characters (2000 bytes of UTF-8) plus the seal's 45 bytes. It goes
-- with its item, so with the post and the author's account.
ALTER TABLE mod_items
    ADD COLUMN note_sealed bytea CHECK (length(note_sealed) BETWEEN 46 AND 2045),
    ADD COLUMN note_version integer CHECK (note_version >= 1),
    ADD CONSTRAINT mod_items_note_whole CHECK ((note_sealed IS NULL) = (note_version IS NULL));
