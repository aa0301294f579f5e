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


class OutputsModel(Strict):
    patterns: dict[str, str]
    conditions: dict[str, str]
    workup: dict[str, str]


class Dn4Model(Cited):
    items: list[str]
    cutoff: int


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


class LevelsModel(Strict):
    high: float
    moderate: float


class ScreenedConditionModel(Strict):
    label: str
    levels: LevelsModel
    proxies: list[ProxyModel]


class CauseModel(Cited):
    id: str
    item: str
    label: str
    explains: list[str]


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
    questionnaire: list[str] = Field(min_length=1)
    """The Questionnaire versions the rules are written for (its items are read from it)."""
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
