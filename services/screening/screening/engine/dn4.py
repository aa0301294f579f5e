"""The DN4-interview score and the neuropathy signs recorded beside it.

DN4 (Bouhassira 2005) counts "yes" among seven interview items; 3/7 or more
suggests neuropathic pain. It detects *pain*: a painless neuropathy scores low,
so motor, balance, touch-evoked pain and cranial symptoms are recorded
separately as signs, and the engine's neuropathy evidence never depends on DN4
alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from screening.knowledge import Knowledge
from screening.knowledge.model import Dn4, Rule
from screening.knowledge.rules import Evidences, RuleContext, distinct
from screening.result import AnswerValue, Evidence, Finding


class Dn4Score(NamedTuple):
    score: int
    evidence: tuple[Evidence, ...]
    """The items answered yes, in DN4 order."""
    unanswered: int
    cutoff: int
    pain_reported: bool = True
    """Pain or a DN4 pain item answered yes; always true when the knowledge names no
    pain items (1.0.0). DN4 presumes pain, so without it a score at the cut-off is
    neuropathy evidence, not neuropathic pain (2.0.0)."""

    @property
    def at_cutoff(self) -> bool:
        return self.score >= self.cutoff

    @property
    def neuropathic(self) -> bool:
        """Neuropathic pain likely: at the cut-off and pain reported."""
        return self.score >= self.cutoff and self.pain_reported

    @property
    def could_reach_cutoff(self) -> bool:
        """Below the cut-off now, but the unanswered items could still lift it over."""
        return self.score < self.cutoff <= self.score + self.unanswered


def score_dn4(answers: Mapping[str, AnswerValue], dn4: Dn4) -> Dn4Score:
    """Count the DN4 interview items answered yes; unanswered items count 0 and are tallied."""
    yes = tuple([evidence for item, evidence in dn4.pairs if answers.get(item) is True])
    unanswered = len(dn4.items) - len(dn4.item_set & answers.keys())
    pain = not dn4.pain_items or any(answers.get(item) is True for item in dn4.pain_items)
    return Dn4Score(len(yes), yes, unanswered, dn4.cutoff, pain)


def record_signs(ctx: RuleContext, knowledge: Knowledge) -> tuple[Finding, ...]:
    """The neuropathy signs of the knowledge base that the answers show."""
    return findings(knowledge.signs, knowledge.signs_check(ctx))


def findings(rules: tuple[Rule, ...], fired: list[tuple[int, Evidences]]) -> tuple[Finding, ...]:
    """A finding for every rule that fired (index and evidence from a stage check)."""
    found = []
    for index, evidence in fired:
        rule = rules[index]
        found.append(Finding(rule.id, rule.label, distinct(evidence), rule.source))
    return tuple(found)
