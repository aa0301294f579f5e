"""The DN4-interview score and the neuropathy signs recorded beside it.

DN4 (Bouhassira 2005) counts "yes" among seven interview items; 3/7 or more
suggests neuropathic pain. It detects *pain*: a painless neuropathy scores low,
so motor, balance, touch-evoked pain and cranial symptoms are recorded
separately as signs, and the engine's neuropathy evidence never depends on DN4
alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from screening.engine.evidence import distinct
from screening.knowledge import Knowledge
from screening.knowledge.model import Dn4
from screening.knowledge.rules import RuleContext
from screening.result import AnswerValue, Evidence, Finding


@dataclass(frozen=True, slots=True)
class Dn4Score:
    score: int
    evidence: tuple[Evidence, ...]
    """The items answered yes, in DN4 order."""
    unanswered: int
    cutoff: int

    @property
    def neuropathic(self) -> bool:
        return self.score >= self.cutoff

    @property
    def could_reach_cutoff(self) -> bool:
        """Below the cut-off now, but the unanswered items could still lift it over."""
        return self.score < self.cutoff <= self.score + self.unanswered


def score_dn4(answers: Mapping[str, AnswerValue], dn4: Dn4) -> Dn4Score:
    """Count the DN4 interview items answered yes; unanswered items count 0 and are tallied."""
    yes = tuple(
        evidence
        for item, evidence in zip(dn4.items, dn4.yes_evidence, strict=True)
        if answers.get(item) is True
    )
    unanswered = sum(1 for item in dn4.items if item not in answers)
    return Dn4Score(len(yes), yes, unanswered, dn4.cutoff)


def record_signs(ctx: RuleContext, knowledge: Knowledge) -> tuple[Finding, ...]:
    """The neuropathy signs of the knowledge base that the answers show."""
    found = []
    for rule in knowledge.signs:
        evidence = rule.when.check(ctx)
        if evidence is not None:
            found.append(Finding(rule.id, rule.label, distinct(evidence), rule.source))
    return tuple(found)
