"""Closing the loop: what became of each alert Task in the EHR.

A periodic job (:data:`shared.tasks.FOLLOW_UP_TASKS`, published by the outbox
relay) searches the EHR for NeuroScreen's Tasks changed since the last run
(``Task?code=<tasks>|review-screening&_lastUpdated=gt<cursor>``, following
``next`` links), records each Task's status on its delivery, then escalates
urgent Tasks nobody picked up by their due time (:mod:`notify.escalation`).

The cursor is the newest ``meta.lastUpdated`` the EHR reported, so the EHR's
clock, never ours, decides what is new; each search reaches back
:data:`CURSOR_OVERLAP` so a write that committed late is still seen. Seeing a
Task twice is harmless: a status is only replaced by a newer version's.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from notify.ehr_client import EhrAuthFailed, EhrClient, EhrError
from notify.escalation import escalate_overdue
from notify.task_status import alert_of, parse_instant, record_task_status
from shared.config import Settings
from shared.fhir.codes import REVIEW_SCREENING, TASKS
from shared.fhir.search_values import token
from shared.models import Delivery, PeriodicJob
from shared.models.base import utcnow
from shared.tasks import FOLLOW_UP_TASKS

log = logging.getLogger("neuroscreen.notify")

CURSOR_OVERLAP = timedelta(minutes=2)
IN_CHUNK = 500


def follow_up(session: Session, settings: Settings, client: EhrClient | None) -> None:
    """One run of the periodic job; flushes, never commits. Concurrent runs skip."""
    job = _claim(session)
    if job is None:
        log.info("task follow-up already running elsewhere")
        return
    job.last_failure = None
    if client is None:  # alerts are held locally: there are no Tasks to follow
        job.last_success_at = utcnow()
        return
    try:
        tasks = client.search("Task", _search_params(job.cursor))
    except EhrError as error:
        # last_success_at stays old, so neuroscreen_periodic_job_age_seconds raises the alarm;
        # a sign-in failure pages at once (NeuroScreenEHRAuthFailing via last_failure).
        job.last_failure = error.kind
        log.log(
            logging.ERROR if isinstance(error, EhrAuthFailed) else logging.WARNING,
            "task follow-up search failed",
            extra={"http_status": error.status, "outcome": error.kind, "error": str(error)},
        )
    else:
        job.cursor = record_task_statuses(session, tasks, job.cursor)
        job.last_success_at = utcnow()
    try:
        escalate_overdue(session, settings, client)
    except EhrAuthFailed as error:
        job.last_failure = error.kind
        log.error(
            "escalation refused: the EHR refuses NeuroScreen's sign-in",
            extra={"http_status": error.status, "outcome": error.kind, "error": str(error)},
        )


def record_task_statuses(
    session: Session, tasks: list[dict[str, Any]], cursor: str | None
) -> str | None:
    """Record each Task's status on its delivery; returns the new cursor."""
    by_alert = {alert: task for task in tasks if (alert := alert_of(task))}
    ids = list({response_id for response_id, _ in by_alert})
    for start in range(0, len(ids), IN_CHUNK):  # the first run may see every Task there is
        chunk = ids[start : start + IN_CHUNK]
        for delivery in session.scalars(select(Delivery).where(Delivery.response_id.in_(chunk))):
            # Only the Task of the delivery's current round: an earlier round's is history.
            task = by_alert.get((delivery.response_id, delivery.alert_round))
            if task is not None:
                record_task_status(delivery, task)
    updated = [t["meta"]["lastUpdated"] for t in tasks if t.get("meta", {}).get("lastUpdated")]
    if cursor:
        updated.append(cursor)
    return max(updated, key=parse_instant) if updated else None


def _search_params(cursor: str | None) -> dict[str, str]:
    params = {"code": token(TASKS, REVIEW_SCREENING), "_sort": "_lastUpdated"}
    if cursor:
        since = parse_instant(cursor) - CURSOR_OVERLAP
        params["_lastUpdated"] = "gt" + since.isoformat(timespec="milliseconds").replace(
            "+00:00", "Z"
        )
    return params


def _claim(session: Session) -> PeriodicJob | None:
    """This job's row, locked for the run; None while another run holds it."""
    statement = select(PeriodicJob).where(PeriodicJob.name == FOLLOW_UP_TASKS.name)
    job = session.scalar(statement.with_for_update(skip_locked=True))
    if job is not None:
        return job
    if session.scalar(statement) is not None:
        return None  # locked by a concurrent run
    job = PeriodicJob(name=FOLLOW_UP_TASKS.name, next_run_at=utcnow(), created_at=utcnow())
    session.add(job)
    session.flush()
    return job
