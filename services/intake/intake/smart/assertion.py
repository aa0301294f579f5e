"""Checking a client assertion (RFC 7523, SMART Backend Services) before a token is granted.

Every check the SMART specification names, in this order: the JOSE header
(allowed ``alg``, a ``kid``, a ``jku`` only if it is the registered URL), the
issuer is a registered client, the signature verifies with that client's key,
``iss`` = ``sub`` = the client id, ``aud`` = this token endpoint's URL,
``exp`` in the future and at most five minutes ahead, and a ``jti`` never
seen before. Any failure is an :class:`InvalidClient`.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from joserfc import jws, jwt
from joserfc.errors import JoseError
from starlette.concurrency import run_in_threadpool

from intake.smart.clients import ClientRegistry, RegisteredClient
from shared.trust import UntrustedToken
from shared.trust.algorithms import ALLOWED_ALGORITHMS, unverified_header
from shared.trust.replay import ReplayStore

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_LIFETIME_SECONDS = 300
CLOCK_SKEW_SECONDS = 5


class InvalidClient(Exception):
    """The assertion is refused; ``claimed`` is the unverified ``iss`` (for the audit trail)."""

    def __init__(self, reason: str, claimed: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.claimed = claimed


def claimed_issuer(assertion: str) -> str | None:
    """The ``iss`` the assertion claims, unverified: only to find the client and to audit."""
    try:
        claims = orjson.loads(jws.extract_compact(assertion.encode()).payload)
    except (JoseError, ValueError, TypeError, UnicodeError, orjson.JSONDecodeError):
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer[:255] if isinstance(issuer, str) else None


async def verify_assertion(
    assertion: str, *, registry: ClientRegistry, token_url: str, replay: ReplayStore
) -> RegisteredClient:
    claimed = claimed_issuer(assertion)
    try:
        header = unverified_header(assertion)
        client = registry.get(claimed or "")
        if client is None:
            raise UntrustedToken("iss is not a registered client")
        if "jku" in header and header["jku"] != client.jwks_uri:
            raise UntrustedToken("jku is not the registered jwks_uri")
        key = await client.keys.key_for(header["kid"])
        claims = _verified_claims(assertion, key, client.client_id, token_url)
    except UntrustedToken as refusal:
        raise InvalidClient(str(refusal), claimed) from None
    if not await run_in_threadpool(
        replay.first_use, client.client_id, claims["jti"], claims["exp"]
    ):
        raise InvalidClient("jti was already used", claimed)
    return client


def _verified_claims(assertion: str, key: Any, client_id: str, token_url: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(assertion, key, algorithms=list(ALLOWED_ALGORITHMS)).claims
        jwt.JWTClaimsRegistry(
            leeway=CLOCK_SKEW_SECONDS,
            iss={"essential": True, "value": client_id},
            sub={"essential": True, "value": client_id},
            aud={"essential": True, "value": token_url},
            exp={"essential": True},
            jti={"essential": True},
        ).validate(claims)
    except (JoseError, ValueError, TypeError):
        raise UntrustedToken("signature or claims invalid (iss, sub, aud, exp, jti)") from None
    if not isinstance(claims["jti"], str) or not isinstance(claims["exp"], int):
        raise UntrustedToken("jti or exp malformed")
    if claims["exp"] > time.time() + MAX_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS:
        raise UntrustedToken("exp is more than five minutes ahead")
    return claims
