"""The screening as a RiskAssessment: the tier, each suspected condition, and why.

``prediction[0]`` is the overall question (is this an immune-mediated
neuropathy that needs assessment, and how soon: the tier); the rest are the
conditions with any suspicion, most suspected first, each with the answers
that drove it. The notes carry what a coordinator reads first: the summary,
red flags, unanswered items that limit the result, codes that could not be
verified, and the statement that this is decision support, not a diagnosis.

Every prediction states its likelihood qualitatively (``qualitativeRisk``) and
says explicitly that the screen estimates no probability: ``probabilityRange``
carries only a data-absent-reason ``unsupported``. Leaving ``probability[x]``
out would be valid R4, but validators (Medplum, HL7's Java validator) then
fail invariant ras-2 and refuse the whole alert; a number would be invented.
See docs/screening.md, "How the result is written in FHIR".
"""

from __future__ import annotations

from typing import Any

from screening.output import rationale
from screening.output.concepts import (
    condition_concept,
    corroborated_codes,
    outcome_concept,
    pattern_concept,
    suspicion_concept,
    tier_concept,
    unverified_codes,
)
from screening.output.identity import Identity, ScreeningContext
from screening.result import ScreeningResult, Suspicion
from shared.fhir.codes import (
    IMMUNE_NEUROPATHY_SCREEN,
    KNOWLEDGE_BASE,
    SCREENING_OBSERVATION,
    WORKUP,
)
from shared.fhir.codesystems import concept_display, project_coding

_LEVEL_RANK = {"high": 0, "moderate": 1, "low": 2}

DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"


def no_probability() -> dict[str, Any]:
    """``prediction.probabilityRange``: a rule-based screen has no calibrated probability.

    A Range, not ``probabilityDecimal``: ras-2 asks ``probability is decimal implies ...``,
    which is true for a Range, while a decimal without a value still misfires.
    """
    return {"extension": [{"url": DATA_ABSENT_REASON, "valueCode": "unsupported"}]}


def risk_assessment_identity(context: ScreeningContext) -> Identity:
    return context.identity("RiskAssessment", "risk-assessment")


def ranked(suspicions: tuple[Suspicion, ...]) -> list[Suspicion]:
    """Most suspected first: by level, then score. Stable, so engine order breaks ties."""
    return sorted(suspicions, key=lambda s: (_LEVEL_RANK[s.level], -s.score))


def build_risk_assessment(
    result: ScreeningResult, context: ScreeningContext, observation: Identity
) -> dict[str, Any]:
    """RiskAssessment citing the response and the DN4 Observation it was derived from."""
    version = result.knowledge_version.strip()
    if not version or any(ch.isspace() for ch in version):
        raise ValueError("knowledge_version must be a non-empty code without spaces")
    identity = risk_assessment_identity(context)
    patterns = tuple(dict.fromkeys(p.code for p in result.patterns))
    resource: dict[str, Any] = {
        "resourceType": "RiskAssessment",
        "id": identity.id,
        "identifier": identity.identifier(),
        "status": "final",
        "method": {
            "coding": [
                {
                    "system": KNOWLEDGE_BASE,
                    "code": version,
                    "display": result.knowledge_id or f"NeuroScreen knowledge base {version}",
                }
            ],
            "text": "Rule-based screening of questionnaire answers",
        },
        "code": {
            "coding": [project_coding(SCREENING_OBSERVATION, IMMUNE_NEUROPATHY_SCREEN)],
            "text": concept_display(SCREENING_OBSERVATION, IMMUNE_NEUROPATHY_SCREEN),
        },
        "subject": {"reference": context.subject},
        "occurrenceDateTime": context.occurred_at,
        "basis": [{"reference": context.response}, {"reference": observation.reference}],
        "prediction": [_overall(result), *(_condition(s) for s in ranked(result.suspicions))],
        "mitigation": _mitigation(result),
        "note": [{"text": text} for text in _notes(result, patterns)],
    }
    if patterns:
        resource["reasonCode"] = [pattern_concept(code) for code in patterns]
    return resource


def _overall(result: ScreeningResult) -> dict[str, Any]:
    return {
        "outcome": outcome_concept(),
        "qualitativeRisk": tier_concept(result.tier),
        "probabilityRange": no_probability(),
        "rationale": rationale.tier_rationale(result),
    }


def _condition(suspicion: Suspicion) -> dict[str, Any]:
    return {
        "outcome": condition_concept(suspicion.condition),
        "qualitativeRisk": suspicion_concept(suspicion),
        "probabilityRange": no_probability(),
        "rationale": rationale.suspicion_rationale(suspicion),
    }


def _mitigation(result: ScreeningResult) -> str:
    if not result.workup:
        return "No work-up proposed by the screen."
    steps = "; ".join(concept_display(WORKUP, step.code) for step in result.workup)
    text = f"Proposed for clinician review as draft ServiceRequests: {steps}."
    if result.tier == "urgent":
        text += " The same-day assessment comes first; no test may delay it."
    return text


def _notes(result: ScreeningResult, patterns: tuple[str, ...]) -> list[str]:
    steps = tuple(step.code for step in result.workup)
    notes = [result.summary] if result.summary.strip() else []
    if result.red_flags:
        flags = "; ".join(rationale.finding(item) for item in result.red_flags)
        notes.append(f"Red flags (these override every score): {flags}.")
    if result.patterns:
        found = "; ".join(rationale.pattern_rationale(p) for p in result.patterns)
        notes.append(f"Neuropathy pattern as reported: {found}.")
    if result.neuropathy_signs:
        signs = "; ".join(rationale.finding(item, cite=False) for item in result.neuropathy_signs)
        notes.append(f"Nerve signs apart from the DN4 score: {signs}.")
    if result.considerations:
        also = "; ".join(rationale.finding(item) for item in result.considerations)
        notes.append(f"Also consider: {also}.")
    if result.alternative_causes:
        causes = "; ".join(rationale.finding(item) for item in result.alternative_causes)
        notes.append(f"Other possible causes considered (never exclusions): {causes}.")
    if result.unanswered:
        notes.append(
            "Unanswered questions that limit this result (a missing answer is unknown, "
            f"never 'no'): {rationale.unanswered(result.unanswered)}."
        )
    for note in (
        rationale.unverified_note(unverified_codes(patterns, steps)),
        rationale.corroborated_note(corroborated_codes(patterns, steps)),
    ):
        if note:
            notes.append(note)
    notes.append(rationale.DECISION_SUPPORT)
    return notes
