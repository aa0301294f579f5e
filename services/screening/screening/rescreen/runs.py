"""A re-screening run: start it, do it a batch per transaction, cancel it.

The run walks the scored responses stored in its window (``since`` inclusive, ``until``
exclusive; an open ``until`` is the moment the run started, so responses arriving
meanwhile, which the live worker scores anyway, do not stretch it) in id order. Each
:func:`run_batch` locks the run, does the next ``batch_size`` responses, records an item
per response and advances ``cursor`` and ``batch`` in the same commit: a worker killed
mid-batch loses the whole batch, which the redelivered job (or the relay, for a lost
job) does again; a duplicate job carries a stale batch number and does nothing.
When chained, the batch enqueues the next through the outbox in that same commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from screening.knowledge import load_knowledge
from screening.rescreen.rescore import rescore
from shared.config import get_settings
from shared.models import (
    QuestionnaireResponseRecord,
    RescreenItem,
    RescreenRun,
    RunStatus,
    Screening,
)
from shared.models.base import utcnow
from shared.outbox import enqueue_job
from shared.tasks import RESCREEN_BATCH

Sessions = Callable[[], AbstractContextManager[Session]]


def start_run(
    session: Session,
    knowledge_version: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = True,
    chain: bool = True,
) -> RescreenRun:
    """Create a run (raises ``KnowledgeError`` for an unknown version); flushes.

    ``chain`` queues its first batch on ``screening-bulk``; without it the caller drives
    the batches (:func:`run_to_end`).
    """
    load_knowledge(knowledge_version)
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
    run.total = session.scalar(select(func.count()).select_from(_in_scope(run).subquery())) or 0
    session.add(run)
    session.flush()
    if chain:
        enqueue_job(session, RESCREEN_BATCH, {"run_id": run.id, "batch": 0})
    return run


def run_batch(
    session: Session, run_id: str, batch: int, *, batch_size: int, chain: bool = True
) -> bool:
    """Do batch number ``batch`` of the run; False when there is nothing (more) to do."""
    run = session.scalar(select(RescreenRun).where(RescreenRun.id == run_id).with_for_update())
    if run is None or run.status != RunStatus.RUNNING or run.batch != batch:
        return False  # finished, cancelled, or a duplicate of a batch already done
    ids = session.scalars(
        _in_scope(run).order_by(QuestionnaireResponseRecord.id).limit(batch_size)
    ).all()
    knowledge = load_knowledge(run.knowledge_version)
    alert_min = get_settings().alert_min_tier
    for response_id in ids:
        record = session.scalar(
            select(QuestionnaireResponseRecord)
            .where(QuestionnaireResponseRecord.id == response_id)
            .with_for_update()
        )
        screening = session.get(Screening, response_id)
        if record is None or screening is None:
            continue  # deleted since the batch was chosen
        result = rescore(
            session, record, screening, knowledge, dry_run=run.dry_run, alert_min_tier=alert_min
        )
        session.add(
            RescreenItem(
                run_id=run.id,
                response_id=response_id,
                from_tier=result.from_tier,
                to_tier=result.to_tier,
                outcome=result.outcome.value,
                alerted=result.alerted,
                detail=result.detail,
            )
        )
    now = utcnow()
    run.done += len(ids)
    run.batch += 1
    run.updated_at = now
    if ids:
        run.cursor = ids[-1]
    if len(ids) < batch_size:
        run.status = RunStatus.COMPLETED
        run.finished_at = now
        return False
    if chain:
        enqueue_job(session, RESCREEN_BATCH, {"run_id": run.id, "batch": run.batch})
    return True


def cancel_run(session: Session, run_id: str) -> RescreenRun | None:
    """Stop a running run after the batch in hand; what it did stays done."""
    run = session.scalar(select(RescreenRun).where(RescreenRun.id == run_id).with_for_update())
    if run is not None and run.status == RunStatus.RUNNING:
        run.status = RunStatus.CANCELLED
        run.finished_at = run.updated_at = utcnow()
    return run


def run_to_end(sessions: Sessions, run_id: str, *, batch_size: int) -> None:
    """Do every remaining batch of ``run_id`` here, a transaction each (no queue)."""
    while True:
        with sessions() as session:
            run = session.get(RescreenRun, run_id)
            if run is None:
                return
            more = run_batch(session, run_id, run.batch, batch_size=batch_size, chain=False)
        if not more:
            return


def _in_scope(run: RescreenRun):  # noqa: ANN202 - a SQLAlchemy Select of response ids
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
