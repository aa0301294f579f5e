"""The notify admin API: see deliveries, inspect dead letters, replay them.

Bearer-token protected: a static token (``NEUROSCREEN_NOTIFY_TOKENS``) or an
access token issued by the intake with the ``system/neuroscreen.admin``
scope (README: Registering an EHR with the intake). Listings show ids,
states and statuses only (and which attachments the EHR refused, and what
clinicians did with the CDS Hooks card); the EHR's
OperationOutcomes are shown when one delivery is inspected, the Bundle itself
(which holds PHI) only when one dead letter is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from notify.alert_bundle import build_alert_bundle
from notify.delivery import alert_content
from notify.task_policy import task_due_at
from notify.tasks import routing
from shared.auth import bearer_token, token_is_valid
from shared.config import Settings, get_settings
from shared.db import session_scope
from shared.models import (
    CdsFeedback,
    Delivery,
    DeliveryAttempt,
    QuestionnaireResponseRecord,
    RefusedAttachment,
    Screening,
)
from shared.models.base import utcnow
from shared.outbox import enqueue
from shared.pipeline import ResponseState, transition
from shared.tasks import DELIVER_ALERT
from shared.trust import UntrustedToken
from shared.trust.intake_tokens import IntakeTokens
from shared.trust.scopes import ADMIN_SCOPE

_intake_tokens: IntakeTokens | None = None


async def require_admin_token(request: Request) -> None:
    presented = bearer_token(request.headers.get("authorization"))
    await check_admin_token(presented, request.app.state.settings)


async def check_admin_token(presented: str, settings: Settings) -> None:
    """Raise a 401/403 HTTPException unless ``presented`` may use the admin API (and console)."""
    if token_is_valid(presented, settings.notify_tokens):
        return
    if presented.count(".") != 2:
        raise HTTPException(401, "A valid bearer token is required", {"WWW-Authenticate": "Bearer"})
    global _intake_tokens
    if _intake_tokens is None or _intake_tokens.issuer != settings.intake_issuer:
        _intake_tokens = IntakeTokens(settings)
    try:
        access = await _intake_tokens.verify(presented)
    except UntrustedToken:
        challenge = 'Bearer error="invalid_token"'
        raise HTTPException(
            401, "The access token is invalid", {"WWW-Authenticate": challenge}
        ) from None
    if not access.grants.has(ADMIN_SCOPE):
        challenge = f'Bearer error="insufficient_scope", scope="{ADMIN_SCOPE}"'
        raise HTTPException(403, f"Needs the {ADMIN_SCOPE} scope", {"WWW-Authenticate": challenge})


router = APIRouter(prefix="/admin", dependencies=[Depends(require_admin_token)])


@router.get("/deliveries")
def list_deliveries(
    state: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    with session_scope() as session:
        statement = select(Delivery).order_by(Delivery.created_at.desc()).limit(limit)
        if state:
            statement = statement.where(Delivery.state == state)
        rows = session.scalars(statement).all()
        refused = _refused(session, [row.response_id for row in rows])
        feedback = _cds_feedback(session, [row.response_id for row in rows])
        return {
            "deliveries": [
                {
                    **_summary(row),
                    "refused_attachments": _brief(refused, row.response_id),
                    "cds_feedback": feedback.get(row.response_id, []),
                }
                for row in rows
            ]
        }


@router.get("/deliveries/{response_id}")
def inspect_delivery(response_id: str) -> dict[str, Any]:
    """One delivery, whatever its state: attempts and each refused attachment's outcome."""
    with session_scope() as session:
        delivery = session.get(Delivery, response_id)
        if delivery is None:
            raise HTTPException(404, f"No delivery for response {response_id}")
        refused = _refused(session, [response_id]).get(response_id, [])
        return {
            **_summary(delivery),
            "attempts": _attempts(session, response_id),
            "cds_feedback": _cds_feedback(session, [response_id]).get(response_id, []),
            "refused_attachments": [
                {
                    **_refusal_brief(row),
                    "refused_at": row.refused_at.isoformat(),
                    "outcome": orjson.loads(row.outcome) if row.outcome else None,
                }
                for row in refused
            ],
        }


