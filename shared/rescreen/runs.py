"""Creating and cancelling a re-screening run (its batches: ``screening.rescreen.runs``).

A run covers the scored responses stored in its window (``since`` inclusive, ``until``
exclusive; an open ``until`` is the moment the run started, so responses arriving
meanwhile, which the live worker scores anyway, do not stretch it), walked in id order.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from shared.models import QuestionnaireResponseRecord, RescreenRun, RunStatus, Screening
from shared.models.base import utcnow
from shared.outbox import enqueue_job
from shared.tasks import RESCREEN_BATCH


def create_run(
    session: Session,
    knowledge_version: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = True,
    chain: bool = True,
) -> RescreenRun:
    """A new run, counted; ``chain`` queues its first batch on ``screening-bulk``. Flushes."""
    now = utcnow()
    run = RescreenRun(
        id=str(uuid.uuid4()),
        knowledge_version=knowledge_version,
        since=since,
        until=until or now,
        dry_run=dry_run,
        status=RunStatus.RUNNING,
        done=0,
        batch=0,
        created_at=now,
        updated_at=now,
    )
    run.total = session.scalar(select(func.count()).select_from(in_scope(run).subquery())) or 0
    session.add(run)
    session.flush()
    if chain:
        enqueue_job(session, RESCREEN_BATCH, {"run_id": run.id, "batch": 0})
    return run


def cancel_run(session: Session, run_id: str) -> RescreenRun | None:
    """Stop a running run after the batch in hand; what it did stays done."""
    run = session.scalar(select(RescreenRun).where(RescreenRun.id == run_id).with_for_update())
    if run is not None and run.status == RunStatus.RUNNING:
        run.status = RunStatus.CANCELLED
        run.finished_at = run.updated_at = utcnow()
    return run


def in_scope(run: RescreenRun) -> Select[tuple[str]]:
    """The scored responses in the run's window not yet done, by id."""
    record = QuestionnaireResponseRecord
    statement = select(record.id).join(Screening, Screening.response_id == record.id)
    if run.since is not None:
        statement = statement.where(record.last_updated >= run.since)
    if run.until is not None:
        statement = statement.where(record.last_updated < run.until)
    if run.cursor is not None:
        statement = statement.where(record.id > run.cursor)
    return statement
