"""What the console shows, read from the database: plain rows for the template."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.models import Delivery, DerivedResource, Screening
from shared.pipeline import ResponseState
from shared.tiers import TIER_RANK

PROBLEM_STATES = (ResponseState.HELD, ResponseState.RETRYING, ResponseState.DEAD_LETTER)


@dataclass(frozen=True)
class DeliveryRow:
    response_id: str
    tier: str
    due: str
    patient: str
    summary: str
    state: str
    task_status: str
    escalation: str
    has_report: bool


@dataclass(frozen=True)
class ProblemRow:
    response_id: str
    tier: str
    state: str
    patient: str
    attempts: int
    last_status: int | None
    issues: tuple[str, ...]
    """The EHR's OperationOutcome, one line per issue (severity, code, diagnostics)."""
    next_attempt: str
    replayable: bool


@dataclass(frozen=True)
class ConsoleView:
    deliveries: tuple[DeliveryRow, ...]
    problems: tuple[ProblemRow, ...]
    knowledge: str


def console_view(session: Session, configured_knowledge: str, limit: int = 200) -> ConsoleView:
    rows = session.scalars(select(Delivery).order_by(Delivery.created_at.desc()).limit(limit)).all()
    ids = [row.response_id for row in rows]
    risks, reports, patients = _derived(session, ids)
    ordered = sorted(
        rows,
        key=lambda r: (-TIER_RANK.get(r.tier, 0), r.task_due_at or datetime.max, r.response_id),
    )
    deliveries = tuple(
        DeliveryRow(
            response_id=row.response_id,
            tier=row.tier,
            due=_when(row.task_due_at),
            patient=patients.get(row.response_id, ""),
            summary=_summary(risks.get(row.response_id)),
            state=row.state,
            task_status=row.task_status or "not read yet",
            escalation=_escalation(row),
            has_report=row.response_id in reports,
        )
        for row in ordered
    )
    problems = tuple(
        ProblemRow(
            response_id=row.response_id,
            tier=row.tier,
            state=row.state,
            patient=patients.get(row.response_id, ""),
            attempts=row.attempts,
            last_status=row.last_status,
            issues=_issues(row.last_error),
            next_attempt=_when(row.next_attempt_at),
            replayable=row.state == ResponseState.DEAD_LETTER,
        )
        for row in ordered
        if row.state in PROBLEM_STATES
    )
    return ConsoleView(deliveries, problems, _knowledge(session, configured_knowledge))


def stored_report_html(session: Session, response_id: str) -> bytes | None:
    """The HTML form of the response's screening report, if one was stored."""
    row = session.scalar(
        select(DerivedResource).where(
            DerivedResource.response_id == response_id,
            DerivedResource.resource_type == "DiagnosticReport",
        )
    )
    if row is None:
        return None
    for form in orjson.loads(row.resource).get("presentedForm", []):
        if form.get("contentType", "").startswith("text/html"):
            return base64.b64decode(form["data"])
    return None


def _derived(
    session: Session, ids: list[str]
) -> tuple[dict[str, dict[str, Any]], set[str], dict[str, str]]:
    risks: dict[str, dict[str, Any]] = {}
    reports: set[str] = set()
    patients: dict[str, str] = {}
    if not ids:
        return risks, reports, patients
    rows = session.scalars(
        select(DerivedResource).where(
            DerivedResource.response_id.in_(ids),
            DerivedResource.resource_type.in_(("RiskAssessment", "DiagnosticReport")),
        )
    ).all()
    for row in rows:
        patients[row.response_id] = row.patient
        if row.resource_type == "RiskAssessment":
            risks[row.response_id] = orjson.loads(row.resource)
        else:
            reports.add(row.response_id)
    return risks, reports, patients


def _summary(risk: dict[str, Any] | None) -> str:
    if risk is None:
        return ""
    predictions = risk.get("prediction", [])
    leading = [f"{p.get('outcome', {}).get('text', '')} ({_level(p)})" for p in predictions[1:3]]
    pattern = "; ".join(c.get("text", "") for c in risk.get("reasonCode", []))
    parts = []
    if leading:
        parts.append("Leading: " + ", ".join(leading))
    if pattern:
        parts.append(pattern)
    return ". ".join(parts) or "No disease suspicion"


def _level(prediction: dict[str, Any]) -> str:
    codings = prediction.get("qualitativeRisk", {}).get("text", "")
    return codings.split(" ")[0].lower() if codings else ""


def _escalation(row: Delivery) -> str:
    if row.escalated_at is None:
        return ""
    return f"escalated {_when(row.escalated_at)} to {row.escalation_recipient or 'on-call'}"


def _issues(last_error: str | None) -> tuple[str, ...]:
    if not last_error:
        return ()
    error = orjson.loads(last_error)
    outcome = error.get("outcome") if "resourceType" not in error else error
    lines = [
        " ".join(
            part
            for part in (issue.get("severity"), issue.get("code"), issue.get("diagnostics"))
            if part
        )
        for issue in (outcome or {}).get("issue", [])
    ]
    if not lines and error.get("error"):
        lines.append(str(error["error"]))
    return tuple(lines)


def _knowledge(session: Session, configured: str) -> str:
    if configured:
        return f"neuroscreen-kb {configured} (NEUROSCREEN_KNOWLEDGE_VERSION)"
    latest = session.scalar(
        select(Screening.knowledge_version).order_by(Screening.scored_at.desc()).limit(1)
    )
    return f"neuroscreen-kb {latest} (latest screening)" if latest else "no screening yet"


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""
