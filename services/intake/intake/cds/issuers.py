"""The EHRs trusted to call the CDS service: ``NEUROSCREEN_CDS_ISSUERS_FILE``.

A YAML (or JSON) list of ``{iss, jwks_uri | jwks}`` (CDS Hooks 2.0, "Trusting CDS
Clients": the service is configured with each client's issuer and the URL of
its public keys; or, as in the SMART clients file, the public JWK Set itself,
which is what a local EHR under ``make run`` has). Re-read on change or SIGHUP,
like the SMART clients file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from intake.smart.registry import FileRegistry, http_url
from shared.trust.jwks import InlineKeys, KeySource


@dataclass(frozen=True)
class TrustedIssuer:
    iss: str
    jwks_uri: str | None
    """None for an inline ``jwks``: then no ``jku`` header is accepted."""
    keys: KeySource


class IssuerRegistry(FileRegistry[TrustedIssuer]):
    kind = "issuers"

    def parse(self, entry: Any, where: str) -> tuple[str, TrustedIssuer]:
        iss = entry.get("iss")
        if not isinstance(iss, str) or not iss:
            raise ValueError(f"{where}: iss is required")
        jwks_uri, jwks = entry.get("jwks_uri"), entry.get("jwks")
        if (jwks_uri is None) == (jwks is None):
            raise ValueError(f"{where}: give exactly one of jwks_uri and jwks")
        if jwks is not None:
            return iss, TrustedIssuer(iss, None, InlineKeys(jwks))
        url = http_url(jwks_uri, where, "jwks_uri", self.policy)
        return iss, TrustedIssuer(iss, url, self.fetched_keys(url))
