-- 023: sessions bound to a DPoP key (RFC 9449).
--
-- A client that sends a DPoP proof when it logs in, registers or
-- refreshes gets tokens bound to the proof's key: jkt is that key's
-- RFC 7638 thumbprint (base64url of a SHA-256, public by design: it names
-- a public key). A bound session's refresh token works only with a proof
-- from the same key, and its access tokens carry the thumbprint (cnf.jkt).
-- NULL: a bearer session, which a refresh with a proof binds.

ALTER TABLE sessions
    ADD COLUMN jkt text CHECK (jkt ~ '^[A-Za-z0-9_-]{43}$');
