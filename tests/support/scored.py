"""Stored, scored responses for the re-screening tests (e.g. vignettes under 1.0.0),
written straight into a migrated database through the real scoring code."""

from __future__ import annotations

import orjson
from fixtures.responses import make_response
from sqlalchemy.orm import Session

from screening.knowledge import load_knowledge
from screening.scoring import score
from shared.models import QuestionnaireResponseRecord
from shared.models.base import utcnow
from shared.pipeline import ResponseState, transition


def store_scored(
    session: Session, response_id: str, answers: dict, *, state: ResponseState, version: str
) -> None:
    """A response stored, scored under ``version`` and left in ``state``."""
    now = utcnow()
    resource = make_response(answers, patient="Patient/p-" + response_id)
    resource["id"] = response_id  # as the intake stores it
    record = QuestionnaireResponseRecord(
        id=response_id,
        patient="Patient/p-" + response_id,
        content_hash="h",
        resource=orjson.dumps(resource).decode(),
        last_updated=now,
    )
    transition(record, ResponseState.RECEIVED, None, now=now)
    session.add(record)
    session.flush()
    score(session, response_id, load_knowledge(version))
    if state != ResponseState.SCORED:
        transition(record, state, "test", now=now)
    session.flush()
