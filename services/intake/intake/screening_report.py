"""The screening report of a RiskAssessment, in the form the reader asked for.

Screening stores the report as a DiagnosticReport whose ``presentedForm`` holds
the PDF and the HTML (``screening.output.report``); this module finds it by the
response both were derived from and picks a form by ``Accept``: HTML for a
browser (and for ``*/*`` or no ``Accept``), PDF when asked, ``406`` for anything
else. Results scored before reports existed have none (``404`` says so).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.screening_results import read_derived
from shared.fhir.outcome import FhirError, NotFound
from shared.models import DerivedResource

HTML = "text/html"
PDF = "application/pdf"
FORMS = (HTML, PDF)
"""What ``$report`` serves, in order of preference when the client accepts both equally."""


class NotAcceptable(FhirError):
    status = 406
    default_code = "not-supported"


@dataclass(frozen=True)
class ReportForm:
    media_type: str
    body: bytes
    patient: str
    report_id: str


def choose_form(accept: str | None) -> str:
    """The media type to answer with, from an ``Accept`` header (RFC 9110 §12.5.1)."""
    if not accept or not accept.strip():
        return HTML
    best: tuple[float, int, str] | None = None
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        for rank, form in enumerate(FORMS):
            if quality > 0 and media in (form, form.split("/")[0] + "/*", "*/*"):
                candidate = (quality, -rank, form)
                best = candidate if best is None or candidate > best else best
    if best is None:
        raise NotAcceptable(
            "the report is served as text/html or application/pdf; Accept allows neither"
        )
    return best[2]


def read_report(session: Session, risk_assessment_id: str, media_type: str) -> ReportForm:
    risk = read_derived(session, "RiskAssessment", risk_assessment_id)
    row = session.scalar(
        select(DerivedResource).where(
            DerivedResource.resource_type == "DiagnosticReport",
            DerivedResource.response_id == risk.response_id,
        )
    )
    if row is None:
        raise NotFound(
            f"RiskAssessment/{risk_assessment_id} has no report (scored before reports existed)"
        )
    report = orjson.loads(row.resource)
    for form in report.get("presentedForm", []):
        if form.get("contentType", "").split(";")[0] == media_type:
            body = base64.b64decode(form["data"])
            return ReportForm(media_type, body, risk.patient, row.id)
    raise NotAcceptable(f"this report has no {media_type} form")
