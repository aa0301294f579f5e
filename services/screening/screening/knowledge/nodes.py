"""The validated form of a rule condition: a small tree of nodes.

:mod:`screening.knowledge.rules` checks a YAML condition against the contract and
the engine stage and builds these nodes; :mod:`screening.knowledge.codegen` turns
a tree into Python code. Each node documents what it holds for: a generated
predicate returns the evidence that made it true (a tuple, possibly empty) or
``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from screening.result import Evidence

Evidences = tuple[Evidence, ...]
Predicate = Callable[[Any], Evidences | None]


class Node:
    """A validated condition. ``empty``: when it holds, its evidence is always ``()``."""

    __slots__ = ()
    empty = False

    @property
    def static(self) -> Evidences | None:
        """The evidence when it holds, if that never varies; else ``None``."""
        return () if self.empty else None


@dataclass(frozen=True, slots=True)
class Is(Node):
    """A boolean item answered ``expected``."""

    link_id: str
    expected: bool
    evidence: Evidences

    @property
    def static(self) -> Evidences | None:
        return self.evidence


@dataclass(frozen=True, slots=True)
class Chosen(Node):
    """A single-choice item answered with one of the table's codes."""

    link_id: str
    table: Mapping[str, Evidences]

    @property
    def static(self) -> Evidences | None:
        return next(iter(self.table.values())) if len(self.table) == 1 else None


@dataclass(frozen=True, slots=True)
class Includes(Node):
    """A repeating choice containing any of the table's codes."""

    link_id: str
    table: Mapping[str, Evidence]


@dataclass(frozen=True, slots=True)
class Only(Node):
    """A repeating choice answered, with every code among ``allowed``."""

    link_id: str
    allowed: frozenset[str]
    every: Mapping[str, Evidence]


@dataclass(frozen=True, slots=True)
class Answered(Node):
    link_id: str
    expected: bool
    empty = True


@dataclass(frozen=True, slots=True)
class Number(Node):
    """An integer item at least / below ``bound``; ``describe`` builds its evidence."""

    link_id: str
    at_least: bool
    bound: int
    describe: Callable[[str, object], Evidence]


@dataclass(frozen=True, slots=True)
class AnyYes(Node):
    pairs: tuple[tuple[str, Evidences], ...]


@dataclass(frozen=True, slots=True)
class AnyAnswered(Node):
    link_ids: tuple[str, ...]
    empty = True


@dataclass(frozen=True, slots=True)
class Fact(Node):
    """A named fact: computed once per response by ``compute``, or set by the engine."""

    name: str
    compute: Predicate | None


@dataclass(frozen=True, slots=True)
class Pattern(Node):
    code: str


@dataclass(frozen=True, slots=True)
class Level(Node):
    """Suspicion of ``condition`` at ``rank`` or above; evidence is that suspicion's.

    ``scale`` is ``levels`` (the suspicion level) or ``clusters`` (the level its
    positive features alone reach, before weights that point away from it).
    """

    condition: str
    rank: int
    scale: str = "levels"


@dataclass(frozen=True, slots=True)
class Call(Node):
    """A rarely used test kept as a plain function (suspicion levels)."""

    check: Predicate


@dataclass(frozen=True, slots=True)
class TierAtLeast(Node):
    rank: int
    empty = True


@dataclass(frozen=True, slots=True)
class AllOf(Node):
    children: tuple[Node, ...]

    @property
    def empty(self) -> bool:  # type: ignore[override]
        return all(child.empty for child in self.children)

    @property
    def static(self) -> Evidences | None:
        found: Evidences = ()
        for child in self.children:
            part = child.static
            if part is None:
                return None
            found += part
        return found


@dataclass(frozen=True, slots=True)
class AnyOf(Node):
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not(Node):
    child: Node
    empty = True
