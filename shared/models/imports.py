"""Backlog imports: one row per ``$import`` of an NDJSON file of QuestionnaireResponses."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, BigId, Timestamp, utcnow


class ImportJob(Base):
    """Counts as the file streams in; refused lines go to ``error_file`` (NDJSON of
    OperationOutcomes, one per refused line, each naming its line number)."""

    __tablename__ = "import_job"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    """running, completed, failed (the upload broke off or passed a limit: ``detail``)."""
    lines: Mapped[int] = mapped_column(Integer, default=0)
    stored: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    """Lines whose identifier was already stored (a re-run): not stored twice."""
    refused: Mapped[int] = mapped_column(Integer, default=0)
    bytes_read: Mapped[int] = mapped_column(BigId, default=0)
    client_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    detail: Mapped[str | None] = mapped_column(Text)


class RefusedLine(Base):
    """One refused line of an import: its OperationOutcome, served as the job's error file."""

    __tablename__ = "import_error"

    job_id: Mapped[str] = mapped_column(
        ForeignKey("import_job.id", ondelete="CASCADE"), primary_key=True
    )
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    outcome: Mapped[str] = mapped_column(Text)
