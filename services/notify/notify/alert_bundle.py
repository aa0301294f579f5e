"""The transaction Bundle that puts one alert into the EHR.

Every entry is a conditional create on a stable NeuroScreen identifier, so a
retry, a lost acknowledgement or a replay can never create a duplicate.
References between entries use lower-case ``urn:uuid:`` fullUrls; the
screening resources are sent exactly as screening produced them, with their
local references rewritten to those placeholders. Each of them keeps its
NeuroScreen address as an ``alternate`` entry link (``RiskAssessment/<id>``), so
that an alert can cite NeuroScreen's copy when the EHR refuses one
(:mod:`notify.alert_writer`, which strips the links before sending).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.fhir.codes import (
    REQUEST_PRIORITY_BY_TIER,
    REVIEW_SCREENING,
    SCREENING_OUTPUT_IDENTIFIER,
    SCREENING_STATUS_EXTENSION,
    TASKS,
)
from shared.fhir.narrative import NARRATED_TYPES, with_narrative
from shared.fhir.search_values import query, token

COMMUNICATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/communication-category"
DECISION_SUPPORT = (
    "Clinical decision support, not a diagnosis: review the answers and decide on follow-up."
)


@dataclass(frozen=True)
class AlertContent:
    """What the screening stored for one response, as plain FHIR JSON."""

    response_id: str
    patient: str
    tier: str
    questionnaire_response: dict[str, Any]
    observation: dict[str, Any] | None
    risk_assessment: dict[str, Any]
    service_requests: tuple[dict[str, Any], ...]
    alert_round: int = 1
    """2, 3... for the alert of a re-screen whose tier rose (``Screening.alert_round``)."""
    reason: str | None = None
    """Why a later round alerts: "re-screened under knowledge 2.1.0: tier rose from ..."."""
    diagnostic_report: dict[str, Any] | None = None
    """The screening report (absent for results scored before reports existed)."""


def round_identifier(value: str, alert_round: int) -> str:
    """The business identifier of an alert resource in ``alert_round``: ``task/<id>`` for
    the first, ``task/<id>/v2`` for the next. A re-screen's alert is new in the EHR (its
    own Task, Communication and new versions of the screening resources), while every
    conditional create of an earlier round still matches what that round wrote."""
    return value if alert_round <= 1 else f"{value}/v{alert_round}"


def build_alert_bundle(
    content: AlertContent,
    *,
    coordinator: str,
    authored_at: datetime,
    due_at: datetime | None = None,
) -> dict[str, Any]:
    """A ``transaction`` Bundle: the screening resources, a Task and a Communication.

    ``due_at`` (from :mod:`notify.task_policy`) becomes ``Task.restriction.period.end``.
    """
    entries: list[dict[str, Any]] = []
    placeholders: dict[str, str] = {}
    shared = [content.questionnaire_response, content.observation, content.risk_assessment]
    attachments = [r for r in shared if r] + list(content.service_requests)
    if content.diagnostic_report:
        attachments.append(content.diagnostic_report)
    for resource in attachments:
        placeholders[f"{resource['resourceType']}/{resource['id']}"] = _placeholder()
    for resource in attachments:
        local = f"{resource['resourceType']}/{resource['id']}"
        sent = _as_sent(resource, placeholders)
        if content.alert_round > 1 and resource is not content.questionnaire_response:
            sent["identifier"] = [
                {**i, "value": round_identifier(i["value"], content.alert_round)}
                for i in sent["identifier"]
            ]
        entries.append(_entry(sent, placeholders[local], _served_at(local, content)))

    task_url, communication_url = _placeholder(), _placeholder()
    risk_url = placeholders[f"RiskAssessment/{content.risk_assessment['id']}"]
    request_urls = [placeholders[f"ServiceRequest/{sr['id']}"] for sr in content.service_requests]
    report = content.diagnostic_report
    report_url = placeholders[f"DiagnosticReport/{report['id']}"] if report else None
    task = _task(content, coordinator, risk_url, request_urls, authored_at, due_at, report_url)
    entries.append(_entry(with_narrative(task), task_url))
    communication = _communication(
        content, coordinator, task_url, risk_url, authored_at, report_url
    )
    entries.append(_entry(with_narrative(communication), communication_url))
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def alert_message(content: AlertContent) -> str:
    """The coordinator's short, human-readable message (also the Task's basis)."""
    risk = content.risk_assessment
    patterns = [c.get("text") or _first_code(c) for c in risk.get("reasonCode", [])]
    lines = [f"NeuroScreen: {content.tier.upper()} priority neuropathy screen."]
    if content.reason:
        lines.append(content.reason[:1].upper() + content.reason[1:] + ".")
    if patterns:
        lines.append("Pattern: " + "; ".join(p for p in patterns if p) + ".")
    for prediction in risk.get("prediction", [])[1:4]:
        outcome = prediction.get("outcome", {})
        name = outcome.get("text") or _first_code(outcome)
        level = prediction.get("qualitativeRisk", {}).get("text") or _first_code(
            prediction.get("qualitativeRisk", {})
        )
        why = prediction.get("rationale", "")
        lines.append(f"Suspicion {name} ({level}): {why}".rstrip(": "))
    workup = [
        sr.get("code", {}).get("text") or _first_code(sr.get("code", {}))
        for sr in content.service_requests
    ]
    if workup:
        lines.append("Proposed workup: " + ", ".join(w for w in workup if w) + ".")
    lines.append(DECISION_SUPPORT)
    return "\n".join(lines)


def _served_at(local: str, content: AlertContent) -> str:
    """Where NeuroScreen serves its copy: the report is served as its RiskAssessment's $report."""
    if local.startswith("DiagnosticReport/"):
        return f"RiskAssessment/{content.risk_assessment['id']}/$report"
    return local


