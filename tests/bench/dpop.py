#!/usr/bin/python3
"""tests/bench/dpop.py — DPoP proofs (RFC 9449) for tests/bench/run.sh, made
with python3-cryptography (Ed25519, "EdDSA"): wrk's Lua cannot sign, so
the proofs a bound-token line sends are made before each run, one per
request, and read by tests/bench/dpop.lua.

  dpop.py key FILE                         a new private key into FILE (0600)
  dpop.py proof FILE METHOD URL [TOKEN]    one proof (ath of TOKEN when given)
  dpop.py proofs FILE METHOD URL TOKEN N   N proofs, one a line, on stdout
"""
import base64
import hashlib
import json
import os
import sys
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519


def b64u(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def load(path):
    with open(path, "rb") as f:
        return ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(f.read().decode()))


def header(key):
    x = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return b64u(json.dumps({"typ": "dpop+jwt", "alg": "EdDSA",
                            "jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64u(x)}},
                           separators=(",", ":")).encode())


def proofs(key, method, url, token, n):
    head = header(key)
    ath = b64u(hashlib.sha256(token.encode()).digest()) if token else None
    now = int(time.time())
    for _ in range(n):
        claims = {"jti": b64u(os.urandom(12)), "htm": method, "htu": url, "iat": now}
        if ath:
            claims["ath"] = ath
        signing = head + "." + b64u(json.dumps(claims, separators=(",", ":")).encode())
        yield signing + "." + b64u(key.sign(signing.encode()))


def main(argv):
    if len(argv) == 3 and argv[1] == "key":
        fd = os.open(argv[2], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        raw = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
            serialization.NoEncryption())
        os.write(fd, raw.hex().encode())
        os.close(fd)
        return 0
    if len(argv) in (5, 6) and argv[1] == "proof":
        print(next(proofs(load(argv[2]), argv[3], argv[4], argv[5] if len(argv) == 6 else None, 1)))
        return 0
    if len(argv) == 7 and argv[1] == "proofs":
        out = sys.stdout
        for p in proofs(load(argv[2]), argv[3], argv[4], argv[5], int(argv[6])):
            out.write(p + "\n")
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
