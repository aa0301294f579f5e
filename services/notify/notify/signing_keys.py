"""NeuroScreen's signing keys for SMART Backend Services: load, publish, sign assertions.

The key file (``NEUROSCREEN_EHR_PRIVATE_KEY_FILE``) holds one or more private keys, as
PEM blocks (PKCS#8, or the PKCS#1/SEC1 forms) or as a JWK or JWK Set in JSON. SMART
allows two algorithms, and the key decides which: RSA (2048 bits or more) signs RS384,
EC P-384 signs ES384. Anything else is refused at start-up.

Rotation: **the last key in the file is the newest and signs.** Add a new key at the end,
both are published at ``/.well-known/jwks.json``, and remove the old one once the EHR's
JWKS cache has expired. File order is the only definition of "newest" that is
deterministic, visible to an operator and independent of clocks and key ids.

Each key's ``kid`` is the ``kid`` in its JWK, else its RFC 7638 thumbprint (SHA-256);
``NEUROSCREEN_EHR_KEY_ID`` names the signing key when its JWK gives none.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import (
    load_pem_private_key,
    load_pem_public_key,
)
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

ASSERTION_LIFETIME_SECONDS = 240
"""SMART: ``exp`` at most five minutes ahead; one minute less leaves room for clock skew."""
MIN_RSA_BITS = 2048
PEM_BLOCK = re.compile(
    rb"-----BEGIN [A-Z ]*PRIVATE KEY-----.+?-----END [A-Z ]*PRIVATE KEY-----", re.S
)
PUBLIC_PEM_BLOCK = re.compile(rb"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.S)
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})

SigningKey = RSAKey | ECKey


class KeyFileError(ValueError):
    """The key file cannot be used; the message names the file and why, never key material."""


@dataclass(frozen=True)
class KeyRing:
    """Every key from the file (all published); the last one signs."""

    keys: tuple[SigningKey, ...]

    @property
    def signing_key(self) -> SigningKey:
        return self.keys[-1]

    def public_jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The JWK Set an EHR fetches: public members only, with ``kid``, ``alg`` and ``use``."""
        published = []
        for key in self.keys:
            jwk = {k: v for k, v in key.as_dict(private=False).items() if k not in PRIVATE_MEMBERS}
            published.append({**jwk, "use": "sig", "key_ops": ["verify"]})
        return {"keys": published}

    def client_assertion(self, client_id: str, token_url: str) -> str:
        """A fresh RFC 7523 client assertion: new ``jti``, short ``exp``, ``aud`` = token URL."""
        key = self.signing_key
        now = int(time.time())
        header = {"alg": key.alg, "kid": key.kid, "typ": "JWT"}
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": token_url,
            "jti": secrets.token_urlsafe(24),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECONDS,
        }
        # algorithms= pins the one algorithm this key may use; joserfc would allow others.
        return jwt.encode(header, claims, key, algorithms=[key.alg])


