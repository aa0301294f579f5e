"""What a settled attempt leaves behind besides its state: the next try, refusals, alarms."""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

import orjson
from sqlalchemy.orm import Session

from notify.alert_writer import AlertWriteResult
from notify.ehr_client import TransientEhrError
from shared.config import Settings
from shared.models import Delivery, QuestionnaireResponseRecord, RefusedAttachment
from shared.models.base import utcnow
from shared.outbox import enqueue
from shared.pipeline import ResponseState, transition
from shared.tasks import DELIVER_ALERT

log = logging.getLogger("neuroscreen.notify")


def schedule_retry(
    session: Session,
    record: QuestionnaireResponseRecord,
    delivery: Delivery,
    settings: Settings,
    error: TransientEhrError,
    now: datetime,
) -> None:
    """The next attempt as a delayed outbox row (the wait lives in the database)."""
    delivery.last_status = error.status
    delivery.last_error = orjson.dumps({"error": str(error), "outcome": error.outcome}).decode()
    give_up_at = _aware(delivery.created_at) + timedelta(seconds=settings.delivery_give_up_seconds)
    delay = backoff_seconds(delivery.attempts, settings, error.retry_after, tier=delivery.tier)
    next_at = now + timedelta(seconds=delay)
    report_overdue_urgent(delivery, settings, now)
    if next_at > give_up_at:
        delivery.next_attempt_at = None
        detail = f"gave up retrying: {error}"
        transition(record, ResponseState.DEAD_LETTER, detail, now=now, delivery=delivery)
        return
    delivery.next_attempt_at = next_at
    detail = f"EHR write failed, retry {delivery.attempts + 1} scheduled: {error}"
    transition(record, ResponseState.RETRYING, detail, now=now, due_at=next_at, delivery=delivery)
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


def backoff_seconds(
    attempts: int, settings: Settings, retry_after: float | None, *, tier: str
) -> float:
    """Exponential backoff with jitter up to the tier's cap, never sooner than the EHR's
    ``Retry-After`` (unless that is past the cap: an urgent alert does not wait 10 minutes
    because an overloaded EHR asked everyone to)."""
    cap = retry_cap_seconds(tier, settings)
    ceiling = min(cap, settings.retry_base_seconds * 2 ** (attempts - 1))
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay


def retry_cap_seconds(tier: str, settings: Settings) -> float:
    """The longest wait between two attempts: short for urgent alerts, so that one still
    undelivered at its deadline is noticed (and paged) then, not a backoff later."""
    if tier == "urgent":
        return min(settings.retry_max_seconds, settings.retry_max_urgent_seconds)
    return settings.retry_max_seconds


def report_overdue_urgent(delivery: Delivery, settings: Settings, now: datetime) -> None:
    """Page once (``event=urgent_alert_overdue``) for an urgent alert past its deadline.

    Called at every failed attempt; the urgent cap makes those at most
    ``retry_max_urgent_seconds`` apart. The gauge ``neuroscreen_urgent_alerts_overdue``
    (shared/metrics.py) counts the same alerts for the alert rule.
    """
    overdue = (now - _aware(delivery.created_at)).total_seconds()
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


def record_refusals(session: Session, delivery: Delivery, result: AlertWriteResult) -> str:
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


def _aware(moment: datetime) -> datetime:
    """SQLite returns naive UTC timestamps; compare them as UTC."""
    return moment.replace(tzinfo=utcnow().tzinfo) if moment.tzinfo is None else moment
