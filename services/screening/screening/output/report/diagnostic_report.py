"""The report as a preliminary DiagnosticReport carrying the PDF and the HTML.

``presentedForm`` holds both renderings inline (base64), so an EHR that shows
documents shows the report without calling NeuroScreen back. Status
``preliminary``: a clinician has not reviewed it. ``result`` cites the DN4
Observation; the Task and the Communication of the alert cite the report.
"""

from __future__ import annotations

import base64
from typing import Any

from screening.output.identity import Identity, ScreeningContext
from screening.output.report.content import ReportContent
from shared.fhir.codes import IMMUNE_NEUROPATHY_SCREEN, SCREENING_OBSERVATION
from shared.fhir.codesystems import project_coding

PDF = "application/pdf"
HTML = "text/html"


def diagnostic_report_identity(context: ScreeningContext) -> Identity:
    return context.identity("DiagnosticReport", "diagnostic-report")


def build_diagnostic_report(
    content: ReportContent,
    context: ScreeningContext,
    observation: Identity,
    *,
    html: str,
    pdf: bytes,
) -> dict[str, Any]:
    identity = diagnostic_report_identity(context)
    leading = ", ".join(f"{s.condition} ({s.level})" for s in content.ranked[:3])
    conclusion = f"{content.tier_display}. Due {content.due}."
    if leading:
        conclusion += f" Leading suspicions: {leading}."
    return {
        "resourceType": "DiagnosticReport",
        "id": identity.id,
        "identifier": identity.identifier(),
        "status": "preliminary",
        "code": {
            "coding": [project_coding(SCREENING_OBSERVATION, IMMUNE_NEUROPATHY_SCREEN)],
            "text": content.title,
        },
        "subject": {"reference": context.subject},
        "effectiveDateTime": context.occurred_at,
        "issued": context.occurred_at,
        "result": [{"reference": observation.reference}],
        "conclusion": f"{conclusion} {content.decision_support}",
        "presentedForm": [
            _attachment(PDF, pdf, "Screening report (PDF)", context),
            _attachment(HTML, html.encode(), "Screening report (HTML)", context),
        ],
    }


def _attachment(
    content_type: str, data: bytes, title: str, context: ScreeningContext
) -> dict[str, Any]:
    return {
        "contentType": content_type,
        "language": "en",
        "data": base64.b64encode(data).decode("ascii"),
        "title": title,
        "creation": context.occurred_at,
    }
