"""Risk tiers (clinical basis f.6): urgent > high > moderate > low.

The tier is the highest tier whose rule fires, and every firing rule of that
tier is given as a reason. Because the tier is a maximum over rules, a red
flag (urgent) overrides every other rule, and nothing a later rule finds can
pull it down.
"""

from __future__ import annotations

from screening.engine.evidence import distinct
from screening.knowledge import Knowledge
from screening.knowledge.model import TierRule
from screening.knowledge.rules import TIER_RANK, RuleContext
from screening.result import TIER_ORDER, Finding, Tier


def assign_tier(ctx: RuleContext, knowledge: Knowledge) -> tuple[Tier, tuple[Finding, ...]]:
    """The tier and its reasons; records the tier for the work-up rules."""
    best = 0
    reasons: list[tuple[TierRule, tuple]] = []
    for rule in knowledge.tiers:
        found = rule.when.check(ctx)
        if found is None:
            continue
        rank = TIER_RANK[rule.tier]
        if rank > best or not reasons:
            best, reasons = rank, [(rule, found)]
        elif rank == best:
            reasons.append((rule, found))
    ctx.tier = best
    return TIER_ORDER[best], tuple(
        Finding(rule.id, rule.label, distinct(found), rule.source) for rule, found in reasons
    )
