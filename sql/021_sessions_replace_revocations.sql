-- 021: an ended session replaces the per-token logout record.
--
-- Every access token belongs to a session (sql/019) and logout ends the
-- session: its row is deleted, and a token whose account record is not
-- cached in Redis passes only while its session row is there. That
-- answers what token_revocations (sql/013) answered, for every token at
-- once, so nothing reads or writes it any more.
--
-- Access tokens issued before sessions carry no session id; they are
-- refused from now on (they lived SOTTO_TOKEN_LIFETIME at most), and their
-- holders log in again.

DROP TABLE token_revocations;
