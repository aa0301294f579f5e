"""``GET /fhir/RiskAssessment/{id}/$report``: the screening report as HTML or PDF."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from intake import audit
from intake.deps import Authenticated, PrincipalDep, allowed
from intake.screening_report import HTML, ReportForm, choose_form, read_report
from shared.db import session_scope

router = APIRouter(prefix="/fhir", dependencies=[Authenticated])

REPORT_HEADERS = {
    # The page is self-contained: no script, nothing fetched, never framed elsewhere.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Vary": "Accept",
}


@router.get(
    "/RiskAssessment/{resource_id}/$report",
    dependencies=[allowed("RiskAssessment", "r")],
    response_class=Response,
)
def screening_report(resource_id: str, request: Request, principal: PrincipalDep) -> Response:
    media_type = choose_form(request.headers.get("accept"))
    with session_scope() as session:
        form = read_report(session, resource_id, media_type)
        audit.record_access(
            session,
            client_id=principal.client_id,
            interaction="read",
            resource_type="DiagnosticReport",
            resource_id=form.report_id,
            patients=[form.patient],
        )
    return report_response(form, REPORT_HEADERS)


def report_response(form: ReportForm, headers: dict[str, str]) -> Response:
    charset = "; charset=utf-8" if form.media_type == HTML else ""
    return Response(form.body, media_type=form.media_type + charset, headers=headers)
