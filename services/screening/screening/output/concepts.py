"""CodeableConcepts of the screening outputs: project code first, then external codes.

Every concept leads with the contract's own code (the one external systems
are promised to match), adds the SNOMED CT / LOINC / HL7 codes that
``terminology.yaml`` allows, and carries a plain-language ``text``. Project
displays come from the CodeSystem resources, so a Coding always agrees with
what ``/fhir/CodeSystem/{id}`` serves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from screening.output.orders import orderable_tests
from screening.output.terminology import TERMINOLOGY, ExternalCode, WorkupTerms
from screening.result import Suspicion, Tier
from shared.fhir.codes import (
    NEUROPATHY_PATTERN,
    SCREEN_ANSWERS,
    SCREENING_TIER,
    WORKUP,
)
from shared.fhir.codesystems import concept_display, project_coding

CodeableConcept = dict[str, Any]
_Terms = TypeVar("_Terms")


def _terms(table: Mapping[str, _Terms], code: str, what: str) -> _Terms:
    """Look a contract code up; an unknown one is a bug in the engine, so say which."""
    try:
        return table[code]
    except KeyError:
        raise ValueError(f"{code!r} is not a {what} code of the contract") from None


def condition_name(condition: str) -> str:
    """Clinical name of a contract condition, e.g. "Polyarteritis nodosa"."""
    text = _terms(TERMINOLOGY.conditions, condition, "condition").text
    return text or concept_display(SCREEN_ANSWERS, condition)


def condition_concept(condition: str) -> CodeableConcept:
    """A condition: ``screen-answers`` code plus SNOMED CT."""
    terms = _terms(TERMINOLOGY.conditions, condition, "condition")
    return {
        "coding": [project_coding(SCREEN_ANSWERS, condition), *terms.codings()],
        "text": condition_name(condition),
    }


def pattern_concept(pattern: str) -> CodeableConcept:
    """A neuropathy pattern: ``neuropathy-pattern`` code plus SNOMED CT where one fits."""
    terms = _terms(TERMINOLOGY.patterns, pattern, "neuropathy-pattern")
    return {
        "coding": [project_coding(NEUROPATHY_PATTERN, pattern), *terms.codings()],
        "text": concept_display(NEUROPATHY_PATTERN, pattern) + " (as reported by the patient)",
    }


def outcome_concept() -> CodeableConcept:
    """The overall outcome screened for: immune-mediated neuropathy."""
    return {"coding": TERMINOLOGY.outcome.codings(), "text": TERMINOLOGY.outcome.text}


def tier_concept(tier: Tier) -> CodeableConcept:
    """The screening tier and its nearest HL7 risk-probability code."""
    return {
        "coding": [
            project_coding(SCREENING_TIER, tier),
            TERMINOLOGY.tiers[tier].risk_probability.coding(),
        ],
        "text": f"Screening tier: {concept_display(SCREENING_TIER, tier)}",
    }


def suspicion_concept(suspicion: Suspicion) -> CodeableConcept:
    """A condition's suspicion level as a risk-probability code.

    The text says what the level is, because HL7's "High likelihood" reads as
    a probability and a screening score is not one.
    """
    return {
        "coding": [TERMINOLOGY.suspicion_levels[suspicion.level].coding()],
        "text": f"{suspicion.level.capitalize()} suspicion on screening (not a probability)",
    }


def workup_concept(step: str) -> CodeableConcept:
    """One orderable test: ``workup`` code plus its emitted LOINC / SNOMED CT synonyms."""
    terms = _terms(TERMINOLOGY.workup, step, "workup")
    return {
        "coding": [project_coding(WORKUP, step), *terms.codings()],
        "text": concept_display(WORKUP, step),
    }


def workup_category(step: str) -> list[CodeableConcept]:
    """ServiceRequest.category, or nothing when no checked category fits the step."""
    category = _terms(TERMINOLOGY.workup, step, "workup").category
    return [] if category is None else [{"coding": [category.coding()]}]


def _ordered(steps: tuple[str, ...]) -> list[WorkupTerms]:
    """The terms of every test the steps are ordered as (a deprecated step as its tests)."""
    tests = dict.fromkeys(test for step in steps for test in orderable_tests(step))
    return [TERMINOLOGY.workup[test] for test in tests]


def unverified_codes(patterns: tuple[str, ...], steps: tuple[str, ...]) -> tuple[ExternalCode, ...]:
    """NOT VERIFIED codes the given patterns and steps would have used, each once."""
    concepts = [*(TERMINOLOGY.patterns[p] for p in patterns), *_ordered(steps)]
    return tuple(dict.fromkeys(code for c in concepts for code in c.unverified()))


def corroborated_codes(
    patterns: tuple[str, ...], steps: tuple[str, ...]
) -> tuple[ExternalCode, ...]:
    """Emitted codes that are corroborated (C) rather than verified (V), each once."""
    tests = _ordered(steps)
    concepts = [*(TERMINOLOGY.patterns[p] for p in patterns), *tests]
    codes = [code for c in concepts for code in c.codes]
    codes += [category for terms in tests if (category := terms.category)]
    return tuple(dict.fromkeys(code for code in codes if code.status == "C"))
