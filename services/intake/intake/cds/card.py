"""The patient-view card: one per patient, from the latest stored screening.

Everything on it is read from what screening stored (the RiskAssessment's
predictions, rationale and notes, and the draft ServiceRequests), so the card
says exactly what the coordinator's Task points at. Low-tier screenings get
no card when the tier is below ``NEUROSCREEN_ALERT_MIN_TIER`` (default
``moderate``), the same threshold that decides whether a coordinator is
alerted: ``patient-view`` fires on every chart opening, and a card there that
asks for nothing would teach clinicians to ignore NeuroScreen's cards (alert
fatigue), while a low tier is not "no disease" and is still readable on the
FHIR API.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from intake.cds.screenings import StoredScreening, suggestion_uuid
from shared.fhir.codes import (
    IMMUNE_NEUROPATHY_SCREEN,
    SCREENING_OBSERVATION,
    SCREENING_TIER,
    WORKUP,
)
from shared.fhir.codesystems import CODE_SYSTEMS, concept_display, project_coding
from shared.fhir.workup_groups import WORKUP_GROUPS, workup_group
from shared.tiers import at_least

INDICATORS = {"urgent": "critical", "high": "warning", "moderate": "info", "low": "info"}
SUMMARY_LIMIT = 140
_CITATION = re.compile(r"\s*\[([^\[\]]+)\]")
_MARKDOWN = re.compile(r"([\\`*_\[\]<>|#~])")
OVERRIDE_REASONS: list[dict[str, str]] = [
    {
        "system": CODE_SYSTEMS["cds-override-reason"]["url"],
        "code": c["code"],
        "display": c["display"],
    }
    for c in CODE_SYSTEMS["cds-override-reason"]["concept"]
]


@dataclass(frozen=True)
class CardLinks:
    fhir_base: str
    """NeuroScreen's FHIR base."""
    documentation: str
    """NeuroScreen's documentation of the screen (``docs/screening.md``)."""
    report: Callable[[str], str]
    """The signed, short-lived URL of a RiskAssessment's report (:mod:`intake.report_links`)."""
    report_minutes: int = 15


def shows_card(tier: str, min_tier: str) -> bool:
    return at_least(tier, min_tier)


def build_card(screening: StoredScreening, links: CardLinks) -> dict[str, Any]:
    risk = screening.risk_assessment
    card_uuid = screening.card_uuid
    card: dict[str, Any] = {
        "uuid": card_uuid,
        "summary": summary(screening.tier, _leading_suspicion(risk)),
        "indicator": INDICATORS[screening.tier],
        "detail": detail(screening.tier, risk),
        "source": {
            "label": "NeuroScreen immune-neuropathy screen",
            "url": links.documentation,
            "topic": project_coding(SCREENING_OBSERVATION, IMMUNE_NEUROPATHY_SCREEN),
        },
        "overrideReasons": OVERRIDE_REASONS,
        "links": [
            {
                # A signed link: the browser showing the card holds no FHIR token.
                "label": f"Open the screening report (link valid {links.report_minutes} minutes)",
                "url": links.report(risk["id"]),
                "type": "absolute",
            }
        ],
    }
    suggestions = _suggestions(
        card_uuid, _in_proposed_order(screening.service_requests, risk), risk
    )
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = "any"
    return card


def summary(tier: str, leading: str | None) -> str:
    """``Urgent neuropathy screen - leading suspicion: EGPA (decision support)``, ≤ 140 chars."""
    head = f"{tier.capitalize()} immune-neuropathy screen - "
    tail = " (decision support)"
    if leading is None:
        return f"{head}no leading disease suspicion{tail}"
    room = SUMMARY_LIMIT - len(head) - len(tail) - len("leading suspicion: ")
    if len(leading) > room:
        leading = leading[: room - 1].rstrip() + "…"
    return f"{head}leading suspicion: {leading}{tail}"


