"""What the screening report says, as plain data: one model for the HTML and the PDF.

Built from the engine's result, never from the FHIR resources, so nothing is
parsed back out of text. The order is the reader's: tier and due time, then
why (the rules that set the tier, each with the patient's own answers), the
pattern, the suspicions (ranked ones, then those only listed), other causes
weighed, unanswered items that matter, the work-up grouped (emergency first,
first-line tests, specialist steps), the sources, the decision-support
statement and the knowledge base version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from screening.output import rationale
from screening.output.concepts import condition_name
from screening.output.orders import orders
from screening.output.report.answers_text import QuotedAnswer, question_text, quoted
from screening.output.risk_assessment import ranked
from screening.result import Finding, ScreeningResult, Suspicion
from shared.fhir.codes import NEUROPATHY_PATTERN, SCREENING_TIER, WORKUP
from shared.fhir.codesystems import concept_display
from shared.fhir.workup_groups import GROUP_TITLES, WORKUP_GROUPS, workup_group

TITLE = "Immune-mediated neuropathy screening report"


@dataclass(frozen=True)
class Reason:
    """A rule that fired, the answers behind it and the source it cites."""

    label: str
    answers: tuple[QuotedAnswer, ...]
    source: str = ""


@dataclass(frozen=True)
class SuspicionLine:
    condition: str
    level: str
    raised_by: tuple[QuotedAnswer, ...]
    lowered_by: tuple[QuotedAnswer, ...]
    modifiers: tuple[str, ...]


@dataclass(frozen=True)
class WorkupLine:
    name: str
    why: str


@dataclass(frozen=True)
class WorkupSection:
    group: str
    title: str
    steps: tuple[WorkupLine, ...]


@dataclass(frozen=True)
class Unanswered:
    question: str
    why: str


@dataclass(frozen=True)
class ReportContent:
    """Everything the report shows, in the order it shows it."""

    title: str
    tier: str
    tier_display: str
    due: str
    patient: str
    response: str
    screened_at: str
    summary: str
    why: tuple[Reason, ...]
    patterns: tuple[Reason, ...]
    ranked: tuple[SuspicionLine, ...]
    listed: tuple[SuspicionLine, ...]
    alternatives: tuple[Reason, ...]
    unanswered: tuple[Unanswered, ...]
    workup: tuple[WorkupSection, ...]
    sources: tuple[str, ...]
    decision_support: str
    knowledge: str


def build_report_content(
    result: ScreeningResult,
    *,
    patient: str,
    response: str,
    screened_at: datetime,
    due_within: timedelta | None,
) -> ReportContent:
    """The report of ``result``; ``due_within`` is the tier's window (:mod:`shared.due`)."""
    why = tuple(
        Reason(r.label, quoted(r.evidence), rationale.tier_sources(r, result))
        for r in result.tier_reasons
    )
    order = ranked(result.suspicions)
    alternatives = (*result.alternative_causes, *result.considerations)
    return ReportContent(
        title=TITLE,
        tier=result.tier,
        tier_display=concept_display(SCREENING_TIER, result.tier),
        due=_due(screened_at, due_within),
        patient=patient,
        response=response,
        screened_at=_moment(screened_at),
        summary=result.summary.strip(),
        why=why,
        patterns=tuple(
            Reason(
                f"{concept_display(NEUROPATHY_PATTERN, p.code)}: {p.rationale}", quoted(p.evidence)
            )
            for p in result.patterns
        ),
        ranked=tuple(_suspicion(s) for s in order if s.ranked),
        listed=tuple(_suspicion(s) for s in order if not s.ranked),
        alternatives=tuple(_reason(item) for item in alternatives),
        unanswered=tuple(Unanswered(question_text(i.link_id), i.why) for i in result.unanswered),
        workup=_workup(result),
        sources=_sources(result, why),
        decision_support=rationale.DECISION_SUPPORT,
        knowledge=result.knowledge_id or f"neuroscreen-kb {result.knowledge_version}",
    )


def _reason(item: Finding) -> Reason:
    return Reason(item.label, quoted(item.evidence), item.source)


def _suspicion(suspicion: Suspicion) -> SuspicionLine:
    raised = [c for c in suspicion.contributions if c.weight > 0]
    lowered = [c for c in suspicion.contributions if c.weight < 0]
    return SuspicionLine(
        condition=condition_name(suspicion.condition),
        level=suspicion.level,
        raised_by=quoted(tuple(e for c in raised for e in c.evidence)),
        lowered_by=quoted(tuple(e for c in lowered for e in c.evidence)),
        modifiers=tuple(m.label for m in suspicion.modifiers),
    )


def _workup(result: ScreeningResult) -> tuple[WorkupSection, ...]:
    lines: dict[str, list[WorkupLine]] = {group: [] for group in WORKUP_GROUPS}
    for order in orders(result.workup):
        why = "; ".join(rationale.reason_text(reason, result) for reason in order.reasons)
        lines[workup_group(order.code)].append(WorkupLine(concept_display(WORKUP, order.code), why))
    return tuple(
        WorkupSection(group, GROUP_TITLES[group], tuple(steps))  # type: ignore[index]
        for group, steps in lines.items()
        if steps
    )


def _sources(result: ScreeningResult, why: tuple[Reason, ...]) -> tuple[str, ...]:
    """Every citation behind what the report says, each once, in the order it appears."""
    cited = [r.source for r in why]
    for suspicion in ranked(result.suspicions):
        cited += [c.source for c in suspicion.contributions if c.weight > 0]
    cited += [item.source for item in (*result.alternative_causes, *result.considerations)]
    parts = (part.strip() for source in cited for part in source.split("; "))
    return tuple(dict.fromkeys(part for part in parts if part))


def _moment(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip()


def _due(screened_at: datetime, within: timedelta | None) -> str:
    if within is None:
        return "as the alert's task states"
    hours = within.total_seconds() / 3600
    span = f"{hours:g} hours" if hours < 48 else f"{hours / 24:g} days"
    return f"within {span} of screening (by {_moment(screened_at + within)})"
