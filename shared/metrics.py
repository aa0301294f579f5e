"""Gauges read from the database at scrape time, shared by intake and notify.

Worker processes come and go; the truth about backlog, dead letters and
overdue urgent alerts is in the database, so any HTTP service can report it
and the numbers agree whichever replica Prometheus scrapes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from functools import lru_cache

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, or_, select

from shared.config import Settings, get_settings
from shared.db import session_scope
from shared.models import (
    CdsFeedback,
    Delivery,
    DeliveryAttempt,
    OutboxMessage,
    PeriodicJob,
    QuestionnaireResponseRecord,
    RefusedAttachment,
    Screening,
)
from shared.models.base import utcnow
from shared.pipeline import TASK_NOT_PICKED_UP, ResponseState

log = logging.getLogger("neuroscreen.metrics")

_UNDELIVERED = (
    ResponseState.SCORED,
    ResponseState.SENDING,
    ResponseState.RETRYING,
    ResponseState.DEAD_LETTER,
)
"""An alert in one of these states has not reached the coordinator (overdue if urgent)."""


class PipelineCollector(Collector):
    """Outbox depth, responses by state, dead letters and overdue urgent alerts."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        try:
            with session_scope() as session:
                outbox_depth = session.scalar(select(func.count()).select_from(OutboxMessage))
                oldest = session.scalar(select(func.min(OutboxMessage.available_at)))
                by_state = session.execute(
                    select(QuestionnaireResponseRecord.state, func.count()).group_by(
                        QuestionnaireResponseRecord.state
                    )
                ).all()
                dead = session.scalar(
                    select(func.count()).where(Delivery.state == ResponseState.DEAD_LETTER)
                )
                deadline = utcnow() - timedelta(
                    seconds=self._settings.urgent_delivery_deadline_seconds
                )
                tiers = session.execute(
                    select(Screening.tier, func.count()).group_by(Screening.tier)
                ).all()
                attempts = session.execute(
                    select(DeliveryAttempt.outcome, func.count()).group_by(DeliveryAttempt.outcome)
                ).all()
                refused = session.execute(
                    select(RefusedAttachment.resource_type, func.count()).group_by(
                        RefusedAttachment.resource_type
                    )
                ).all()
                cds_feedback = session.execute(
                    select(CdsFeedback.outcome, CdsFeedback.override_reason, func.count()).group_by(
                        CdsFeedback.outcome, CdsFeedback.override_reason
                    )
                ).all()
                urgent_overdue = session.scalar(
                    select(func.count()).where(
                        Delivery.tier == "urgent",
                        Delivery.state.in_(_UNDELIVERED),
                        Delivery.created_at < deadline,
                    )
                )
        except Exception as exc:
            log.warning("pipeline metrics unavailable", extra={"error": type(exc).__name__})
            return
        yield GaugeMetricFamily(
            "neuroscreen_outbox_depth", "Jobs waiting in the outbox", value=outbox_depth or 0
        )
        age = (utcnow() - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily(
            "neuroscreen_outbox_oldest_age_seconds",
            "Age of the oldest waiting outbox job (negative: a scheduled retry)",
            value=age,
        )
        states = GaugeMetricFamily(
            "neuroscreen_responses", "QuestionnaireResponses by pipeline state", labels=["state"]
        )
        for state, count in by_state:
            states.add_metric([state], count)
        yield states
        # Counted from rows, not in the worker processes: workers expose no HTTP endpoint,
        # and the rows are the durable truth whichever replica is scraped.
        scored = CounterMetricFamily(
            "neuroscreen_screenings", "Responses scored, by tier", labels=["tier"]
        )
        for tier, count in tiers:
            scored.add_metric([tier], count)
        yield scored
        deliveries = CounterMetricFamily(
            "neuroscreen_deliveries",
            "EHR delivery attempts by outcome (delivered, transient, fatal, auth-failed)",
            labels=["outcome"],
        )
        for outcome, count in attempts:
            deliveries.add_metric([outcome], count)
        yield deliveries
        refusals = CounterMetricFamily(
            "neuroscreen_alert_attachments_refused",
            "Attachments of delivered alerts the EHR refused (the alert went without them)",
            labels=["resource_type"],
        )
        for resource_type, count in refused:
            refusals.add_metric([resource_type], count)
        yield refusals
        # The reason label is bounded: the card's coded reasons, "other" or "none".
        feedback = CounterMetricFamily(
            "neuroscreen_cds_feedback",
            "Clinician feedback on CDS Hooks cards, by outcome and coded override reason",
            labels=["outcome", "override_reason"],
        )
        for outcome, reason, count in cds_feedback:
            feedback.add_metric([outcome, reason or "none"], count)
        yield feedback
        yield GaugeMetricFamily(
            "neuroscreen_dead_letters", "Alerts the EHR refused, awaiting replay", value=dead or 0
        )
        yield GaugeMetricFamily(
            "neuroscreen_urgent_alerts_overdue",
            "Urgent alerts not delivered within NEUROSCREEN_URGENT_DELIVERY_DEADLINE_SECONDS",
            value=urgent_overdue or 0,
        )
        yield from _follow_up_metrics()


def _follow_up_metrics() -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
    """The closed loop: alert Tasks by EHR status, escalations, and periodic jobs' health."""
    now = utcnow()
    try:
        with session_scope() as session:
            by_status = session.execute(
                select(Delivery.task_status, func.count())
                .where(Delivery.state == ResponseState.NOTIFIED)
                .group_by(Delivery.task_status)
            ).all()
            escalated = session.scalar(
                select(func.count()).where(Delivery.escalated_at.is_not(None))
            )
            pending = session.scalar(
                select(func.count()).where(
                    Delivery.tier == "urgent",
                    Delivery.state == ResponseState.NOTIFIED,
                    Delivery.escalated_at.is_(None),
                    Delivery.task_due_at < now,
                    or_(
                        Delivery.task_status.is_(None),
                        Delivery.task_status.in_(TASK_NOT_PICKED_UP),
                    ),
                )
            )
            jobs = session.execute(
                select(
                    PeriodicJob.name,
                    PeriodicJob.last_success_at,
                    PeriodicJob.created_at,
                    PeriodicJob.last_failure,
                )
            ).all()
    except Exception as exc:
        log.warning("follow-up metrics unavailable", extra={"error": type(exc).__name__})
        return
    tasks = GaugeMetricFamily(
        "neuroscreen_alert_tasks",
        "Delivered alert Tasks by their status in the EHR (unknown: not seen yet)",
        labels=["status"],
    )
    for status, count in by_status:
        tasks.add_metric([status or "unknown"], count)
    yield tasks
    yield CounterMetricFamily(
        "neuroscreen_escalations",
        "Urgent Tasks not accepted by their due time, escalated (NEUROSCREEN_ESCALATION_RECIPIENT)",
        value=escalated or 0,
    )
    yield GaugeMetricFamily(
        "neuroscreen_escalations_pending",
        "Urgent Tasks past due and not accepted whose escalation has not been sent yet",
        value=pending or 0,
    )
    age = GaugeMetricFamily(
        "neuroscreen_periodic_job_age_seconds",
        "Seconds since a periodic job last succeeded (or since it was set up)",
        labels=["job"],
    )
    failing = GaugeMetricFamily(
        "neuroscreen_periodic_job_failing",
        "1 while a periodic job's last run failed, by how (outcome: transient, fatal, auth-failed)",
        labels=["job", "outcome"],
    )
    for name, last_success, created, last_failure in jobs:
        age.add_metric([name], (now - (last_success or created)).total_seconds())
        if last_failure:
            failing.add_metric([name, last_failure], 1)
    yield age
    yield failing


@lru_cache
def pipeline_collector(settings: Settings | None = None) -> PipelineCollector:
    """The process's one :class:`PipelineCollector` (registries may share it)."""
    return PipelineCollector(settings or get_settings())
