"""The questionnaire contract as the engine sees it, read from the Questionnaire itself.

The contract (linkIds, answer types and codes, and the output codes) is an
external interface: EHR forms and saved responses depend on it. Its items have
one definition, the published Questionnaire (:mod:`shared.fhir.questionnaire`),
which the intake also validates against; a knowledge file only declares which
Questionnaire versions its rules are written for, and the loader checks every
linkId and code its rules use against these items.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

from screening.knowledge.errors import KnowledgeError
from screening.result import TIER_ORDER, Tier
from shared.fhir.questionnaire import (
    ACCEPTED_VERSIONS,
    ANSWER_SYSTEM,
    CANONICAL,
    SCREENING_INDEX,
    VERSION,
    QuestionnaireIndex,
)

MAX_REPEAT_CODES = 14
"""Valid answers to a repeating item are precomputed: 2**14 is still small."""


@dataclass(frozen=True, slots=True)
class ItemSpec:
    """One question of the Questionnaire: its linkId, answer type and allowed answers."""

    link_id: str
    kind: str
    """``boolean``, ``integer`` or ``choice``."""
    repeats: bool
    text: str
    """The Questionnaire's short wording, used in evidence, e.g. "nasal polyps"."""
    codes: tuple[str, ...] = ()
    """Answer codes in Questionnaire order (choice items only)."""
    code_text: Mapping[str, str] | None = None
    required: bool = False
    numbers: range = range(0)
    """Valid integer answers (integer items only), from the item's minValue/maxValue."""


@dataclass(frozen=True, slots=True)
class Contract:
    """The questionnaire items and the output codes the engine may emit."""

    canonical: str
    version: str
    """The version of the Questionnaire the items come from."""
    accepted_versions: tuple[str, ...]
    answer_system: str
    items: Mapping[str, ItemSpec]
    tiers: tuple[Tier, ...]
    patterns: Mapping[str, str]
    conditions: Mapping[str, str]
    workup: Mapping[str, str]
    """Each output code mapped to its display text."""
    boolean_items: frozenset[str] = frozenset()
    """The linkIds of boolean items, for validating many answers at once."""
    other_items: tuple[ItemSpec, ...] = ()
    """The items that are not boolean (integer and choice), checked one by one."""
    repeat_answers: Mapping[str, frozenset[tuple[str, ...]]] | None = None
    """For each repeating item, every valid answer in canonical form: a non-empty
    tuple of distinct codes in contract order. One set lookup checks an answer."""

    def cites(self, questionnaire: str) -> bool:
        """Whether a response's ``questionnaire`` canonical refers to this contract."""
        url, bar, version = questionnaire.partition("|")
        return url == self.canonical and (not bar or version in self.accepted_versions)


def canonical_answers(codes: tuple[str, ...]) -> frozenset[tuple[str, ...]]:
    """Every non-empty selection of ``codes``, each in contract order."""
    return frozenset(
        selection
        for size in range(1, len(codes) + 1)
        for selection in itertools.combinations(codes, size)
    )


def question_items(index: QuestionnaireIndex = SCREENING_INDEX) -> dict[str, ItemSpec]:
    """Every question of the Questionnaire (groups and display items left out)."""
    items: dict[str, ItemSpec] = {}
    for definition in index.values():
        if not definition.answerable:
            continue
        numbers = range(0)
        if definition.type == "integer":
            if definition.min_value is None or definition.max_value is None:
                raise KnowledgeError(f"Questionnaire item {definition.link_id}: needs bounds")
            numbers = range(definition.min_value, definition.max_value + 1)
        if definition.repeats and len(definition.options) > MAX_REPEAT_CODES:
            raise KnowledgeError(f"Questionnaire item {definition.link_id}: too many codes")
        items[definition.link_id] = ItemSpec(
            link_id=definition.link_id,
            kind=definition.type,
            repeats=definition.repeats,
            text=definition.short_text,
            codes=definition.options,
            code_text=dict(definition.option_text),
            required=definition.required,
            numbers=numbers,
        )
    return items


def build_contract(
    written_for: list[str],
    patterns: Mapping[str, str],
    conditions: Mapping[str, str],
    workup: Mapping[str, str],
    origin: str,
) -> Contract:
    """The contract of a knowledge file written for Questionnaire versions ``written_for``.

    The published Questionnaire must be one of them: rules checked against one
    version's items say nothing about another's.
    """
    if VERSION not in written_for:
        raise KnowledgeError(
            f"{origin}: written for Questionnaire {', '.join(written_for)}, "
            f"but the published Questionnaire is {VERSION}"
        )
    items = question_items()
    return Contract(
        canonical=CANONICAL,
        version=VERSION,
        accepted_versions=ACCEPTED_VERSIONS,
        answer_system=ANSWER_SYSTEM,
        items=items,
        tiers=TIER_ORDER,
        patterns=dict(patterns),
        conditions=dict(conditions),
        workup=dict(workup),
        boolean_items=frozenset(i for i, spec in items.items() if spec.kind == "boolean"),
        other_items=tuple(spec for spec in items.values() if spec.kind != "boolean"),
        repeat_answers={
            i: canonical_answers(spec.codes) for i, spec in items.items() if spec.repeats
        },
    )
