"""The small condition language the knowledge base is written in, and its interpreter.

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
    {count: [{...}, {...}], at_least: 2}        at least N of these conditions hold (2.1.0)
    {fact: vasculitis-features}                 a named condition or an engine fact
    {pattern: mononeuritis-multiplex}           a neuropathy pattern was derived
    {suspicion: egpa, at_least: moderate}       suspicion level (``any`` for any condition)
    {cluster: any, at_least: high}              level of the positive features alone
    {leading_suspicion: [egpa, lupus], at_least: moderate}
    {tier_at_least: moderate}
    {all: [...]} {any: [...]} {not: {...}}

At load, :mod:`~screening.knowledge.conditions` reads each YAML condition into a
tree of the nodes below, checking every linkId and code against the
Questionnaire and every name against the knowledge base. Evaluating a rule is
then a plain walk of its tree: each node's :meth:`Node.check` returns the
answers that made it true (a tuple of :class:`Evidence`, possibly empty) or
``None`` when it does not hold. That is how every finding lists its evidence.

Each rule belongs to a :class:`Stage` of the engine. A rule may only look at
what earlier stages have produced (a red flag cannot look at the tier), and the
loader refuses a knowledge base that breaks this, so an ordering mistake fails
at load time instead of silently reading an empty value at run time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from itertools import compress, repeat
from operator import is_

from screening.result import AnswerValue, Evidence, Suspicion

Evidences = tuple[Evidence, ...]
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
        """Engine facts, and named facts once a rule has asked for them (memoised)."""
        self.patterns: dict[str, Evidences] = {}
        self.levels: dict[str, int] = {}
        self.clusters: dict[str, int] = {}
        self.suspicions: dict[str, Suspicion] = {}
        self.suspicion_evidence: dict[str, Evidences] = {}
        self.leading: str | None = None
        self.tier = -1


def distinct(evidence: Evidences) -> Evidences:
    """Each piece of evidence once, first occurrence first.

    Combined conditions can report the same answer twice. Evidence objects are
    shared singletons of the knowledge base (one per answer), so identity is enough.
    """
    if len(evidence) < 2 or len(set(map(id, evidence))) == len(evidence):
        return evidence
    return tuple({id(item): item for item in evidence}.values())


class Node(ABC):
    """A checked condition; :meth:`check` is the interpreter."""

    __slots__ = ()

    @abstractmethod
    def check(self, ctx: RuleContext) -> Evidences | None:
        """The evidence that makes this condition true for ``ctx``, or ``None``."""


@dataclass(frozen=True, slots=True)
class Is(Node):
    """A boolean item answered ``expected``."""

    link_id: str
    expected: bool
    evidence: Evidences

    def check(self, ctx: RuleContext) -> Evidences | None:
        if self.expected:
            return self.evidence if self.link_id in ctx.yes else None
        return self.evidence if ctx.answers.get(self.link_id) is False else None


@dataclass(frozen=True, slots=True)
class Chosen(Node):
    """A single-choice item answered with one of the table's codes."""

    link_id: str
    table: Mapping[str, Evidences]

    def check(self, ctx: RuleContext) -> Evidences | None:
        return self.table.get(ctx.answers.get(self.link_id))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Includes(Node):
    """A repeating choice containing any of the table's codes."""

    link_id: str
    table: Mapping[str, Evidence]

    def check(self, ctx: RuleContext) -> Evidences | None:
        codes = ctx.answers.get(self.link_id) or ()
        return tuple([self.table[c] for c in codes if c in self.table]) or None  # type: ignore[union-attr]


@dataclass(frozen=True, slots=True)
class Only(Node):
    """A repeating choice answered, with every code among ``allowed``."""

    link_id: str
    allowed: frozenset[str]
    every: Mapping[str, Evidence]

    def check(self, ctx: RuleContext) -> Evidences | None:
        codes = ctx.answers.get(self.link_id)
        if not codes or not self.allowed.issuperset(codes):  # type: ignore[arg-type]
            return None
        return tuple([self.every[c] for c in codes])  # type: ignore[union-attr]


@dataclass(frozen=True, slots=True)
class Answered(Node):
    link_id: str
    expected: bool

    def check(self, ctx: RuleContext) -> Evidences | None:
        return () if (self.link_id in ctx.answers) is self.expected else None


