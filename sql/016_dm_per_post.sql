-- 016: direct messages that link nothing (issue 16).
--
-- A conversation belongs to one (starter, origin post) pair, no longer to a
-- pair of accounts: one conversation per pair let anyone learn which posts
-- share an author (start from two posts, compare the ids that come back).
-- Starting again from the same post finds the same row by the unique index
-- (starter_pk, origin_post_pk); two concurrent starts cannot make two.
-- Sides of a new conversation: 0 the starter, 1 the post's author. Sides of
-- older conversations keep their meaning (0 the lower account pk); nothing
-- reads a side as more than "mine or not".
--
-- End-to-end keys are per conversation and per side
-- (dm_participants.x25519_sealed), set once: one account-wide key linked
-- every conversation of the account, and replacing it needed only a token.
-- A side's key is sealed with that participant's data key, bound to the
-- conversation (include/dm.h), so deleting the account destroys it.
-- The account-wide key column goes. A conversation that was end to end
-- under account keys stays end to end: each side's account key, sealed as
-- it was (x25519_legacy: bound to the account row, not to the
-- conversation), becomes that side's key for that conversation. Only
-- those conversations get a copy; elsewhere each side sets a fresh key.
--
-- dm_conversations.e2e is now the whole truth: setting the second key of a
-- conversation sets it, under the conversation's row lock, so a
-- server-readable message cannot slip in after both keys are there.
--
-- Lock order (also for DELETE /me, which locks the account's conversations
-- before deleting anything): conversation rows (in pk order), then
-- dm_participants rows, then event_heads.

ALTER TABLE dm_conversations
    ADD COLUMN starter_pk bigint REFERENCES accounts (pk) ON DELETE SET NULL;

-- The starter of an existing conversation: the participant who did not
-- write its origin post (unknown once that post is gone: starter_pk NULL,
-- and nobody can start from a post that is gone).
UPDATE dm_conversations c
   SET starter_pk = CASE p.author_pk WHEN c.low_pk THEN c.high_pk
                                     WHEN c.high_pk THEN c.low_pk END
  FROM posts p
 WHERE p.pk = c.origin_post_pk;

CREATE UNIQUE INDEX dm_conversations_start ON dm_conversations (starter_pk, origin_post_pk);

-- The pair columns (and their unique index, check and index) go: an
-- account pair may now have any number of conversations.
ALTER TABLE dm_conversations DROP COLUMN low_pk, DROP COLUMN high_pk;

ALTER TABLE dm_participants
    ADD COLUMN x25519_sealed bytea,
    ADD COLUMN x25519_legacy boolean NOT NULL DEFAULT false,
    ADD CHECK (x25519_sealed IS NOT NULL OR NOT x25519_legacy);

-- End to end under account keys: sticky flag, or both sides with a key now.
UPDATE dm_conversations c
   SET e2e = true
 WHERE NOT c.e2e
   AND (SELECT count(*) FROM dm_participants p JOIN accounts a ON a.pk = p.account_pk
         WHERE p.conversation_pk = c.pk AND a.x25519_sealed IS NOT NULL) = 2;

UPDATE dm_participants p
   SET x25519_sealed = a.x25519_sealed, x25519_legacy = true
  FROM accounts a, dm_conversations c
 WHERE a.pk = p.account_pk AND c.pk = p.conversation_pk
   AND c.e2e AND a.x25519_sealed IS NOT NULL;

ALTER TABLE accounts DROP COLUMN x25519_sealed;

-- A participant learns that the other side set its key (and whether the
-- conversation is end to end from now on) by a dm.key event.
ALTER TABLE events DROP CONSTRAINT events_type_check;
ALTER TABLE events ADD CONSTRAINT events_type_check
    CHECK (type IN ('dm.message', 'dm.key', 'post.reply', 'moderation.decision'));
