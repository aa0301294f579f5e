"""Verifying the intake's access tokens in another service (the notify admin API).

The intake publishes its public keys at ``{FHIR base}/.well-known/jwks.json``;
this fetches them with the same cache and refetch rules as any JWKS (a rotated
key is picked up on its first unknown ``kid``), then checks the token exactly
as the intake does.
"""

from __future__ import annotations

import httpx

from shared.config import Settings
from shared.trust.access_tokens import AccessToken, access_token_kid, verify_access_token
from shared.trust.jwks import FetchedKeys


class IntakeTokens:
    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        self.issuer = settings.intake_issuer
        url = settings.intake_jwks_url or f"{self.issuer}/.well-known/jwks.json"
        self.keys = FetchedKeys(url, http or httpx.AsyncClient(follow_redirects=False))

    async def verify(self, token: str) -> AccessToken:
        """The token's client and grants; :class:`~shared.trust.UntrustedToken` if not valid."""
        key = await self.keys.key_for(access_token_kid(token))
        return verify_access_token(token, key, issuer=self.issuer, audience=self.issuer)
