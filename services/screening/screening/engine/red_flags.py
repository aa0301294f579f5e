"""Red flags (clinical basis c): findings that must never wait for routine follow-up.

Any red flag makes the tier urgent and overrides every score; no alternative
cause can explain one away. GBS-type emergencies (ascending weakness, trouble
breathing or swallowing, acute cranial neuropathy) need only emergency
assessment; a vasculitic foot or wrist drop also lists the tests the receiving
team will want.
"""

from __future__ import annotations

from dataclasses import dataclass

from screening.engine.evidence import distinct
from screening.knowledge import Knowledge
from screening.knowledge.rules import Evidences, RuleContext
from screening.result import Finding


@dataclass(frozen=True, slots=True)
class RedFlags:
    findings: tuple[Finding, ...]
    emergency_only: bool
    """Every flag is GBS-type: suggest emergency assessment and nothing else."""


def find_red_flags(ctx: RuleContext, knowledge: Knowledge) -> RedFlags:
    """The red flags the answers raise; records the ``red-flag`` fact for later rules."""
    findings = []
    evidence: Evidences = ()
    emergency_only = True
    for flag in knowledge.red_flags:
        found = flag.when.check(ctx)
        if found is None:
            continue
        found = distinct(found)
        findings.append(Finding(flag.id, f"{flag.label}: {flag.advice}", found, flag.source))
        evidence += found
        emergency_only = emergency_only and flag.emergency_only
    ctx.facts["red-flag"] = evidence if findings else None
    return RedFlags(tuple(findings), emergency_only and bool(findings))
