"""Checking the JWT an EHR signs for every CDS Hooks call (CDS Hooks 2.0, "Trusting CDS Clients").

The checks, in order: the JOSE header (``alg`` in the one allow-list, ES384 or
RS384; a ``kid``; a ``jku`` only if it is the registered ``jwks_uri``), the
issuer is registered, the signature verifies with the issuer's key, ``aud``
is exactly the URL called, ``exp`` has not passed, ``iat`` is at most five
minutes old, and the ``jti`` was never seen before. Any failure is a 401; its
message names the failed check and never a claim value. The replay record
lives as long as the token could still pass the ``iat`` check.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from starlette.concurrency import run_in_threadpool

from intake.cds.issuers import IssuerRegistry
from intake.smart.assertion import claimed_issuer
from intake.smart.principals import invalid_token
from shared.trust import UntrustedToken
from shared.trust.algorithms import ALLOWED_ALGORITHMS, unverified_header
from shared.trust.replay import ReplayStore

MAX_AGE_SECONDS = 300
CLOCK_SKEW_SECONDS = 5
REPLAY_NAMESPACE = "cds-hooks:"
"""Keeps CDS Hooks ``jti`` values apart from SMART client assertions in the shared store."""


async def verify_caller(
    authorization: str | None,
    *,
    issuers: IssuerRegistry,
    audiences: Collection[str],
    replay: ReplayStore,
) -> str:
    """The trusted issuer that signed the bearer JWT for one of ``audiences``, or a 401."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise invalid_token("A JWT signed by a registered CDS client is required")
    try:
        issuer, claims = await _verified(token.strip(), issuers, audiences)
    except UntrustedToken as refusal:
        raise invalid_token(f"CDS client JWT refused: {refusal}") from None
    expires = min(int(claims["exp"]), int(claims["iat"]) + MAX_AGE_SECONDS + CLOCK_SKEW_SECONDS)
    first = await run_in_threadpool(
        replay.first_use, REPLAY_NAMESPACE + issuer, claims["jti"], expires
    )
    if not first:
        raise invalid_token("CDS client JWT refused: jti was already used")
    return issuer


async def _verified(
    token: str, issuers: IssuerRegistry, audiences: Collection[str]
) -> tuple[str, dict[str, Any]]:
    header = unverified_header(token)
    trusted = issuers.get(claimed_issuer(token) or "")
    if trusted is None:
        raise UntrustedToken("iss is not a registered CDS client")
    if "jku" in header and header["jku"] != trusted.jwks_uri:
        raise UntrustedToken("jku is not the registered jwks_uri")
    key = await trusted.keys.key_for(header["kid"])
    try:
        claims = jwt.decode(token, key, algorithms=list(ALLOWED_ALGORITHMS)).claims
        jwt.JWTClaimsRegistry(
            leeway=CLOCK_SKEW_SECONDS,
            iss={"essential": True, "value": trusted.iss},
            aud={"essential": True, "values": list(audiences)},
            exp={"essential": True},
            iat={"essential": True},
            jti={"essential": True},
        ).validate(claims)
    except (JoseError, ValueError, TypeError):
        raise UntrustedToken("signature or claims invalid (iss, aud, exp, iat, jti)") from None
    if not isinstance(claims["jti"], str) or not claims["jti"]:
        raise UntrustedToken("jti malformed")
    if not isinstance(claims["exp"], int) or not isinstance(claims["iat"], int):
        raise UntrustedToken("exp or iat malformed")
    if claims["iat"] < time.time() - MAX_AGE_SECONDS - CLOCK_SKEW_SECONDS:
        raise UntrustedToken("iat is more than five minutes old")
    return trusted.iss, claims
