"""The EHRs trusted to call the CDS service: ``NEUROSCREEN_CDS_ISSUERS_FILE``.

A YAML (or JSON) list of ``{iss, jwks_uri}`` (CDS Hooks 2.0, "Trusting CDS
Clients": the service is configured with each client's issuer and the URL of
its public keys). Re-read on change or SIGHUP, like the SMART clients file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from intake.smart.registry import FileRegistry, http_url
from shared.trust.jwks import KeySource


@dataclass(frozen=True)
class TrustedIssuer:
    iss: str
    jwks_uri: str
    keys: KeySource


class IssuerRegistry(FileRegistry[TrustedIssuer]):
    kind = "issuers"

    def parse(self, entry: Any, where: str) -> tuple[str, TrustedIssuer]:
        iss = entry.get("iss")
        if not isinstance(iss, str) or not iss:
            raise ValueError(f"{where}: iss is required")
        url = http_url(entry.get("jwks_uri"), where, "jwks_uri", self.policy)
        return iss, TrustedIssuer(iss, url, self.fetched_keys(url))
