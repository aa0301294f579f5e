"""The questionnaire contract as the knowledge base records it.

The contract (linkIds, answer codes and output codes) is an external interface:
EHR forms and saved responses depend on it. The knowledge base carries a copy
so that every rule can be checked against it at load time, and so that the
engine can validate answers without a second source of truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


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

    def cites(self, questionnaire: str) -> bool:
        """Whether a response's ``questionnaire`` canonical refers to this contract."""
        return questionnaire in (self.canonical, f"{self.canonical}|{self.version}")
