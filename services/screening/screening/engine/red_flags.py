"""Red flags (clinical basis c): findings that must never wait for routine follow-up.

Any red flag makes the tier urgent and overrides every score; no alternative
cause can explain one away. GBS-type emergencies (ascending weakness, trouble
breathing or swallowing, acute cranial neuropathy) need only emergency
assessment; a vasculitic foot or wrist drop also lists the tests the receiving
team will want.
"""

from __future__ import annotations

from typing import NamedTuple

from screening.knowledge import Knowledge
from screening.knowledge.followup import WorkupRule
from screening.knowledge.rules import Evidences, RuleContext, distinct
from screening.result import Finding


class RedFlags(NamedTuple):
    findings: tuple[Finding, ...]
    emergency_only: bool
    """Every flag is GBS-type: suggest emergency assessment (and the flags' own steps) only."""
    workup: tuple[WorkupRule, ...] = ()
    """The fired flags' own steps, in flag order (2.0.0)."""


def find_red_flags(ctx: RuleContext, knowledge: Knowledge) -> RedFlags:
    """The red flags the answers raise; records the ``red-flag`` fact for later rules."""
    findings = []
    workup = []
    evidence: Evidences = ()
    emergency_only = True
    flags = knowledge.red_flags
    for index, found in knowledge.red_flags_check(ctx):
        flag = flags[index]
        found = distinct(found)
        findings.append(Finding(flag.id, f"{flag.label}: {flag.advice}", found, flag.source))
        evidence += found
        emergency_only = emergency_only and flag.emergency_only
        if flag.steps is not None:
            workup.append(flag.steps)
    ctx.facts["red-flag"] = evidence if findings else None
    return RedFlags(tuple(findings), emergency_only and bool(findings), tuple(workup))
