"""The suggested work-up as draft ServiceRequest proposals, one per orderable test.

Drafts with intent ``proposal``: nothing here is an order until a clinician
makes it one. Each request asks for exactly one test or step, so an EHR that
reads only the first coding still orders what was meant; a 1.0.0 step that
named two tests (``complement``) becomes one request per test (see
:mod:`.orders`). Each request names what it addresses (``reasonCode``: the
suspected conditions and patterns, coded; baseline and red-flag reasons as
text). Priority follows the tier, so everything proposed for an urgent
screening reaches the receiving team as ``stat``, with a note that no test may
delay the same-day assessment.

How the set travels together, without a RequestGroup: every request points at
the RiskAssessment through ``supportingInfo`` (R4 does not allow a
RiskAssessment in ``reasonReference``), and all requests of one screening share
one ``requisition`` identifier, R4's element for requests "authorized more or
less simultaneously by a single author" (a composite request id). A RequestGroup
would add a resource that every receiving EHR must accept and that would bind
the tests into one unit, while each test here is accepted or declined on its
own; the shared requisition lets an EHR show them side by side and find the
whole set with one search, and the RiskAssessment explains why.
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
from screening.output.orders import Order, orders
from screening.output.terminology import TERMINOLOGY
from screening.result import ScreeningResult
from shared.fhir.codes import SCREENING_OUTPUT_IDENTIFIER, WORKUP
from shared.fhir.codesystems import concept_display
from shared.fhir.workup_groups import SAME_DAY_ASSESSMENTS


def service_request_identity(context: ScreeningContext, test: str) -> Identity:
    return context.identity("ServiceRequest", "service-request", test)


def requisition(context: ScreeningContext) -> dict[str, str]:
    """The identifier every ServiceRequest of one screening shares (``workup/<response>``)."""
    return {"system": SCREENING_OUTPUT_IDENTIFIER, "value": f"workup/{context.response_id}"}


def build_service_requests(
    result: ScreeningResult, context: ScreeningContext, risk_assessment: Identity
) -> tuple[dict[str, Any], ...]:
    """One draft ServiceRequest per orderable test, in the engine's order (most pressing first)."""
    codes = [step.code for step in result.workup]
    if len(set(codes)) != len(codes):
        raise ValueError("workup steps must be unique: each is suggested once, with its reasons")
    return tuple(
        _request(order, result, context, risk_assessment) for order in orders(result.workup)
    )


def _request(
    order: Order, result: ScreeningResult, context: ScreeningContext, risk: Identity
) -> dict[str, Any]:
    identity = service_request_identity(context, order.code)
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": identity.id,
        "identifier": identity.identifier(),
        "requisition": requisition(context),
        "status": "draft",
        "intent": "proposal",
    }
    category = workup_category(order.code)
    if category:
        resource["category"] = category
    resource |= {
        "priority": TERMINOLOGY.tiers[result.tier].priority,
        "code": workup_concept(order.code),
        "subject": {"reference": context.subject},
        "authoredOn": context.occurred_at,
    }
    reasons = [_reason(reason, result) for reason in order.reasons]
    if reasons:
        resource["reasonCode"] = reasons
    resource["supportingInfo"] = [{"reference": risk.reference}]
    resource["note"] = [{"text": text} for text in _notes(order, result)]
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


def _notes(order: Order, result: ScreeningResult) -> list[str]:
    why = "; ".join(rationale.reason_text(reason, result) for reason in order.reasons)
    notes = [f"Suggested because: {why or 'no reason recorded'}."]
    if order.rule_ids:
        notes[0] += f" Rules: {', '.join(order.rule_ids)}."
    for step in order.suggested_as:
        notes.append(
            f"Suggested by knowledge base {result.knowledge_version} as "
            f"'{concept_display(WORKUP, step)}' ({step}); each of its tests is now a request "
            "of its own."
        )
    if result.tier == "urgent" and order.code not in SAME_DAY_ASSESSMENTS:
        notes.append(
            "For the team receiving the patient: this must never delay the same-day "
            "emergency assessment."
        )
    unverified = rationale.unverified_note(TERMINOLOGY.workup[order.code].unverified())
    if unverified:
        notes.append(unverified)
    notes.append(rationale.DECISION_SUPPORT)
    return notes
