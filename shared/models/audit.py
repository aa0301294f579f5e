"""The audit trail (FHIR AuditEvents) and the record of used client assertions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, synonym

from shared.models.base import Base, Timestamp, utcnow


class AuditEventRecord(Base):
    """One AuditEvent: who (client) did what (action) to which resource, and the outcome.

    ``resource`` is the AuditEvent served; the other columns are its search
    parameters, extracted at write time. References only: never answers.
    """

    __tablename__ = "audit_event"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    recorded: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, index=True)
    agent: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(1))
    outcome: Mapped[str] = mapped_column(String(2))
    entity_type: Mapped[str | None] = mapped_column(String(64))
    patient: Mapped[str | None] = mapped_column(String(255))
    resource: Mapped[str] = mapped_column(Text)
    last_updated = synonym("recorded")
    """Searches of every stored resource page newest first by ``last_updated``."""

    __table_args__ = (
        Index("ix_audit_event_agent_recorded", "agent", "recorded"),
        Index("ix_audit_event_patient_recorded", "patient", "recorded"),
    )


class UsedAssertion(Base):
    """A client assertion's ``jti`` (hashed with its issuer) until the assertion expires.

    The embedded default's replay store; production uses Redis ``SET NX``.
    """

    __tablename__ = "used_assertion"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(Timestamp, index=True)