def detail(tier: str, risk: dict[str, Any]) -> str:
    """GitHub-flavoured markdown: tier and why, the answers behind each suspicion,
    the pattern, the other notes, the cited sources, and the decision-support statement."""
    sources: list[str] = []
    overall, *suspicions = risk.get("prediction") or [{}]
    tier_display = concept_display(SCREENING_TIER, tier)
    why = _uncited(overall.get("rationale", ""), sources)
    why = why.removeprefix(f"{tier_display}.").strip().removeprefix("Why:").strip()
    # The tier is the summary's first word: said once, not again here.
    lines = [f"**Why this tier:** {_md(why)}"]
    if suspicions:
        lines += ["", "**Suspicions and the answers that drove them**", ""]
        for item in suspicions:
            name = item.get("outcome", {}).get("text", "")
            level = item.get("qualitativeRisk", {}).get("text", "")
            raised = _uncited(item.get("rationale", ""), sources)
            lines.append(f"- **{_md(name)}**: {_md(level)}. {_md(raised)}")
    patterns = [concept.get("text") or "" for concept in risk.get("reasonCode", [])]
    lines += ["", f"**Pattern:** {_md('; '.join(p for p in patterns if p) or 'none reported')}"]
    notes = [note.get("text", "") for note in risk.get("note", [])]
    statement = notes.pop() if notes else ""
    if notes:
        lines += ["", "**Notes**", ""]
        lines += [f"- {_md(_uncited(text, sources))}" for text in notes]
    if sources:
        lines += ["", "**Sources cited**", ""]
        lines += [f"- {_md(source)}" for source in sources]
    if statement:
        lines += ["", f"*{_md(statement)}*"]
    return "\n".join(lines)


def _leading_suspicion(risk: dict[str, Any]) -> str | None:
    predictions = risk.get("prediction") or []
    if len(predictions) < 2:
        return None
    return predictions[1].get("outcome", {}).get("text") or None


def _uncited(text: str, sources: list[str]) -> str:
    """``text`` without its ``[citation]`` brackets; each citation added once to ``sources``."""
    for cited in _CITATION.findall(text):
        for source in cited.split("; "):
            if source and source not in sources:
                sources.append(source)
    return _CITATION.sub("", text)


def _md(text: str) -> str:
    """Plain text safe inside markdown: answers and citations are never markup."""
    return _MARKDOWN.sub(r"\\\1", " ".join(text.split()))


def _in_proposed_order(
    requests: list[dict[str, Any]], risk: dict[str, Any]
) -> list[dict[str, Any]]:
    """The engine's order (most pressing first), as the RiskAssessment's mitigation lists it.

    Stored rows keep no order; the mitigation text names each step in the
    engine's order, so a request sorts by where its test appears there
    (a test the text does not name goes last, by name).
    """
    mitigation = risk.get("mitigation", "")

    def position(request: dict[str, Any]) -> tuple[int, str]:
        name = request.get("code", {}).get("text", "")
        found = mitigation.find(name) if name else -1
        return (found if found >= 0 else len(mitigation), name)

    return sorted(requests, key=position)


SUGGESTION_LABELS = {
    "emergency": "Arrange the same-day assessment",
    "first-line": "Order the first-line work-up",
    "specialist": "Refer to the specialist",
}
"""At most three suggestions, one per work-up group (shared.fhir.workup_groups)."""


def _suggestions(
    card_uuid: str, requests: list[dict[str, Any]], risk: dict[str, Any]
) -> list[dict[str, Any]]:
    """One suggestion per work-up group, emergency first, each with all of the group's requests."""
    grouped: dict[str, list[dict[str, Any]]] = {group: [] for group in WORKUP_GROUPS}
    for request in requests:
        grouped[workup_group(_workup_code(request))].append(request)
    return [
        _suggestion(card_uuid, group, members, risk)
        for group, members in grouped.items()
        if members
    ]


def _workup_code(request: dict[str, Any]) -> str:
    codings = request.get("code", {}).get("coding", [])
    return next((c["code"] for c in codings if c.get("system") == WORKUP), "")


def _suggestion(
    card_uuid: str, group: str, requests: list[dict[str, Any]], risk: dict[str, Any]
) -> dict[str, Any]:
    names = [request.get("code", {}).get("text", "the proposed test") for request in requests]
    label = SUGGESTION_LABELS[group]
    if group != "first-line":
        label += f": {', '.join(names)}"
    return {
        "label": label if len(label) <= 80 else label[:79].rstrip() + "…",
        "uuid": suggestion_uuid(card_uuid, group),
        # Each group is what the screen proposes; the clinician picks any of them.
        "isRecommended": True,
        "actions": [
            {
                "type": "create",
                "description": f"Create a draft ServiceRequest (intent proposal): {name}",
                "resource": for_the_ehr(request, risk),
            }
            for name, request in zip(names, requests, strict=True)
        ],
    }


def for_the_ehr(request: dict[str, Any], risk: dict[str, Any]) -> dict[str, Any]:
    """The stored ServiceRequest as a new resource in the EHR's server.

    The EHR assigns the id; the RiskAssessment is referenced by its business
    identifier (the one notify writes to the EHR), because NeuroScreen's own
    resource id means nothing on the EHR's server.
    """
    resource = {key: value for key, value in request.items() if key not in ("id", "meta")}
    resource["intent"] = "proposal"
    if risk.get("identifier"):
        resource["supportingInfo"] = [
            {"type": "RiskAssessment", "identifier": risk["identifier"][0]}
        ]
    return resource
