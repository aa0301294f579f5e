"""Opening a delivery: the alert is decided and built once, from what screening stored."""

from __future__ import annotations

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from notify.alert_bundle import AlertContent, build_alert_bundle
from notify.routing import CoordinatorRouting
from notify.task_policy import task_due_at
from shared.config import Settings
from shared.models import Delivery, DerivedResource, QuestionnaireResponseRecord, Screening
from shared.models.base import utcnow
from shared.pipeline import ResponseState


def open_delivery(
    session: Session,
    record: QuestionnaireResponseRecord,
    screening: Screening,
    routing: CoordinatorRouting,
    settings: Settings,
    previous: Delivery | None = None,
) -> Delivery:
    """The delivery row for a scored response, with its alert Bundle; flushed.

    ``previous`` is the delivery of an earlier alert round (a re-screen raised the tier):
    it is reused for the new round, its attempt log kept and its claim token (``attempts``)
    still counting up, while what belonged to the old Task is cleared.
    """
    resource = orjson.loads(record.resource)
    coordinator = routing.coordinator_for(resource)
    delivery = previous or Delivery(response_id=record.id, attempts=0)
    for column in _PER_ROUND:
        setattr(delivery, column, None)
    delivery.urgent_overdue_reported = False
    # Mirrors the response's state from here on (shared.pipeline.transition).
    delivery.state = ResponseState.SCORED.value
    delivery.tier = screening.tier
    delivery.coordinator = coordinator
    delivery.alert_round = screening.alert_round
    delivery.created_at = utcnow()
    delivery.task_due_at = task_due_at(screening.tier, delivery.created_at, settings)
    delivery.bundle = orjson.dumps(
        build_alert_bundle(
            alert_content(session, record, screening),
            coordinator=coordinator,
            authored_at=delivery.created_at,
            due_at=delivery.task_due_at,
        )
    ).decode()
    if previous is None:
        session.add(delivery)
    session.flush()
    return delivery


_PER_ROUND = (
    "next_attempt_at",
    "delivered_at",
    "ehr_references",
    "ehr_acknowledged",  # keyed by the old Bundle's placeholders: nothing to resume
    "last_status",
    "last_error",
    "task_status",
    "task_status_at",
    "escalated_at",
    "escalation_recipient",
    "escalation_reference",
)
"""What a delivery knows about one round's alert in the EHR; a new round starts without it."""


def alert_content(
    session: Session, record: QuestionnaireResponseRecord, screening: Screening
) -> AlertContent:
    derived = session.scalars(
        select(DerivedResource).where(DerivedResource.response_id == record.id)
    ).all()
    by_type: dict[str, list[dict]] = {}
    for row in derived:
        by_type.setdefault(row.resource_type, []).append(orjson.loads(row.resource))
    risk = next(r for r in by_type["RiskAssessment"] if r["id"] == screening.risk_assessment_id)
    return AlertContent(
        response_id=record.id,
        patient=record.patient,
        tier=screening.tier,
        questionnaire_response=orjson.loads(record.resource),
        observation=(by_type.get("Observation") or [None])[0],
        risk_assessment=risk,
        service_requests=tuple(
            sorted(
                # A test a re-screen no longer proposes stays readable, but is not sent.
                (r for r in by_type.get("ServiceRequest", []) if r.get("status") != "revoked"),
                key=lambda r: r["id"],
            )
        ),
        alert_round=screening.alert_round,
        reason=screening.alert_reason,
        diagnostic_report=(by_type.get("DiagnosticReport") or [None])[0],
    )
