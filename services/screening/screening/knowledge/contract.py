"""The questionnaire contract as the knowledge base records it.

The contract (linkIds, answer codes and output codes) is an external interface:
EHR forms and saved responses depend on it. The knowledge base carries a copy
so that every rule can be checked against it at load time, and so that the
engine can validate answers without a second source of truth.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

from screening.knowledge.errors import KnowledgeError
from screening.knowledge.schema import OutputsModel, QuestionnaireModel

TIERS = ("low", "moderate", "high", "urgent")
INTEGER_RANGE = range(151)
"""Valid integer answers (``age`` in years)."""
MAX_REPEAT_CODES = 14
"""Valid answers to a repeating item are precomputed: 2**14 is still small."""


@dataclass(frozen=True, slots=True)
class ItemSpec:
    """One questionnaire item: its linkId, answer type and allowed codes."""

    link_id: str
    kind: str
    """``boolean``, ``integer`` or ``choice``."""
    repeats: bool
    text: str
    """Short plain-language label used in evidence, e.g. "nasal polyps"."""
    codes: tuple[str, ...] = ()
    """Answer codes in contract order (choice items only)."""
    code_text: Mapping[str, str] | None = None
    required: bool = False


@dataclass(frozen=True, slots=True)
class Contract:
    """The questionnaire items and the output CodeSystems the engine may emit."""

    canonical: str
    version: str
    answer_system: str
    items: Mapping[str, ItemSpec]
    tiers: Mapping[str, str]
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
        """Whether a response's ``questionnaire`` canonical refers to this contract.

        Minor versions are additive (contract 1.1.0 keeps every 1.0.0 response valid),
        so a response may cite any version of the same major: items a contract does not
        know are ignored, as for any unknown linkId (knowledge 1.0.0 re-screening a 1.1.0
        response reads the 1.0.0 items only).
        """
        canonical, _, version = questionnaire.partition("|")
        if canonical != self.canonical:
            return False
        if not version:
            return True
        cited = version.split(".")
        if len(cited) != 3 or not all(part.isdigit() for part in cited):
            return False
        return cited[0] == self.version.split(".")[0]


def canonical_answers(codes: tuple[str, ...]) -> frozenset[tuple[str, ...]]:
    """Every non-empty selection of ``codes``, each in contract order."""
    return frozenset(
        selection
        for size in range(1, len(codes) + 1)
        for selection in itertools.combinations(codes, size)
    )


def build_contract(
    questionnaire: QuestionnaireModel, outputs: OutputsModel, origin: str
) -> Contract:
    """The contract of a knowledge file, checked for internal consistency."""
    items: dict[str, ItemSpec] = {}
    for link_id, item in questionnaire.items.items():
        where = f"{origin}: questionnaire item {link_id}"
        if (item.type == "choice") != bool(item.codes):
            raise KnowledgeError(f"{where}: choice items, and only they, have codes")
        if item.repeats and item.type != "choice":
            raise KnowledgeError(f"{where}: only choice items can repeat")
        if item.repeats and len(item.codes) > MAX_REPEAT_CODES:
            raise KnowledgeError(f"{where}: more than {MAX_REPEAT_CODES} codes to repeat")
        items[link_id] = ItemSpec(
            link_id=link_id,
            kind=item.type,
            repeats=item.repeats,
            text=item.text,
            codes=tuple(item.codes),
            code_text=dict(item.codes),
            required=item.required,
        )
    if set(outputs.tiers) != set(TIERS):
        raise KnowledgeError(f"{origin}: output tiers must be exactly {sorted(TIERS)}")
    return Contract(
        canonical=questionnaire.canonical,
        version=questionnaire.version,
        answer_system=questionnaire.answer_system,
        items=items,
        tiers=dict(outputs.tiers),
        patterns=dict(outputs.patterns),
        conditions=dict(outputs.conditions),
        workup=dict(outputs.workup),
        boolean_items=frozenset(i for i, spec in items.items() if spec.kind == "boolean"),
        other_items=tuple(spec for spec in items.values() if spec.kind != "boolean"),
        repeat_answers={
            i: canonical_answers(spec.codes) for i, spec in items.items() if spec.repeats
        },
    )
