"""The plain-language summary a coordinator reads first.

It states the tier and its action, any red flag, the pattern(s), the leading
suspicions with their level, the DN4 result, and always that this is
decision support, not a diagnosis. It never says a patient "has" or is
"classified as" having a condition.
"""

from __future__ import annotations

from screening.engine.dn4 import Dn4Score
from screening.knowledge import Knowledge
from screening.result import Finding, PatternFinding, Suspicion, Tier, UnansweredItem

DISCLAIMER = (
    "This is clinical decision support, not a diagnosis: the answers point to what is "
    "worth checking, and a clinician decides."
)
LEADING = 3


def summarise(
    knowledge: Knowledge,
    *,
    tier: Tier,
    red_flags: tuple[Finding, ...],
    patterns: tuple[PatternFinding, ...],
    suspicions: tuple[Suspicion, ...],
    dn4: Dn4Score,
    alternatives: tuple[Finding, ...],
    explaining: tuple[Finding, ...],
    unanswered: tuple[UnansweredItem, ...],
) -> str:
    """One paragraph of plain language; deterministic for the same inputs."""
    names = knowledge.short_labels
    parts = [f"Screening tier {tier.upper()}: {knowledge.tier_text[tier]}."]
    if red_flags:
        parts.append(f"Red flag: {'; '.join(names[flag.rule_id] for flag in red_flags)}.")
    parts.append(_patterns(knowledge, patterns))
    parts.append(_suspicions(knowledge, suspicions))
    parts.append(f"DN4-interview {dn4.score}/7 ({_dn4_verdict(dn4)}).")
    if alternatives:
        if explaining:
            fitting = ", ".join(names[finding.rule_id] for finding in explaining)
            parts.append(f"Alternative cause that fits the picture: {fitting}.")
        else:
            parts.append("Alternative causes are reported but do not explain this picture.")
    if unanswered:
        parts.append(f"{len(unanswered)} key question(s) unanswered; see the list.")
    parts.append(DISCLAIMER)
    return " ".join(parts)


def _dn4_verdict(dn4: Dn4Score) -> str:
    if dn4.neuropathic:
        return "neuropathic pain likely"
    if dn4.at_cutoff:
        return "at the cut-off, but no pain reported: nerve symptoms, not neuropathic pain"
    return "below the neuropathic cut-off"


def _patterns(knowledge: Knowledge, patterns: tuple[PatternFinding, ...]) -> str:
    labels = knowledge.contract.patterns
    if len(patterns) == 1 and patterns[0].code == "none":
        return f"Pattern: none ({patterns[0].rationale})."
    return "Pattern: " + "; ".join(labels[p.code] for p in patterns) + "."


def _suspicions(knowledge: Knowledge, suspicions: tuple[Suspicion, ...]) -> str:
    if not suspicions:
        return "No answers point to one of the six screened conditions."
    names = knowledge.short_labels
    ranked = [s for s in suspicions if s.ranked]
    listed = [s for s in suspicions if not s.ranked]
    parts = []
    if ranked:
        leading = ", ".join(f"{names[s.condition]} ({s.level})" for s in ranked[:LEADING])
        parts.append(f"Leading suspicions: {leading}.")
    few = [s for s in listed if _capped_level(knowledge, s) is None]
    if few:
        named = ", ".join(names[s.condition] for s in few)
        parts.append(
            f"Listed, not ranked (fewer than two independent answers point to it): {named} (low)."
        )
    for suspicion in listed:
        level = _capped_level(knowledge, suspicion)
        if level is not None:
            parts.append(_capped(knowledge, suspicion, level))
    return " ".join(parts)


def _capped_level(knowledge: Knowledge, suspicion: Suspicion) -> str | None:
    """The level a listed suspicion's score reaches although it is capped at low, if any.

    The specificity rules (g2, h3) hold a suspicion at ``low`` whatever its score; when
    the score itself passes a threshold the summary must say so, not that few answers
    point to it (clinical basis h2).
    """
    condition = next(c for c in knowledge.conditions if c.code == suspicion.condition)
    if suspicion.score >= condition.high:
        return "high"
    if suspicion.score >= condition.moderate:
        return "moderate"
    return None


def _capped(knowledge: Knowledge, suspicion: Suspicion, level: str) -> str:
    condition = next(c for c in knowledge.conditions if c.code == suspicion.condition)
    groups = condition.groups
    independent = {groups[c.rule_id] for c in suspicion.contributions if c.rule_id in groups}
    if len(independent) < condition.independent_proxies:
        why = (
            f"they are {len(independent)} independent answer(s) of the "
            f"{condition.independent_proxies} needed above low"
        )
    else:
        why = "the pattern or feature this condition needs above low is not reported"
    answers = "; ".join(item.text for item in suspicion.evidence)
    return (
        f"Listed, not ranked: {knowledge.short_labels[suspicion.condition]} (low) - its answers "
        f"({answers}) reach the {level} score, but {why}, so it is capped at low."
    )
