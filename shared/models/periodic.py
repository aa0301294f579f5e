"""Periodic jobs without Celery beat: the outbox relay publishes each one when it is due."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, Timestamp, utcnow


class PeriodicJob(Base):
    """One periodic task (by its task name): when it runs next and where it got to.

    The relay (:mod:`shared.outbox`) publishes the task when ``next_run_at`` has
    passed and moves ``next_run_at`` on by the job's interval, under a row lock, so
    several relays publish it once per interval. A job the broker loses is simply
    published again at the next interval. The task itself records its progress.
    """

    __tablename__ = "periodic_job"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    next_run_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    last_success_at: Mapped[datetime | None] = mapped_column(Timestamp)
    cursor: Mapped[str | None] = mapped_column(String(64))
    """Job-specific progress, e.g. the newest EHR ``meta.lastUpdated`` already seen."""
    last_failure: Mapped[str | None] = mapped_column(String(32))
    """How the last run failed (an :class:`~notify.ehr_client.EhrError` kind such as
    ``auth-failed``), None when it went through: exported for the alarms."""
