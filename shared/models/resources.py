"""Stored FHIR resources: received QuestionnaireResponses and what screening derived."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, Timestamp, utcnow
from shared.pipeline import ResponseState


class QuestionnaireResponseRecord(Base):
    """A QuestionnaireResponse as accepted, plus where it is in the pipeline.

    ``resource`` is the JSON we serve (the client's resource with our ``id``
    and ``meta``). Search columns are extracted once at write time so that
    reads never parse JSON. ``state``/``due_at`` drive recovery: a response
    whose next step is overdue is published again (see ``shared.outbox``).
    """

    __tablename__ = "questionnaire_response"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(Integer, default=1)
    patient: Mapped[str] = mapped_column(String(255), index=True)
    identifier_system: Mapped[str | None] = mapped_column(String(255))
    identifier_value: Mapped[str | None] = mapped_column(String(255))
    content_hash: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(Text)
    last_updated: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, index=True)
    state: Mapped[str] = mapped_column(String(32), default=ResponseState.RECEIVED)
    state_detail: Mapped[str | None] = mapped_column(Text)
    state_changed_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(Timestamp)

    __table_args__ = (
        # The EHR's business identifier is the idempotency key: never stored twice.
        Index(
            "uq_questionnaire_response_identifier",
            "identifier_value",
            "identifier_system",
            unique=True,
        ),
        Index("ix_questionnaire_response_state_due", "state", "due_at"),
    )


class Screening(Base):
    """One row per scored response: its primary key makes scoring idempotent."""

    __tablename__ = "screening"

    response_id: Mapped[str] = mapped_column(
        ForeignKey("questionnaire_response.id", ondelete="CASCADE"), primary_key=True
    )
    knowledge_version: Mapped[str] = mapped_column(String(64))
    tier: Mapped[str] = mapped_column(String(16))
    risk_assessment_id: Mapped[str] = mapped_column(String(64))
    scored_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    alert_round: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    """1 for the first screening; a re-screen whose tier rose to alerting opens round 2, 3...
    (notify sends that round's alert with its own identifiers: ``task/<id>/v2``)."""
    alert_reason: Mapped[str | None] = mapped_column(Text)
    """Why this round alerts, e.g. "re-screened under knowledge 2.1.0: tier rose from low to
    urgent"; None for the first screening."""


class DerivedResource(Base):
    """Observation, RiskAssessment and ServiceRequest resources made by screening."""

    __tablename__ = "derived_resource"

    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient: Mapped[str] = mapped_column(String(255))
    response_id: Mapped[str] = mapped_column(
        ForeignKey("questionnaire_response.id", ondelete="CASCADE"), index=True
    )
    resource: Mapped[str] = mapped_column(Text)
    last_updated: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    version_id: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    knowledge_version: Mapped[str | None] = mapped_column(String(32))
    """The knowledge base this version was derived under (None: stored before re-screening)."""

    __table_args__ = (Index("ix_derived_resource_type_patient", "resource_type", "patient"),)


class DerivedResourceVersion(Base):
    """An earlier version of a derived resource, kept when a re-screen replaced it.

    The current version stays in :class:`DerivedResource`; together they are the
    resource's ``_history`` (``GET /fhir/RiskAssessment/{id}/_history``).
    """

    __tablename__ = "derived_resource_version"

    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    response_id: Mapped[str] = mapped_column(
        ForeignKey("questionnaire_response.id", ondelete="CASCADE"), index=True
    )
    resource: Mapped[str] = mapped_column(Text)
    last_updated: Mapped[datetime] = mapped_column(Timestamp)
    knowledge_version: Mapped[str | None] = mapped_column(String(32))
