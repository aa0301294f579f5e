"""Notify's record of each alert: one delivery per response, a row per attempt."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, BigId, Timestamp, utcnow


class Delivery(Base):
    """The alert for one response: what to write to the EHR and how that went."""

    __tablename__ = "delivery"

    response_id: Mapped[str] = mapped_column(
        ForeignKey("questionnaire_response.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(32), index=True)
    tier: Mapped[str] = mapped_column(String(16))
    coordinator: Mapped[str] = mapped_column(String(255))
    bundle: Mapped[str | None] = mapped_column(Text)
    """The transaction Bundle sent (or kept locally when no EHR is configured)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    next_attempt_at: Mapped[datetime | None] = mapped_column(Timestamp)
    delivered_at: Mapped[datetime | None] = mapped_column(Timestamp)
    ehr_references: Mapped[str | None] = mapped_column(Text)
    """JSON list of the EHR's ``Type/id`` for every resource written."""
    ehr_acknowledged: Mapped[str | None] = mapped_column(Text)
    """JSON object: the EHR's ``Type/id`` for each entry (by ``fullUrl``) of ``bundle`` it
    has acknowledged so far; the next attempt sends only the rest (notify.transactions)."""
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    """Error kind and the EHR's OperationOutcome (JSON), never resource contents."""
    urgent_overdue_reported: Mapped[bool] = mapped_column(Boolean, default=False)
    alert_round: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    """The screening's alert round this delivery is for (``Screening.alert_round``): a
    re-screen whose tier rose opens the next round, with its own Task and Communication."""

    # The closed loop (notify.follow_up, notify.escalation): what became of the Task.
    task_due_at: Mapped[datetime | None] = mapped_column(Timestamp, index=True)
    """``Task.restriction.period.end``: when the tier's policy wants the Task acted on."""
    task_status: Mapped[str | None] = mapped_column(String(32))
    """The Task's status in the EHR as last seen; None until the follow-up has seen it."""
    task_status_at: Mapped[datetime | None] = mapped_column(Timestamp)
    """The EHR's ``meta.lastUpdated`` of the Task version that status was read from."""
    escalated_at: Mapped[datetime | None] = mapped_column(Timestamp)
    escalation_recipient: Mapped[str | None] = mapped_column(String(255))
    escalation_reference: Mapped[str | None] = mapped_column(String(255))
    """``Communication/<id>`` in the EHR: the one escalation of an unaccepted urgent Task."""


class DeliveryAttempt(Base):
    """One POST of the alert Bundle to the EHR, successful or not."""

    __tablename__ = "delivery_attempt"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    response_id: Mapped[str] = mapped_column(
        ForeignKey("delivery.response_id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    duration_ms: Mapped[int] = mapped_column(Integer)
    http_status: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(32))
    """delivered, transient, fatal, auth-failed (the EHR refused NeuroScreen's sign-in)."""
    detail: Mapped[str | None] = mapped_column(Text)


class RefusedAttachment(Base):
    """A part of a delivered alert the EHR refused (the alert itself got through)."""

    __tablename__ = "refused_attachment"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    response_id: Mapped[str] = mapped_column(
        ForeignKey("delivery.response_id", ondelete="CASCADE"), index=True
    )
    resource_type: Mapped[str] = mapped_column(String(64))
    local_reference: Mapped[str | None] = mapped_column(String(160))
    """Where NeuroScreen serves it (``RiskAssessment/<id>``), which the alert cites instead."""
    http_status: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(Text)
    """The EHR's OperationOutcome (JSON)."""
    refused_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
