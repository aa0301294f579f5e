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
from shared.outbox import enqueue
from shared.pipeline import ResponseState, transition
from shared.tasks import DELIVER_ALERT
from shared.tiers import TIER_RANK

log = logging.getLogger("neuroscreen.rescreen")

AT_REST = (ResponseState.NOTIFIED, ResponseState.NO_ALERT, ResponseState.HELD)
"""States a re-screen may rewrite: nothing else is working on the response."""


@dataclass(frozen=True)
class Rescored:
    outcome: ItemOutcome
    from_tier: str
    to_tier: str | None
    detail: str | None = None
    alerted: bool = False


def rescore(
    session: Session,
    record: QuestionnaireResponseRecord,
    screening: Screening,
    knowledge: Knowledge,
    *,
    dry_run: bool,
    alert_min_tier: str,
) -> Rescored:
    """Score ``record`` again; unless ``dry_run``, store the result as the current version.

    A tier that rose to ``alert_min_tier`` or above opens the next alert round: the
    response goes back to notify with the reason. An unchanged or lower tier sends
    nothing, and an earlier round's Task is never sent again.
    """
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
        # ``alerted`` here means "would alert if applied".
        would_alert = rose_to_alert(old_tier, tier, alert_min_tier)
        return Rescored(ItemOutcome.PREVIEWED, old_tier, tier, alerted=would_alert)
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
    alerted = rose_to_alert(old_tier, tier, alert_min_tier)
    if alerted:
        reason = (
            f"re-screened under knowledge {knowledge.version}: tier rose from {old_tier} to {tier}"
        )
        screening.alert_round += 1
        screening.alert_reason = reason
        transition(record, ResponseState.SCORED, reason, now=now)
        enqueue(session, DELIVER_ALERT, record.id)
    log.info(
        "response re-screened",
        extra={
            "response_id": record.id,
            "knowledge_version": knowledge.version,
            "tier": tier,
            "alert": alerted,
        },
    )
    return Rescored(ItemOutcome.RESCORED, old_tier, tier, alerted=alerted)


def rose_to_alert(old_tier: str, new_tier: str, alert_min_tier: str) -> bool:
    return TIER_RANK[new_tier] > TIER_RANK[old_tier] and (
        TIER_RANK[new_tier] >= TIER_RANK[alert_min_tier]
    )
