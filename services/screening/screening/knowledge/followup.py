"""What the result suggests doing next: the work-up, and the key questions left unanswered.

Part of the knowledge file's typed model (see :mod:`screening.knowledge.model`).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from pydantic import ValidationInfo, field_validator, model_validator

from screening.knowledge.model import Identified, Strict, loading, read_when
from screening.knowledge.rules import Node, Stage

KEY_ITEM_FIELDS = frozenset({"dn4_score", "dn4_unanswered", "dn4_cutoff"})


class WorkupRule(Identified):
    """Suggests ``codes`` for ``reason`` (a condition, pattern, ``baseline``...)."""

    what = "workup rule"
    codes: tuple[str, ...]
    reason: str
    when: Node | None = None
    in_emergency: bool = False
    """Kept when every red flag is emergency-only (2.1.0): the receiving team needs these
    tests (vasculitis serology, imaging of the picture), so an emergency never strips them."""

    @field_validator("codes")
    @classmethod
    def _known(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        contract = loading(info).contract
        unknown = [c for c in value if contract is None or c not in contract.workup]
        if unknown or not value:
            raise ValueError(f"{unknown} are not workup codes")
        return value

    @field_validator("when", mode="before")
    @classmethod
    def _read(cls, raw: Any, info: ValidationInfo) -> Node | None:
        return None if raw is None else read_when(cls, Stage.WORKUP, raw, info)

    @cached_property
    def suggests(self) -> Mapping[str, tuple[str, ...]]:
        """Each code mapped to ``(id,)``: this rule's share of a step's rule ids."""
        return {code: (self.id,) for code in self.codes}


class Workup(Strict):
    emergency: WorkupRule
    baseline: WorkupRule
    rules: tuple[WorkupRule, ...]

    @model_validator(mode="after")
    def _when_where_needed(self) -> Workup:
        for rule in (self.emergency, self.baseline):
            if rule.when is not None:
                raise ValueError(f"workup rule {rule.id}: is applied by the engine; drop 'when'")
            if rule.in_emergency:
                raise ValueError(
                    f"workup rule {rule.id}: is applied by the engine; drop 'in_emergency'"
                )
        for rule in self.rules:
            if rule.when is None:
                raise ValueError(f"workup rule {rule.id}: needs a 'when'")
        return self


class KeyItem(Identified):
    """Items whose absence limits the result, and why, when ``when`` holds."""

    what = "key item rule"
    items: tuple[str, ...]
    why: str
    """May hold ``{dn4_score}``, ``{dn4_unanswered}`` and ``{dn4_cutoff}``."""
    when: Node | None = None

    @field_validator("items")
    @classmethod
    def _questions(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        contract = loading(info).contract
        unknown = [i for i in value if contract is None or i not in contract.items]
        if unknown:
            raise ValueError(f"{unknown} are not questions of the Questionnaire")
        return value

    @field_validator("why")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        fields = {name for _, name, _, _ in string.Formatter().parse(value) if name}
        if fields - KEY_ITEM_FIELDS:
            raise ValueError(f"unknown placeholders {sorted(fields - KEY_ITEM_FIELDS)}")
        return value

    @field_validator("when", mode="before")
    @classmethod
    def _read(cls, raw: Any, info: ValidationInfo) -> Node | None:
        return None if raw is None else read_when(cls, Stage.WORKUP, raw, info)

    @cached_property
    def item_set(self) -> frozenset[str]:
        return frozenset(self.items)

    def reason(self, dn4_score: int, dn4_unanswered: int, dn4_cutoff: int) -> str:
        """``why`` for this response (its DN4 placeholders filled in)."""
        if "{" not in self.why:
            return self.why
        return self.why.format(
            dn4_score=dn4_score, dn4_unanswered=dn4_unanswered, dn4_cutoff=dn4_cutoff
        )
