"""``/cds-services``: NeuroScreen as a CDS Hooks 2.0 ``patient-view`` service.

Discovery, the hook and its feedback all need a JWT signed by a registered
EHR (:mod:`intake.cds.trust`), with ``aud`` the exact URL called. Bodies are
checked against the CDS Hooks models; a refusal names the failed member and
never echoes a value (``fhirAuthorization`` in particular is never logged or
returned). Feedback is stored, never written to the EHR.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from intake import audit
from intake.cds import card as cards
from intake.cds import screenings
from intake.cds.models import CDSHooksFeedback, CDSHooksRequest, Feedback
from intake.cds.trust import verify_caller
from intake.report_links import report_link
from intake.rest import base_url, root_url
from intake.validation.document import json_syntax_issue
from shared.config import Settings
from shared.db import session_scope
from shared.fhir.codes import CDS_OVERRIDE_REASON
from shared.fhir.outcome import BadRequest, NotFound

SERVICE_ID = "immune-neuropathy-screen"
DISCOVERY: dict[str, Any] = {
    "services": [
        {
            "hook": "patient-view",
            "id": SERVICE_ID,
            "title": "NeuroScreen immune-neuropathy screen",
            "description": (
                "Shows the patient's latest NeuroScreen screening for an immune-mediated "
                "neuropathy (tier, leading suspicion, the answers behind it, cited sources) "
                "and proposes its work-up as draft ServiceRequests. Decision support, not a "
                "diagnosis."
            ),
            "prefetch": {"patient": "Patient/{{context.patientId}}"},
        }
    ]
}
DOCUMENTATION = Path(__file__).resolve().parents[4] / "docs" / "screening.md"
"""The screen's documentation in a source checkout; deployments without it set
``NEUROSCREEN_CDS_DOCUMENTATION_URL`` to where they publish it."""
OVERRIDE_CODES = frozenset(reason["code"] for reason in cards.OVERRIDE_REASONS)

# Not in the FHIR API's OpenAPI document: CDS Hooks is its own specification.
router = APIRouter(prefix="/cds-services")
Body = TypeVar("Body", bound=BaseModel)


def cds_base(request: Request) -> str:
    """Where the EHR reaches ``/cds-services``: the public base (without ``/fhir``)."""
    return root_url(request)


async def _caller(request: Request, *audiences: str) -> str:
    state = request.app.state
    return await verify_caller(
        request.headers.get("authorization"),
        issuers=state.cds_issuers,
        audiences=audiences,
        replay=state.replay_store,
    )


@router.get("")
async def discovery(request: Request) -> JSONResponse:
    await _caller(request, f"{cds_base(request)}/cds-services")
    return JSONResponse(DISCOVERY)


@router.post(f"/{SERVICE_ID}")
async def patient_view(request: Request) -> JSONResponse:
    service_url = f"{cds_base(request)}/cds-services/{SERVICE_ID}"
    issuer = await _caller(request, service_url)
    hook = _parsed(CDSHooksRequest, await request.body())
    if hook.hook != "patient-view":
        raise BadRequest(f"This service answers patient-view, not {hook.hook[:40]!r}")
    try:
        patient = f"Patient/{hook.patient_view_context().patientId}"
    except ValidationError as error:
        raise BadRequest(_problems(error, "context")) from None
    settings: Settings = request.app.state.settings
    keys, root = request.app.state.signing_keys, cds_base(request)
    links = cards.CardLinks(
        fhir_base=base_url(request),
        documentation=settings.cds_documentation_url or f"{service_url}/documentation",
        report=lambda risk_id: report_link(
            keys,
            root=root,
            risk_assessment_id=risk_id,
            issued_to=issuer,
            lifetime=settings.report_link_seconds,
        ),
        report_minutes=max(1, settings.report_link_seconds // 60),
    )
    shown = await run_in_threadpool(_cards_for, patient, issuer, settings, links)
    return JSONResponse({"cards": shown})


def _cards_for(
    patient: str, issuer: str, settings: Settings, links: cards.CardLinks
) -> list[dict[str, Any]]:
    with session_scope() as session:
        screening = screenings.latest_screening(session, patient)
        if screening is None or not cards.shows_card(screening.tier, settings.alert_min_tier):
            return []
        screenings.record_card(session, screening.card_uuid, screening.response_id)
        audit.record_access(
            session,
            client_id=issuer,
            interaction="read",
            resource_type="RiskAssessment",
            resource_id=screening.risk_assessment["id"],
            patients=[patient],
        )
        return [cards.build_card(screening, links)]


@router.post(f"/{SERVICE_ID}/feedback")
async def feedback(request: Request) -> Response:
    service_url = f"{cds_base(request)}/cds-services/{SERVICE_ID}"
    issuer = await _caller(request, f"{service_url}/feedback", service_url)
    body = _parsed(CDSHooksFeedback, await request.body())
    await run_in_threadpool(_record, body.feedback, issuer)
    return Response(status_code=200)


def _record(entries: list[Feedback], issuer: str) -> None:
    with session_scope() as session:
        for entry in entries:
            card_uuid = str(entry.card)
            response_id = screenings.card_screening(session, card_uuid)
            if response_id is None:
                raise NotFound("No card with this uuid was shown by this service")
            screenings.record_feedback(
                session,
                card_uuid=card_uuid,
                response_id=response_id,
                outcome=entry.outcome,
                outcome_timestamp=entry.outcomeTimestamp,
                override_reason=_reason_code(entry),
                accepted_suggestions=len(entry.acceptedSuggestions or ()),
                issuer=issuer,
            )


def _reason_code(entry: Feedback) -> str | None:
    """One of the card's coded reasons, ``other`` for any other code; the comment is not kept."""
    reason = entry.overrideReason.reason if entry.overrideReason else None
    if reason is None:
        return None
    if reason.system == CDS_OVERRIDE_REASON and reason.code in OVERRIDE_CODES:
        return reason.code
    return "other"


@router.get(f"/{SERVICE_ID}/documentation")
def documentation() -> PlainTextResponse:
    """The screen's documentation (public, no patient data): the card's ``source.url``."""
    if not DOCUMENTATION.is_file():
        raise NotFound("The documentation is published at NEUROSCREEN_CDS_DOCUMENTATION_URL")
    return PlainTextResponse(DOCUMENTATION.read_text(), media_type="text/markdown")


def _parsed(model: type[Body], body: bytes) -> Body:
    try:
        return model.model_validate(orjson.loads(body))
    except orjson.JSONDecodeError as error:
        raise BadRequest(issues=[json_syntax_issue(error)]) from None
    except ValidationError as error:
        raise BadRequest(_problems(error)) from None


def _problems(error: ValidationError, prefix: str = "") -> str:
    """Which members failed and why, never their values (they may hold a token or PHI)."""
    parts = []
    for problem in error.errors(include_input=False, include_url=False)[:10]:
        where = ".".join(str(part) for part in (prefix, *problem["loc"]) if part != "")
        parts.append(f"{where or 'body'}: {problem['msg']}")
    return "Not a valid CDS Hooks body: " + "; ".join(parts)
