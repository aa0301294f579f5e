"""Replacing a screening's resources with new versions, keeping the old ones readable.

The current version of each derived resource stays in ``derived_resource`` (so reads,
searches and notify see only it); the one it replaces is copied to
``derived_resource_version`` first. Ids never change, so ``RiskAssessment/{id}`` is the
newest assessment and ``RiskAssessment/{id}/_history`` lists every one, each citing its
knowledge version in ``method``. A ServiceRequest the new screening no longer proposes
gets a last version with status ``revoked`` rather than disappearing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from screening.output import ScreeningResources
from shared.models import DerivedResource, DerivedResourceVersion


def replace_resources(
    session: Session,
    response_id: str,
    patient: str,
    resources: ScreeningResources,
    knowledge_version: str,
    now: datetime,
    *,
    previous_knowledge_version: str,
) -> None:
    """Make ``resources`` the current version of the response's derived resources; flushes."""
    current = {
        (row.resource_type, row.id): row
        for row in session.scalars(
            select(DerivedResource).where(DerivedResource.response_id == response_id)
        )
    }
    for resource in resources.all():
        row = current.pop((resource["resourceType"], resource["id"]), None)
        if row is None:
            session.add(
                DerivedResource(
                    resource_type=resource["resourceType"],
                    id=resource["id"],
                    patient=patient,
                    response_id=response_id,
                    resource=_dumps(resource, 1, now),
                    last_updated=now,
                    version_id=1,
                    knowledge_version=knowledge_version,
                )
            )
        else:
            _new_version(session, row, resource, knowledge_version, now, previous_knowledge_version)
    for row in current.values():
        if row.resource_type != "ServiceRequest":
            continue
        withdrawn = orjson.loads(row.resource)
        if withdrawn.get("status") != "revoked":
            withdrawn["status"] = "revoked"
            _new_version(
                session, row, withdrawn, knowledge_version, now, previous_knowledge_version
            )
    session.flush()


def _new_version(
    session: Session,
    row: DerivedResource,
    resource: dict[str, Any],
    knowledge_version: str,
    now: datetime,
    previous_knowledge_version: str,
) -> None:
    session.add(
        DerivedResourceVersion(
            resource_type=row.resource_type,
            id=row.id,
            version_id=row.version_id,
            response_id=row.response_id,
            resource=row.resource,
            last_updated=row.last_updated,
            # Rows stored before versions existed carry no knowledge version: the
            # screening row knows it.
            knowledge_version=row.knowledge_version or previous_knowledge_version,
        )
    )
    row.version_id += 1
    row.resource = _dumps(resource, row.version_id, now)
    row.last_updated = now
    row.knowledge_version = knowledge_version


def _dumps(resource: dict[str, Any], version_id: int, now: datetime) -> str:
    meta = {"versionId": str(version_id), "lastUpdated": now.isoformat().replace("+00:00", "Z")}
    return orjson.dumps({**resource, "meta": meta}).decode()
