"""Per-condition suspicion (clinical basis f.5): weighted proxies, ranked.

Each condition sums the weights of its proxy rules that fire. A condition is
listed only when a ``proxy`` or ``known`` rule fired: ``supportive`` rules (weak
or shared features, family history, sex) add weight but never raise a
suspicion on their own. An alternative cause that explains the picture scales
every score down. Levels come from each condition's thresholds; the ranking
compares scores relative to each condition's ``high`` threshold, because the
scales differ (the criteria they echo do). Negative weights (haematuria for
EGPA, hepatitis C for Sjögren's) lower the suspicion of that condition but not
its *cluster* level, which the tier rules read: a feature that points to a
different disease is never a reason for less urgency.

Specificity (knowledge 2.0.0, clinical basis g2): a condition may need several
*independent* proxies (distinct proxy groups) before it rises above ``low``,
unless the patient reports the diagnosis; short of that it is listed after the
ranked suspicions, unranked, and never leads. It may also need
``moderate_requires`` (2.1.0) to hold before it rises above ``low`` (listed the
same way), and ``high_requires`` before it reaches ``high``. The caps only ever
look at answers given yes, so adding a yes answer can lift a cap but never
impose one.
"""

from __future__ import annotations

from screening.knowledge import Knowledge
from screening.knowledge.rules import RuleContext
from screening.knowledge.weights import ScreenedCondition
from screening.result import Contribution, Finding, Suspicion, SuspicionLevel


def rank_suspicions(
    ctx: RuleContext, knowledge: Knowledge, explaining: tuple[Finding, ...]
) -> tuple[Suspicion, ...]:
    """The suspected conditions, most suspected first; fills ``ctx.levels`` for later rules."""
    factor = knowledge.alternatives.factor if explaining else 1.0
    ranked: list[tuple[tuple[int, float, bool, int], Suspicion]] = []
    conditions = knowledge.conditions
    clusters = ctx.clusters
    evidence = ctx.suspicion_evidence
    listed: list[Suspicion] = []
    for index, contributions, score, known, positive, found in knowledge.score_conditions(ctx):
        condition = conditions[index]
        evidence[condition.code] = found
        score *= factor
        positive *= factor
        cap = _cap(ctx, condition, contributions, known)
        # The cluster level ignores weights that point away from the condition (such as
        # haematuria for EGPA): they change which disease leads, never how urgent it is.
        clusters[condition.code] = min(_rank(positive, condition.high, condition.moderate), cap)
        if score <= 0:
            continue
        rank = min(_rank(score, condition.high, condition.moderate), cap)
        suspicion = Suspicion(
            condition.code,
            LEVELS[rank],
            round(score, 3),
            tuple(contributions),
            explaining,
            ranked=cap > 1,
        )
        if not suspicion.ranked:
            listed.append(suspicion)
            ctx.levels[condition.code] = rank
            ctx.suspicions[condition.code] = suspicion
            continue
        # Rank by level, then by score relative to the condition's own scale; on a tie a
        # diagnosis the patient already has comes first, then knowledge-base order.
        ranked.append(((rank, score / condition.high, known, -index), suspicion))
    ranked.sort(reverse=True)  # orders are unique (they end with the index)
    for (rank, _, _, _), suspicion in ranked:
        ctx.levels[suspicion.condition] = rank
        ctx.suspicions[suspicion.condition] = suspicion
    ctx.leading = ranked[0][1].condition if ranked else None
    return tuple(entry[1] for entry in ranked) + tuple(listed)


def _cap(
    ctx: RuleContext, condition: ScreenedCondition, contributions: list[Contribution], known: bool
) -> int:
    """The highest rank the specificity rules allow: 1 (low, unranked), 2 or 3."""
    if known or condition.groups is None:
        return 3
    groups = condition.groups
    independent = {groups[c.rule_id] for c in contributions if c.rule_id in groups}
    if len(independent) < condition.independent_proxies:
        return 1
    if condition.moderate_requires is not None and condition.moderate_requires.check(ctx) is None:
        return 1
    if condition.high_requires is not None and condition.high_requires.check(ctx) is None:
        return 2
    return 3


LEVELS: tuple[SuspicionLevel, ...] = ("low", "low", "moderate", "high")
"""Level by rank (rank 0 is unused: a listed suspicion is at least low)."""


def _rank(score: float, high: float, moderate: float) -> int:
    return 3 if score >= high else 2 if score >= moderate else 1
