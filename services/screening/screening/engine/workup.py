"""Suggested work-up (clinical basis f.8), in contract ``workup`` codes.

Only responses with neuropathy evidence get a work-up. Urgent responses start
with ``emergency-assessment`` and then each fired red flag's own steps (2.0.0,
e.g. temporal-artery assessment for giant-cell arteritis). When every red flag
is GBS-type, outpatient tests must never delay the emergency, so only the rules
marked ``in_emergency`` follow (2.1.0: the vasculitis serology and the imaging
the receiving team needs; 2.0.0 marks none). Otherwise the baseline set comes
next, then the additions of every work-up rule that fires, in knowledge order.
A code suggested by several rules appears once, with all their reasons; every
such step is prebuilt with the knowledge, so none is assembled per call.
"""

from __future__ import annotations

from screening.engine.red_flags import RedFlags
from screening.knowledge import Knowledge
from screening.knowledge.followup import WorkupRule
from screening.knowledge.rules import RuleContext
from screening.result import WorkupStep


def suggest_workup(
    ctx: RuleContext, knowledge: Knowledge, red_flags: RedFlags, neuropathy: bool
) -> tuple[WorkupStep, ...]:
    """The work-up steps for this response, most pressing first."""
    chosen: dict[str, tuple[str, ...]] = {}  # code -> ids of the rules suggesting it
    if red_flags.findings:
        # A flag with its own steps names emergency assessment itself, cited to the flag.
        if len(red_flags.workup) < len(red_flags.findings):
            _add(chosen, knowledge.workup.emergency)
        for flag_steps in red_flags.workup:
            _add(chosen, flag_steps)
    if not neuropathy:
        return _steps(knowledge, chosen)
    rules = knowledge.workup.rules
    if red_flags.emergency_only:
        for index, _ in knowledge.workup_check(ctx):
            if rules[index].in_emergency:
                _add(chosen, rules[index])
        return _steps(knowledge, chosen)
    _add(chosen, knowledge.workup.baseline)
    for index, _ in knowledge.workup_check(ctx):
        _add(chosen, rules[index])
    return _steps(knowledge, chosen)


def _add(chosen: dict[str, tuple[str, ...]], rule: WorkupRule) -> None:
    rule_id = (rule.id,)
    for code in rule.codes:
        chosen[code] = chosen.get(code, ()) + rule_id


def _steps(knowledge: Knowledge, chosen: dict[str, tuple[str, ...]]) -> tuple[WorkupStep, ...]:
    """The prebuilt step for each code and the exact rules that suggested it."""
    steps = knowledge.workup_steps
    return tuple([steps[code, rule_ids] for code, rule_ids in chosen.items()])
