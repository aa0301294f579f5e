"""How the knowledge base weighs the six screened conditions, and what may lower them.

Part of the knowledge file's typed model (see :mod:`screening.knowledge.model`):
each condition's weighted proxies and thresholds, and the alternative, non-immune
causes with the blockers under which none of them may lower suspicion.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from screening.knowledge.model import (
    Blocker,
    Cited,
    Conditional,
    Identified,
    Strict,
    loading,
    read_when,
)
from screening.knowledge.rules import Node, Stage


class Proxy(Conditional):
    """One weighted answer (or answer combination) pointing to a condition.

    ``kind`` is ``proxy`` (can raise a suspicion on its own), ``supportive``
    (only adds weight once a proxy or known diagnosis points to the condition)
    or ``known`` (the patient reports the diagnosis).
    """

    what = "condition rule"
    stage = Stage.SUSPICIONS
    kind: Literal["proxy", "supportive", "known"] = "proxy"
    weight: float
    label: str
    group: str | None = None
    """Proxies of one group are one independent proxy (default: each rule is its own)."""

    @field_validator("weight")
    @classmethod
    def _does_something(cls, value: float) -> float:
        if value == 0:
            raise ValueError("a weight of 0 does nothing")
        return value

    @property
    def raises(self) -> bool:
        """Whether it can raise a suspicion on its own."""
        return self.kind != "supportive" and self.weight > 0


class Levels(Strict):
    high: float
    moderate: float

    @model_validator(mode="after")
    def _ordered(self) -> Levels:
        if not 0 < self.moderate < self.high:
            raise ValueError("levels: need 0 < moderate < high")
        return self


class ScreenedCondition(Strict):
    """How the knowledge base weighs one of the six screened conditions."""

    code: str
    label: str
    levels: Levels
    proxies: tuple[Proxy, ...]
    independent_proxies: int = Field(default=1, ge=1)
    """Proxies (distinct groups) needed above ``low``, unless a known diagnosis fired."""
    high_requires: Node | None = None
    """A condition without which the level stops at ``moderate`` (2.0.0)."""
    moderate_requires: Node | None = None
    """A condition without which the level stops at ``low``, listed not ranked (2.1.0)."""

    @field_validator("high_requires", "moderate_requires", mode="before")
    @classmethod
    def _read(cls, raw: Any, info: ValidationInfo) -> Node | None:
        context = loading(info)
        where = context.where(f"condition {info.data.get('code', '?')} {info.field_name}")
        return None if raw is None else context.reader.read(raw, Stage.SUSPICIONS, where)

    @model_validator(mode="after")
    def _can_be_raised(self) -> ScreenedCondition:
        if not any(p.kind in ("proxy", "known") and p.weight > 0 for p in self.proxies):
            raise ValueError(f"condition {self.code}: no rule can raise this suspicion")
        return self

    @cached_property
    def groups(self) -> Mapping[str, str]:
        """Rule id -> independence group, for the ``proxy`` rules with a positive weight."""
        return {p.id: p.group or p.id for p in self.proxies if p.kind == "proxy" and p.weight > 0}

    @property
    def high(self) -> float:
        return self.levels.high

    @property
    def moderate(self) -> float:
        return self.levels.moderate


class AlternativeCause(Identified):
    """A non-immune cause that may explain a fitting, chronic, non-systemic picture."""

    what = "alternative cause"
    link_id: str = Field(alias="item")
    label: str
    explains: frozenset[str]
    when: Node | None = None
    """Beside ``item`` answered yes, what must hold for the cause to count at all (2.0.0)."""

    @field_validator("when", mode="before")
    @classmethod
    def _read(cls, raw: Any, info: ValidationInfo) -> Node | None:
        return None if raw is None else read_when(cls, Stage.ALTERNATIVES, raw, info)

    @field_validator("link_id")
    @classmethod
    def _boolean_item(cls, value: str, info: ValidationInfo) -> str:
        contract = loading(info).contract
        spec = contract.items.get(value) if contract else None
        if spec is None or spec.kind != "boolean":
            raise ValueError(f"{value!r} is not a boolean question of the Questionnaire")
        return value

    @field_validator("explains")
    @classmethod
    def _derivable(cls, value: frozenset[str], info: ValidationInfo) -> frozenset[str]:
        contract = loading(info).contract
        unknown = sorted(value - (set(contract.patterns) - {"none"})) if contract else []
        if unknown or not value:
            raise ValueError(f"cannot explain patterns {unknown}")
        return value


class Alternatives(Cited):
    """The non-immune causes, and when none of them may lower suspicion."""

    factor: float = Field(gt=0, le=1)
    """Suspicion scores are multiplied by this when an alternative cause explains the picture."""
    causes: tuple[AlternativeCause, ...]
    blockers: tuple[Blocker, ...]
