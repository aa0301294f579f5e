"""Alternative, non-immune causes (clinical basis d and f.7): modifiers, not exclusions.

A reported cause (diabetes, alcohol, chemotherapy, B12 deficiency,
hypothyroidism, nerve injury) explains the picture only when every derived
pattern is one it produces, the course is chronic, and no systemic or
autoimmune feature, red flag, sudden foot/wrist drop or ascending weakness is
present (the knowledge base's blockers). A cause may carry its own condition
(2.0.0: chemotherapy counts only within the last 12 months); without it the
cause is not weighed at all. Then it lowers the suspicion scores
and lets the tier fall to ``low``. Otherwise it is still reported, with the
reasons it does not explain the picture, because immune and non-immune causes
coexist.
"""

from __future__ import annotations

from typing import NamedTuple

from screening.knowledge import Knowledge
from screening.knowledge.rules import RuleContext, distinct
from screening.result import Finding, PatternFinding


class AlternativeCauses(NamedTuple):
    findings: tuple[Finding, ...]
    """Every reported cause, explaining or not."""
    explaining: tuple[Finding, ...]
    """The causes that explain the picture and so lower suspicion."""


NONE_REPORTED = AlternativeCauses((), ())


def weigh_alternative_causes(
    ctx: RuleContext,
    knowledge: Knowledge,
    patterns: tuple[PatternFinding, ...],
    neuropathy: bool,
) -> AlternativeCauses:
    """Judge each reported cause; records the ``alternative-explains`` fact."""
    alternatives = knowledge.alternatives
    reported = [
        c
        for c in alternatives.causes
        if ctx.answers.get(c.link_id) is True and (c.when is None or c.when.check(ctx) is not None)
    ]
    if not reported or not neuropathy:
        ctx.facts["alternative-explains"] = None
        return NONE_REPORTED
    blocked = []
    for blocker in alternatives.blockers:
        found = blocker.when.check(ctx)
        if found is not None:
            blocked.append((blocker.label, found))
    derived = [p.code for p in patterns if p.code != "none"]
    findings = []
    explaining = []
    for cause in reported:
        cause_evidence = (knowledge.evidence.of(cause.link_id, True),)
        reasons = [label for label, _ in blocked]
        if not derived:
            reasons.append("the distribution is unknown, so a fit cannot be judged")
        misfit = [code for code in derived if code not in cause.explains]
        if misfit:
            reasons.append(f"{', '.join(misfit)} is out of keeping with {cause.label}")
        if reasons:
            evidence = distinct(cause_evidence + tuple(e for _, found in blocked for e in found))
            label = f"{cause.label} is reported but does not explain this picture: "
            findings.append(Finding(cause.id, label + "; ".join(reasons), evidence, cause.source))
            continue
        label = (
            f"{cause.label} can explain this {' and '.join(derived)} picture without immune "
            "clues; suspicion of immune causes is lowered (not excluded)"
        )
        finding = Finding(cause.id, label, cause_evidence, cause.source)
        findings.append(finding)
        explaining.append(finding)
    ctx.facts["alternative-explains"] = (
        tuple(e for f in explaining for e in f.evidence) if explaining else None
    )
    return AlternativeCauses(tuple(findings), tuple(explaining))
