"""The parts of a knowledge file, each a typed model validated and checked as it is loaded.

A knowledge file is read straight into these pydantic models: the YAML's shape
is checked (required keys, types, no unknown keys, so a misspelt ``wieght``
fails instead of silently dropping a rule), and so is its meaning, through the
:class:`LoadContext` the loader passes in: every source key resolves to its
citation, every rule id is unique, every condition is read into a rule tree
checked against the Questionnaire and the engine stage of its rule, every
pattern, tier and workup code exists. A failure names the rule; bad data never
reaches a patient. The condition weights are in :mod:`~screening.knowledge.weights`,
the work-up and key items in :mod:`~screening.knowledge.followup`; the root,
:class:`~screening.knowledge.base.Knowledge`, puts the parts together.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

from screening.knowledge.conditions import ConditionReader, EvidenceTable
from screening.knowledge.contract import Contract
from screening.knowledge.rules import Node, Stage
from screening.result import Evidence
from shared.tiers import TIER_ORDER, TIER_RANK, Tier


class LoadContext:
    """What checking one knowledge file needs: filled in as its sections are validated."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.sources: Mapping[str, str] = {}
        self.rule_ids: set[str] = set()
        self.fact = ""
        """The name of the fact being read, for error messages."""
        self.contract: Contract | None = None
        self.evidence: EvidenceTable | None = None
        self._reader: ConditionReader | None = None

    def use(self, contract: Contract) -> None:
        self.contract = contract
        self.evidence = EvidenceTable(contract.items)
        self._reader = ConditionReader(contract, self.evidence)

    @property
    def reader(self) -> ConditionReader:
        if self._reader is None:
            raise ValueError("cannot check rules: the questionnaire or outputs are invalid")
        return self._reader

    def where(self, what: str) -> str:
        return f"{self.origin}: {what}"


def loading(info: ValidationInfo) -> LoadContext:
    context = info.context
    if not isinstance(context, LoadContext):  # pragma: no cover - only the loader validates
        raise TypeError("knowledge models are validated by screening.knowledge.loader")
    return context


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class Cited(Strict):
    """Anything that is a rule: it must name its published source."""

    source: str
    """The citation text, resolved at load from the file's ``sources`` keys."""
    note: str | None = None

    @field_validator("source", mode="before")
    @classmethod
    def _cite(cls, value: Any, info: ValidationInfo) -> str:
        keys = [value] if isinstance(value, str) else value
        if not isinstance(keys, list) or not keys:
            raise ValueError("a rule needs at least one source")
        sources = loading(info).sources
        for key in keys:
            if key not in sources:
                raise ValueError(f"unknown source {key!r}")
        return "; ".join(sources[key] for key in keys)


class Identified(Cited):
    """A rule with an id, unique in the file (results name the rules that fired)."""

    what: ClassVar[str] = "rule"
    id: str

    @field_validator("id")
    @classmethod
    def _claim(cls, value: str, info: ValidationInfo) -> str:
        context = loading(info)
        if value in context.rule_ids:
            raise ValueError(f"{context.where(cls.what)}: rule id {value!r} is used twice")
        context.rule_ids.add(value)
        return value


def read_when(cls: type[Identified], stage: Stage, raw: Any, info: ValidationInfo) -> Node:
    """The rule tree of a rule's ``when``, named by its id in any error."""
    context = loading(info)
    where = context.where(f"{cls.what} {info.data.get('id', '?')}")
    return context.reader.read(raw, stage, where)


class Conditional(Identified):
    """A rule with a condition; ``stage`` is the engine step that checks it."""

    stage: ClassVar[Stage]
    when: Node

    @field_validator("when", mode="before")
    @classmethod
    def _read(cls, raw: Any, info: ValidationInfo) -> Node:
        return read_when(cls, cls.stage, raw, info)


class Rule(Conditional):
    """A rule that fires when its condition holds, with a label for the finding."""

    label: str


class Sign(Rule):
    what = "sign"
    stage = Stage.ANSWERS


class Blocker(Rule):
    """A condition under which no alternative cause may lower suspicion."""

    what = "blocker"
    stage = Stage.ALTERNATIVES


class Consideration(Rule):
    what = "consideration"
    stage = Stage.WORKUP


