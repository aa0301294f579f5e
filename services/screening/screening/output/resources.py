"""Turn one ScreeningResult into the FHIR resources NeuroScreen stores and sends.

This is the only entry point the scoring task needs. It is pure (no I/O) and
deterministic: the same result, response id, patient and time give the same
JSON, ids included, so a redelivered job or a re-run produces nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from screening.output.identity import ScreeningContext
from screening.output.observation import build_dn4_observation, dn4_identity
from screening.output.report import (
    build_diagnostic_report,
    build_report_content,
    render_html,
    render_pdf,
)
from screening.output.risk_assessment import build_risk_assessment, risk_assessment_identity
from screening.output.service_request import build_service_requests
from screening.result import ScreeningResult
from shared.fhir.narrative import with_narrative


@dataclass(frozen=True)
class ScreeningResources:
    """The FHIR R4 resources derived from one screening, as plain JSON dicts.

    References between them and to the response and patient are relative
    (``RiskAssessment/<id>``), ready to store and to POST to an EHR.
    """

    observation: dict[str, Any]
    """The DN4-interview score."""
    risk_assessment: dict[str, Any]
    """Tier, suspected conditions, patterns and their rationale."""
    service_requests: tuple[dict[str, Any], ...]
    """Draft proposals, one per suggested workup step (possibly none)."""
    diagnostic_report: dict[str, Any]
    """The screening report (PDF and HTML), status preliminary."""

    def all(self) -> tuple[dict[str, Any], ...]:
        """Every resource, in the order they are stored."""
        return (
            self.observation,
            self.risk_assessment,
            *self.service_requests,
            self.diagnostic_report,
        )


def build_screening_resources(
    result: ScreeningResult,
    *,
    response_id: str,
    patient: str,
    occurred_at: datetime,
    due_within: timedelta | None = None,
) -> ScreeningResources:
    """Build the Observation, RiskAssessment and ServiceRequests for ``result``.

    Each carries its narrative (``text``, :mod:`shared.fhir.narrative`).

    ``patient`` is ``Patient/<id>`` (or a bare id); ``occurred_at`` must be
    timezone-aware; ``due_within`` is the tier's window for the report
    (:func:`shared.due.task_due_after`). Raises ``ValueError`` on bad inputs or on a result that
    uses a code the contract does not define.
    """
    context = ScreeningContext.create(response_id, patient, occurred_at)
    observation = build_dn4_observation(result, context)
    risk_assessment = build_risk_assessment(result, context, dn4_identity(context))
    requests = build_service_requests(result, context, risk_assessment_identity(context))
    content = build_report_content(
        result,
        patient=context.subject,
        response=context.response,
        screened_at=occurred_at,
        due_within=due_within,
    )
    report = build_diagnostic_report(
        content,
        context,
        dn4_identity(context),
        html=render_html(content),
        pdf=render_pdf(content, occurred_at),
    )
    return ScreeningResources(
        with_narrative(observation),
        with_narrative(risk_assessment),
        tuple(with_narrative(request) for request in requests),
        with_narrative(report),
    )
