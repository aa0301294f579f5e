"""Delivering one alert to the EHR: claim, call, settle — never a lock held during the call.

Each run of :func:`deliver` is three steps:

1. **claim** (short transaction): lock the response, decide (no alert, held, or
   write), and for a write move it to ``sending`` with a lease: the delivery's
   ``attempts`` counter, incremented, is the claim token and
   ``next_attempt_at`` the lease's expiry. An unexpired claim held by another
   run means "busy": this run does nothing.
2. **call** the EHR (a few transactions: :mod:`notify.alert_writer`) outside any
   database transaction, so a slow EHR blocks no other delivery's writes (on
   SQLite, the write lock is free meanwhile). Only the entries the EHR has not
   yet acknowledged are sent (:mod:`notify.transactions`).
3. **settle** (short transaction): record the :class:`DeliveryAttempt`, the
   result and what the EHR acknowledged, but only if the claim is still ours
   (same token, still ``sending``); a run whose lease expired and was re-claimed
   writes nothing.

Exactly once in the EHR: a claim admits one writer at a time, and a writer
that outlived its lease repeats conditional creates that match what the first
wrote. A worker killed mid-call leaves ``sending`` with an expiring lease; the
relay re-enqueues it once overdue and the next run claims it again. A
transient failure schedules the next run through the outbox (``available_at``
= now + backoff, at least ``Retry-After``); a fatal one, or running out of
time, makes a dead letter an operator can replay.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from notify.alert_writer import AlertWriteResult, write_alert
from notify.ehr_client import EhrClient, FatalEhrError, TransientEhrError
from notify.opening import alert_content, open_delivery
from notify.retries import backoff_seconds, record_refusals, schedule_retry
from notify.routing import CoordinatorRouting
from notify.transactions import Acknowledged
from shared.config import Settings
from shared.models import Delivery, DeliveryAttempt, QuestionnaireResponseRecord, Screening
from shared.models.base import utcnow
from shared.pipeline import ResponseState, transition
from shared.tiers import at_least

__all__ = ["Claim", "alert_content", "backoff_seconds", "claim_delivery", "deliver"]

log = logging.getLogger("neuroscreen.notify")

Sessions = Callable[[], AbstractContextManager[Session]]
"""Opens one transaction (``shared.db.session_scope``): claim and settle each use one."""

CLAIMABLE = (ResponseState.SCORED, ResponseState.RETRYING, ResponseState.SENDING)


@dataclass(frozen=True)
class Claim:
    response_id: str
    token: int
    bundle: dict
    acknowledged: Acknowledged = field(default_factory=Acknowledged)
    """What the EHR acknowledged of ``bundle`` before, then during, this run's call."""


def deliver(
    sessions: Sessions,
    response_id: str,
    settings: Settings,
    routing: CoordinatorRouting,
    client: EhrClient | None,
) -> None:
    """Move one response's alert forward by at most one EHR write."""
    with sessions() as session:
        claim = claim_delivery(session, response_id, settings, routing, client)
    if claim is None:
        return
    started = time.perf_counter()
    try:
        result: AlertWriteResult | Exception = write_alert(
            client,  # type: ignore[arg-type]  # a claim exists only with a client
            claim.bundle,
            max_entries=settings.ehr_max_transaction_entries,
            public_base_url=settings.public_base_url,
            acknowledged=claim.acknowledged,
        )
    except (TransientEhrError, FatalEhrError) as error:
        result = error
    duration_ms = int((time.perf_counter() - started) * 1000)
    with sessions() as session:
        settle_delivery(session, claim, result, duration_ms, settings)


