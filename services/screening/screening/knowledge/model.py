"""The knowledge base after loading: typed, validated and precompiled for the engine.

Everything here is built once per knowledge version. Rules hold compiled
predicates (see :mod:`screening.knowledge.rules`), their citation text already
resolved, and, where a rule's evidence never varies, the finished result object,
so that the engine mostly looks things up instead of building them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from screening.knowledge.codegen import Scorer, StageCheck
from screening.knowledge.contract import Contract, ItemSpec
from screening.knowledge.rules import Condition, EvidenceTable
from screening.result import Contribution, Evidence, Finding, UnansweredItem, WorkupStep


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule that fires when its condition holds: signs, blockers, considerations."""

    id: str
    label: str
    when: Condition
    source: str
    fixed: Finding | None = None
    """The finding, prebuilt when the rule's evidence never varies."""


@dataclass(frozen=True, slots=True)
class Dn4:
    """The DN4 interview items (Bouhassira 2005) and the neuropathic-pain cut-off."""

    items: tuple[str, ...]
    cutoff: int
    source: str
    pairs: tuple[tuple[str, Evidence], ...]
    """Each item with its prebuilt "<item>: yes" evidence."""
    item_set: frozenset[str]
    pain_items: frozenset[str] = frozenset()
    """When not empty, neuropathic pain is only "likely" if one of these is answered yes."""


@dataclass(frozen=True, slots=True)
class PatternRule:
    """Derives one neuropathy-pattern code; ``rationale`` explains the label."""

    id: str
    pattern: str
    rationale: str
    when: Condition
    source: str


@dataclass(frozen=True, slots=True)
class Proxy:
    """One weighted answer (or answer combination) pointing to a condition.

    ``kind`` is ``proxy`` (can raise a suspicion on its own), ``supportive``
    (only adds weight once a proxy or known diagnosis points to the condition)
    or ``known`` (the patient reports the diagnosis).
    """

    id: str
    kind: str
    weight: float
    label: str
    when: Condition
    source: str
    fixed: Contribution | None
    """The contribution, prebuilt when the rule's evidence never varies."""


@dataclass(frozen=True, slots=True)
class ScreenedCondition:
    """How the knowledge base weighs one of the six screened conditions."""

    code: str
    label: str
    high: float
    moderate: float
    proxies: tuple[Proxy, ...]
    independent_proxies: int = 1
    """Independent proxies needed above ``low`` (a known diagnosis is always enough)."""
    groups: Mapping[str, str] | None = None
    """Rule id -> independence group, for the ``proxy`` rules with a positive weight."""
    high_requires: Condition | None = None
    """Without it (and without a known diagnosis) the level stops at ``moderate``."""


@dataclass(frozen=True, slots=True)
class AlternativeCause:
    """A non-immune cause that may explain a fitting, chronic, non-systemic picture."""

    id: str
    link_id: str
    label: str
    explains: frozenset[str]
    source: str
    when: Condition | None = None
    """What must hold, beside the item answered yes, for the cause to count."""


@dataclass(frozen=True, slots=True)
class Alternatives:
    """The non-immune causes, and when none of them may lower suspicion."""

    causes: tuple[AlternativeCause, ...]
    blockers: tuple[Rule, ...]
    """Conditions under which no alternative cause may lower suspicion."""
    factor: float
    """Suspicion scores are multiplied by this when an alternative cause explains the picture."""
    source: str


@dataclass(frozen=True, slots=True)
class RedFlag:
    """A finding that makes the tier urgent, with the advice to give."""

    id: str
    label: str
    advice: str
    emergency_only: bool
    """True for GBS-type emergencies: no outpatient tests, only emergency assessment."""
    when: Condition
    source: str
    workup: WorkupRule | None = None
    """The flag's own steps (emergency assessment first), cited to the flag."""


@dataclass(frozen=True, slots=True)
class TierRule:
    """Gives ``tier`` when it holds; kept highest tier first in :class:`Knowledge`."""

    id: str
    tier: str
    label: str
    when: Condition
    source: str


@dataclass(frozen=True, slots=True)
class WorkupRule:
    """Suggests ``codes`` for ``reason`` (a condition, pattern, ``baseline``...)."""

    id: str
    codes: tuple[str, ...]
    reason: str
    when: Condition | None
    source: str
    suggests: Mapping[str, tuple[str, ...]]
    """Each code mapped to ``(id,)``: this rule's share of a step's rule ids."""


@dataclass(frozen=True, slots=True)
class KeyItemRule:
    """Items whose absence limits the result, and why, when ``when`` holds."""

    id: str
    items: tuple[str, ...]
    why: str
    when: Condition | None
    source: str
    item_set: frozenset[str]
    templated: bool
    """``why`` has DN4 placeholders, so it is formatted per response."""
    prebuilt: Mapping[str, UnansweredItem]
    """Ready answers per item when ``why`` is fixed."""
    by_dn4: Mapping[tuple[int, int], Mapping[str, UnansweredItem]]
    """Ready answers per (DN4 score, DN4 items unanswered) when ``why`` is templated."""


@dataclass(frozen=True, slots=True)
class Knowledge:
    """One version of the screening knowledge, ready for :func:`screening.engine.evaluate`."""

    id: str
    version: str
    label: str
    """``neuroscreen-kb 1.0.0``: how results and resources name this knowledge."""
    contract: Contract
    sources: Mapping[str, str]
    evidence: EvidenceTable
    dn4: Dn4
    signs: tuple[Rule, ...]
    neuropathy_evidence: Condition
    patterns: tuple[PatternRule, ...]
    pattern_order: tuple[str, ...]
    conditions: tuple[ScreenedCondition, ...]
    score_conditions: Scorer
    """Every condition's proxies compiled into one function (see ``generate_scorer``)."""
    alternatives: Alternatives
    red_flags: tuple[RedFlag, ...]
    tiers: tuple[TierRule, ...]
    tier_text: Mapping[str, str]
    """Each tier's plain-language action, e.g. "same-day emergency assessment"."""
    short_labels: Mapping[str, str]
    """Short names for summaries: condition codes, red-flag and alternative-cause ids."""
    emergency: WorkupRule
    baseline: WorkupRule
    workup: tuple[WorkupRule, ...]
    workup_steps: Mapping[tuple[str, tuple[str, ...]], WorkupStep]
    """Every step the rules can produce, by (code, ids of the rules suggesting it)."""
    considerations: tuple[Rule, ...]
    key_items: tuple[KeyItemRule, ...]
    key_item_ids: frozenset[str]
    """Every linkId some key-item rule names."""
    signs_check: StageCheck
    patterns_check: StageCheck
    red_flags_check: StageCheck
    tiers_check: StageCheck
    workup_check: StageCheck
    considerations_check: StageCheck
    """Each stage's rules compiled into one function returning the ones that hold."""

    @property
    def items(self) -> Mapping[str, ItemSpec]:
        """The questionnaire items of the contract, by linkId."""
        return self.contract.items
