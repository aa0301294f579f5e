"""Re-scoring one stored response under a knowledge version: the same engine and builders
as the live screening task (:func:`screening.scoring.evaluate_record`).

Idempotent per response and version: a response whose screening already carries the
version is left alone, so a batch done twice (a killed worker) changes nothing twice.
Only a response whose pipeline is at rest (its alert delivered, not needed or held) is
rewritten; one still on its way to the EHR, or a dead letter waiting for an operator,
is reported and left for a later run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from screening.knowledge import Knowledge
from screening.rescreen.versions import replace_resources
from screening.scoring import evaluate_record
from shared.models import ItemOutcome, QuestionnaireResponseRecord, Screening
from shared.models.base import utcnow
from shared.pipeline import ResponseState

log = logging.getLogger("neuroscreen.rescreen")

AT_REST = (ResponseState.NOTIFIED, ResponseState.NO_ALERT, ResponseState.HELD)
"""States a re-screen may rewrite: nothing else is working on the response."""


@dataclass(frozen=True)
class Rescored:
    outcome: ItemOutcome
    from_tier: str
    to_tier: str | None
    detail: str | None = None


def rescore(
    session: Session,
    record: QuestionnaireResponseRecord,
    screening: Screening,
    knowledge: Knowledge,
    *,
    dry_run: bool,
) -> Rescored:
    """Score ``record`` again; unless ``dry_run``, store the result as the current version."""
    old_tier = screening.tier
    if screening.knowledge_version == knowledge.version:
        return Rescored(ItemOutcome.ALREADY, old_tier, old_tier)
    try:
        resources, tier = evaluate_record(record, knowledge)
    except Exception as error:
        # The error's type only: its message could quote answers.
        log.error(
            "re-screening failed", extra={"response_id": record.id, "error": type(error).__name__}
        )
        return Rescored(ItemOutcome.FAILED, old_tier, None, type(error).__name__)
    if dry_run:
        return Rescored(ItemOutcome.PREVIEWED, old_tier, tier)
    if record.state not in AT_REST:
        return Rescored(ItemOutcome.IN_FLIGHT, old_tier, tier, f"state {record.state}")
    now = utcnow()
    replace_resources(
        session,
        record.id,
        record.patient,
        resources,
        knowledge.version,
        now,
        previous_knowledge_version=screening.knowledge_version,
    )
    screening.knowledge_version = knowledge.version
    screening.tier = tier
    screening.risk_assessment_id = resources.risk_assessment["id"]
    screening.scored_at = now
    log.info(
        "response re-screened",
        extra={"response_id": record.id, "knowledge_version": knowledge.version, "tier": tier},
    )
    return Rescored(ItemOutcome.RESCORED, old_tier, tier)