@router.get("/dead-letters")
def list_dead_letters(limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    return {"dead_letters": list_deliveries(ResponseState.DEAD_LETTER, limit)["deliveries"]}


@router.get("/dead-letters/{response_id}")
def inspect_dead_letter(response_id: str) -> dict[str, Any]:
    with session_scope() as session:
        delivery = _dead_letter(session, response_id)
        return {
            **_summary(delivery),
            "last_error": orjson.loads(delivery.last_error) if delivery.last_error else None,
            "attempts": _attempts(session, response_id),
            "bundle": orjson.loads(delivery.bundle) if delivery.bundle else None,
        }


@router.post("/dead-letters/{response_id}/replay", status_code=202)
def replay_dead_letter(response_id: str) -> dict[str, Any]:
    """Send a dead letter again, rebuilt from what is stored now (routing may have changed)."""
    with session_scope() as session:
        delivery = _dead_letter(session, response_id)
        record = session.get(QuestionnaireResponseRecord, response_id, with_for_update=True)
        screening = session.get(Screening, response_id)
        assert record is not None
        assert screening is not None
        now = utcnow()
        delivery.coordinator = routing().coordinator_for(orjson.loads(record.resource))
        delivery.task_due_at = task_due_at(delivery.tier, now, get_settings())
        delivery.bundle = orjson.dumps(
            build_alert_bundle(
                alert_content(session, record, screening),
                coordinator=delivery.coordinator,
                authored_at=now,
                due_at=delivery.task_due_at,
            )
        ).decode()
        delivery.ehr_acknowledged = None  # a new Bundle (new placeholders): nothing to resume
        delivery.created_at = now  # the retry window starts again
        delivery.urgent_overdue_reported = False
        detail = "replay requested by an operator"
        transition(record, ResponseState.RETRYING, detail, now=now, delivery=delivery)
        enqueue(session, DELIVER_ALERT, response_id)
        return {"response_id": response_id, "state": delivery.state}


def _dead_letter(session: Session, response_id: str) -> Delivery:
    delivery = session.get(Delivery, response_id)
    if delivery is None or delivery.state != ResponseState.DEAD_LETTER:
        raise HTTPException(404, f"No dead letter for response {response_id}")
    return delivery


def _summary(delivery: Delivery) -> dict[str, Any]:
    return {
        "response_id": delivery.response_id,
        "state": delivery.state,
        "tier": delivery.tier,
        "coordinator": delivery.coordinator,
        "attempts": delivery.attempts,
        "created_at": delivery.created_at.isoformat(),
        "next_attempt_at": delivery.next_attempt_at.isoformat()
        if delivery.next_attempt_at
        else None,
        "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None,
        "last_status": delivery.last_status,
        "ehr_references": orjson.loads(delivery.ehr_references) if delivery.ehr_references else [],
        "task": {
            "due_at": _iso(delivery.task_due_at),
            "status": delivery.task_status,
            "status_at": _iso(delivery.task_status_at),
        },
        "escalation": {
            "at": _iso(delivery.escalated_at),
            "recipient": delivery.escalation_recipient,
            "reference": delivery.escalation_reference,
        }
        if delivery.escalated_at
        else None,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _attempts(session: Session, response_id: str) -> list[dict[str, Any]]:
    attempts = session.scalars(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.response_id == response_id)
        .order_by(DeliveryAttempt.id)
    ).all()
    return [
        {
            "at": a.attempted_at.isoformat(),
            "outcome": a.outcome,
            "http_status": a.http_status,
            "duration_ms": a.duration_ms,
            "detail": a.detail,
        }
        for a in attempts
    ]


def _refused(session: Session, response_ids: list[str]) -> dict[str, list[RefusedAttachment]]:
    rows = session.scalars(
        select(RefusedAttachment)
        .where(RefusedAttachment.response_id.in_(response_ids))
        .order_by(RefusedAttachment.id)
    ).all()
    by_response: dict[str, list[RefusedAttachment]] = {}
    for row in rows:
        by_response.setdefault(row.response_id, []).append(row)
    return by_response


def _cds_feedback(session: Session, response_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """What clinicians did with the CDS Hooks card of each response (codes only)."""
    rows = session.scalars(
        select(CdsFeedback)
        .where(CdsFeedback.response_id.in_(response_ids))
        .order_by(CdsFeedback.outcome_timestamp, CdsFeedback.id)
    ).all()
    by_response: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_response.setdefault(row.response_id, []).append(
            {
                "card": row.card_uuid,
                "outcome": row.outcome,
                "at": row.outcome_timestamp.isoformat(),
                "override_reason": row.override_reason,
                "accepted_suggestions": row.accepted_suggestions,
            }
        )
    return by_response


def _brief(refused: dict[str, list[RefusedAttachment]], response_id: str) -> list[dict[str, Any]]:
    return [_refusal_brief(row) for row in refused.get(response_id, [])]


def _refusal_brief(row: RefusedAttachment) -> dict[str, Any]:
    return {
        "resource_type": row.resource_type,
        "reference": row.local_reference,
        "http_status": row.http_status,
    }
