"""Each suggested workup step as a draft ServiceRequest proposal.

Drafts with intent ``proposal``: nothing here is an order until a clinician
makes it one. Each request names what it addresses (``reasonCode``: the
suspected conditions and patterns, coded; baseline and red-flag reasons as
text) and points at the RiskAssessment through ``supportingInfo``, because R4
does not allow a RiskAssessment in ``reasonReference``. Priority follows the
tier, so everything proposed for an urgent screening reaches the receiving
team as ``stat``, with a note that no test may delay the same-day assessment.
"""

from __future__ import annotations

from typing import Any

from screening.output import rationale
from screening.output.concepts import (
    CodeableConcept,
    condition_concept,
    pattern_concept,
    workup_category,
    workup_concept,
)
from screening.output.identity import Identity, ScreeningContext
from screening.output.terminology import TERMINOLOGY
from screening.result import ScreeningResult, WorkupStep

EMERGENCY_ASSESSMENT = "emergency-assessment"


def service_request_identity(context: ScreeningContext, step: str) -> Identity:
    return context.identity("ServiceRequest", "service-request", step)


def build_service_requests(
    result: ScreeningResult, context: ScreeningContext, risk_assessment: Identity
) -> tuple[dict[str, Any], ...]:
    """One draft ServiceRequest per workup step, in the engine's order (most pressing first)."""
    codes = [step.code for step in result.workup]
    if len(set(codes)) != len(codes):
        raise ValueError("workup steps must be unique: each becomes one ServiceRequest id")
    return tuple(_request(step, result, context, risk_assessment) for step in result.workup)


def _request(
    step: WorkupStep, result: ScreeningResult, context: ScreeningContext, risk: Identity
) -> dict[str, Any]:
    identity = service_request_identity(context, step.code)
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": identity.id,
        "identifier": identity.identifier(),
        "status": "draft",
        "intent": "proposal",
    }
    category = workup_category(step.code)
    if category:
        resource["category"] = category
    resource |= {
        "priority": TERMINOLOGY.tiers[result.tier].priority,
        "code": workup_concept(step.code),
        "subject": {"reference": context.subject},
        "authoredOn": context.occurred_at,
    }
    reasons = [_reason(reason, result) for reason in dict.fromkeys(step.reasons)]
    if reasons:
        resource["reasonCode"] = reasons
    resource["supportingInfo"] = [{"reference": risk.reference}]
    resource["note"] = [{"text": text} for text in _notes(step, result)]
    return resource


def _reason(reason: str, result: ScreeningResult) -> CodeableConcept:
    """A coded condition or pattern where the reason is one; plain text otherwise
    (``baseline``, ``red-flag`` and the knowledge base's other reasons)."""
    text = rationale.reason_text(reason, result)
    if reason in TERMINOLOGY.conditions:
        return {**condition_concept(reason), "text": text}
    if reason in TERMINOLOGY.patterns:
        return {**pattern_concept(reason), "text": text}
    return {"text": text}


def _notes(step: WorkupStep, result: ScreeningResult) -> list[str]:
    why = "; ".join(rationale.reason_text(reason, result) for reason in dict.fromkeys(step.reasons))
    notes = [f"Suggested because: {why or 'no reason recorded'}."]
    if step.rule_ids:
        notes[0] += f" Rules: {', '.join(step.rule_ids)}."
    if result.tier == "urgent" and step.code != EMERGENCY_ASSESSMENT:
        notes.append(
            "For the team receiving the patient: this must never delay the same-day "
            "emergency assessment."
        )
    unverified = rationale.unverified_note(TERMINOLOGY.workup[step.code].unverified())
    if unverified:
        notes.append(unverified)
    notes.append(rationale.DECISION_SUPPORT)
    return notes
