"""Plain-language explanations: why this tier, why this suspicion, why this test.

A clinician must be able to check every conclusion against the form, so each
text names the answers that drove it (the engine's evidence, e.g. "nasal
polyps: yes") and, for rules, the published source. Texts never name the
patient and never use diagnostic wording ("classified as", "meets criteria"):
the screen suggests, a clinician decides.

A text cites only the sources of rules that fired. A tier rule that summarises
other rules ("a red flag is present", "a strong disease cluster") lists every
source it could stand for, so its citation is narrowed to the rules that fired
beneath it (:func:`tier_sources`): a vasculitic foot drop cites the vasculitis
guidelines, not the Guillain-Barré ones its tier rule also lists.
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


def finding(item: Finding, *, cite: bool = True, source: str | None = None) -> str:
    """A rule that fired, the answers behind it and (optionally) its source.

    ``source`` replaces the rule's own citation (see :func:`tier_sources`).
    """
    text = item.label
    if item.evidence:
        text += f" ({answers(item.evidence)})"
    cited = item.source if source is None else source
    if cite and cited:
        text += f" [{cited}]"
    return text


def tier_rationale(result: ScreeningResult) -> str:
    """Why the screening landed in its tier, citing only rules that fired."""
    head = f"{concept_display(SCREENING_TIER, result.tier)}."
    if not result.tier_reasons:
        return f"{head} No rule raised the tier above its default."
    why = [finding(reason, source=tier_sources(reason, result)) for reason in result.tier_reasons]
    return f"{head} Why: " + "; ".join(why) + "."


def tier_sources(reason: Finding, result: ScreeningResult) -> str:
    """The citations of a tier reason that the rules which fired beneath it back.

    Two kinds of rule are summarised by tier rules and carry their own sources:
    red flags (the urgent override) and the condition clusters at the tier's own
    level (a strong cluster gives ``high``). One lies beneath ``reason`` when every
    answer that made it fire is among the reason's answers, since a summarising
    rule's evidence is the union of what it summarises. Of the reason's
    citations, those such a rule also cites are kept; a reason with nothing
    beneath it is a rule of its own and keeps its citation whole. Nerve signs and
    weaker clusters are not what a tier rule summarises, and would back the wrong
    literature (the motor sign cites the Guillain-Barré review for every weak
    patient).
    """
    own = _citations(reason.source)
    evidence = set(reason.evidence)
    beneath: set[str] = set()
    for flag in result.red_flags:
        if flag.evidence and set(flag.evidence) <= evidence:
            beneath.update(_citations(flag.source))
    for suspicion in result.suspicions:
        raised = [c for c in suspicion.contributions if c.weight > 0]
        answered = {item for c in raised for item in c.evidence}
        if suspicion.level == result.tier and answered and answered <= evidence:
            beneath.update(citation for c in raised for citation in _citations(c.source))
    backed = [citation for citation in own if citation in beneath]
    return "; ".join(backed or own)


def _citations(source: str) -> list[str]:
    """A rule's citations; the knowledge base joins a rule's sources with "; "."""
    return [part.strip() for part in source.split("; ") if part.strip()]


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
    "lupus-features": (
        "Lupus features with nerve symptoms: ANA first; an ENA panel follows as the "
        "laboratory's reflex when ANA is positive"
    ),
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