class NamedFact(Cited):
    """A named condition (``facts:``), read at the answers stage; the loader names it."""

    when: Node

    @field_validator("when", mode="before")
    @classmethod
    def _read(cls, raw: Any, info: ValidationInfo) -> Node:
        context = loading(info)
        return context.reader.read(raw, Stage.ANSWERS, context.where(f"fact {context.fact}"))


class Dn4(Cited):
    """The DN4 interview items (Bouhassira 2005) and the neuropathic-pain cut-off."""

    items: tuple[str, ...]
    cutoff: int
    pain_items: tuple[str, ...] = ()
    """When given, "neuropathic pain likely" also needs one of these answered yes (2.0.0)."""
    _pairs: tuple[tuple[str, Evidence], ...] = ()

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> Dn4:
        context = loading(info)
        items = context.contract.items if context.contract else {}
        for item in (*self.items, *self.pain_items):
            if item not in items or items[item].kind != "boolean":
                raise ValueError(f"dn4: {item!r} is not a boolean question of the Questionnaire")
        if len(set(self.items)) != len(self.items):
            raise ValueError("dn4: an item is listed twice")
        if not 1 <= self.cutoff <= len(self.items):
            raise ValueError(f"dn4: cut-off {self.cutoff} is out of range")
        if context.evidence is not None:
            self._pairs = tuple((item, context.evidence.of(item, True)) for item in self.items)
        return self

    @cached_property
    def pairs(self) -> tuple[tuple[str, Evidence], ...]:
        """Each item with its "<item>: yes" evidence."""
        return self._pairs

    @cached_property
    def item_set(self) -> frozenset[str]:
        return frozenset(self.items)


class PatternRule(Conditional):
    """Derives one neuropathy-pattern code; ``rationale`` explains the label."""

    what = "pattern rule"
    stage = Stage.PATTERNS
    pattern: str
    rationale: str

    @field_validator("pattern")
    @classmethod
    def _derivable(cls, value: str, info: ValidationInfo) -> str:
        # A rule may give ``none`` explicitly (2.0.0: a distribution that is no peripheral
        # pattern, e.g. one side of the body); the engine drops it beside any other label.
        contract = loading(info).contract
        if contract is None or value not in contract.patterns:
            raise ValueError(f"pattern {value!r} cannot be derived")
        return value


class RedFlag(Conditional):
    """A finding that makes the tier urgent, with the advice to give."""

    what = "red flag"
    stage = Stage.RED_FLAGS
    label: str
    advice: str
    emergency_only: bool
    """True for GBS-type emergencies: no outpatient tests, only emergency assessment."""
    workup: tuple[str, ...] = ()
    """The flag's own steps, emergency assessment first (2.0.0); checked by the root."""
    _steps: Any = None

    @field_validator("workup")
    @classmethod
    def _known(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        contract = loading(info).contract
        unknown = [c for c in value if contract is None or c not in contract.workup]
        if unknown:
            raise ValueError(f"{unknown} are not workup codes")
        return value

    @property
    def steps(self) -> Any:
        """The flag's own steps as a work-up rule cited to the flag, or ``None``."""
        return self._steps


class TierRule(Conditional):
    """Gives ``tier`` when it holds."""

    what = "tier rule"
    stage = Stage.TIERS
    tier: Tier
    label: str


class Tiers(Strict):
    actions: dict[Tier, str]
    """Each tier's plain-language action, e.g. "same-day emergency assessment"."""
    rules: tuple[TierRule, ...]
    """Highest tier first (stable within a tier), so the engine can stop early."""

    @field_validator("actions", mode="before")
    @classmethod
    def _every_tier(cls, value: Any) -> Any:
        if not isinstance(value, Mapping) or set(value) != set(TIER_ORDER):
            raise ValueError(f"tier actions must be exactly {sorted(TIER_ORDER)}")
        return value

    @field_validator("rules")
    @classmethod
    def _highest_first(cls, value: tuple[TierRule, ...]) -> tuple[TierRule, ...]:
        if not any(rule.tier == "low" for rule in value):
            raise ValueError("tiers: some rule must give 'low'")
        return tuple(sorted(value, key=lambda rule: -TIER_RANK[rule.tier]))


class Outputs(Strict):
    """The output codes the rules may produce, with the labels summaries use."""

    patterns: dict[str, str]
    conditions: dict[str, str]
    workup: dict[str, str]
