"""Delivering one alert to the EHR: decided once, attempted until it lands or dead-letters.

Each run of :func:`deliver` makes one attempt to write the alert (a few
transactions: see :mod:`notify.alert_writer`) and records it as a
:class:`DeliveryAttempt`. An attachment the EHR refuses is recorded as a
:class:`RefusedAttachment` and the alert is delivered without it. A
transient failure schedules the next run through the outbox
(``available_at`` = now + backoff, at least ``Retry-After``), so the wait
lives in the database. A fatal failure, or running out of time, makes the
delivery a dead letter that an operator can inspect and replay. A run for a
response that is already notified, dead-lettered or not alerting does
nothing: the task is idempotent.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import datetime, timedelta

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from notify.alert_bundle import AlertContent, build_alert_bundle
from notify.alert_writer import AlertWriteResult, write_alert
from notify.ehr_client import EhrClient, FatalEhrError, TransientEhrError
from notify.routing import CoordinatorRouting
from notify.task_policy import task_due_at
from shared.config import Settings
from shared.models import (
    Delivery,
    DeliveryAttempt,
    DerivedResource,
    QuestionnaireResponseRecord,
    RefusedAttachment,
    Screening,
)
from shared.models.base import utcnow
from shared.outbox import enqueue
from shared.pipeline import ResponseState
from shared.tasks import DELIVER_ALERT

log = logging.getLogger("neuroscreen.notify")

TIER_RANK = {"low": 0, "moderate": 1, "high": 2, "urgent": 3}


class ResponseNotReady(Exception):
    """The job arrived before the screening's commit became visible; retry shortly."""


def deliver(
    session: Session,
    response_id: str,
    settings: Settings,
    routing: CoordinatorRouting,
    client: EhrClient | None,
) -> None:
    """Move one response's alert forward by at most one EHR write; flushes, never commits."""
    record = session.scalar(
        select(QuestionnaireResponseRecord)
        .where(QuestionnaireResponseRecord.id == response_id)
        .with_for_update()
    )
    screening = session.get(Screening, response_id)
    if record is None or (screening is None and record.state == ResponseState.RECEIVED):
        raise ResponseNotReady(response_id)
    if record.state not in (ResponseState.SCORED, ResponseState.RETRYING) or screening is None:
        log.info("nothing to deliver", extra={"response_id": response_id, "state": record.state})
        return
    delivery = session.get(Delivery, response_id) or _open_delivery(
        session, record, screening, routing, settings
    )
    if TIER_RANK[delivery.tier] < TIER_RANK[settings.alert_min_tier]:
        _settle(record, delivery, ResponseState.NO_ALERT, f"tier {delivery.tier}: no alert")
        return
    if client is None:
        _settle(record, delivery, ResponseState.HELD, "no EHR configured: alert kept locally")
        return
    _attempt(session, record, delivery, settings, client)


def _open_delivery(
    session: Session,
    record: QuestionnaireResponseRecord,
    screening: Screening,
    routing: CoordinatorRouting,
    settings: Settings,
) -> Delivery:
    resource = orjson.loads(record.resource)
    coordinator = routing.coordinator_for(resource)
    delivery = Delivery(
        response_id=record.id,
        state="pending",
        tier=screening.tier,
        coordinator=coordinator,
        attempts=0,
        created_at=utcnow(),
    )
    delivery.task_due_at = task_due_at(screening.tier, delivery.created_at, settings)
    delivery.bundle = orjson.dumps(
        build_alert_bundle(
            alert_content(session, record, screening),
            coordinator=coordinator,
            authored_at=delivery.created_at,
            due_at=delivery.task_due_at,
        )
    ).decode()
    session.add(delivery)
    session.flush()
    return delivery


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
        service_requests=tuple(sorted(by_type.get("ServiceRequest", []), key=lambda r: r["id"])),
    )


def _attempt(
    session: Session,
    record: QuestionnaireResponseRecord,
    delivery: Delivery,
    settings: Settings,
    client: EhrClient,
) -> None:
    started = time.perf_counter()
    delivery.attempts += 1
    attempt = DeliveryAttempt(response_id=delivery.response_id, attempted_at=utcnow())
    try:
        result = write_alert(
            client,
            orjson.loads(delivery.bundle or "{}"),
            max_entries=settings.ehr_max_transaction_entries,
            public_base_url=settings.public_base_url,
        )
    except TransientEhrError as error:
        _record(attempt, started, "transient", error.status, str(error))
        _schedule_retry(session, record, delivery, settings, error)
    except FatalEhrError as error:
        _record(attempt, started, error.kind, error.status, str(error))
        delivery.last_status = error.status
        delivery.last_error = orjson.dumps({"error": str(error), "outcome": error.outcome}).decode()
        _settle(record, delivery, ResponseState.DEAD_LETTER, f"EHR refused the alert: {error}")
    else:
        refused = _record_refusals(session, delivery, result)
        _record(attempt, started, "delivered", 201, refused or None)
        delivery.delivered_at = utcnow()
        delivery.last_status = 200
        delivery.ehr_references = orjson.dumps(list(result.references)).decode()
        detail = "delivered to the EHR" + (f"; {refused}" if refused else "")
        _settle(record, delivery, ResponseState.NOTIFIED, detail)
    session.add(attempt)


