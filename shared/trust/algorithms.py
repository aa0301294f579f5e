"""The one allow-list of JWS algorithms: discovery advertises it, verification enforces it.

joserfc's "recommended" algorithms leave RS384 and ES384 out, so they are named
here explicitly, and ``none`` and every HMAC algorithm stay out: an HS256 token
"signed" with a public key is refused before any key is looked at.
"""

from __future__ import annotations

from typing import Any

from joserfc import jws
from joserfc.errors import JoseError

from shared.trust.errors import UntrustedToken

ALLOWED_ALGORITHMS: tuple[str, ...] = ("RS384", "ES384")
ACCESS_TOKEN_ALGORITHM = "RS384"
"""The intake signs its own access tokens with RSA: verifying costs ~0.1 ms (ECDSA: ~1.5 ms)."""


def unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS, checked for an allowed ``alg`` and a ``kid``.

    Nothing in it is trusted yet; it only says which key to verify with.
    """
    try:
        header = jws.extract_compact(token.encode()).headers()
    except (JoseError, ValueError, TypeError, UnicodeError):
        raise UntrustedToken("not a compact JWS") from None
    if header.get("alg") not in ALLOWED_ALGORITHMS:
        raise UntrustedToken("alg is not in the allow-list")
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        raise UntrustedToken("kid is required")
    return header
