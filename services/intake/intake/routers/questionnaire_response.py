"""``/fhir/QuestionnaireResponse``: create (conditional), read and search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from starlette.concurrency import run_in_threadpool

from intake import responses
from intake.deps import Authenticated
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
from shared.models import Delivery

router = APIRouter(prefix="/fhir/QuestionnaireResponse", dependencies=[Authenticated])


@router.post("", status_code=201)
async def create(
    request: Request,
    if_none_exist: Annotated[str | None, Header(alias="If-None-Exist")] = None,
) -> FhirResponse:
    require_json_body(request)
    body = await request.body()
    committer = request.app.state.group_commit
    if committer is not None and not if_none_exist:
        # The hot path: validation (~0.1 ms) in the event loop, the insert in a group commit.
        validated = validate_questionnaire_response(body)
        outcome = await responses.create_response_grouped(committer, validated)
    else:

        def store() -> responses.CreateOutcome:
            validated = validate_questionnaire_response(body)
            with session_scope() as session:
                return responses.create_response(session, validated, if_none_exist=if_none_exist)

        outcome = await run_in_threadpool(store)
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


@router.get("/{response_id}")
def read(response_id: str) -> FhirResponse:
    with session_scope() as session:
        record = responses.read_response(session, response_id)
        delivery = session.get(Delivery, response_id)
        resource = responses.served_resource(record, delivery)
    return FhirResponse(resource, headers=version_headers(record.version_id, record.last_updated))


@router.get("")
def search(request: Request) -> FhirResponse:
    query = parse_search(
        list(request.query_params.multi_items()),
        responses.SEARCH_PARAMETERS,
        strict=strict_handling(request),
    )
    with session_scope() as session:
        records, total = responses.search_responses(session, query)
        resources = [responses.served_resource(r) for r in records]
    return searchset(request, "QuestionnaireResponse", resources, total, query)
