"""Neuropathy patterns (clinical basis f.4): where and how the symptoms spread.

Labels come from the knowledge base's ordered pattern rules over
``spread-pattern``, ``regions``, cranial symptoms and ``foot-wrist-drop``. More
than one label can apply; each is explained by the rationale of every rule
that produced it. Without neuropathy evidence, or when nothing locates the
symptoms, the pattern is ``none`` with the reason; a rule may also give
``none`` with its own reason (e.g. a one-sided arm and leg, which is central
until proven otherwise), which stands only when no other label applies.
"""

from __future__ import annotations

from screening.knowledge import Knowledge
from screening.knowledge.model import PatternRule
from screening.knowledge.rules import RuleContext, distinct
from screening.result import PatternFinding

NO_SYMPTOMS = PatternFinding("none", "no nerve symptoms reported, so no pattern applies", ())
NOT_LOCATED = PatternFinding(
    "none",
    "nerve symptoms are reported but their distribution was not answered or is unsure, "
    "so no pattern could be derived",
    (),
)


def derive_patterns(
    ctx: RuleContext, knowledge: Knowledge, neuropathy: bool
) -> tuple[PatternFinding, ...]:
    """Label the neuropathy pattern(s); fills ``ctx.patterns`` for the later steps."""
    if not neuropathy:
        return (NO_SYMPTOMS,)
    fired: dict[str, list[PatternRule]] = {}
    rules = knowledge.patterns
    for index, _ in knowledge.patterns_check(ctx):  # also fills ctx.patterns
        rule = rules[index]
        fired.setdefault(rule.pattern, []).append(rule)
    if len(fired) > 1:
        fired.pop("none", None)  # an explicit "none" (2.0.0) only stands alone
    if not fired:
        return (NOT_LOCATED,)
    found = []
    for code in knowledge.pattern_order:
        by = fired.get(code)
        if by is None:
            continue
        rationale = by[0].rationale if len(by) == 1 else "; ".join(r.rationale for r in by)
        rule_ids = tuple([r.id for r in by])
        found.append(PatternFinding(code, rationale, distinct(ctx.patterns[code]), rule_ids))
    return tuple(found)
