"""One version of the screening knowledge: the whole knowledge file as one typed model.

:class:`Knowledge` is the file as loaded (see :mod:`screening.knowledge.model`
for its parts and the checks made on each) plus what the engine asks of it:
which rules of a stage fire for a response, with their evidence, and how the
six screened conditions score. Every rule is evaluated by walking its
condition tree (:mod:`screening.knowledge.rules`); nothing is generated or
compiled. Instances are immutable and shared by every evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from itertools import combinations
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from screening.knowledge.conditions import EvidenceTable
from screening.knowledge.contract import Contract, ItemSpec, build_contract
from screening.knowledge.errors import KnowledgeError
from screening.knowledge.followup import KeyItem, Workup, WorkupRule
from screening.knowledge.model import (
    Consideration,
    Dn4,
    NamedFact,
    Outputs,
    PatternRule,
    RedFlag,
    Sign,
    Strict,
    Tiers,
    loading,
)
from screening.knowledge.rules import Evidences, Fact, Node, RuleContext, distinct
from screening.knowledge.weights import Alternatives, ScreenedCondition
from screening.result import Contribution, WorkupStep
from shared.tiers import TIER_RANK

FORBIDDEN_WORDING = ("classified as", "classifies as", "meets criteria", "meets the criteria")
"""The screen never claims a classification or a diagnosis (clinical basis f.5)."""

Fired = list[tuple[int, Evidences]]
"""The rules of a stage that hold: (index in the stage, evidence)."""
Scored = list[tuple[int, list[Contribution], float, bool, float, Evidences]]


class Knowledge(Strict):
    """A whole knowledge file, checked against the Questionnaire and ready for the engine."""

    id: str
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    questionnaire: tuple[str, ...] = Field(min_length=1)
    """The Questionnaire versions the rules are written for (its items are read from it)."""
    outputs: Outputs
    sources: dict[str, str]
    dn4: Dn4
    facts: dict[str, NamedFact]
    signs: tuple[Sign, ...]
    patterns: tuple[PatternRule, ...]
    conditions: tuple[ScreenedCondition, ...]
    alternative_causes: Alternatives
    red_flags: tuple[RedFlag, ...]
    tiers: Tiers
    workup: Workup
    considerations: tuple[Consideration, ...]
    key_items: tuple[KeyItem, ...]
    _contract: Contract
    _evidence: EvidenceTable
    _neuropathy: Node

    # -- checks made while loading -------------------------------------------------------

    @model_validator(mode="before")
    @classmethod
    def _never_classifies(cls, data: Any) -> Any:
        def walk(value: Any, path: str) -> None:
            if isinstance(value, str):
                lowered = value.lower()
                for phrase in FORBIDDEN_WORDING:
                    if phrase in lowered:
                        raise ValueError(f"{path}: says {phrase!r}; the screen never classifies")
            elif isinstance(value, Mapping):
                for key, item in value.items():
                    if path or key != "sources":
                        walk(item, f"{path}.{key}" if path else str(key))
            elif isinstance(value, list):
                for index, item in enumerate(value):
                    walk(item, f"{path}[{index}]")

        walk(data, "")
        return data

    @field_validator("outputs")
    @classmethod
    def _contract_of(cls, outputs: Outputs, info: ValidationInfo) -> Outputs:
        context = loading(info)
        written_for = info.data.get("questionnaire")
        if written_for is None:
            raise ValueError("cannot build the contract without questionnaire versions")
        try:
            context.use(
                build_contract(
                    list(written_for),
                    outputs.patterns,
                    outputs.conditions,
                    outputs.workup,
                    context.origin,
                )
            )
        except KnowledgeError as error:
            raise ValueError(str(error)) from None
        return outputs

    @field_validator("sources")
    @classmethod
    def _remember_sources(cls, sources: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        loading(info).sources = sources
        return sources

    @field_validator("facts", mode="before")
    @classmethod
    def _define_in_order(cls, raw: Any, info: ValidationInfo) -> dict[str, NamedFact]:
        """Each fact may use only answers and the facts defined above it."""
        context = loading(info)
        if not isinstance(raw, Mapping):
            raise ValueError("facts must be a mapping of names to facts")
        facts = {}
        for name, fact in raw.items():
            context.fact = name
            facts[name] = NamedFact.model_validate(fact, context=context)
            context.reader.define_fact(name, facts[name].when, context.where(f"fact {name}"))
        if "neuropathy-evidence" not in facts:
            raise ValueError("the fact 'neuropathy-evidence' is required")
        return facts

    @field_validator("conditions", mode="before")
    @classmethod
    def _coded(cls, raw: Any) -> Any:
        if not isinstance(raw, Mapping):
            raise ValueError("conditions must be a mapping of condition codes")
        return [{"code": code, **body} if isinstance(body, Mapping) else body
                for code, body in raw.items()]  # fmt: skip

    @model_validator(mode="after")
    def _complete(self, info: ValidationInfo) -> Knowledge:
        context = loading(info)
        if context.contract is None or context.evidence is None:  # outputs were refused
            raise ValueError("the knowledge file has no valid outputs")
        expected = sorted(context.contract.conditions)
        if sorted(c.code for c in self.conditions) != expected:
            raise ValueError(f"conditions must be exactly {expected}")
        emergency = self.workup.emergency
        for flag in self.red_flags:
            if not flag.workup:
                continue
            if flag.workup[: len(emergency.codes)] != emergency.codes:
                raise ValueError(
                    f"red flag {flag.id}: its workup must start with {list(emergency.codes)}"
                )
            flag._steps = WorkupRule.model_construct(
                id=flag.id, codes=flag.workup, reason=emergency.reason, source=flag.source
            )
        self._contract = context.contract
        self._evidence = context.evidence
        self._neuropathy = Fact("neuropathy-evidence", self.facts["neuropathy-evidence"].when)
        return self

    # -- what the engine reads -----------------------------------------------------------

    @property
    def label(self) -> str:
        """``neuroscreen-kb 1.0.0``: how results and resources name this knowledge."""
        return f"{self.id} {self.version}"

    # The private attributes are set once at load; these cache them in the instance, as
    # pydantic serves private attributes through a slower __getattr__ on every read.

    @cached_property
    def contract(self) -> Contract:
        return self._contract

    @property
    def items(self) -> Mapping[str, ItemSpec]:
        """The questions of the Questionnaire, by linkId."""
        return self.contract.items

    @cached_property
    def evidence(self) -> EvidenceTable:
        return self._evidence

    @cached_property
    def neuropathy_evidence(self) -> Node:
        """The ``neuropathy-evidence`` fact: any nerve symptom at all, painless ones included."""
        return self._neuropathy

    @property
    def alternatives(self) -> Alternatives:
        return self.alternative_causes

    @property
    def tier_text(self) -> Mapping[str, str]:
        """Each tier's plain-language action, e.g. "same-day emergency assessment"."""
        return self.tiers.actions

    @cached_property
    def pattern_order(self) -> tuple[str, ...]:
        return tuple(self.contract.patterns)

    @cached_property
    def short_labels(self) -> Mapping[str, str]:
        """Short names for summaries: condition codes, red-flag and alternative-cause ids."""
        return {
            **{condition.code: condition.label for condition in self.conditions},
            **{flag.id: flag.label for flag in self.red_flags},
            **{cause.id: cause.label for cause in self.alternative_causes.causes},
        }

    @cached_property
    def key_item_ids(self) -> frozenset[str]:
        """Every linkId some key-item rule names."""
        return frozenset(item for rule in self.key_items for item in rule.items)

    @cached_property
    def workup_steps(self) -> Mapping[tuple[str, tuple[str, ...]], WorkupStep]:
        """Every step the rules can produce, by (code, ids of the rules suggesting it)."""
        workup = self.workup
        by_code: dict[str, list[WorkupRule]] = {}
        flag_steps = [flag.steps for flag in self.red_flags if flag.steps is not None]
        for rule in (workup.emergency, *flag_steps, workup.baseline, *workup.rules):
            for code in rule.codes:
                by_code.setdefault(code, []).append(rule)
        steps = {}
        for code, suggesting in by_code.items():
            for size in range(1, len(suggesting) + 1):
                for chosen in combinations(suggesting, size):
                    reasons = tuple(dict.fromkeys(rule.reason for rule in chosen))
                    rule_ids = tuple(rule.id for rule in chosen)
                    steps[code, rule_ids] = WorkupStep(code, reasons, rule_ids)
        return steps

    # -- evaluating the rules of a stage -------------------------------------------------

    def signs_check(self, ctx: RuleContext) -> Fired:
        return fired(self.signs, ctx)

    def red_flags_check(self, ctx: RuleContext) -> Fired:
        return fired(self.red_flags, ctx)

    def workup_check(self, ctx: RuleContext) -> Fired:
        return fired(self.workup.rules, ctx)

    def considerations_check(self, ctx: RuleContext) -> Fired:
        return fired(self.considerations, ctx)

    def patterns_check(self, ctx: RuleContext) -> Fired:
        """The pattern rules that hold, each added to ``ctx.patterns`` at once: a later
        pattern rule may look at an earlier one's pattern."""
        found = []
        derived = ctx.patterns
        for index, rule in enumerate(self.patterns):
            evidence = rule.when.check(ctx)
            if evidence is not None:
                found.append((index, evidence))
                earlier = derived.get(rule.pattern)
                derived[rule.pattern] = evidence if earlier is None else earlier + evidence
        return found

    def tiers_check(self, ctx: RuleContext) -> Fired:
        """The tier rules that hold at the highest tier any rule reaches (rules are kept
        highest first, so rules of lower tiers are not evaluated once one holds)."""
        found = []
        top = -1
        for index, rule in enumerate(self.tiers.rules):
            rank = TIER_RANK[rule.tier]
            if rank < top:
                break
            evidence = rule.when.check(ctx)
            if evidence is not None:
                found.append((index, evidence))
                top = rank
        return found

    def score_conditions(self, ctx: RuleContext) -> Scored:
        """Each condition a ``proxy`` or ``known`` rule raised, in knowledge order, as
        ``(index, contributions, score, known, positive, evidence)``: ``positive`` sums
        the positive weights only (``score`` may still be zero or less), ``evidence``
        joins the contributions' evidence."""
        found: Scored = []
        for index, condition in enumerate(self.conditions):
            contributions = []
            evidence: Evidences = ()
            score = positive = 0.0
            raised = known = False
            for proxy in condition.proxies:
                part = proxy.when.check(ctx)
                if part is None:
                    continue
                part = distinct(part)
                contributions.append(
                    Contribution(proxy.id, proxy.weight, part, proxy.source, proxy.label)
                )
                evidence += part
                score += proxy.weight
                if proxy.weight > 0:
                    positive += proxy.weight
                raised = raised or proxy.raises
                known = known or proxy.kind == "known"
            if raised and positive > 0:
                found.append((index, contributions, score, known, positive, evidence))
        return found


def fired(rules: Sequence[Sign | RedFlag | Consideration | WorkupRule], ctx: RuleContext) -> Fired:
    """The rules that hold, in order, with the evidence that made each true."""
    found = []
    for index, rule in enumerate(rules):
        evidence = rule.when.check(ctx)  # type: ignore[union-attr]
        if evidence is not None:
            found.append((index, evidence))
    return found
