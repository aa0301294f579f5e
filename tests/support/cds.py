"""A CDS Hooks client, as an EHR is one: signs a JWT for every call (joserfc, ES384).

Bodies are built as the specification shows them and validated against the
CDS Hooks models before they are sent, and every answer is validated on the
way back, so a test cannot pass on a body that no EHR would send or accept.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from intake.cds.models import CDSHooksFeedback, CDSHooksRequest, CDSHooksResponse, CDSHooksServices

SERVICE_ID = "immune-neuropathy-screen"


def signed_jwt(
    key: ECKey | RSAKey,
    *,
    iss: str,
    aud: str,
    exp_in: int = 120,
    iat: int | None = None,
    jti: str | None = None,
    header: dict[str, Any] | None = None,
) -> str:
    alg = "ES384" if isinstance(key, ECKey) else "RS384"
    now = int(time.time())
    claims = {
        "iss": iss,
        "sub": "neuroscreen-cds-client",
        "aud": aud,
        "iat": now if iat is None else iat,
        "exp": now + exp_in,
        "jti": jti or uuid.uuid4().hex,
    }
    return jwt.encode({"alg": alg, "kid": key.kid, **(header or {})}, claims, key, algorithms=[alg])


@dataclass
class CdsEhr:
    key: ECKey
    iss: str
    root: str
    """Where the intake serves ``/cds-services`` (no ``/fhir``)."""

    @property
    def discovery_url(self) -> str:
        return f"{self.root}/cds-services"

    @property
    def service_url(self) -> str:
        return f"{self.discovery_url}/{SERVICE_ID}"

    @property
    def feedback_url(self) -> str:
        return f"{self.service_url}/feedback"

    def bearer(self, aud: str, **options: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {signed_jwt(self.key, iss=self.iss, aud=aud, **options)}"}

    def discover(self) -> CDSHooksServices:
        reply = httpx.get(self.discovery_url, headers=self.bearer(self.discovery_url), timeout=30)
        assert reply.status_code == 200, reply.text
        return CDSHooksServices.model_validate(reply.json())

    def hook_body(self, patient_id: str, **extra: Any) -> dict[str, Any]:
        body = {
            "hook": "patient-view",
            "hookInstance": str(uuid.uuid4()),
            "fhirServer": "https://ehr.example.org/fhir",
            "context": {"userId": "Practitioner/clinician-1", "patientId": patient_id},
            **extra,
        }
        CDSHooksRequest.model_validate(body)
        return body

    def patient_view(
        self, patient_id: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> httpx.Response:
        return httpx.post(
            self.service_url,
            json=self.hook_body(patient_id, **extra),
            headers=headers if headers is not None else self.bearer(self.service_url),
            timeout=30,
        )

    def cards(self, patient_id: str) -> list[dict[str, Any]]:
        reply = self.patient_view(patient_id)
        assert reply.status_code == 200, reply.text
        CDSHooksResponse.model_validate(reply.json())
        return reply.json()["cards"]

    def feedback(self, entries: list[dict[str, Any]]) -> httpx.Response:
        body = {"feedback": entries}
        CDSHooksFeedback.model_validate(body)
        return httpx.post(
            self.feedback_url, json=body, headers=self.bearer(self.feedback_url), timeout=30
        )
