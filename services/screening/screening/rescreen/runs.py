"""A re-screening run done a batch per transaction (created by :mod:`shared.rescreen`).

The run walks its responses in id order. Each
:func:`run_batch` locks the run, does the next ``batch_size`` responses, records an item
per response and advances ``cursor`` and ``batch`` in the same commit: a worker killed
mid-batch loses the whole batch, which the redelivered job (or the relay, for a lost
job) does again; a duplicate job carries a stale batch number and does nothing.
When chained, the batch enqueues the next through the outbox in that same commit.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from screening.knowledge import KnowledgeError, load_knowledge
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
from shared.rescreen import create_run, in_scope
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
    return create_run(
        session, knowledge_version, since=since, until=until, dry_run=dry_run, chain=chain
    )


def run_batch(
    session: Session, run_id: str, batch: int, *, batch_size: int, chain: bool = True
) -> bool:
    """Do batch number ``batch`` of the run; False when there is nothing (more) to do."""
    run = session.scalar(select(RescreenRun).where(RescreenRun.id == run_id).with_for_update())
    if run is None or run.status != RunStatus.RUNNING or run.batch != batch:
        return False  # finished, cancelled, or a duplicate of a batch already done
    ids = session.scalars(
        in_scope(run).order_by(QuestionnaireResponseRecord.id).limit(batch_size)
    ).all()
    try:
        knowledge = load_knowledge(run.knowledge_version)
    except KnowledgeError as error:
        # Created by the intake, which does not know the versions this worker has.
        run.status = RunStatus.FAILED
        run.detail = str(error)
        run.finished_at = run.updated_at = utcnow()
        return False
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
