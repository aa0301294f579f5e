"""Bearer tokens, compared in constant time; shared by the intake and notify APIs."""

from __future__ import annotations

import hmac


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, or ``""``."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def token_is_valid(presented: str, accepted: tuple[str, ...]) -> bool:
    """True if ``presented`` is one of ``accepted``.

    Every token is compared, without stopping at a match, so response time
    says nothing about which token (or how much of one) was right.
    """
    found = False
    for token in accepted:
        found |= hmac.compare_digest(presented.encode(), token.encode())
    return bool(presented) and found
