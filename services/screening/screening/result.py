"""What one screening produces: plain, immutable data with no FHIR in it.

The engine builds a :class:`ScreeningResult` from a parsed response and a
knowledge-base version; the FHIR builders turn it into Observation,
RiskAssessment and ServiceRequests. Keeping this layer FHIR-free lets the
engine stay a pure function that is cheap to test and to benchmark.

Every finding carries the answers that drove it (:class:`Evidence`) and the
rule that fired, so a clinician can check each conclusion against the form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shared.tiers import TIER_ORDER as TIER_ORDER  # the engine's name for the shared tiers
from shared.tiers import Tier

AnswerValue = bool | int | str | tuple[str, ...]
"""A parsed answer: boolean, integer, one choice code, or the codes of a repeating choice."""


SuspicionLevel = Literal["high", "moderate", "low"]


@dataclass(frozen=True)
class Evidence:
    """One answer that contributed to a finding, e.g. ``nasal-polyps = yes``."""

    link_id: str
    value: AnswerValue
    text: str
    """Plain-language rendering for clinicians, e.g. "nasal polyps: yes"."""


@dataclass(frozen=True)
class Finding:
    """A rule that fired: a red flag, an alternative cause, a tier reason."""

    rule_id: str
    label: str
    evidence: tuple[Evidence, ...]
    source: str
    """The published source the rule comes from (citation text)."""


@dataclass(frozen=True)
class PatternFinding:
    """A neuropathy pattern (contract CodeSystem ``neuropathy-pattern``)."""

    code: str
    rationale: str
    evidence: tuple[Evidence, ...]
    rule_ids: tuple[str, ...] = ()
    """The knowledge-base pattern rules that produced this label."""


@dataclass(frozen=True)
class Contribution:
    """One weighted proxy that added to (or, if negative, took from) a suspicion."""

    rule_id: str
    weight: float
    evidence: tuple[Evidence, ...]
    source: str
    label: str = ""
    """Plain-language statement of the proxy, e.g. "nasal polyps (+3)"."""


@dataclass(frozen=True)
class Suspicion:
    """How strongly the answers point to one of the six conditions."""

    condition: str
    """A ``known-conditions`` code: egpa, polyarteritis-nodosa, lupus, sjogren,
    rheumatoid-arthritis, celiac."""
    level: SuspicionLevel
    score: float
    contributions: tuple[Contribution, ...]
    modifiers: tuple[Finding, ...] = ()
    """Alternative causes or other modifiers that lowered the score."""
    ranked: bool = True
    """False for a suspicion resting on fewer independent proxies than its condition
    needs (e.g. one non-specific answer): it is listed, at ``low``, after the ranked
    ones, and never leads."""

    @property
    def evidence(self) -> tuple[Evidence, ...]:
        """Every answer that drove this suspicion, each once, in rule order."""
        seen: dict[str, Evidence] = {}
        for contribution in self.contributions:
            for item in contribution.evidence:
                seen.setdefault(item.link_id + repr(item.value), item)
        return tuple(seen.values())


@dataclass(frozen=True)
class WorkupStep:
    """A suggested diagnostic step (contract CodeSystem ``workup``)."""

    code: str
    reasons: tuple[str, ...]
    """What it addresses: condition codes, pattern codes, ``baseline`` or ``red-flag``."""
    rule_ids: tuple[str, ...]


@dataclass(frozen=True)
class UnansweredItem:
    """A question left unanswered whose answer would have mattered."""

    link_id: str
    why: str


@dataclass(frozen=True)
class ScreeningResult:
    """The whole, explainable outcome of screening one QuestionnaireResponse."""

    knowledge_version: str
    dn4_score: int
    dn4_evidence: tuple[Evidence, ...]
    neuropathic: bool
    """DN4-interview score >= 3 (Bouhassira 2005)."""
    neuropathy_evidence: bool
    """Any neuropathy symptom at all, painless ones included (motor, balance, touch)."""
    patterns: tuple[PatternFinding, ...]
    suspicions: tuple[Suspicion, ...]
    """Conditions with any suspicion, most suspected first."""
    red_flags: tuple[Finding, ...]
    alternative_causes: tuple[Finding, ...]
    tier: Tier
    tier_reasons: tuple[Finding, ...]
    workup: tuple[WorkupStep, ...]
    unanswered: tuple[UnansweredItem, ...] = field(default=())
    summary: str = ""
    """Plain-language summary for the coordinator (no diagnosis wording)."""
    neuropathy_signs: tuple[Finding, ...] = ()
    """Neuropathy evidence recorded apart from the DN4 score: motor, balance,
    touch-evoked pain, cranial symptoms, and a low DN4 that does not exclude a
    painless neuropathy."""
    considerations: tuple[Finding, ...] = ()
    """Other things the clinician should weigh, e.g. cryoglobulinaemic vasculitis
    with hepatitis C, or the Miller Fisher variant of Guillain-Barré syndrome."""
    knowledge_id: str = ""
    """The knowledge base that produced this result, e.g. "neuroscreen-kb 1.0.0"."""
