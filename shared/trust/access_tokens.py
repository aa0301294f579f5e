"""RFC 9068 access tokens: issued by the intake, verified by the intake and notify.

A token is a JWT signed with the intake's current key (``typ: at+jwt``,
RS384), carrying the client and its granted scopes. Checking one needs the
intake's public key and the clock, never the database: that keeps the
intake's hot path free of a per-request read.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from shared.trust.algorithms import ACCESS_TOKEN_ALGORITHM, unverified_header
from shared.trust.errors import UntrustedToken
from shared.trust.jwks import VerificationKey
from shared.trust.scopes import Grants, parse_scopes

TOKEN_TYPE = "at+jwt"
MAX_LIFETIME_SECONDS = 300


@dataclass(frozen=True)
class AccessToken:
    client_id: str
    scope: str
    grants: Grants
    expires_at: int


def issue_access_token(
    signing_key: RSAKey,
    *,
    issuer: str,
    audience: str,
    client_id: str,
    scope: str,
    lifetime_seconds: int = MAX_LIFETIME_SECONDS,
) -> tuple[str, int]:
    """A signed access token and its lifetime in seconds (never over five minutes)."""
    lifetime = min(lifetime_seconds, MAX_LIFETIME_SECONDS)
    now = int(time.time())
    header = {"alg": ACCESS_TOKEN_ALGORITHM, "kid": signing_key.kid, "typ": TOKEN_TYPE}
    claims = {
        "iss": issuer,
        "sub": client_id,
        "client_id": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
        "scope": scope,
    }
    token = jwt.encode(header, claims, signing_key, algorithms=[ACCESS_TOKEN_ALGORITHM])
    return token, lifetime


def access_token_kid(token: str) -> str:
    """The ``kid`` to verify ``token`` with; refuses anything but an RS384 ``at+jwt``."""
    header = unverified_header(token)
    if header["alg"] != ACCESS_TOKEN_ALGORITHM or header.get("typ") != TOKEN_TYPE:
        raise UntrustedToken("not an access token issued by NeuroScreen")
    return header["kid"]


def verify_access_token(
    token: str, key: VerificationKey, *, issuer: str, audience: str
) -> AccessToken:
    """The token's client and grants, if ``key`` signed it for ``audience`` and it is current."""
    try:
        decoded = jwt.decode(token, key, algorithms=[ACCESS_TOKEN_ALGORITHM])
        jwt.JWTClaimsRegistry(
            leeway=5,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            client_id={"essential": True},
            scope={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError, TypeError):
        raise UntrustedToken("access token invalid or expired") from None
    claims = decoded.claims
    if not isinstance(claims["scope"], str) or not isinstance(claims["client_id"], str):
        raise UntrustedToken("access token claims malformed")
    return AccessToken(
        client_id=claims["client_id"],
        scope=claims["scope"],
        grants=parse_scopes(claims["scope"]),
        expires_at=int(claims["exp"]),
    )
