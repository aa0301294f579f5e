"""Finding what screening derived: Observation, RiskAssessment and ServiceRequest.

They live in one table keyed by type and id, with the patient and the
QuestionnaireResponse they came from as search columns. ``basis`` (a
RiskAssessment search parameter declared in the CapabilityStatement) finds
the assessment of a response without parsing any JSON.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.records import last_updated_clause, paged, patient_clause
from intake.search import SearchQuery, is_fhir_id, reference_value
from shared.fhir.outcome import NotFound
from shared.models import DerivedResource, DerivedResourceVersion, QuestionnaireResponseRecord

_COMMON = {"_id": "token", "patient": "reference", "subject": "reference"}
SEARCH_PARAMETERS: dict[str, dict[str, str]] = {
    "RiskAssessment": {**_COMMON, "basis": "reference"},
    "Observation": {**_COMMON, "derived-from": "reference"},
    "ServiceRequest": {**_COMMON},
}


def read_derived(session: Session, resource_type: str, resource_id: str) -> DerivedResource:
    row = (
        session.get(DerivedResource, (resource_type, resource_id))
        if is_fhir_id(resource_id)
        else None
    )
    if row is None:
        raise NotFound(f"{resource_type}/{resource_id} is not known")
    return row


def history(session: Session, resource_type: str, resource_id: str) -> list[dict[str, Any]]:
    """Every version of the resource, newest first, each with ``meta.versionId``.

    The current one is in ``derived_resource``; a re-screen moved the earlier ones to
    ``derived_resource_version`` (each records its knowledge version in ``method``).
    """
    current = read_derived(session, resource_type, resource_id)
    earlier = session.scalars(
        select(DerivedResourceVersion)
        .where(
            DerivedResourceVersion.resource_type == resource_type,
            DerivedResourceVersion.id == resource_id,
        )
        .order_by(DerivedResourceVersion.version_id.desc())
    ).all()
    return [_versioned(row) for row in (current, *earlier)]


def version(
    session: Session, resource_type: str, resource_id: str, version_id: str
) -> tuple[dict[str, Any], DerivedResource | DerivedResourceVersion]:
    """One version of the resource (``vread``)."""
    current = read_derived(session, resource_type, resource_id)
    row: DerivedResource | DerivedResourceVersion | None = None
    if version_id == str(current.version_id):
        row = current
    elif version_id.isdigit():
        row = session.get(DerivedResourceVersion, (resource_type, resource_id, int(version_id)))
    if row is None:
        raise NotFound(f"{resource_type}/{resource_id} has no version {version_id[:16]}")
    return _versioned(row), row


def _versioned(row: DerivedResource | DerivedResourceVersion) -> dict[str, Any]:
    resource = orjson.loads(row.resource)
    # Versions stored before re-screening existed carry no meta: give them theirs.
    resource.setdefault(
        "meta",
        {
            "versionId": str(row.version_id),
            "lastUpdated": row.last_updated.isoformat().replace("+00:00", "Z"),
        },
    )
    return resource


def search_derived(
    session: Session, resource_type: str, query: SearchQuery
) -> tuple[list[dict[str, Any]], int, list[dict[str, Any]]]:
    """Matches (one page), their total, and the resources ``_include`` asked for."""
    model = DerivedResource
    statement = select(model).where(model.resource_type == resource_type)
    for name, values in query.criteria.items():
        if name in ("patient", "subject"):
            statement = statement.where(patient_clause(model.patient, values))
        elif name == "_id":
            statement = statement.where(model.id.in_([v for x in values for v in x.split(",")]))
        elif name in ("basis", "derived-from"):
            statement = statement.where(model.response_id.in_(_response_ids(values)))
    for bound in query.last_updated:
        statement = statement.where(last_updated_clause(model.last_updated, bound))
    rows, total = paged(session, statement, model, query)
    resources = [orjson.loads(row.resource) for row in rows]
    included = _included(session, resource_type, rows, query.include)
    return resources, total, included


def _response_ids(values: list[str]) -> list[str]:
    ids = []
    for value in values:
        for part in value.split(","):
            reference = reference_value(part, "QuestionnaireResponse")
            kind, _, ident = reference.partition("/")
            if kind == "QuestionnaireResponse":
                ids.append(ident)
    return ids


def _included(
    session: Session, resource_type: str, rows: list[DerivedResource], include: list[str]
) -> list[dict[str, Any]]:
    """``RiskAssessment:basis``: the QuestionnaireResponse and Observation it rests on."""
    if resource_type != "RiskAssessment" or "RiskAssessment:basis" not in include or not rows:
        return []
    response_ids = {row.response_id for row in rows}
    responses = session.scalars(
        select(QuestionnaireResponseRecord).where(QuestionnaireResponseRecord.id.in_(response_ids))
    ).all()
    observations = session.scalars(
        select(DerivedResource).where(
            DerivedResource.resource_type == "Observation",
            DerivedResource.response_id.in_(response_ids),
        )
    ).all()
    return [orjson.loads(r.resource) for r in (*responses, *observations)]
