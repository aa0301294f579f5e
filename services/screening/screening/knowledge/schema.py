"""The shape of a knowledge YAML file, validated with pydantic before compiling.

These models check structure only: required keys, types, no unknown keys (so a
misspelt ``wieght`` fails instead of silently dropping a rule). Meaning, such as
whether a linkId exists or a rule may look at the tier, is checked by the
compiler in :mod:`screening.knowledge.loader`. Conditions stay plain mappings
here; :mod:`screening.knowledge.rules` validates and compiles them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Sources = list[str]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cited(Strict):
    """Anything that is a rule: it must name its published source."""

    source: Sources
    note: str | None = None

    @field_validator("source", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("source")
    @classmethod
    def _not_empty(cls, value: Sources) -> Sources:
        if not value:
            raise ValueError("a rule needs at least one source")
        return value


class ItemModel(Strict):
    type: Literal["boolean", "integer", "choice"]
    text: str
    repeats: bool = False
    required: bool = False
    codes: dict[str, str] = Field(default_factory=dict)


class QuestionnaireModel(Strict):
    canonical: str
    version: str
    answer_system: str
    items: dict[str, ItemModel]


class OutputsModel(Strict):
    tiers: dict[str, str]
    patterns: dict[str, str]
    conditions: dict[str, str]
    workup: dict[str, str]


class Dn4Model(Cited):
    items: list[str]
    cutoff: int
    pain_items: list[str] = Field(default_factory=list)
    """When given, "neuropathic pain likely" also needs one of these answered yes (2.0.0)."""


class FactModel(Cited):
    when: dict[str, Any]


class SignModel(Cited):
    id: str
    label: str
    when: dict[str, Any]


class PatternModel(Cited):
    id: str
    pattern: str
    rationale: str
    when: dict[str, Any]


class ProxyModel(Cited):
    id: str
    kind: Literal["proxy", "supportive", "known"] = "proxy"
    weight: float
    label: str
    when: dict[str, Any]
    group: str | None = None
    """Proxies of one group are one independent proxy (default: each rule is its own)."""


class LevelsModel(Strict):
    high: float
    moderate: float


class ScreenedConditionModel(Strict):
    label: str
    levels: LevelsModel
    proxies: list[ProxyModel]
    independent_proxies: int = Field(default=1, ge=1)
    """Proxies (distinct groups) needed above ``low``, unless a known diagnosis fired."""
    high_requires: dict[str, Any] | None = None
    """A condition without which the level stops at ``moderate``."""


class CauseModel(Cited):
    id: str
    item: str
    label: str
    explains: list[str]
    when: dict[str, Any] | None = None
    """Beside ``item`` answered yes, what must hold for the cause to count at all."""


class AlternativesModel(Cited):
    factor: float = Field(gt=0, le=1)
    causes: list[CauseModel]
    blockers: list[SignModel]


class RedFlagModel(Cited):
    id: str
    label: str
    advice: str
    emergency_only: bool
    when: dict[str, Any]
    workup: list[str] = Field(default_factory=list)
    """Steps for the receiving team, first of all (2.0.0: starts with emergency-assessment)."""


class TierRuleModel(Cited):
    id: str
    tier: str
    label: str
    when: dict[str, Any]


class TiersModel(Strict):
    actions: dict[str, str]
    rules: list[TierRuleModel]


class WorkupRuleModel(Cited):
    id: str
    codes: list[str]
    reason: str
    when: dict[str, Any] | None = None


class WorkupModel(Strict):
    emergency: WorkupRuleModel
    baseline: WorkupRuleModel
    rules: list[WorkupRuleModel]


class KeyItemModel(Cited):
    id: str
    items: list[str]
    why: str
    when: dict[str, Any] | None = None


class KnowledgeModel(Strict):
    """A whole knowledge file."""

    id: str
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    questionnaire: QuestionnaireModel
    outputs: OutputsModel
    sources: dict[str, str]
    dn4: Dn4Model
    facts: dict[str, FactModel]
    signs: list[SignModel]
    patterns: list[PatternModel]
    conditions: dict[str, ScreenedConditionModel]
    alternative_causes: AlternativesModel
    red_flags: list[RedFlagModel]
    tiers: TiersModel
    workup: WorkupModel
    considerations: list[SignModel]
    key_items: list[KeyItemModel]