def claim_delivery(
    session: Session,
    response_id: str,
    settings: Settings,
    routing: CoordinatorRouting,
    client: EhrClient | None,
) -> Claim | None:
    """Decide and, for an EHR write, claim it; flushes, never commits."""
    record = session.scalar(
        select(QuestionnaireResponseRecord)
        .where(QuestionnaireResponseRecord.id == response_id)
        .with_for_update()
    )
    screening = session.get(Screening, response_id)
    if record is None or screening is None or record.state not in CLAIMABLE:
        state = record.state if record is not None else None
        log.info("nothing to deliver", extra={"response_id": response_id, "state": state})
        return None
    now = utcnow()
    delivery = session.get(Delivery, response_id)
    if delivery is None or delivery.alert_round < screening.alert_round:
        # First alert, or a re-screen raised the tier: build this round's alert.
        delivery = open_delivery(session, record, screening, routing, settings, delivery)
    lease = delivery.next_attempt_at
    if record.state == ResponseState.SENDING and lease is not None and _aware(lease) > now:
        log.info("delivery claimed by another run", extra={"response_id": response_id})
        return None
    if not at_least(delivery.tier, settings.alert_min_tier):
        _finish(record, delivery, ResponseState.NO_ALERT, f"tier {delivery.tier}: no alert")
        return None
    if client is None:
        _finish(record, delivery, ResponseState.HELD, "no EHR configured: alert kept locally")
        return None
    delivery.attempts += 1
    lease_until = now + timedelta(seconds=settings.delivery_lease_seconds)
    delivery.next_attempt_at = lease_until
    detail = f"writing to the EHR, attempt {delivery.attempts}"
    transition(
        record, ResponseState.SENDING, detail, now=now, due_at=lease_until, delivery=delivery
    )
    acknowledged = Acknowledged(orjson.loads(delivery.ehr_acknowledged or "{}"))
    return Claim(
        response_id, delivery.attempts, orjson.loads(delivery.bundle or "{}"), acknowledged
    )


def settle_delivery(
    session: Session,
    claim: Claim,
    result: AlertWriteResult | Exception,
    duration_ms: int,
    settings: Settings,
) -> bool:
    """Record the call's result if the claim still holds; False if it was lost."""
    record = session.scalar(
        select(QuestionnaireResponseRecord)
        .where(QuestionnaireResponseRecord.id == claim.response_id)
        .with_for_update()
    )
    delivery = session.get(Delivery, claim.response_id)
    if (
        record is None
        or delivery is None
        or record.state != ResponseState.SENDING
        or delivery.attempts != claim.token
    ):
        log.warning(
            "claim lost (lease expired and re-claimed): result not recorded",
            extra={"response_id": claim.response_id, "attempt": claim.token},
        )
        return False
    attempt = DeliveryAttempt(
        response_id=claim.response_id, attempted_at=utcnow(), duration_ms=duration_ms
    )
    session.add(attempt)
    # Kept whatever the outcome: the next attempt (a retry, a replay) resumes from here.
    delivery.ehr_acknowledged = orjson.dumps(claim.acknowledged.by_full_url).decode()
    if isinstance(result, TransientEhrError):
        _note(attempt, "transient", result.status, f"{result}; {_progress(claim)}")
        schedule_retry(session, record, delivery, settings, result, utcnow())
    elif isinstance(result, FatalEhrError):
        _note(attempt, result.kind, result.status, str(result))
        delivery.last_status = result.status
        outcome = {"error": str(result), "outcome": result.outcome}
        delivery.last_error = orjson.dumps(outcome).decode()
        _finish(record, delivery, ResponseState.DEAD_LETTER, f"EHR refused the alert: {result}")
    elif isinstance(result, AlertWriteResult):
        refused = record_refusals(session, delivery, result)
        _note(attempt, "delivered", 201, refused or None)
        delivery.delivered_at = utcnow()
        delivery.last_status = 200
        delivery.ehr_references = orjson.dumps(list(result.references)).decode()
        detail = "delivered to the EHR" + (f"; {refused}" if refused else "")
        _finish(record, delivery, ResponseState.NOTIFIED, detail)
    else:  # pragma: no cover - deliver() passes nothing else
        raise TypeError(type(result).__name__)
    return True


def _finish(
    record: QuestionnaireResponseRecord, delivery: Delivery, state: ResponseState, detail: str
) -> None:
    delivery.next_attempt_at = None
    transition(record, state, detail, now=utcnow(), delivery=delivery)
    log.info(
        "alert settled",
        extra={"response_id": record.id, "state": state.value, "tier": delivery.tier},
    )


def _progress(claim: Claim) -> str:
    """How much of the alert the EHR has acknowledged (counts only, no content)."""
    entries = claim.bundle.get("entry", [])
    done = len(claim.acknowledged.references(entries))
    return f"the EHR has acknowledged {done} of {len(entries)} entries"


def _note(attempt: DeliveryAttempt, outcome: str, status: int | None, detail: str | None) -> None:
    attempt.outcome = outcome
    attempt.http_status = status
    attempt.detail = detail


def _aware(moment: datetime) -> datetime:
    """SQLite returns naive UTC timestamps; compare them as UTC."""
    return moment.replace(tzinfo=utcnow().tzinfo) if moment.tzinfo is None else moment
