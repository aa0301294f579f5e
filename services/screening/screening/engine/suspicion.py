"""Per-condition suspicion (clinical basis f.5): weighted proxies, ranked.

Each condition sums the weights of its proxy rules that fire. A condition is
listed only when a ``proxy`` or ``known`` rule fired: ``supportive`` rules (weak
or shared features, family history, sex) add weight but never raise a
suspicion on their own. An alternative cause that explains the picture scales
every score down. Levels come from each condition's thresholds; the ranking
compares scores relative to each condition's ``high`` threshold, because the
scales differ (the criteria they echo do).
"""

from __future__ import annotations

from screening.knowledge import Knowledge
from screening.knowledge.rules import LEVEL_RANK, RuleContext
from screening.result import Finding, Suspicion, SuspicionLevel


def rank_suspicions(
    ctx: RuleContext, knowledge: Knowledge, explaining: tuple[Finding, ...]
) -> tuple[Suspicion, ...]:
    """The suspected conditions, most suspected first; fills ``ctx.levels`` for later rules."""
    factor = knowledge.alternatives.factor if explaining else 1.0
    ranked: list[tuple[tuple[int, float, bool, int], Suspicion]] = []
    conditions = knowledge.conditions
    for index, contributions, score, known in knowledge.score_conditions(ctx):
        condition = conditions[index]
        score *= factor
        level: SuspicionLevel = (
            "high"
            if score >= condition.high
            else "moderate"
            if score >= condition.moderate
            else "low"
        )
        suspicion = Suspicion(
            condition.code, level, round(score, 3), tuple(contributions), explaining
        )
        # Rank by level, then by score relative to the condition's own scale; on a tie a
        # diagnosis the patient already has comes first, then knowledge-base order.
        order = (LEVEL_RANK[level], score / condition.high, known, -index)
        ranked.append((order, suspicion))
    ranked.sort(reverse=True)  # orders are unique (they end with the index)
    for (rank, _, _, _), suspicion in ranked:
        ctx.levels[suspicion.condition] = rank
        ctx.suspicions[suspicion.condition] = suspicion
    ctx.leading = ranked[0][1].condition if ranked else None
    return tuple(entry[1] for entry in ranked)
