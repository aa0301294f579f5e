"""Re-screening runs: scoring stored responses again under another knowledge version.

A :class:`RescreenRun` is one operator request (a knowledge version and a window of
stored responses, dry run or apply). It walks the responses in id order, a batch per
transaction; ``cursor`` and ``batch`` advance in the transaction that did the batch's
work, so a killed worker's batch is simply done again and a finished one never is.
Each response the run looked at gets one :class:`RescreenItem` (primary key: run and
response), from which the report is counted.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, Timestamp, utcnow


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    """It could not run at all (an unknown knowledge version): ``detail`` says why."""


class ItemOutcome(StrEnum):
    RESCORED = "rescored"
    """Apply: the new assessment is current (and the tier may have changed)."""
    PREVIEWED = "previewed"
    """Dry run: scored in memory only."""
    ALREADY = "already"
    """Already scored under this knowledge version: nothing to do."""
    IN_FLIGHT = "in-flight"
    """Its alert is still being delivered (or is a dead letter): left alone; run again later."""
    FAILED = "failed"
    """The engine could not score it under this version (error type only in ``detail``)."""


class RescreenRun(Base):
    __tablename__ = "rescreen_run"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    knowledge_version: Mapped[str] = mapped_column(String(32))
    since: Mapped[datetime | None] = mapped_column(Timestamp)
    until: Mapped[datetime | None] = mapped_column(Timestamp)
    dry_run: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.RUNNING)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    batch: Mapped[int] = mapped_column(Integer, default=0)
    """Batches finished: the token a batch job carries, so a duplicate job is a no-op."""
    cursor: Mapped[str | None] = mapped_column(String(64))
    """The last response id done (responses are walked in id order)."""
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    detail: Mapped[str | None] = mapped_column(Text)


class RescreenItem(Base):
    __tablename__ = "rescreen_item"

    run_id: Mapped[str] = mapped_column(
        ForeignKey("rescreen_run.id", ondelete="CASCADE"), primary_key=True
    )
    response_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    from_tier: Mapped[str | None] = mapped_column(String(16))
    to_tier: Mapped[str | None] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    alerted: Mapped[bool] = mapped_column(Boolean, default=False)
    detail: Mapped[str | None] = mapped_column(Text)
