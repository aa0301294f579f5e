"""What the CDS service reads and writes: the latest screening, cards shown, feedback.

Everything here only flushes or reads; the router's ``session_scope`` commits.
The card is built from what screening stored (the RiskAssessment and the
ServiceRequests), never by scoring again: the chart shows exactly what the
coordinator's Task points at.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from shared.models import CdsCard, CdsFeedback, DerivedResource
from shared.models import QuestionnaireResponseRecord as Response
from shared.models import Screening as ScreeningRow

CARD_NAMESPACE = uuid.UUID("4f1e5c9a-6a43-4d0e-9a55-1c2f3e8d7b60")
"""uuid5 namespace of card and suggestion uuids: stable for a screening, so a card
shown on every chart view is one card, and feedback on it finds its screening."""


@dataclass(frozen=True)
class StoredScreening:
    response_id: str
    tier: str
    risk_assessment: dict[str, Any]
    service_requests: list[dict[str, Any]]

    @property
    def card_uuid(self) -> str:
        return str(uuid.uuid5(CARD_NAMESPACE, f"card/{self.response_id}"))


def suggestion_uuid(card_uuid: str, service_request_id: str) -> str:
    return str(uuid.uuid5(CARD_NAMESPACE, f"suggestion/{card_uuid}/{service_request_id}"))


def latest_screening(session: Session, patient: str) -> StoredScreening | None:
    """The newest scored response of ``Patient/<id>``, with what screening derived from it."""
    latest = session.execute(
        select(ScreeningRow.response_id, ScreeningRow.tier)
        .join(Response, Response.id == ScreeningRow.response_id)
        .where(Response.patient == patient)
        .order_by(ScreeningRow.scored_at.desc(), ScreeningRow.response_id)
        .limit(1)
    ).first()
    if latest is None:
        return None
    rows = session.scalars(
        select(DerivedResource).where(
            DerivedResource.response_id == latest.response_id,
            DerivedResource.resource_type.in_(("RiskAssessment", "ServiceRequest")),
        )
    ).all()
    risk = next((r for r in rows if r.resource_type == "RiskAssessment"), None)
    if risk is None:
        return None  # scored but not yet stored in full: nothing to show yet
    requests = [orjson.loads(r.resource) for r in rows if r.resource_type == "ServiceRequest"]
    return StoredScreening(latest.response_id, latest.tier, orjson.loads(risk.resource), requests)


def record_card(session: Session, card_uuid: str, response_id: str) -> None:
    """Remember which screening a card uuid stands for (once, whatever the number of views)."""
    _insert_once(session, CdsCard, {"uuid": card_uuid, "response_id": response_id})


def card_screening(session: Session, card_uuid: str) -> str | None:
    """The response a card shown by this service presented, or None for an unknown card."""
    return session.scalar(select(CdsCard.response_id).where(CdsCard.uuid == card_uuid))


def record_feedback(
    session: Session,
    *,
    card_uuid: str,
    response_id: str,
    outcome: str,
    outcome_timestamp: datetime,
    override_reason: str | None,
    accepted_suggestions: int,
    issuer: str,
) -> bool:
    """Store one feedback entry; False if this card, outcome and timestamp were already stored."""
    return _insert_once(
        session,
        CdsFeedback,
        {
            "card_uuid": card_uuid,
            "response_id": response_id,
            "outcome": outcome,
            "outcome_timestamp": outcome_timestamp,
            "override_reason": override_reason,
            "accepted_suggestions": accepted_suggestions,
            "issuer": issuer,
        },
    )


def _insert_once(session: Session, model: Any, values: dict[str, Any]) -> bool:
    """``INSERT ... ON CONFLICT DO NOTHING``: one round trip, safe under concurrent calls."""
    connection = session.connection()
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    # Column defaults (timestamps) apply to Core inserts too.
    statement = insert(model.__table__).values(values).on_conflict_do_nothing()
    return connection.execute(statement).rowcount == 1
