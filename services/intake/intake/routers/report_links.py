"""``GET /reports/RiskAssessment/{id}?link=...``: the report in a browser, by signed link."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from intake import audit
from intake.report_links import verify_link
from intake.rest import root_url
from intake.routers.screening_report import REPORT_HEADERS, report_response
from intake.screening_report import choose_form, read_report
from shared.db import session_scope

# Not in the FHIR API's OpenAPI document: a browser link, not a FHIR interaction.
router = APIRouter(include_in_schema=False)


def _root(request: Request) -> str:
    return root_url(request)


@router.get("/reports/RiskAssessment/{resource_id}")
def linked_report(resource_id: str, request: Request, link: str | None = None) -> Response:
    grant = verify_link(
        request.app.state.signing_keys, link, root=_root(request), risk_assessment_id=resource_id
    )
    media_type = choose_form(request.headers.get("accept"))
    with session_scope() as session:
        form = read_report(session, resource_id, media_type)
        audit.record_access(
            session,
            client_id=grant.issued_to,
            interaction="read",
            resource_type="DiagnosticReport",
            resource_id=form.report_id,
            patients=[form.patient],
        )
    return report_response(form, {**REPORT_HEADERS, "Referrer-Policy": "no-referrer"})
