"""The small condition language the knowledge base is written in.

Every rule in the YAML says *when* it fires with a condition built from these
forms (one key per mapping)::

    {item: nasal-polyps, is: true}              boolean answered yes (or no)
    {item: spread-pattern, in: [one-area]}      single choice is one of the codes
    {item: regions, includes: [left-foot]}      repeating choice contains any code
    {item: regions, only: [face]}               repeating choice answered, all codes listed
    {item: age, at_least: 50} / {item: age, below: 18}
    {item: duration, answered: false}           answered or not (missing is never "no")
    {any_yes: [fever-sweats, weight-loss]}      any of these booleans answered yes
    {any_answered: [burning, tingling]}         any of these items answered at all
    {fact: vasculitis-features}                 a named condition or an engine fact
    {pattern: mononeuritis-multiplex}           a neuropathy pattern was derived
    {suspicion: egpa, at_least: moderate}       suspicion level (``any`` for any condition)
    {cluster: any, at_least: high}              level of the positive features alone
    {leading_suspicion: [egpa, lupus], at_least: moderate}
    {tier_at_least: moderate}
    {all: [...]} {any: [...]} {not: {...}}

Conditions are validated into node trees (:mod:`~screening.knowledge.nodes`) and
compiled once, at load time, into generated Python functions
(:mod:`~screening.knowledge.codegen`), so the engine never parses or interprets
YAML per call. A compiled predicate returns the answers that made it true (a
tuple of :class:`Evidence`, possibly empty) or ``None`` when it does not hold;
that is how every finding can list its evidence.

Each rule belongs to a :class:`Stage` of the engine. A rule may only look at
what earlier stages have produced (a red flag cannot look at the tier), and the
compiler refuses a knowledge base that breaks this, so an ordering mistake fails
at load time instead of silently reading an empty value at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from itertools import compress, repeat
from operator import is_
from typing import Any

from screening.knowledge import codegen, nodes
from screening.knowledge.contract import ItemSpec
from screening.knowledge.errors import KnowledgeError
from screening.knowledge.nodes import Evidences, Predicate
from screening.result import AnswerValue, Evidence, Suspicion
from shared.tiers import TIER_RANK

LEVEL_RANK: Mapping[str, int] = {"low": 1, "moderate": 2, "high": 3}


class Stage(IntEnum):
    """The engine's steps, in the order it runs them."""

    ANSWERS = 0
    PATTERNS = 1
    RED_FLAGS = 2
    ALTERNATIVES = 3
    SUSPICIONS = 4
    TIERS = 5
    WORKUP = 6


ENGINE_FACTS: Mapping[str, Stage] = {
    "neuropathic-pain": Stage.ANSWERS,
    "dn4-could-reach-cutoff": Stage.ANSWERS,
    "red-flag": Stage.ALTERNATIVES,
    "alternative-explains": Stage.SUSPICIONS,
}
"""Facts the engine computes itself, and the first stage whose rules may read them."""


