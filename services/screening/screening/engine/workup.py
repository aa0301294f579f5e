"""Suggested work-up (clinical basis f.8), in contract ``workup`` codes.

Only responses with neuropathy evidence get a work-up. Urgent responses start
with ``emergency-assessment``; when every red flag is GBS-type, that is all, as
outpatient tests must never delay the emergency. Otherwise the baseline set
comes next, then the additions of every work-up rule that fires, in knowledge
order. A code suggested by several rules appears once, with all their reasons.
"""

from __future__ import annotations

from screening.engine.red_flags import RedFlags
from screening.knowledge import Knowledge
from screening.knowledge.model import WorkupRule
from screening.knowledge.rules import RuleContext
from screening.result import WorkupStep


def suggest_workup(
    ctx: RuleContext, knowledge: Knowledge, red_flags: RedFlags, neuropathy: bool
) -> tuple[WorkupStep, ...]:
    """The work-up steps for this response, most pressing first."""
    chosen: dict[str, WorkupStep] = {}
    if red_flags.findings:
        chosen.update(knowledge.emergency.step_by_code)
        if red_flags.emergency_only:
            return tuple(chosen.values())
    if not neuropathy:
        return tuple(chosen.values())
    chosen.update(knowledge.baseline.step_by_code)
    rules = knowledge.workup
    for index, _ in knowledge.workup_check(ctx):
        rule = rules[index]
        for step in rule.steps:
            earlier = chosen.get(step.code)
            chosen[step.code] = step if earlier is None else _merged(earlier, rule)
    return tuple(chosen.values())


def _merged(step: WorkupStep, rule: WorkupRule) -> WorkupStep:
    """``step`` also suggested by ``rule``: one step, both reasons and rule ids."""
    reasons = step.reasons if rule.reason in step.reasons else (*step.reasons, rule.reason)
    return WorkupStep(step.code, reasons, (*step.rule_ids, rule.id))
