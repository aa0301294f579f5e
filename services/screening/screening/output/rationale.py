"""Plain-language explanations: why this tier, why this suspicion, why this test.

A clinician must be able to check every conclusion against the form, so each
text names the answers that drove it (the engine's evidence, e.g. "nasal
polyps: yes") and, for rules, the published source. Texts never name the
patient and never use diagnostic wording ("classified as", "meets criteria"):
the screen suggests, a clinician decides.
"""

from __future__ import annotations

from collections.abc import Iterable

from screening.output.concepts import condition_name
from screening.output.terminology import TERMINOLOGY, ExternalCode
from screening.result import (
    Contribution,
    Evidence,
    Finding,
    PatternFinding,
    ScreeningResult,
    Suspicion,
    UnansweredItem,
)
from shared.fhir.codes import NEUROPATHY_PATTERN, SCREENING_TIER
from shared.fhir.codesystems import concept_display

DECISION_SUPPORT = (
    "Clinical decision support, not a diagnosis: this screening of patient-reported answers "
    "suggests how soon to assess the patient and which tests to consider. It does not "
    "diagnose or classify any condition, and a clinician must review it before acting."
)
"""Stated on every RiskAssessment and ServiceRequest."""

DN4_ITEMS: tuple[str, ...] = (
    "burning",
    "painful-cold",
    "electric-shocks",
    "tingling",
    "pins-needles",
    "numbness",
    "itching",
)
"""The seven DN4 interview items (Bouhassira 2005), by contract linkId."""


def answers(evidence: Iterable[Evidence]) -> str:
    """``"nasal polyps: yes; adult-onset asthma: yes"``: each answer once, in order."""
    return "; ".join(dict.fromkeys(item.text for item in evidence))


def finding(item: Finding, *, cite: bool = True) -> str:
    """A rule that fired, the answers behind it and (optionally) its source."""
    text = item.label
    if item.evidence:
        text += f" ({answers(item.evidence)})"
    if cite and item.source:
        text += f" [{item.source}]"
    return text


def tier_rationale(result: ScreeningResult) -> str:
    """Why the screening landed in its tier."""
    head = f"{concept_display(SCREENING_TIER, result.tier)}."
    if not result.tier_reasons:
        return f"{head} No rule raised the tier above its default."
    return f"{head} Why: " + "; ".join(finding(reason) for reason in result.tier_reasons) + "."


def suspicion_rationale(suspicion: Suspicion) -> str:
    """The answers that raised and lowered one condition's suspicion, and its modifiers."""
    parts = []
    raised = _evidence(c for c in suspicion.contributions if c.weight > 0)
    lowered = _evidence(c for c in suspicion.contributions if c.weight < 0)
    if raised:
        parts.append(f"Raised by: {raised}.")
    if lowered:
        parts.append(f"Lowered by: {lowered}.")
    if suspicion.modifiers:
        modifiers = "; ".join(finding(item, cite=False) for item in suspicion.modifiers)
        parts.append(f"Modifiers applied: {modifiers}.")
    parts.append(
        f"Screening score {suspicion.score:g}: a weighted count of proxy answers in the spirit "
        "of the published criteria, not a probability."
    )
    return " ".join(parts)


def pattern_rationale(pattern: PatternFinding) -> str:
    """A pattern label with the engine's explanation and the answers behind it."""
    text = f"{concept_display(NEUROPATHY_PATTERN, pattern.code)}: {pattern.rationale}"
    if pattern.evidence:
        text += f" ({answers(pattern.evidence)})"
    return text


_REASON_TEXT = {
    "baseline": "Baseline work-up for any neuropathy",
    "vasculitis-features": "Systemic features of vasculitis reported",
    "vasculitic-neuropathy": "Possible vasculitic neuropathy",
    "hepatitis": "Hepatitis B or C reported",
    "small-fibre-neuropathy": "Painful small-fibre picture (nerve conduction may be normal)",
    "neuropathy": "Nerve symptoms that need neurological assessment",
    "systemic-autoimmune": "A systemic autoimmune disease or vasculitis may be leading",
}
"""Workup reasons that are neither a condition nor a pattern code, in plain language."""


def reason_text(reason: str, result: ScreeningResult) -> str:
    """Why a workup step was suggested, for one of its reasons.

    Conditions and patterns are named from the contract; other reasons are
    knowledge-base wording, so one this module does not know is shown as it
    is rather than failing a screening over a label.
    """
    if reason in _REASON_TEXT:
        return _REASON_TEXT[reason]
    if reason == "red-flag":
        flags = "; ".join(item.label for item in result.red_flags)
        return "Red flag" + (f": {flags}" if flags else "")
    suspicion = next((s for s in result.suspicions if s.condition == reason), None)
    if suspicion is not None:
        return f"{condition_name(reason)}: {suspicion.level} suspicion on screening"
    if reason in TERMINOLOGY.patterns:
        return f"Pattern: {concept_display(NEUROPATHY_PATTERN, reason)}"
    if reason in TERMINOLOGY.conditions:
        return f"{condition_name(reason)}: to be excluded"
    return reason.replace("-", " ").capitalize()


def unanswered(items: Iterable[UnansweredItem]) -> str:
    """Unanswered questions and how each limits the result."""
    return "; ".join(f"{item.link_id}: {item.why}" for item in items)


def unverified_note(codes: Iterable[ExternalCode]) -> str | None:
    """The note that flags NOT VERIFIED codes, or ``None`` if there are none."""
    lines = [code.flag() for code in codes]
    if not lines:
        return None
    return (
        "Codes NOT VERIFIED against a licensed terminology release were left out of the "
        "codings; check them before use: " + "; ".join(lines) + "."
    )


def corroborated_note(codes: Iterable[ExternalCode]) -> str | None:
    """The note naming emitted codes that are corroborated but not officially verified."""
    lines = [code.label() for code in codes]
    if not lines:
        return None
    return (
        "Corroborated, not verified against an official terminology release (their codings "
        "carry the code-verification extension 'corroborated'): " + "; ".join(lines) + "."
    )


def _evidence(contributions: Iterable[Contribution]) -> str:
    return answers(item for contribution in contributions for item in contribution.evidence)
