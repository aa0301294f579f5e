"""Short-lived signed links to one screening report, for a browser that holds no token.

A CDS card is read in the clinician's browser, where no FHIR access token
belongs. Its link carries a JWT instead (RS384, signed with the intake's own
signing keys, so key rotation covers it): ``typ`` ``report-link+jwt``,
``sub`` the RiskAssessment, ``aud`` the report link path, ``exp`` minutes ahead
(``NEUROSCREEN_REPORT_LINK_SECONDS``), ``azp`` the EHR the card was shown to.
It opens that one report and nothing else: it is no access token (other
``typ`` and ``aud``, no scope), and an access token is no link.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError

from intake.smart.keys import SigningKeys
from shared.fhir.outcome import Forbidden, Unauthorized
from shared.trust import UnknownKey
from shared.trust.algorithms import ACCESS_TOKEN_ALGORITHM, unverified_header
from shared.trust.errors import UntrustedToken

LINK_TYPE = "report-link+jwt"
LINK_PATH = "/reports/RiskAssessment"
"""``{root}/reports/RiskAssessment/{id}?link=...``: outside ``/fhir``, where bearer tokens rule."""


@dataclass(frozen=True)
class ReportLink:
    risk_assessment_id: str
    issued_to: str


def link_audience(root: str) -> str:
    return f"{root.rstrip('/')}{LINK_PATH}"


def report_link(
    keys: SigningKeys,
    *,
    root: str,
    risk_assessment_id: str,
    issued_to: str,
    lifetime: int,
    now: float | None = None,
) -> str:
    """The URL a browser opens: valid for ``lifetime`` seconds from ``now``."""
    issued = int(time.time() if now is None else now)
    key = keys.signing_key
    header = {"alg": ACCESS_TOKEN_ALGORITHM, "kid": key.kid, "typ": LINK_TYPE}
    claims = {
        "iss": link_audience(root),
        "aud": link_audience(root),
        "sub": f"RiskAssessment/{risk_assessment_id}",
        "azp": issued_to,
        "iat": issued,
        "exp": issued + lifetime,
    }
    token = jwt.encode(header, claims, key, algorithms=[ACCESS_TOKEN_ALGORITHM])
    return f"{link_audience(root)}/{risk_assessment_id}?link={token}"


def verify_link(
    keys: SigningKeys, token: str | None, *, root: str, risk_assessment_id: str
) -> ReportLink:
    """The link's grant, or 401 (missing, forged, expired) / 403 (another report's link)."""
    if not token:
        raise Unauthorized("this report opens with a signed link from NeuroScreen")
    try:
        header = unverified_header(token)
        if header.get("alg") != ACCESS_TOKEN_ALGORITHM or header.get("typ") != LINK_TYPE:
            raise UntrustedToken("not a report link")
        decoded = jwt.decode(
            token, keys.verification_key(header["kid"]), algorithms=[ACCESS_TOKEN_ALGORITHM]
        )
        jwt.JWTClaimsRegistry(
            leeway=5,
            iss={"essential": True, "value": link_audience(root)},
            aud={"essential": True, "value": link_audience(root)},
            exp={"essential": True},
            sub={"essential": True},
            azp={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, UntrustedToken, UnknownKey, KeyError, ValueError, TypeError):
        raise Unauthorized(
            "the report link is invalid or has expired; open the card again"
        ) from None
    claims = decoded.claims
    if claims["sub"] != f"RiskAssessment/{risk_assessment_id}":
        raise Forbidden("this link opens another report")
    return ReportLink(risk_assessment_id, str(claims["azp"]))
