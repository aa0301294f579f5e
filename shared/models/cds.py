"""CDS Hooks: the cards shown in an EHR's chart and the clinicians' feedback on them.

A card's ``uuid`` is stable per screening (the same card is shown on every
chart view), so ``cds_card`` maps it back to the response it came from with
one row per screening, however often the chart is opened. Feedback is stored
once per (card, outcome, outcome timestamp): an EHR that retries a feedback
POST records nothing twice. Only codes and ids are kept, never the
clinician's free-text comment (it may name the patient).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, BigId, Timestamp, utcnow


class CdsCard(Base):
    """A card NeuroScreen has shown, by its uuid: which screening it presented."""

    __tablename__ = "cds_card"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    response_id: Mapped[str] = mapped_column(
        ForeignKey("questionnaire_response.id", ondelete="CASCADE"), index=True
    )
    first_shown_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class CdsFeedback(Base):
    """What a clinician did with a card: accepted (some suggestions) or overridden (why)."""

    __tablename__ = "cds_feedback"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    card_uuid: Mapped[str] = mapped_column(ForeignKey("cds_card.uuid", ondelete="CASCADE"))
    response_id: Mapped[str] = mapped_column(
        ForeignKey("questionnaire_response.id", ondelete="CASCADE"), index=True
    )
    outcome: Mapped[str] = mapped_column(String(16))
    """``accepted`` or ``overridden``."""
    outcome_timestamp: Mapped[datetime] = mapped_column(Timestamp)
    override_reason: Mapped[str | None] = mapped_column(String(64))
    """A code of NeuroScreen's override-reason CodeSystem, ``other`` for a code from
    elsewhere, empty when none was chosen."""
    accepted_suggestions: Mapped[int] = mapped_column(Integer, default=0)
    issuer: Mapped[str] = mapped_column(String(255))
    """The CDS client (JWT ``iss``) that sent the feedback."""
    received_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)

    __table_args__ = (UniqueConstraint("card_uuid", "outcome", "outcome_timestamp"),)
