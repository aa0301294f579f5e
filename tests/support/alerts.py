"""Alert Bundles exactly as notify builds them, from answers, without a database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fixtures.responses import make_response

from notify.alert_bundle import AlertContent, build_alert_bundle
from screening.engine import answers_from_questionnaire_response, evaluate
from screening.knowledge import load_knowledge
from screening.output import build_screening_resources

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def alert_bundle(
    answers: dict[str, Any],
    *,
    response_id: str = "resp-1",
    patient: str = "Patient/p1",
    coordinator: str = "CareTeam/neuro",
    response: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The transaction Bundle for one screened response (``response`` overrides the copy)."""
    response = response or make_response(answers, patient=patient)
    response = {**response, "id": response_id}
    result = evaluate(answers_from_questionnaire_response(response), load_knowledge())
    out = build_screening_resources(
        result, response_id=response_id, patient=patient, occurred_at=NOW
    )
    content = AlertContent(
        response_id,
        patient,
        result.tier,
        response,
        out.observation,
        out.risk_assessment,
        out.service_requests,
        diagnostic_report=out.diagnostic_report,
    )
    return build_alert_bundle(content, coordinator=coordinator, authored_at=NOW)
