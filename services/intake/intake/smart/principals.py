"""Who is calling: a bearer token becomes a :class:`Principal` with its grants.

Two kinds of token are accepted: the intake's own access tokens (RFC 9068
JWTs, verified with the intake's public key and the clock; a verified token is
remembered until it expires, so a client's repeated calls cost a dict look-up)
and the static tokens of ``NEUROSCREEN_INTAKE_TOKENS`` (for ``make run`` and
tests), which carry the scopes of ``NEUROSCREEN_INTAKE_TOKEN_SCOPES`` (never admin
unless configured so).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from intake.smart.keys import SigningKeys
from shared.auth import token_is_valid
from shared.fhir.outcome import Forbidden, Unauthorized
from shared.trust import UntrustedToken
from shared.trust.access_tokens import access_token_kid, verify_access_token
from shared.trust.scopes import Grants

STATIC_CLIENT = "static-token"
_CACHE_LIMIT = 10_000
_INTERACTION_NAMES = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}


@dataclass(frozen=True)
class Principal:
    client_id: str
    grants: Grants

    def require(self, resource_type: str, interaction: str) -> None:
        """403 ``insufficient_scope`` unless the grants allow ``interaction`` on the type."""
        if not self.grants.allows(resource_type, interaction):
            needed = f"system/{resource_type}.{interaction}"
            raise insufficient_scope(
                f"The token's scopes do not allow {_INTERACTION_NAMES[interaction]} "
                f"on {resource_type} (needs {needed})",
                needed,
            )

    def require_scope(self, scope: str) -> None:
        if not self.grants.has(scope):
            raise insufficient_scope(f"The token's scopes do not include {scope}", scope)


def insufficient_scope(message: str, scope: str) -> Forbidden:
    challenge = f'Bearer realm="neuroscreen", error="insufficient_scope", scope="{scope}"'
    return Forbidden(message, headers={"WWW-Authenticate": challenge})


def invalid_token(message: str) -> Unauthorized:
    challenge = f'Bearer realm="neuroscreen", error="invalid_token", error_description="{message}"'
    return Unauthorized(message, headers={"WWW-Authenticate": challenge})


class Authenticator:
    def __init__(
        self, static_tokens: tuple[str, ...], static_grants: Grants, keys: SigningKeys
    ) -> None:
        self.static_tokens = static_tokens
        self.static_grants = static_grants
        self.keys = keys
        self._verified: dict[tuple[str, str], tuple[Principal, int]] = {}

    def principal(self, token: str, audience: str) -> Principal:
        """The caller of a request to ``audience`` (this FHIR base), or a 401."""
        if not token:
            raise invalid_token("A bearer token is required")
        if token_is_valid(token, self.static_tokens):
            return Principal(STATIC_CLIENT, self.static_grants)
        if token.count(".") != 2:
            raise invalid_token("The bearer token is not valid")
        remembered = self._verified.get((token, audience))
        if remembered is not None and remembered[1] > time.time():
            return remembered[0]
        try:
            key = self.keys.verification_key(access_token_kid(token))
            access = verify_access_token(token, key, issuer=audience, audience=audience)
        except UntrustedToken:
            raise invalid_token("The access token is invalid or expired") from None
        principal = Principal(access.client_id, access.grants)
        if len(self._verified) >= _CACHE_LIMIT:
            self._verified.clear()
        self._verified[(token, audience)] = (principal, access.expires_at)
        return principal
