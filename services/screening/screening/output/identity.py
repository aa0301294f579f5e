"""Who and what the derived resources point at, and the ids they get.

Ids and business identifiers are pure functions of the response id: scoring
the same response again yields byte-identical resources, and the notify
service can create each one in an EHR with ``If-None-Exist: identifier=...``
so that a retried delivery never makes a duplicate. Every reference is
relative (``Patient/<id>``), because the EHR, not NeuroScreen, decides the
base URL.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.fhir.codes import SCREENING_OUTPUT_IDENTIFIER

ID_NAMESPACE = uuid.UUID("804fb730-5ad2-4fa1-89d4-347ab00d1193")
"""uuid5 namespace of every derived resource id. Changing it renames every stored resource."""

_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


@dataclass(frozen=True)
class Identity:
    """The id, reference and business identifier of one derived resource."""

    resource_type: str
    id: str
    identifier_value: str

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.id}"

    def identifier(self) -> list[dict[str, Any]]:
        """``Resource.identifier``: the key the notify service creates conditionally on."""
        return [{"system": SCREENING_OUTPUT_IDENTIFIER, "value": self.identifier_value}]


@dataclass(frozen=True)
class ScreeningContext:
    """The response being screened, its patient and the time of the screening."""

    response_id: str
    subject: str
    """``Patient/<id>``."""
    occurred_at: str
    """FHIR dateTime with a time zone."""

    @classmethod
    def create(cls, response_id: str, patient: str, occurred_at: datetime) -> ScreeningContext:
        """Check the inputs; raise ``ValueError`` rather than emit an unresolvable reference.

        ``patient`` is ``Patient/<id>`` (as stored with the response) or a bare id.
        """
        if not _FHIR_ID.fullmatch(response_id):
            raise ValueError("response_id must be a FHIR id ([A-Za-z0-9-.], 1-64 characters)")
        patient_id = patient.removeprefix("Patient/")
        if not _FHIR_ID.fullmatch(patient_id):
            raise ValueError("patient must be 'Patient/<id>' or a FHIR id")
        if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
            raise ValueError("occurred_at must be timezone-aware (FHIR dateTime needs an offset)")
        return cls(response_id, f"Patient/{patient_id}", occurred_at.isoformat())

    @property
    def response(self) -> str:
        """Reference to the QuestionnaireResponse every derived resource cites."""
        return f"QuestionnaireResponse/{self.response_id}"

    def identity(self, resource_type: str, kind: str, code: str | None = None) -> Identity:
        """Deterministic identity: ``<kind>/<response id>[/<code>]`` and its uuid5."""
        value = f"{kind}/{self.response_id}" + (f"/{code}" if code else "")
        return Identity(resource_type, str(uuid.uuid5(ID_NAMESPACE, value)), value)
