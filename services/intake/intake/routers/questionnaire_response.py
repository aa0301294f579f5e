"""``/fhir/QuestionnaireResponse``: create (conditional), read and search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from sqlalchemy.orm import Session

from intake import audit, conditional_create, responses
from intake.deps import Authenticated, PrincipalDep, StoreDep, allowed
from intake.fhir_response import FhirResponse, version_headers
from intake.rest import (
    base_url,
    require_json_body,
    searchset,
    strict_handling,
    write_response,
)
from intake.search import parse_search
from intake.validation import validate_questionnaire_response
from shared.db import session_scope
from shared.models import Delivery, QuestionnaireResponseRecord

router = APIRouter(prefix="/fhir/QuestionnaireResponse", dependencies=[Authenticated])


@router.post("", status_code=201)
async def create(
    request: Request,
    principal: PrincipalDep,
    store: StoreDep,
    if_none_exist: Annotated[str | None, Header(alias="If-None-Exist")] = None,
) -> FhirResponse:
    conditional_create.require_scopes(principal, if_none_exist)
    require_json_body(request)
    validated = validate_questionnaire_response(await request.body())
    outcome = await store.create(validated, principal=principal, if_none_exist=if_none_exist)
    if not conditional_create.shows_match(principal, outcome):
        return FhirResponse(conditional_create.existing_unreadable(), status_code=200)
    record = outcome.record
    location = f"{base_url(request)}/QuestionnaireResponse/{record.id}/_history/{record.version_id}"
    return write_response(
        request,
        responses.served_resource(record, resource=outcome.resource),
        status=201 if outcome.created else 200,
        location=location,
        version_id=record.version_id,
        last_updated=record.last_updated,
        message="Stored and queued for screening" if outcome.created else "Already stored",
    )


@router.get("/{response_id}", dependencies=[allowed("QuestionnaireResponse", "r")])
def read(response_id: str, principal: PrincipalDep) -> FhirResponse:
    with session_scope() as session:
        record = responses.read_response(session, response_id)
        _audit(session, principal.client_id, "read", [record], record.id)
        delivery = session.get(Delivery, response_id)
        resource = responses.served_resource(record, delivery)
    return FhirResponse(resource, headers=version_headers(record.version_id, record.last_updated))


@router.get("", dependencies=[allowed("QuestionnaireResponse", "s")])
def search(request: Request, principal: PrincipalDep) -> FhirResponse:
    query = parse_search(
        list(request.query_params.multi_items()),
        responses.SEARCH_PARAMETERS,
        strict=strict_handling(request),
    )
    with session_scope() as session:
        records, total = responses.search_responses(session, query)
        _audit(session, principal.client_id, "search-type", records, None, request)
        resources = [responses.served_resource(r) for r in records]
    return searchset(request, "QuestionnaireResponse", resources, total, query)


def _audit(
    session: Session,
    client_id: str,
    interaction: str,
    records: list[QuestionnaireResponseRecord],
    resource_id: str | None,
    request: Request | None = None,
) -> None:
    audit.record_access(
        session,
        client_id=client_id,
        interaction=interaction,
        resource_type="QuestionnaireResponse",
        resource_id=resource_id,
        patients=[r.patient for r in records] or [None],
        parameters=request.query_params.keys() if request else (),
    )
