"""Risk tiers (clinical basis f.6): urgent > high > moderate > low.

The tier is the highest tier whose rule fires, and every firing rule of that
tier is given as a reason. Because the tier is a maximum over rules, a red
flag (urgent) overrides every other rule, and nothing a later rule finds can
pull it down. Rules are kept highest tier first, so once a tier is found the
rules of lower tiers need not run.
"""

from __future__ import annotations

from screening.knowledge import Knowledge
from screening.knowledge.rules import RuleContext, distinct
from screening.result import TIER_ORDER, Finding, Tier
from shared.tiers import TIER_RANK


def assign_tier(ctx: RuleContext, knowledge: Knowledge) -> tuple[Tier, tuple[Finding, ...]]:
    """The tier and its reasons; records the tier for the work-up rules."""
    rules = knowledge.tiers.rules
    reasons = [(rules[index], found) for index, found in knowledge.tiers_check(ctx)]
    best = TIER_RANK[reasons[0][0].tier] if reasons else 0
    ctx.tier = best
    return TIER_ORDER[best], tuple(
        [Finding(rule.id, rule.label, distinct(found), rule.source) for rule, found in reasons]
    )
