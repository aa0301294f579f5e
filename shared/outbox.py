"""The transactional outbox: jobs written in the same commit as the data they concern.

Writers call :func:`enqueue` inside their own transaction, so a job exists
exactly when the data it concerns was committed: "accepted" means "stored and
queued", even while the broker is down. On PostgreSQL the same transaction
sends ``NOTIFY neuroscreen_outbox`` (delivered only at commit), which wakes
the relay process (:mod:`shared.relay`) with no poll delay.

:class:`OutboxRelay` holds the relay's two database jobs: publish due rows
(``FOR UPDATE SKIP LOCKED``, so several relay processes never publish the
same row) and re-enqueue responses whose next step is overdue (the broker
lost the job). Every task is idempotent, so a duplicate costs a no-op.

The relay is also the scheduler of periodic jobs (no Celery beat): each has a
:class:`~shared.models.PeriodicJob` row, and the relay publishes the job when
its ``next_run_at`` has passed, so it runs wherever the relay runs. The row is
its durable state, so it needs no outbox row: a failed publish leaves
``next_run_at`` as it was and the next tick tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
from prometheus_client import Counter
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from shared.db import session_scope
from shared.models import (
    OutboxMessage,
    PeriodicJob,
    QuestionnaireResponseRecord,
    RescreenRun,
    RunStatus,
)
from shared.models.base import utcnow
from shared.pipeline import ACTIVE_STATES, next_task_for
from shared.tasks import RESCREEN_BATCH, ROUTES, TaskRoute

log = logging.getLogger("neuroscreen.outbox")

NOTIFY_CHANNEL = "neuroscreen_outbox"
"""PostgreSQL channel the relay LISTENs on; a notification means "rows are due"."""

PUBLISHED = Counter("neuroscreen_outbox_published_total", "Jobs published to the broker", ["task"])
PUBLISH_FAILURES = Counter(
    "neuroscreen_outbox_publish_failures_total", "Failed attempts to publish a batch to the broker"
)
REDELIVERED = Counter(
    "neuroscreen_redelivered_total", "Overdue jobs enqueued again by the relay", ["task"]
)

Job = tuple[TaskRoute, dict[str, Any]]
Publish = Callable[[Sequence[Job]], None]
"""Sends a batch of jobs to the broker in one round trip; raises if it is unreachable."""


def enqueue(
    session: Session, route: TaskRoute, response_id: str, *, at: datetime | None = None
) -> None:
    """Queue ``route`` for ``response_id`` as part of the caller's transaction."""
    enqueue_job(session, route, {"response_id": response_id}, at=at)


def enqueue_job(
    session: Session, route: TaskRoute, payload: dict[str, Any], *, at: datetime | None = None
) -> None:
    """Queue ``route`` with ``payload`` (ids only, see :mod:`shared.tasks`) in the caller's
    transaction.

    A Core INSERT rather than ``session.add``: it is on every request's path, and the
    row is never read back by the writer. A job due now also wakes the relay at commit.
    """
    now = utcnow()
    connection = session.connection()
    connection.execute(
        insert(OutboxMessage.__table__).values(
            task=route.name,
            payload=orjson.dumps(payload).decode(),
            available_at=at or now,
            created_at=now,
        )
    )
    if at is None and connection.dialect.name == "postgresql":
        connection.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))


def enqueue_many(session: Session, route: TaskRoute, response_ids: Sequence[str]) -> None:
    """Queue ``route`` for each of ``response_ids`` in one statement (a backlog import's
    batch), in the caller's transaction; wakes the relay at commit."""
    if not response_ids:
        return
    now = utcnow()
    connection = session.connection()
    connection.execute(
        insert(OutboxMessage.__table__),
        [
            {
                "task": route.name,
                "payload": orjson.dumps({"response_id": response_id}).decode(),
                "available_at": now,
                "created_at": now,
            }
            for response_id in response_ids
        ],
    )
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))


