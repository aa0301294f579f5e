"""The screening report: one page for the coordinator and the clinician, as HTML and PDF.

One content model (:mod:`.content`) built from the engine's result, rendered by
one Jinja2 template (:mod:`.html`) and by fpdf2 (:mod:`.pdf`, pure Python, no
system package), and written as a preliminary DiagnosticReport whose
``presentedForm`` carries both (:mod:`.diagnostic_report`). Screening stores
it with the other derived resources; notify sends it with the alert and the
intake serves it at ``GET /fhir/RiskAssessment/{id}/$report``.
"""

from __future__ import annotations

from screening.output.report.content import ReportContent, build_report_content
from screening.output.report.diagnostic_report import build_diagnostic_report
from screening.output.report.html import render_html
from screening.output.report.pdf import render_pdf

__all__ = [
    "ReportContent",
    "build_diagnostic_report",
    "build_report_content",
    "render_html",
    "render_pdf",
]