class RuleContext:
    """What the rules of one evaluation can see; filled in stage by stage by the engine."""

    __slots__ = (
        "answers",
        "clusters",
        "facts",
        "leading",
        "levels",
        "patterns",
        "suspicion_evidence",
        "suspicions",
        "tier",
        "yes",
    )

    def __init__(self, answers: Mapping[str, AnswerValue]) -> None:
        self.answers = answers
        self.yes: set[str] = set(compress(answers, map(is_, answers.values(), repeat(True))))
        """The items answered yes (boolean ``True``), computed once at C speed."""
        self.facts: dict[str, Evidences | None] = {}
        self.patterns: dict[str, Evidences] = {}
        self.levels: dict[str, int] = {}
        self.clusters: dict[str, int] = {}
        self.suspicions: dict[str, Suspicion] = {}
        self.suspicion_evidence: dict[str, Evidences] = {}
        self.leading: str | None = None
        self.tier = -1


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled condition; ``static`` is its evidence when that never varies."""

    check: Predicate
    static: Evidences | None
    node: nodes.Node
    """The validated tree, for compiling whole stages into one function."""


class EvidenceTable:
    """Pre-built :class:`Evidence` for every boolean and code answer, shared by all rules.

    Building these once keeps evaluation allocation-free and gives every rule the
    same wording for the same answer; because each answer has exactly one evidence
    object, evidence can be de-duplicated by identity.
    """

    def __init__(self, items: Mapping[str, ItemSpec]) -> None:
        self._items = items
        self._table: dict[tuple[str, object], Evidence] = {}
        for spec in items.values():
            if spec.kind == "boolean":
                self._table[spec.link_id, True] = Evidence(spec.link_id, True, f"{spec.text}: yes")
                self._table[spec.link_id, False] = Evidence(spec.link_id, False, f"{spec.text}: no")
            if spec.kind == "integer":
                for number in spec.numbers:
                    self._table[spec.link_id, number] = Evidence(
                        spec.link_id, number, f"{spec.text}: {number}"
                    )
            for code in spec.codes:
                value: AnswerValue = (code,) if spec.repeats else code
                text = f"{spec.text}: {(spec.code_text or {}).get(code, code)}"
                self._table[spec.link_id, code] = Evidence(spec.link_id, value, text)

    def of(self, link_id: str, value: object) -> Evidence:
        """The evidence for one answer; for repeating items pass a single code."""
        found = self._table.get((link_id, value))
        if found is not None:
            return found
        return Evidence(link_id, value, f"{self._items[link_id].text}: {value}")  # type: ignore[arg-type]


class RuleCompiler:
    """Compiles YAML conditions, checking every name against the contract and the stage.

    Each condition is validated into a tree of :mod:`~screening.knowledge.nodes`
    and then generated as one Python function.
    """

    def __init__(
        self,
        items: Mapping[str, ItemSpec],
        evidence: EvidenceTable,
        *,
        patterns: frozenset[str],
        conditions: frozenset[str],
    ) -> None:
        self._items = items
        self._evidence = evidence
        self._patterns = patterns
        self._conditions = conditions
        self._facts: dict[str, Predicate] = {}

    # -- named facts ---------------------------------------------------------------------

    def define_fact(self, name: str, raw: Any, where: str) -> None:
        """Add a named condition; it may use only answers and facts defined before it."""
        if name in self._facts or name in ENGINE_FACTS:
            raise KnowledgeError(f"{where}: fact {name!r} is defined twice")
        self._facts[name] = self.compile(raw, Stage.ANSWERS, where, name=f"fact_{name}").check

    @property
    def fact_names(self) -> frozenset[str]:
        return frozenset(self._facts) | frozenset(ENGINE_FACTS)

    # -- compilation ---------------------------------------------------------------------

    def compile(self, raw: Any, stage: Stage, where: str, name: str = "condition") -> Condition:
        """Compile one condition for a rule of ``stage``; ``where`` names it in errors."""
        node = self.validate(raw, stage, where)
        return Condition(codegen.generate(node, name), node.static, node)

    def validate(self, raw: Any, stage: Stage, where: str) -> nodes.Node:
        """Check one condition for a rule of ``stage`` and return its node tree."""
        return self._node(raw, stage, where)

    def _node(self, raw: Any, stage: Stage, where: str) -> nodes.Node:
        if not isinstance(raw, Mapping) or not raw:
            raise KnowledgeError(f"{where}: a condition must be a non-empty mapping, got {raw!r}")
        keys = set(raw)
        for combinator in ("all", "any"):
            if combinator in keys:
                self._only_keys(raw, {combinator}, where)
                parts = raw[combinator]
                if not isinstance(parts, list) or not parts:
                    raise KnowledgeError(f"{where}: {combinator!r} needs a non-empty list")
                children = tuple(
                    self._node(part, stage, f"{where} > {combinator}[{index}]")
                    for index, part in enumerate(parts)
                )
                return nodes.AllOf(children) if combinator == "all" else nodes.AnyOf(children)
        if "not" in keys:
            self._only_keys(raw, {"not"}, where)
            return nodes.Not(self._node(raw["not"], stage, f"{where} > not"))
        if "item" in keys:
            return self._item(raw, where)
        if "any_yes" in keys:
            self._only_keys(raw, {"any_yes"}, where)
            ids = self._link_ids(raw["any_yes"], where, kind="boolean")
            return nodes.AnyYes(tuple((i, (self._evidence.of(i, True),)) for i in ids))
        if "any_answered" in keys:
            self._only_keys(raw, {"any_answered"}, where)
            return nodes.AnyAnswered(self._link_ids(raw["any_answered"], where, kind=None))
        if "fact" in keys:
            return self._fact(raw, stage, where)
        if "pattern" in keys:
            self._only_keys(raw, {"pattern"}, where)
            self._needs(stage, Stage.PATTERNS, "pattern", where)
            if raw["pattern"] not in self._patterns:
                raise KnowledgeError(
                    f"{where}: {raw['pattern']!r} is not a neuropathy-pattern code"
                )
            return nodes.Pattern(raw["pattern"])
        if keys & {"suspicion", "leading_suspicion", "cluster"}:
            return self._suspicion(raw, stage, where)
        if "tier_at_least" in keys:
            self._only_keys(raw, {"tier_at_least"}, where)
            self._needs(stage, Stage.WORKUP, "tier", where)
            tier = raw["tier_at_least"]
            if tier not in TIER_RANK:
                raise KnowledgeError(f"{where}: unknown tier {tier!r}")
            return nodes.TierAtLeast(TIER_RANK[tier])
        raise KnowledgeError(f"{where}: unknown condition form {sorted(keys)}")

    def _item(self, raw: Mapping[str, Any], where: str) -> nodes.Node:
        link_id = raw["item"]
        spec = self._items.get(link_id)
        if spec is None:
            raise KnowledgeError(f"{where}: {link_id!r} is not a linkId of the contract")
        tests = set(raw) - {"item"}
        if len(tests) != 1:
            raise KnowledgeError(f"{where}: item {link_id!r} needs exactly one test, got {tests}")
        (test,) = tests
        operand = raw[test]
        if test == "answered":
            return nodes.Answered(link_id, self._bool(operand, where))
        allowed = _TESTS_BY_KIND[(spec.kind, spec.repeats)]
        if test not in allowed:
            raise KnowledgeError(
                f"{where}: test {test!r} does not fit {spec.kind} item {link_id!r} "
                f"(use one of {sorted(allowed)} or 'answered')"
            )
        if test == "is":
            expected = self._bool(operand, where)
            return nodes.Is(link_id, expected, (self._evidence.of(link_id, expected),))
        if test in ("at_least", "below"):
            if type(operand) is not int:
                raise KnowledgeError(f"{where}: {test!r} needs an integer, got {operand!r}")
            return nodes.Number(link_id, test == "at_least", operand, self._evidence.of)
        codes = self._codes(spec, operand, where)
        if test == "in":
            return nodes.Chosen(link_id, {c: (self._evidence.of(link_id, c),) for c in codes})
        if test == "includes":
            return nodes.Includes(link_id, {c: self._evidence.of(link_id, c) for c in codes})
        every = {code: self._evidence.of(link_id, code) for code in spec.codes}
        return nodes.Only(link_id, frozenset(codes), every)

    def _fact(self, raw: Mapping[str, Any], stage: Stage, where: str) -> nodes.Node:
        self._only_keys(raw, {"fact"}, where)
        name = raw["fact"]
        if name in ENGINE_FACTS:
            if ENGINE_FACTS[name] > stage:
                raise KnowledgeError(
                    f"{where}: fact {name!r} is not known yet at the {stage.name.lower()} stage"
                )
            return nodes.Fact(name, None)
        compute = self._facts.get(name)
        if compute is None:
            raise KnowledgeError(f"{where}: fact {name!r} is not defined (or defined later)")
        return nodes.Fact(name, compute)

    def _suspicion(self, raw: Mapping[str, Any], stage: Stage, where: str) -> nodes.Node:
        self._needs(stage, Stage.TIERS, "suspicion", where)
        leading = "leading_suspicion" in raw
        key = next(k for k in ("leading_suspicion", "cluster", "suspicion") if k in raw)
        scale = "clusters" if key == "cluster" else "levels"
        self._only_keys(raw, {key, "at_least"}, where)
        level = raw.get("at_least", "low")
        if level not in LEVEL_RANK:
            raise KnowledgeError(f"{where}: unknown suspicion level {level!r}")
        rank = LEVEL_RANK[level]
        named = raw[key]
        codes = tuple(named) if isinstance(named, list) else (named,)
        for code in codes:
            if code not in self._conditions and not (code == "any" and not leading):
                raise KnowledgeError(f"{where}: {code!r} is not a screened condition")
        if leading:
            wanted = frozenset(codes)

            def leading_suspicion(ctx: RuleContext) -> Evidences | None:
                top = ctx.leading
                if top in wanted and ctx.levels.get(top, 0) >= rank:  # type: ignore[arg-type]
                    return ctx.suspicion_evidence[top]  # type: ignore[arg-type]
                return None

            return nodes.Call(leading_suspicion)
        if codes == ("any",):

            def any_suspicion(ctx: RuleContext) -> Evidences | None:
                found: Evidences | None = None
                for code, value in getattr(ctx, scale).items():
                    if value >= rank:
                        found = (found or ()) + ctx.suspicion_evidence[code]
                return found

            return nodes.Call(any_suspicion)
        if len(codes) == 1:
            return nodes.Level(codes[0], rank, scale)
        return nodes.AnyOf(tuple(nodes.Level(code, rank, scale) for code in codes))

    # -- checks --------------------------------------------------------------------------

    @staticmethod
    def _only_keys(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
        extra = set(raw) - allowed
        if extra:
            raise KnowledgeError(f"{where}: unexpected keys {sorted(extra)} beside {allowed}")

    @staticmethod
    def _needs(stage: Stage, earliest: Stage, what: str, where: str) -> None:
        if stage < earliest:
            raise KnowledgeError(
                f"{where}: a {stage.name.lower()} rule cannot look at the {what}, "
                "which is only known later"
            )

    @staticmethod
    def _bool(operand: Any, where: str) -> bool:
        if operand is not True and operand is not False:
            raise KnowledgeError(f"{where}: expected true or false, got {operand!r}")
        return operand

    def _codes(self, spec: ItemSpec, operand: Any, where: str) -> tuple[str, ...]:
        if not isinstance(operand, list) or not operand:
            raise KnowledgeError(f"{where}: {spec.link_id!r} needs a non-empty list of codes")
        unknown = [c for c in operand if c not in spec.codes]
        if unknown:
            raise KnowledgeError(f"{where}: {unknown} are not answer codes of {spec.link_id!r}")
        return tuple(operand)

    def _link_ids(self, operand: Any, where: str, kind: str | None) -> tuple[str, ...]:
        if not isinstance(operand, list) or not operand:
            raise KnowledgeError(f"{where}: needs a non-empty list of linkIds")
        for link_id in operand:
            spec = self._items.get(link_id)
            if spec is None:
                raise KnowledgeError(f"{where}: {link_id!r} is not a linkId of the contract")
            if kind is not None and spec.kind != kind:
                raise KnowledgeError(f"{where}: {link_id!r} is not a {kind} item")
        return tuple(operand)


_TESTS_BY_KIND: Mapping[tuple[str, bool], frozenset[str]] = {
    ("boolean", False): frozenset({"is"}),
    ("integer", False): frozenset({"at_least", "below"}),
    ("choice", False): frozenset({"in"}),
    ("choice", True): frozenset({"includes", "only"}),
}