class OutboxRelay:
    """Moves due outbox rows to the broker; safe to run in several processes at once."""

    def __init__(
        self,
        publish: Publish,
        *,
        redeliver_after_seconds: float,
        batch_size: int = 500,
        periodic: Mapping[TaskRoute, float] | None = None,
    ) -> None:
        self._publish = publish
        self._redeliver_after = timedelta(seconds=redeliver_after_seconds)
        self._batch_size = batch_size
        self._last_recovery = 0.0
        self._periodic = dict(periodic or {})
        """Periodic job → interval in seconds (see :func:`shared.tasks.periodic_jobs`)."""
        self._periodic_rows_exist = False

    def publish_due(self) -> int:
        """Publish every due row, a batch per transaction; returns how many were published.

        The rows are deleted in the transaction that locked them, after the broker took
        the batch: a crash in between leaves them in place, to be published again
        (at least once; the tasks are idempotent).
        """
        total = 0
        while True:
            with session_scope() as session:
                rows = session.execute(
                    select(OutboxMessage.id, OutboxMessage.task, OutboxMessage.payload)
                    .where(OutboxMessage.available_at <= utcnow())
                    .order_by(OutboxMessage.id)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                ).all()
                if rows:
                    self._publish([(ROUTES[r.task], orjson.loads(r.payload)) for r in rows])
                    for row in rows:
                        PUBLISHED.labels(row.task).inc()
                    session.execute(
                        delete(OutboxMessage).where(OutboxMessage.id.in_([r.id for r in rows]))
                    )
            total += len(rows)
            if len(rows) < self._batch_size:
                return total

    def seconds_until_next_due(self, ceiling: float) -> float:
        """How long the relay may sleep before a delayed row (a retry) becomes due."""
        with session_scope() as session:
            next_at = session.scalar(select(func.min(OutboxMessage.available_at)))
        if next_at is None:
            return ceiling
        if next_at.tzinfo is None:  # SQLite returns naive UTC
            next_at = next_at.replace(tzinfo=utcnow().tzinfo)
        return max(0.0, min(ceiling, (next_at - utcnow()).total_seconds()))

    def recover_overdue(self) -> int:
        """Enqueue again the next job of every response that is overdue."""
        cutoff = utcnow() - self._redeliver_after
        with session_scope() as session:
            overdue = session.execute(
                select(QuestionnaireResponseRecord.id, QuestionnaireResponseRecord.state)
                .where(
                    QuestionnaireResponseRecord.state.in_([s.value for s in ACTIVE_STATES]),
                    QuestionnaireResponseRecord.due_at < cutoff,
                )
                .limit(self._batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            for response_id, state in overdue:
                route = next_task_for(state)
                if route is None:
                    continue
                enqueue(session, route, response_id)
                REDELIVERED.labels(route.name).inc()
                log.warning(
                    "job overdue, enqueued again",
                    extra={"response_id": response_id, "state": state, "task": route.name},
                )
            if overdue:
                session.execute(
                    update(QuestionnaireResponseRecord)
                    .where(QuestionnaireResponseRecord.id.in_([r[0] for r in overdue]))
                    .values(due_at=utcnow())
                )
        return len(overdue)

    def recover_stalled_runs(self) -> int:
        """Enqueue again the next batch of every re-screening run that stopped moving.

        A batch commits its work with the run's progress, so the job says which batch
        comes next; a run whose job the broker lost resumes at its cursor. A batch still
        being worked on holds the run's row lock and is skipped.
        """
        cutoff = utcnow() - self._redeliver_after
        with session_scope() as session:
            stalled = session.scalars(
                select(RescreenRun)
                .where(RescreenRun.status == RunStatus.RUNNING, RescreenRun.updated_at < cutoff)
                .limit(self._batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            for run in stalled:
                enqueue_job(session, RESCREEN_BATCH, {"run_id": run.id, "batch": run.batch})
                run.updated_at = utcnow()
                REDELIVERED.labels(RESCREEN_BATCH.name).inc()
                log.warning("re-screening run stalled, batch enqueued again", extra={"run": run.id})
        return len(stalled)

    def schedule_periodic(self) -> int:
        """Publish every periodic job whose time has come; returns how many were published.

        A row locked by another relay (or by the running job itself) is skipped, so a
        job is published at most once per interval and never while it still runs.
        """
        if not self._periodic:
            return 0
        names = {route.name: route for route in self._periodic}
        if not self._periodic_rows_exist:
            with session_scope() as session:
                _create_periodic_rows(session, list(names))
            self._periodic_rows_exist = True  # only once committed
        with session_scope() as session:
            now = utcnow()
            due = session.scalars(
                select(PeriodicJob)
                .where(PeriodicJob.name.in_(list(names)), PeriodicJob.next_run_at <= now)
                .with_for_update(skip_locked=True)
            ).all()
            if due:
                # Raises while the broker is down: nothing moves, the next tick tries again.
                self._publish([(names[job.name], {}) for job in due])
            for job in due:
                route = names[job.name]
                PUBLISHED.labels(route.name).inc()
                job.next_run_at = now + timedelta(seconds=self._periodic[route])
        return len(due)

    def run_once(self) -> int:
        """One relay tick: recover overdue work and schedule periodic jobs (at most every
        few seconds), then publish."""
        now = utcnow().timestamp()
        if now - self._last_recovery >= min(5.0, self._redeliver_after.total_seconds() / 2):
            self._last_recovery = now
            self.recover_overdue()
            self.recover_stalled_runs()
            self.schedule_periodic()
        return self.publish_due()


def _create_periodic_rows(session: Session, names: list[str]) -> None:
    """Insert the missing periodic-job rows, due now; concurrent relays may race harmlessly."""
    connection = session.connection()
    dialect_insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    for name in names:
        connection.execute(
            dialect_insert(PeriodicJob.__table__)
            .values(name=name, next_run_at=now, created_at=now)
            .on_conflict_do_nothing()
        )
