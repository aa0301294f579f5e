"""One screening, start to finish: a pure function of answers and a knowledge version.

The steps run in the order their rules may depend on: DN4 and signs, patterns,
red flags, alternative causes, suspicions, tier, work-up, then unanswered key
items and the summary. Nothing here does I/O or keeps state between calls;
the only objects shared across calls are the immutable knowledge and its
prebuilt evidence, so the same answers always give the same result.
"""

from __future__ import annotations

from collections.abc import Mapping

from screening.engine.alternatives import weigh_alternative_causes
from screening.engine.answers import checked_answers
from screening.engine.dn4 import findings, record_signs, score_dn4
from screening.engine.patterns import derive_patterns
from screening.engine.red_flags import find_red_flags
from screening.engine.summary import summarise
from screening.engine.suspicion import rank_suspicions
from screening.engine.tiers import assign_tier
from screening.engine.unanswered import list_unanswered
from screening.engine.workup import suggest_workup
from screening.knowledge import Knowledge
from screening.knowledge.rules import RuleContext
from screening.result import AnswerValue, ScreeningResult


def evaluate(answers: Mapping[str, AnswerValue], knowledge: Knowledge) -> ScreeningResult:
    """Screen one response's answers (``linkId -> value``; missing means unanswered).

    Raises :class:`~screening.engine.answers.AnswerError` when a value does not fit
    its contract item; unknown linkIds are ignored.
    """
    ctx = RuleContext(checked_answers(answers, knowledge))
    dn4 = score_dn4(ctx.answers, knowledge.dn4)
    ctx.facts["neuropathic-pain"] = dn4.evidence if dn4.neuropathic else None
    ctx.facts["dn4-could-reach-cutoff"] = () if dn4.could_reach_cutoff else None
    neuropathy = knowledge.neuropathy_evidence.check(ctx) is not None
    signs = record_signs(ctx, knowledge)
    patterns = derive_patterns(ctx, knowledge, neuropathy)
    red_flags = find_red_flags(ctx, knowledge)
    alternatives = weigh_alternative_causes(ctx, knowledge, patterns, neuropathy)
    suspicions = rank_suspicions(ctx, knowledge, alternatives.explaining)
    tier, tier_reasons = assign_tier(ctx, knowledge)
    workup = suggest_workup(ctx, knowledge, red_flags, neuropathy)
    considerations = findings(knowledge.considerations, knowledge.considerations_check(ctx))
    unanswered = list_unanswered(ctx, knowledge, dn4)
    summary = summarise(
        knowledge,
        tier=tier,
        red_flags=red_flags.findings,
        patterns=patterns,
        suspicions=suspicions,
        dn4=dn4,
        alternatives=alternatives.findings,
        explaining=alternatives.explaining,
        unanswered=unanswered,
    )
    return ScreeningResult(
        knowledge_version=knowledge.version,
        dn4_score=dn4.score,
        dn4_evidence=dn4.evidence,
        neuropathic=dn4.neuropathic,
        neuropathy_evidence=neuropathy,
        patterns=patterns,
        suspicions=suspicions,
        red_flags=red_flags.findings,
        alternative_causes=alternatives.findings,
        tier=tier,
        tier_reasons=tier_reasons,
        workup=workup,
        unanswered=unanswered,
        summary=summary,
        neuropathy_signs=signs,
        considerations=considerations,
        knowledge_id=knowledge.label,
    )
