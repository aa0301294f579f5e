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

from screening.engine.evidence import distinct
from screening.knowledge import Knowledge
from screening.knowledge.rules import LEVEL_RANK, Evidences, RuleContext
from screening.result import Contribution, Finding, Suspicion, SuspicionLevel


def rank_suspicions(
    ctx: RuleContext, knowledge: Knowledge, explaining: tuple[Finding, ...]
) -> tuple[Suspicion, ...]:
    """The suspected conditions, most suspected first; fills ``ctx.levels`` for later rules."""
    factor = knowledge.alternatives.factor if explaining else 1.0
    answers = ctx.answers
    ranked: list[tuple[tuple[int, float, bool, int], Suspicion, Evidences]] = []
    for index, condition in enumerate(knowledge.conditions):
        contributions: list[Contribution] = []
        evidence: Evidences = ()
        score = 0.0
        raised = False
        for trigger, fixed, check, weight, raises, proxy in condition.plan:
            if trigger is not None:
                if answers.get(trigger) is not True:
                    continue
                contribution = fixed
            else:
                found = check(ctx)
                if found is None:
                    continue
                contribution = fixed or Contribution(
                    proxy.id, weight, distinct(found), proxy.source, proxy.label
                )
            contributions.append(contribution)  # type: ignore[arg-type]
            evidence += contribution.evidence  # type: ignore[union-attr]
            score += weight
            raised = raised or raises
        score *= factor
        if not raised or score <= 0:
            continue
        level: SuspicionLevel = (
            "high"
            if score >= condition.high
            else "moderate"
            if score >= condition.moderate
            else "low"
        )
        suspicion = Suspicion(
            condition=condition.code,
            level=level,
            score=round(score, 3),
            contributions=tuple(contributions),
            modifiers=explaining,
        )
        # Rank by level, then by score relative to the condition's own scale; on a tie a
        # diagnosis the patient already has comes first, then knowledge-base order.
        known = any(c.rule_id in condition.known_rules for c in contributions)
        order = (LEVEL_RANK[level], score / condition.high, known, -index)
        ranked.append((order, suspicion, evidence))
    ranked.sort(key=lambda entry: entry[0], reverse=True)
    for (rank, *_), suspicion, evidence in ranked:
        ctx.levels[suspicion.condition] = rank
        ctx.suspicion_evidence[suspicion.condition] = evidence
    ctx.leading = ranked[0][1].condition if ranked else None
    return tuple(entry[1] for entry in ranked)
