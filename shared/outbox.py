"""The transactional outbox and its relay.

Writers call :func:`enqueue` inside their own transaction, so a job exists
exactly when the data it concerns was committed: "accepted" means "stored and
queued", even while the broker is down. The :class:`OutboxRelay` publishes
due rows to the broker and deletes them; when the broker is unreachable the
rows simply wait.

The relay is also the scheduler of periodic jobs (no Celery beat): each has a
:class:`~shared.models.PeriodicJob` row, and the relay publishes the job when
its ``next_run_at`` has passed, so it runs wherever the relay runs. The row is
its durable state, so it needs no outbox row: a failed publish leaves
``next_run_at`` as it was and the next tick tries again.

The relay also repairs what a broker can lose (a Redis restart without
persistence, a job acknowledged by a worker that then died): any response
whose next step is overdue by ``redeliver_after_seconds`` gets its job
enqueued again. Every task is idempotent, so a duplicate costs a no-op.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import orjson
from prometheus_client import Counter
from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from shared.db import session_scope
from shared.models import OutboxMessage, PeriodicJob, QuestionnaireResponseRecord
from shared.models.base import utcnow
from shared.pipeline import ACTIVE_STATES, next_task_for
from shared.tasks import ROUTES, TaskRoute

log = logging.getLogger("neuroscreen.outbox")

PUBLISHED = Counter("neuroscreen_outbox_published_total", "Jobs published to the broker", ["task"])
PUBLISH_FAILURES = Counter(
    "neuroscreen_outbox_publish_failures_total", "Failed attempts to publish a batch to the broker"
)
REDELIVERED = Counter(
    "neuroscreen_redelivered_total", "Overdue jobs enqueued again by the relay", ["task"]
)

Publish = Callable[[TaskRoute, dict[str, str]], None]
"""Sends one job to the broker; raises if the broker is unreachable."""


def enqueue(
    session: Session, route: TaskRoute, response_id: str, *, at: datetime | None = None
) -> None:
    """Queue ``route`` for ``response_id`` as part of the caller's transaction.

    A Core INSERT rather than ``session.add``: it is on every request's path, and the
    row is never read back by the writer.
    """
    now = utcnow()
    session.connection().execute(
        insert(OutboxMessage.__table__).values(
            task=route.name,
            payload=orjson.dumps({"response_id": response_id}).decode(),
            available_at=at or now,
            created_at=now,
        )
    )


class OutboxRelay:
    """Moves due outbox rows to the broker; safe to run in several processes at once."""

    def __init__(
        self,
        publish: Publish,
        *,
        interval_seconds: float,
        redeliver_after_seconds: float,
        batch_size: int = 500,
        periodic: Mapping[TaskRoute, float] | None = None,
    ) -> None:
        self._publish = publish
        self._interval = interval_seconds
        self._redeliver_after = timedelta(seconds=redeliver_after_seconds)
        self._batch_size = batch_size
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_recovery = 0.0
        self._periodic = dict(periodic or {})
        """Periodic job → interval in seconds (see :func:`shared.tasks.periodic_jobs`)."""
        self._periodic_rows_exist = False

    def wake(self) -> None:
        """Publish now rather than at the next tick (called after a commit)."""
        self._wake.set()

    def publish_due(self) -> int:
        """Publish every due row (in batches); returns how many were published."""
        total = 0
        while True:
            with session_scope() as session:
                rows = session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.available_at <= utcnow())
                    .order_by(OutboxMessage.id)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                ).all()
                for row in rows:
                    self._publish(ROUTES[row.task], orjson.loads(row.payload))
                    PUBLISHED.labels(row.task).inc()
                if rows:
                    session.execute(
                        delete(OutboxMessage).where(OutboxMessage.id.in_([r.id for r in rows]))
                    )
            total += len(rows)
            if len(rows) < self._batch_size:
                return total

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
            for job in due:
                route = names[job.name]
                self._publish(route, {})  # raises while the broker is down: nothing moves
                PUBLISHED.labels(route.name).inc()
                job.next_run_at = now + timedelta(seconds=self._periodic[route])
        return len(due)

    def run_once(self) -> None:
        """One relay tick: recover overdue work and schedule periodic jobs (at most every
        few seconds), then publish."""
        now = utcnow().timestamp()
        if now - self._last_recovery >= min(5.0, self._redeliver_after.total_seconds() / 2):
            self._last_recovery = now
            self.recover_overdue()
            self.schedule_periodic()
        self.publish_due()

    def run_forever(self) -> None:
        backoff = self._interval
        while not self._stop.is_set():
            try:
                self.run_once()
                backoff = self._interval
            except Exception as exc:
                # Broker or database down: keep the rows, back off, try again.
                PUBLISH_FAILURES.inc()
                log.warning("outbox relay tick failed", extra={"error": type(exc).__name__})
                backoff = min(backoff * 2, 5.0)
            self._wake.wait(backoff)
            self._wake.clear()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run_forever, name="outbox-relay", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)


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


def celery_publisher() -> Publish:
    """A :data:`Publish` that sends through the shared Celery app, failing fast."""
    from shared.broker import get_celery  # imported late: Celery is heavy at import

    app = get_celery()

    def publish(route: TaskRoute, payload: dict[str, str]) -> None:
        app.send_task(
            route.name,
            kwargs=payload,
            queue=route.queue,
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5},
        )

    return publish