@dataclass(frozen=True, slots=True)
class Number(Node):
    """An integer item at least / below ``bound``; ``evidence`` holds one per valid value."""

    link_id: str
    at_least: bool
    bound: int
    evidence: Mapping[int, Evidence]

    def check(self, ctx: RuleContext) -> Evidences | None:
        value = ctx.answers.get(self.link_id)
        if value is None or (value < self.bound) is self.at_least:  # type: ignore[operator]
            return None
        return (self.evidence[value],)  # type: ignore[index]


@dataclass(frozen=True, slots=True)
class AnyYes(Node):
    pairs: tuple[tuple[str, Evidences], ...]

    def check(self, ctx: RuleContext) -> Evidences | None:
        yes = ctx.yes
        found = [evidence for link_id, evidence in self.pairs if link_id in yes]
        return sum(found, ()) if found else None


@dataclass(frozen=True, slots=True)
class AnyAnswered(Node):
    link_ids: tuple[str, ...]

    def check(self, ctx: RuleContext) -> Evidences | None:
        answers = ctx.answers
        return () if any(link_id in answers for link_id in self.link_ids) else None


@dataclass(frozen=True, slots=True)
class Fact(Node):
    """A named fact: its ``definition`` is checked once per response; engine facts have none."""

    name: str
    definition: Node | None

    def check(self, ctx: RuleContext) -> Evidences | None:
        facts = ctx.facts
        if self.name in facts or self.definition is None:
            return facts[self.name]
        found = facts[self.name] = self.definition.check(ctx)
        return found


@dataclass(frozen=True, slots=True)
class Pattern(Node):
    code: str

    def check(self, ctx: RuleContext) -> Evidences | None:
        return ctx.patterns.get(self.code)


@dataclass(frozen=True, slots=True)
class Level(Node):
    """Suspicion of any of ``conditions`` (``None``: any condition) at ``rank`` or above.

    ``scale`` is ``levels`` (the suspicion level) or ``clusters`` (the level its
    positive features alone reach, before weights that point away from it). The
    evidence is that of every suspicion that qualifies.
    """

    conditions: tuple[str, ...] | None
    rank: int
    scale: str = "levels"

    def check(self, ctx: RuleContext) -> Evidences | None:
        ranks: dict[str, int] = getattr(ctx, self.scale)
        found: Evidences | None = None
        wanted = ranks if self.conditions is None else self.conditions
        for code in wanted:
            if ranks.get(code, 0) >= self.rank:
                found = (found or ()) + ctx.suspicion_evidence[code]
        return found


@dataclass(frozen=True, slots=True)
class Leading(Node):
    """The leading suspicion is one of ``conditions``, at ``rank`` or above."""

    conditions: frozenset[str]
    rank: int

    def check(self, ctx: RuleContext) -> Evidences | None:
        top = ctx.leading
        if top in self.conditions and ctx.levels.get(top, 0) >= self.rank:  # type: ignore[arg-type]
            return ctx.suspicion_evidence[top]  # type: ignore[index]
        return None


@dataclass(frozen=True, slots=True)
class TierAtLeast(Node):
    rank: int

    def check(self, ctx: RuleContext) -> Evidences | None:
        return () if ctx.tier >= self.rank else None


@dataclass(frozen=True, slots=True)
class AllOf(Node):
    """Every child holds; stops at the first that does not. Evidence: all of theirs."""

    children: tuple[Node, ...]

    def check(self, ctx: RuleContext) -> Evidences | None:
        found: Evidences = ()
        for child in self.children:
            part = child.check(ctx)
            if part is None:
                return None
            found += part
        return found


@dataclass(frozen=True, slots=True)
class AnyOf(Node):
    """Some child holds. Every child is checked, so the evidence names every reason."""

    children: tuple[Node, ...]

    def check(self, ctx: RuleContext) -> Evidences | None:
        found: Evidences | None = None
        for child in self.children:
            part = child.check(ctx)
            if part is not None:
                found = part if found is None else found + part
        return found


@dataclass(frozen=True, slots=True)
class CountOf(Node):
    """At least ``needed`` children hold. Every child is checked; evidence: all that hold."""

    children: tuple[Node, ...]
    needed: int

    def check(self, ctx: RuleContext) -> Evidences | None:
        found: Evidences = ()
        holding = 0
        for child in self.children:
            part = child.check(ctx)
            if part is not None:
                holding += 1
                found += part
        return found if holding >= self.needed else None


@dataclass(frozen=True, slots=True)
class Not(Node):
    child: Node

    def check(self, ctx: RuleContext) -> Evidences | None:
        return () if self.child.check(ctx) is None else None