def _record_refusals(session: Session, delivery: Delivery, result: AlertWriteResult) -> str:
    """Keep what the EHR refused, with its OperationOutcome; a short summary (ids only)."""
    if not result.refused:
        return ""
    now = utcnow()
    for refusal in result.refused:
        session.add(
            RefusedAttachment(
                response_id=delivery.response_id,
                resource_type=refusal.resource_type,
                local_reference=refusal.local_reference,
                http_status=refusal.status,
                outcome=orjson.dumps(refusal.outcome).decode() if refusal.outcome else None,
                refused_at=now,
            )
        )
        log.warning(
            "EHR refused an alert attachment; the alert was delivered without it",
            extra={
                "event": "alert_attachment_refused",
                "response_id": delivery.response_id,
                "resource_type": refusal.resource_type,
                "http_status": refusal.status,
            },
        )
    kinds = ", ".join(f"{r.resource_type} ({r.status})" for r in result.refused)
    return f"the EHR refused {len(result.refused)} attachment(s): {kinds}"


def _schedule_retry(
    session: Session,
    record: QuestionnaireResponseRecord,
    delivery: Delivery,
    settings: Settings,
    error: TransientEhrError,
) -> None:
    delivery.last_status = error.status
    delivery.last_error = orjson.dumps({"error": str(error), "outcome": error.outcome}).decode()
    now = utcnow()
    give_up_at = delivery.created_at + timedelta(seconds=settings.delivery_give_up_seconds)
    delay = backoff_seconds(delivery.attempts, settings, error.retry_after)
    next_at = now + timedelta(seconds=delay)
    _report_overdue_urgent(delivery, settings, now)
    if next_at > give_up_at:
        _settle(record, delivery, ResponseState.DEAD_LETTER, f"gave up retrying: {error}")
        return
    delivery.state = ResponseState.RETRYING
    delivery.next_attempt_at = next_at
    record.state = ResponseState.RETRYING
    record.state_detail = f"EHR write failed, retry {delivery.attempts + 1} scheduled: {error}"
    record.state_changed_at = now
    record.due_at = next_at
    enqueue(session, DELIVER_ALERT, record.id, at=next_at)
    log.warning(
        "EHR write failed, retry scheduled",
        extra={
            "response_id": record.id,
            "attempt": delivery.attempts,
            "http_status": error.status,
            "retry_in_s": round(delay, 1),
        },
    )


def backoff_seconds(attempts: int, settings: Settings, retry_after: float | None) -> float:
    """Exponential backoff with full jitter, never sooner than the EHR's ``Retry-After``."""
    ceiling = min(settings.retry_max_seconds, settings.retry_base_seconds * 2 ** (attempts - 1))
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.retry_max_seconds))
    return delay


def _report_overdue_urgent(delivery: Delivery, settings: Settings, now: datetime) -> None:
    overdue = (now - delivery.created_at).total_seconds()
    if (
        delivery.tier == "urgent"
        and overdue > settings.urgent_delivery_deadline_seconds
        and not delivery.urgent_overdue_reported
    ):
        delivery.urgent_overdue_reported = True
        log.error(
            "urgent alert not delivered in time",
            extra={
                "event": "urgent_alert_overdue",
                "response_id": delivery.response_id,
                "overdue_s": round(overdue),
            },
        )


def _settle(
    record: QuestionnaireResponseRecord, delivery: Delivery, state: ResponseState, detail: str
) -> None:
    now = utcnow()
    delivery.state = state.value
    delivery.next_attempt_at = None
    record.state = state
    record.state_detail = detail
    record.state_changed_at = now
    record.due_at = None
    log.info(
        "alert settled",
        extra={"response_id": record.id, "state": state.value, "tier": delivery.tier},
    )


def _record(
    attempt: DeliveryAttempt, started: float, outcome: str, status: int | None, detail: str | None
) -> None:
    attempt.duration_ms = int((time.perf_counter() - started) * 1000)
    attempt.outcome = outcome
    attempt.http_status = status
    attempt.detail = detail