def load_key_ring(path: Path, key_id: str = "") -> KeyRing:
    """Parse the key file; :class:`KeyFileError` says what is wrong with it."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise KeyFileError(f"cannot read {path}: {error.strerror}") from None
    stripped = data.strip()
    if stripped.startswith(b"{"):
        raw_keys = _json_keys(path, stripped)
    else:
        raw_keys = [_pem_key(path, block) for block in PEM_BLOCK.findall(stripped)]
    if not raw_keys:
        raise KeyFileError(f"{path} holds no private key (PEM PKCS#8, JWK or JWK Set)")
    keys = [
        _smart_key(path, raw, key_id if i == len(raw_keys) - 1 else "")
        for i, raw in enumerate(raw_keys)
    ]
    kids = [key.kid for key in keys]
    if len(set(kids)) != len(kids):
        raise KeyFileError(f"{path}: two keys share a kid")
    return KeyRing(tuple(keys))


def _json_keys(path: Path, data: bytes) -> list[dict[str, Any]]:
    try:
        document = json.loads(data)
    except ValueError:
        raise KeyFileError(f"{path} is neither PEM nor valid JSON") from None
    keys = document.get("keys", [document]) if isinstance(document, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
        raise KeyFileError(f"{path}: expected a JWK or a JWK Set ({{'keys': [...]}})")
    return keys


def _pem_key(path: Path, block: bytes) -> dict[str, Any]:
    try:
        private = load_pem_private_key(block, password=None)
    except (ValueError, TypeError) as error:
        reason = (
            "encrypted keys are not supported"
            if "password" in str(error).lower()
            else ("not a readable private key")
        )
        raise KeyFileError(f"{path}: {reason}") from None
    if isinstance(private, rsa.RSAPrivateKey):
        return RSAKey.import_key(block).as_dict(private=True)
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return ECKey.import_key(block).as_dict(private=True)
    raise KeyFileError(f"{path}: SMART Backend Services needs an RSA or EC P-384 key")


def _smart_key(path: Path, jwk: dict[str, Any], key_id: str) -> SigningKey:
    """The JWK as a joserfc key fixed to its SMART algorithm, with a ``kid``."""
    kty, curve = jwk.get("kty"), jwk.get("crv")
    if kty not in ("RSA", "EC") or (kty == "EC" and curve != "P-384"):
        raise KeyFileError(
            f"{path}: SMART Backend Services signs with RS384 (RSA) or ES384 (EC P-384), "
            f"not kty={kty} crv={curve}"
        )
    if "d" not in jwk:
        raise KeyFileError(f"{path}: a key has no private part; every key in the file must sign")
    if kty == "RSA":
        key: SigningKey = RSAKey.import_key(jwk)
        alg = "RS384"
        if key.raw_value.key_size < MIN_RSA_BITS:
            raise KeyFileError(f"{path}: RSA keys need at least {MIN_RSA_BITS} bits")
    else:
        key = ECKey.import_key(jwk)
        alg = "ES384"
    if jwk.get("alg") not in (None, alg):
        raise KeyFileError(f"{path}: a {kty} key must be used with {alg}, not {jwk['alg']}")
    kid = jwk.get("kid") or key_id or key.thumbprint()
    if key_id and jwk.get("kid") and jwk["kid"] != key_id:
        raise KeyFileError(f"{path}: NEUROSCREEN_EHR_KEY_ID differs from the newest key's kid")
    members = {k: v for k, v in jwk.items() if k not in ("kid", "alg", "use", "key_ops")}
    return type(key).import_key(members, parameters={"kid": kid, "alg": alg, "use": "sig"})


def load_public_jwks(path: Path, key_id: str = "") -> dict[str, list[dict[str, Any]]]:
    """The JWK Set the notify API publishes, from public keys only (issue 18, item 11).

    The file holds the public halves of the signing keys, in the private file's order:
    PEM (``openssl pkey -in key.pem -pubout``, one block per key) or a public JWK Set.
    ``kid``s follow the private file's rule (the JWK's, else the RFC 7638 thumbprint,
    ``key_id`` for the last key), so what is published names what signs. A private key
    in it is refused: the API must never hold what signs NeuroScreen's assertions.
    """
    try:
        data = path.read_bytes().strip()
    except OSError as error:
        raise KeyFileError(f"cannot read {path}: {error.strerror}") from None
    if b"PRIVATE KEY" in data:
        raise KeyFileError(f"{path} holds a private key: give the notify API public keys only")
    if data.startswith(b"{"):
        raw_keys = _json_keys(path, data)
    else:
        raw_keys = [_public_pem_key(path, block) for block in PUBLIC_PEM_BLOCK.findall(data)]
    if not raw_keys:
        raise KeyFileError(f"{path} holds no public key (PEM or JWK Set)")
    if any(PRIVATE_MEMBERS & set(raw) for raw in raw_keys):
        raise KeyFileError(f"{path} holds a private key: give the notify API public keys only")
    published = []
    for index, raw in enumerate(raw_keys):
        last = index == len(raw_keys) - 1
        key = _public_smart_key(path, raw, key_id if last else "")
        published.append({**key.as_dict(private=False), "use": "sig", "key_ops": ["verify"]})
    return {"keys": published}


def _public_pem_key(path: Path, block: bytes) -> dict[str, Any]:
    try:
        public = load_pem_public_key(block)
    except ValueError:
        raise KeyFileError(f"{path}: not a readable public key") from None
    if isinstance(public, rsa.RSAPublicKey):
        return RSAKey.import_key(block).as_dict(private=False)
    if isinstance(public, ec.EllipticCurvePublicKey):
        return ECKey.import_key(block).as_dict(private=False)
    raise KeyFileError(f"{path}: SMART Backend Services needs an RSA or EC P-384 key")


def _public_smart_key(path: Path, jwk: dict[str, Any], key_id: str) -> SigningKey:
    kty, curve = jwk.get("kty"), jwk.get("crv")
    if kty not in ("RSA", "EC") or (kty == "EC" and curve != "P-384"):
        raise KeyFileError(f"{path}: RS384 (RSA) or ES384 (EC P-384) keys only, not {kty}")
    key: SigningKey = RSAKey.import_key(jwk) if kty == "RSA" else ECKey.import_key(jwk)
    if kty == "RSA" and key.raw_value.key_size < MIN_RSA_BITS:
        raise KeyFileError(f"{path}: RSA keys need at least {MIN_RSA_BITS} bits")
    alg = "RS384" if kty == "RSA" else "ES384"
    kid = jwk.get("kid") or key_id or key.thumbprint()
    members = {k: v for k, v in jwk.items() if k not in ("kid", "alg", "use", "key_ops")}
    return type(key).import_key(members, parameters={"kid": kid, "alg": alg, "use": "sig"})
