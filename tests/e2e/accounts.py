"""Helpers for the account and session tests (docs/accounts.md):
base64url, Ed25519 key accounts, password logins, and HS256 session tokens
signed with the server's own subkey (docs/architecture.md, "Cryptography") so that tests can
mint tokens the server would never issue."""
import base64
import hashlib
import hmac
import json
import os
import re
import struct
import time

import nacl.signing

from conftest import bearer, describe

B64URL_RE = re.compile(r"^[A-Za-z0-9_-]+$")
ACCOUNT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")
TOKEN_LIFETIME = 900         # SOTTO_TOKEN_LIFETIME default
CHALLENGE_LIFETIME = 120
AUTH_PREFIX = b"sotto-auth:"


# -- base64url (no padding) ---------------------------------------------------
def b64u(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64u(text):
    if not B64URL_RE.match(text):
        raise ValueError("not base64url: %r" % text)
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def today():
    return int(time.time() // 86400)


# -- password accounts --------------------------------------------------------
def new_password():
    return "pw-" + os.urandom(12).hex()


def login_password(st, account_id, password):
    return st.request("POST", "/auth/login",
                      json={"account_id": account_id, "password": password})


def me(st, token):
    return st.get("/me", headers=bearer(token))


def me_ok(st, token):
    """GET /me with token: the account object (asserts 200)."""
    r = me(st, token)
    assert r.status_code == 200, describe(r)
    return r.json()


# -- key accounts (Ed25519) ---------------------------------------------------
def new_key():
    return nacl.signing.SigningKey.generate()


def public_b64(sk):
    return b64u(bytes(sk.verify_key))


def get_challenge(st, public_key):
    """POST /auth/challenge for a public key (b64url text): the challenge."""
    r = st.request("POST", "/auth/challenge", json={"public_key": public_key})
    assert r.status_code == 200, describe(r)
    return r.json()["challenge"]


def sign(sk, challenge, prefix=AUTH_PREFIX):
    """Detached Ed25519 signature of prefix + challenge, b64url."""
    return b64u(sk.sign(prefix + challenge.encode()).signature)


def key_proof(st, sk):
    """The three fields of a key register/login, with a fresh challenge."""
    pub = public_b64(sk)
    ch = get_challenge(st, pub)
    return {"public_key": pub, "challenge": ch, "signature": sign(sk, ch)}


def register_key(st, sk=None):
    """A new key account: (signing key, account_id, token)."""
    sk = sk or new_key()
    r = st.request("POST", "/auth/register", json=key_proof(st, sk))
    assert r.status_code == 201, describe(r)
    body = r.json()
    return sk, body["account_id"], body["token"]


def login_key(st, sk):
    return st.request("POST", "/auth/login", json=key_proof(st, sk))


# -- session tokens -----------------------------------------------------------
def decode_secret(text):
    """config_decode_secret (app/config.c): hex when only hex digits, else
    base64, standard or url-safe, with or without padding."""
    if re.fullmatch(r"[0-9A-Fa-f]+", text) and len(text) % 2 == 0:
        return bytes.fromhex(text)
    url = "-" in text or "_" in text
    padded = text.rstrip("=")
    padded += "=" * (-len(padded) % 4)
    return (base64.urlsafe_b64decode if url else base64.b64decode)(padded)


def kdf_derive(master, context, subkey_id):
    """keys_derive (app/keys.c): root = BLAKE2b-256(master), then libsodium's
    crypto_kdf_derive_from_key(32, id, context, root)."""
    root = hashlib.blake2b(master, digest_size=32).digest()
    return hashlib.blake2b(b"", digest_size=32, key=root,
                           salt=struct.pack("<Q", subkey_id) + bytes(8),
                           person=context.encode() + bytes(8)).digest()


def lookup_hash(st, domain, data):
    """BLAKE2b-256 keyed with the lookup key, keys_derive(IP_HMAC_KEY, "acctlkup", 1),
    over domain + data (app/auth.c)."""
    key = kdf_derive(decode_secret(st.sotto_env()["IP_HMAC_KEY"]), "acctlkup", 1)
    return hashlib.blake2b(domain + data, digest_size=32, key=key).digest()


def id_hash(st, account_id):
    """The lookup hash the database keys an account by (auth_id_hash, app/auth.c)."""
    return lookup_hash(st, b"acct:", account_id.encode())


def account_pk(st, account_id):
    """The account's pk in the database."""
    rows = st.psql("SELECT pk FROM accounts WHERE id_hash = '\\x%s'"
                   % id_hash(st, account_id).hex())
    assert len(rows) == 1, rows
    return int(rows[0][0])


def jti_hash(st, jti):
    """What the Redis keys naming a token keep of its jti (jti_hash_text,
    app/auth.c), in hex."""
    return lookup_hash(st, b"jti:", jti.encode()).hex()


def record_name(st, account_id, token):
    """The Redis key of the account record cached for token: ac:<h>:<j> (include/auth.h)."""
    return "ac:%s:%s" % (id_hash(st, account_id).hex(), jti_hash(st, jwt_parts(token)[1]["jti"]))


def jwt_key(st):
    """The server's session-token key: keys_derive(JWT_SECRET, "jwtsessn", 1)."""
    return kdf_derive(decode_secret(st.sotto_env()["JWT_SECRET"]), "jwtsessn", 1)


def jwt_parts(token):
    """(header dict, claims dict, signature bytes) of a compact JWT."""
    h, p, s = token.split(".")
    return json.loads(unb64u(h)), json.loads(unb64u(p)), unb64u(s) if s else b""


def jwt_encode_part(obj):
    return b64u(json.dumps(obj, separators=(",", ":")).encode())


def hs_sign(key, signing_input, alg="HS256"):
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384,
              "HS512": hashlib.sha512}[alg]
    return b64u(hmac.new(key, signing_input.encode(), digest).digest())


def claims_for(account_id, **override):
    """Claims as the server issues them; override=None drops a claim."""
    now = int(time.time())
    claims = {"iss": "sotto", "aud": "sotto", "typ": "access", "sub": account_id,
              "sid": b64u(os.urandom(16)), "iat": now, "exp": now + TOKEN_LIFETIME,
              "jti": b64u(os.urandom(16))}
    for k, v in override.items():
        if v is None:
            claims.pop(k, None)
        else:
            claims[k] = v
    return claims


def mint(key, claims, header=None, alg="HS256"):
    header = header or {"alg": alg, "typ": "JWT"}
    signing_input = jwt_encode_part(header) + "." + jwt_encode_part(claims)
    return signing_input + "." + hs_sign(key, signing_input, alg)


# -- values the server reads back from Redis ------------------------------------
def redis_seal(st, name, payload, expires, bind=""):
    """What cachemac_seal (app/cachemac.c) stores under Redis key name:
    base64url(BLAKE2b-256 keyed with keys_derive(IP_HMAC_KEY, "redismac", 1)
    over name \\0 bind \\0 body)) "." body, body being "<expires>.<payload>".
    Tests use it to write values the server itself would write."""
    key = kdf_derive(decode_secret(st.sotto_env()["IP_HMAC_KEY"]), "redismac", 1)
    body = "%d.%s" % (expires, payload)
    tag = hashlib.blake2b(name.encode() + b"\0" + bind.encode() + b"\0" + body.encode(),
                          digest_size=32, key=key).digest()
    return b64u(tag) + "." + body
