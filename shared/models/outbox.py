"""The transactional outbox: jobs written in the same commit as the data they concern."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, BigId, Timestamp, utcnow


class OutboxMessage(Base):
    """A task to publish to the broker once ``available_at`` has passed.

    A delayed retry is a row with a future ``available_at``: long waits live
    here, in the database, not in Celery countdowns that a broker restart or
    visibility timeout could lose or duplicate.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task: Mapped[str] = mapped_column(String(128))
    payload: Mapped[str] = mapped_column(Text)
    available_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, index=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
