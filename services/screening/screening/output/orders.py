"""Which orderable tests a suggested work-up step stands for: one order per test.

From workup 1.1.0 on, a workup code names one orderable test or step (a panel
the laboratory orders as one, such as ANCA with MPO and PR3, is one code). Five
1.0.0 codes named two tests each (``complement`` meant C3 and C4), and an EHR
that takes the first coding of a request would have ordered only one of them.
Stored results of knowledge base 1.0.0 still carry those codes, so the workup
CodeSystem keeps them, marked ``deprecated``, with one ``replaced-by`` property
per test. This module reads those properties (the CodeSystem is the one
definition of the split) and turns a result's steps into orders: one per test,
each once, in the engine's order, keeping every reason that suggested it.

Checked at import, like the CodeSystem itself: a deprecated code must name its
replacements, and every replacement must be an active code, or a stored result
could never be ordered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from screening.result import WorkupStep
from shared.fhir.codes import WORKUP
from shared.fhir.codesystems import CODE_SYSTEMS, CodeSystemError, concept_display


@dataclass(frozen=True)
class Order:
    """One orderable test or step: what a single ServiceRequest asks for."""

    code: str
    """An active ``workup`` code."""
    reasons: tuple[str, ...]
    rule_ids: tuple[str, ...]
    suggested_as: tuple[str, ...] = ()
    """Deprecated 1.0.0 codes this order was split from (empty for a 1.1.0 code)."""


def _properties(concept: Mapping[str, Any], name: str) -> list[Any]:
    return [
        next(v for k, v in prop.items() if k.startswith("value"))
        for prop in concept.get("property", ())
        if prop["code"] == name
    ]


def read_split(
    concepts: list[dict[str, Any]],
) -> tuple[frozenset[str], dict[str, tuple[str, ...]]]:
    """The active codes and each deprecated code's replacements; refuses a broken split."""
    deprecated = {c["code"] for c in concepts if _properties(c, "deprecated")}
    active = frozenset(c["code"] for c in concepts) - deprecated
    replaced_by: dict[str, tuple[str, ...]] = {}
    for concept in concepts:
        targets = tuple(_properties(concept, "replaced-by"))
        if concept["code"] in deprecated and not targets:
            raise CodeSystemError(f"workup {concept['code']!r} is deprecated but names no test")
        if targets and concept["code"] not in deprecated:
            raise CodeSystemError(f"workup {concept['code']!r} has replacements but is active")
        if not set(targets) <= active:
            raise CodeSystemError(f"workup {concept['code']!r} is replaced by inactive codes")
        if targets:
            replaced_by[concept["code"]] = targets
    return active, replaced_by


ORDERABLE, REPLACED_BY = read_split(CODE_SYSTEMS["workup"]["concept"])
"""The active workup codes, and each deprecated code's replacements in CodeSystem order."""


def orderable_tests(code: str) -> tuple[str, ...]:
    """The active code(s) a workup code is ordered as: itself, or its replacements.

    Raises ``ValueError`` for a code the contract does not define.
    """
    concept_display(WORKUP, code)  # CodeSystemError (a ValueError) names an unknown code
    return REPLACED_BY.get(code, (code,))


def orders(steps: Iterable[WorkupStep]) -> tuple[Order, ...]:
    """One order per test, most pressing first; a test suggested twice keeps both reasons."""
    merged: dict[str, tuple[list[str], list[str], list[str]]] = {}
    for step in steps:
        split = step.code in REPLACED_BY
        for code in orderable_tests(step.code):
            reasons, rule_ids, suggested_as = merged.setdefault(code, ([], [], []))
            reasons += [r for r in step.reasons if r not in reasons]
            rule_ids += [r for r in step.rule_ids if r not in rule_ids]
            if split and step.code not in suggested_as:
                suggested_as.append(step.code)
    return tuple(
        Order(code, tuple(reasons), tuple(rule_ids), tuple(suggested_as))
        for code, (reasons, rule_ids, suggested_as) in merged.items()
    )