def _as_sent(resource: dict[str, Any], placeholders: dict[str, str]) -> dict[str, Any]:
    """The resource without our server's id/meta, local references → placeholders.

    A result stored before narratives existed gets its narrative here, so every
    resource NeuroScreen writes carries one.
    """
    sent = {k: v for k, v in resource.items() if k not in ("id", "meta")}
    if "text" not in sent and sent["resourceType"] in NARRATED_TYPES:
        sent = with_narrative(sent)
    if resource["resourceType"] == "QuestionnaireResponse":
        extensions = [
            e for e in sent.get("extension", []) if e.get("url") != SCREENING_STATUS_EXTENSION
        ]
        sent.pop("extension", None)
        if extensions:
            sent["extension"] = extensions
        if "identifier" not in sent:
            sent["identifier"] = _identifier(f"questionnaire-response/{resource['id']}")
    return _rewrite_references(sent, placeholders)


def _rewrite_references(value: Any, placeholders: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: placeholders.get(v, v)
            if k == "reference" and isinstance(v, str)
            else _rewrite_references(v, placeholders)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewrite_references(v, placeholders) for v in value]
    return value


def _entry(
    resource: dict[str, Any], full_url: str, local_reference: str | None = None
) -> dict[str, Any]:
    identifier = resource["identifier"]
    identifier = identifier[0] if isinstance(identifier, list) else identifier
    # The response's identifier is the EHR client's own: escaped, it matches itself only.
    condition = query({"identifier": token(identifier.get("system", ""), identifier["value"])})
    entry: dict[str, Any] = {"fullUrl": full_url}
    if local_reference:
        entry["link"] = [{"relation": "alternate", "url": local_reference}]
    entry["resource"] = resource
    entry["request"] = {
        "method": "POST",
        "url": resource["resourceType"],
        "ifNoneExist": condition,
    }
    return entry


def _task(
    content: AlertContent,
    coordinator: str,
    risk_url: str,
    request_urls: list[str],
    authored_at: datetime,
    due_at: datetime | None,
    report_url: str | None = None,
) -> dict[str, Any]:
    inputs = [{"type": {"text": "Screening report"}, "valueReference": {"reference": report_url}}]
    task: dict[str, Any] = {
        "resourceType": "Task",
        "identifier": [
            _identifier(round_identifier(f"task/{content.response_id}", content.alert_round))
        ],
        "status": "requested",
        "intent": "order",
        "priority": REQUEST_PRIORITY_BY_TIER[content.tier],
        "code": {
            "coding": [
                {
                    "system": TASKS,
                    "code": REVIEW_SCREENING,
                    "display": "Review neuropathy screening result",
                }
            ]
        },
        "description": _one_line(content),
        "for": {"reference": content.patient},
        "focus": {"reference": risk_url},
        "owner": {"reference": coordinator},
        "authoredOn": _instant(authored_at),
        "input": (inputs if report_url else [])
        + [
            {
                "type": {"text": "Proposed diagnostic workup"},
                "valueReference": {"reference": url},
            }
            for url in request_urls
        ],
    }
    if content.reason:
        task["reasonCode"] = {"text": content.reason}
    if due_at is not None:
        task["restriction"] = {"period": {"end": _instant(due_at)}}
    return task


def _communication(
    content: AlertContent,
    coordinator: str,
    task_url: str,
    risk_url: str,
    sent_at: datetime,
    report_url: str | None = None,
) -> dict[str, Any]:
    about = [{"reference": task_url}, {"reference": risk_url}]
    payload: list[dict[str, Any]] = [{"contentString": alert_message(content)}]
    if report_url:
        about.append({"reference": report_url})
        payload.append(
            {"contentReference": {"reference": report_url, "display": "Screening report"}}
        )
    return {
        "resourceType": "Communication",
        "identifier": [
            _identifier(
                round_identifier(f"communication/{content.response_id}", content.alert_round)
            )
        ],
        "status": "completed",
        "category": [
            {"coding": [{"system": COMMUNICATION_CATEGORY, "code": "alert", "display": "Alert"}]}
        ],
        "priority": REQUEST_PRIORITY_BY_TIER[content.tier],
        "subject": {"reference": content.patient},
        "about": about,
        "recipient": [{"reference": coordinator}],
        "sent": _instant(sent_at),
        "payload": payload,
    }


def _one_line(content: AlertContent) -> str:
    leading = [
        p.get("outcome", {}).get("text") or _first_code(p.get("outcome", {}))
        for p in content.risk_assessment.get("prediction", [])[1:3]
    ]
    suspicion = f"; leading suspicion: {', '.join(x for x in leading if x)}" if leading else ""
    return f"Review {content.tier} neuropathy screening result{suspicion} (decision support)"


def _first_code(concept: dict[str, Any]) -> str:
    codings = concept.get("coding", [])
    return (codings[0].get("display") or codings[0].get("code", "")) if codings else ""


def _identifier(value: str) -> dict[str, str]:
    return {"system": SCREENING_OUTPUT_IDENTIFIER, "value": value}


def _placeholder() -> str:
    # Medplum (and the spec's examples) match lower-case urn:uuid placeholders only.
    return f"urn:uuid:{uuid.uuid4()}"


def _instant(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
