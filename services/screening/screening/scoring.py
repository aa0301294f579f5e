"""Scoring one stored QuestionnaireResponse, exactly once.

The engine is pure; this module is the I/O around it: lock the response,
skip it if it was already scored (a redelivered job), evaluate, store the
Observation, RiskAssessment and ServiceRequests, and hand the response to
notify through the outbox — all in the caller's single transaction.
A response the engine cannot score ends in the ``failed`` state with the
error's type (never its message, which could quote answers).
"""

from __future__ import annotations

import logging
from functools import lru_cache

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from screening.engine import answers_from_questionnaire_response, evaluate
from screening.knowledge import Knowledge, load_knowledge
from screening.output import ScreeningResources, build_screening_resources
from shared.config import get_settings
from shared.due import task_due_after
from shared.models import DerivedResource, QuestionnaireResponseRecord, Screening
from shared.models.base import utcnow
from shared.outbox import enqueue
from shared.pipeline import ResponseState, transition
from shared.tasks import DELIVER_ALERT

log = logging.getLogger("neuroscreen.screening")


@lru_cache
def current_knowledge() -> Knowledge:
    return load_knowledge(get_settings().knowledge_version or None)


def score(session: Session, response_id: str, knowledge: Knowledge | None = None) -> None:
    """Score ``response_id`` unless it is already scored; flushes, never commits."""
    record = session.scalar(
        select(QuestionnaireResponseRecord)
        .where(QuestionnaireResponseRecord.id == response_id)
        .with_for_update()
    )
    if record is None:
        # Jobs are published only after their commit: the response was deleted since.
        log.warning("no such response, nothing to score", extra={"response_id": response_id})
        return
    if record.state != ResponseState.RECEIVED or session.get(Screening, response_id):
        log.info("already scored, nothing to do", extra={"response_id": response_id})
        return
    knowledge = knowledge or current_knowledge()
    try:
        resources, tier = evaluate_record(record, knowledge)
    except Exception as error:
        _mark_failed(record, error)
        return
    _store(session, record, resources, tier, knowledge)


def evaluate_record(
    record: QuestionnaireResponseRecord, knowledge: Knowledge
) -> tuple[ScreeningResources, str]:
    """The resources and tier of ``record`` under ``knowledge`` (no I/O; re-screening too)."""
    answers = answers_from_questionnaire_response(orjson.loads(record.resource))
    result = evaluate(answers, knowledge)
    resources = build_screening_resources(
        result,
        response_id=record.id,
        patient=record.patient,
        occurred_at=utcnow(),
        due_within=task_due_after(result.tier, get_settings()),
    )
    return resources, result.tier


def _store(
    session: Session,
    record: QuestionnaireResponseRecord,
    resources: ScreeningResources,
    tier: str,
    knowledge: Knowledge,
) -> None:
    now = utcnow()
    for resource in resources.all():
        session.add(
            DerivedResource(
                resource_type=resource["resourceType"],
                id=resource["id"],
                patient=record.patient,
                response_id=record.id,
                resource=orjson.dumps(resource).decode(),
                last_updated=now,
                knowledge_version=knowledge.version,
            )
        )
    session.add(
        Screening(
            response_id=record.id,
            knowledge_version=knowledge.version,
            tier=tier,
            risk_assessment_id=resources.risk_assessment["id"],
            scored_at=now,
        )
    )
    transition(record, ResponseState.SCORED, f"tier {tier}", now=now)
    enqueue(session, DELIVER_ALERT, record.id)
    log.info(
        "response scored",
        extra={"response_id": record.id, "tier": tier, "knowledge_version": knowledge.version},
    )


def _mark_failed(record: QuestionnaireResponseRecord, error: Exception) -> None:
    detail = f"the screening engine could not score this response ({type(error).__name__})"
    transition(record, ResponseState.FAILED, detail, now=utcnow())
    log.error(
        "screening failed",
        extra={"response_id": record.id, "error": type(error).__name__},
    )
