"""Reading YAML conditions into rule trees, checking every name on the way.

:class:`ConditionReader` turns one condition of the language documented in
:mod:`screening.knowledge.rules` into its node tree, for a rule of a given
engine stage. It refuses, with a message naming the rule, any linkId that is
not a question of the Questionnaire, any answer code the item does not offer,
a test that does not fit the item's type, an unknown pattern, condition or
fact, and any look at something only a later stage produces.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from screening.knowledge import rules
from screening.knowledge.contract import Contract, ItemSpec
from screening.knowledge.rules import ENGINE_FACTS, LEVEL_RANK, Node, Stage
from screening.result import AnswerValue, Evidence
from shared.tiers import TIER_RANK

_TESTS_BY_KIND: Mapping[tuple[str, bool], frozenset[str]] = {
    ("boolean", False): frozenset({"is"}),
    ("integer", False): frozenset({"at_least", "below"}),
    ("choice", False): frozenset({"in"}),
    ("choice", True): frozenset({"includes", "only"}),
}


class EvidenceTable:
    """Pre-built :class:`Evidence` for every answer the Questionnaire allows, shared by all rules.

    Building these once gives every rule the same wording for the same answer (the
    Questionnaire's short wording, e.g. "nasal polyps: yes"), and because each
    answer has exactly one evidence object, evidence can be de-duplicated by identity.
    """

    def __init__(self, items: Mapping[str, ItemSpec]) -> None:
        self._table: dict[tuple[str, object], Evidence] = {}
        for spec in items.values():
            if spec.kind == "boolean":
                self._table[spec.link_id, True] = Evidence(spec.link_id, True, f"{spec.text}: yes")
                self._table[spec.link_id, False] = Evidence(spec.link_id, False, f"{spec.text}: no")
            for number in spec.numbers:
                self._table[spec.link_id, number] = Evidence(
                    spec.link_id, number, f"{spec.text}: {number}"
                )
            for code in spec.codes:
                value: AnswerValue = (code,) if spec.repeats else code
                text = f"{spec.text}: {(spec.code_text or {}).get(code, code)}"
                self._table[spec.link_id, code] = Evidence(spec.link_id, value, text)

    def of(self, link_id: str, value: object) -> Evidence:
        """The evidence for one valid answer; for repeating items pass a single code."""
        return self._table[link_id, value]


class ConditionReader:
    """Reads the conditions of one knowledge file; knows its named facts as they are defined."""

    def __init__(self, contract: Contract, evidence: EvidenceTable) -> None:
        self._items = contract.items
        self._patterns = frozenset(contract.patterns)
        self._conditions = frozenset(contract.conditions)
        self._evidence = evidence
        self._facts: dict[str, Node] = {}

    def define_fact(self, name: str, definition: Node, where: str) -> rules.Fact:
        """Name a condition read at the answers stage; later conditions may use it."""
        if name in self._facts or name in ENGINE_FACTS:
            raise ValueError(f"{where}: fact {name!r} is defined twice")
        fact = rules.Fact(name, definition)
        self._facts[name] = fact
        return fact

    @property
    def fact_names(self) -> frozenset[str]:
        return frozenset(self._facts) | frozenset(ENGINE_FACTS)

    def read(self, raw: Any, stage: Stage, where: str) -> Node:
        """The node tree of one condition of a ``stage`` rule; ``where`` names it in errors."""
        if not isinstance(raw, Mapping) or not raw:
            raise ValueError(f"{where}: a condition must be a non-empty mapping, got {raw!r}")
        keys = set(raw)
        for combinator in ("all", "any"):
            if combinator in keys:
                _only_keys(raw, {combinator}, where)
                parts = raw[combinator]
                if not isinstance(parts, list) or not parts:
                    raise ValueError(f"{where}: {combinator!r} needs a non-empty list")
                children = tuple(
                    self.read(part, stage, f"{where} > {combinator}[{index}]")
                    for index, part in enumerate(parts)
                )
                return rules.AllOf(children) if combinator == "all" else rules.AnyOf(children)
        if "count" in keys:
            return self._count(raw, stage, where)
        if "not" in keys:
            _only_keys(raw, {"not"}, where)
            return rules.Not(self.read(raw["not"], stage, f"{where} > not"))
        if "item" in keys:
            return self._item(raw, where)
        if "any_yes" in keys:
            _only_keys(raw, {"any_yes"}, where)
            ids = self._link_ids(raw["any_yes"], where, kind="boolean")
            return rules.AnyYes(tuple((i, (self._evidence.of(i, True),)) for i in ids))
        if "any_answered" in keys:
            _only_keys(raw, {"any_answered"}, where)
            return rules.AnyAnswered(self._link_ids(raw["any_answered"], where, kind=None))
        if "fact" in keys:
            return self._fact(raw, stage, where)
        if "pattern" in keys:
            _only_keys(raw, {"pattern"}, where)
            _needs(stage, Stage.PATTERNS, "pattern", where)
            if raw["pattern"] not in self._patterns:
                raise ValueError(f"{where}: {raw['pattern']!r} is not a neuropathy-pattern code")
            return rules.Pattern(raw["pattern"])
        if keys & {"suspicion", "leading_suspicion", "cluster"}:
            return self._suspicion(raw, stage, where)
        if "tier_at_least" in keys:
            _only_keys(raw, {"tier_at_least"}, where)
            _needs(stage, Stage.WORKUP, "tier", where)
            tier = raw["tier_at_least"]
            if tier not in TIER_RANK:
                raise ValueError(f"{where}: unknown tier {tier!r}")
            return rules.TierAtLeast(TIER_RANK[tier])
        raise ValueError(f"{where}: unknown condition form {sorted(keys)}")

    def _count(self, raw: Mapping[str, Any], stage: Stage, where: str) -> Node:
        _only_keys(raw, {"count", "at_least"}, where)
        parts = raw["count"]
        needed = raw.get("at_least")
        if not isinstance(parts, list) or len(parts) < 2:
            raise ValueError(f"{where}: 'count' needs a list of at least two conditions")
        if type(needed) is not int or not 1 <= needed <= len(parts):
            raise ValueError(f"{where}: 'count' needs at_least between 1 and {len(parts)}")
        children = tuple(
            self.read(part, stage, f"{where} > count[{index}]") for index, part in enumerate(parts)
        )
        return rules.CountOf(children, needed)

    def _item(self, raw: Mapping[str, Any], where: str) -> Node:
        link_id = raw["item"]
        spec = self._items.get(link_id)
        if spec is None:
            raise ValueError(f"{where}: {link_id!r} is not a linkId of the Questionnaire")
        tests = set(raw) - {"item"}
        if len(tests) != 1:
            raise ValueError(f"{where}: item {link_id!r} needs exactly one test, got {tests}")
        (test,) = tests
        operand = raw[test]
        if test == "answered":
            return rules.Answered(link_id, _bool(operand, where))
        allowed = _TESTS_BY_KIND[(spec.kind, spec.repeats)]
        if test not in allowed:
            raise ValueError(
                f"{where}: test {test!r} does not fit {spec.kind} item {link_id!r} "
                f"(use one of {sorted(allowed)} or 'answered')"
            )
        of = self._evidence.of
        if test == "is":
            expected = _bool(operand, where)
            return rules.Is(link_id, expected, (of(link_id, expected),))
        if test in ("at_least", "below"):
            if type(operand) is not int:
                raise ValueError(f"{where}: {test!r} needs an integer, got {operand!r}")
            table = {number: of(link_id, number) for number in spec.numbers}
            return rules.Number(link_id, test == "at_least", operand, table)
        codes = _codes(spec, operand, where)
        if test == "in":
            return rules.Chosen(link_id, {c: (of(link_id, c),) for c in codes})
        if test == "includes":
            return rules.Includes(link_id, {c: of(link_id, c) for c in codes})
        every = {code: of(link_id, code) for code in spec.codes}
        return rules.Only(link_id, frozenset(codes), every)

    def _fact(self, raw: Mapping[str, Any], stage: Stage, where: str) -> Node:
        _only_keys(raw, {"fact"}, where)
        name = raw["fact"]
        if name in ENGINE_FACTS:
            if ENGINE_FACTS[name] > stage:
                raise ValueError(
                    f"{where}: fact {name!r} is not known yet at the {stage.name.lower()} stage"
                )
            return rules.Fact(name, None)
        fact = self._facts.get(name)
        if fact is None:
            raise ValueError(f"{where}: fact {name!r} is not defined (or defined later)")
        return fact

    def _suspicion(self, raw: Mapping[str, Any], stage: Stage, where: str) -> Node:
        _needs(stage, Stage.TIERS, "suspicion", where)
        key = next(k for k in ("leading_suspicion", "cluster", "suspicion") if k in raw)
        _only_keys(raw, {key, "at_least"}, where)
        level = raw.get("at_least", "low")
        if level not in LEVEL_RANK:
            raise ValueError(f"{where}: unknown suspicion level {level!r}")
        named = raw[key]
        codes = tuple(named) if isinstance(named, list) else (named,)
        leading = key == "leading_suspicion"
        for code in codes:
            if code not in self._conditions and not (code == "any" and not leading):
                raise ValueError(f"{where}: {code!r} is not a screened condition")
        if leading:
            return rules.Leading(frozenset(codes), LEVEL_RANK[level])
        scale = "clusters" if key == "cluster" else "levels"
        return rules.Level(None if codes == ("any",) else codes, LEVEL_RANK[level], scale)

    def _link_ids(self, operand: Any, where: str, kind: str | None) -> tuple[str, ...]:
        if not isinstance(operand, list) or not operand:
            raise ValueError(f"{where}: needs a non-empty list of linkIds")
        for link_id in operand:
            spec = self._items.get(link_id)
            if spec is None:
                raise ValueError(f"{where}: {link_id!r} is not a linkId of the Questionnaire")
            if kind is not None and spec.kind != kind:
                raise ValueError(f"{where}: {link_id!r} is not a {kind} item")
        return tuple(operand)


def _only_keys(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = set(raw) - allowed
    if extra:
        raise ValueError(f"{where}: unexpected keys {sorted(extra)} beside {allowed}")


def _needs(stage: Stage, earliest: Stage, what: str, where: str) -> None:
    if stage < earliest:
        raise ValueError(
            f"{where}: a {stage.name.lower()} rule cannot look at the {what}, "
            "which is only known later"
        )


def _bool(operand: Any, where: str) -> bool:
    if operand is not True and operand is not False:
        raise ValueError(f"{where}: expected true or false, got {operand!r}")
    return operand


def _codes(spec: ItemSpec, operand: Any, where: str) -> tuple[str, ...]:
    if not isinstance(operand, list) or not operand:
        raise ValueError(f"{where}: {spec.link_id!r} needs a non-empty list of codes")
    unknown = [c for c in operand if c not in spec.codes]
    if unknown:
        raise ValueError(f"{where}: {unknown} are not answer codes of {spec.link_id!r}")
    return tuple(operand)
