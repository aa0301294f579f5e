"""``/fhir/{RiskAssessment|Observation|ServiceRequest}``: read and search screening output."""

from __future__ import annotations

from fastapi import APIRouter, Request

from intake import screening_results
from intake.deps import Authenticated
from intake.fhir_response import FhirResponse, version_headers
from intake.rest import searchset, strict_handling
from intake.search import parse_search
from shared.db import session_scope

router = APIRouter(prefix="/fhir", dependencies=[Authenticated])


def _read(resource_type: str):  # noqa: ANN202 - FastAPI endpoint factory
    def read(resource_id: str) -> FhirResponse:
        with session_scope() as session:
            row = screening_results.read_derived(session, resource_type, resource_id)
        return FhirResponse(row.resource.encode(), headers=version_headers(1, row.last_updated))

    return read


def _search(resource_type: str):  # noqa: ANN202 - FastAPI endpoint factory
    def search(request: Request) -> FhirResponse:
        query = parse_search(
            list(request.query_params.multi_items()),
            screening_results.SEARCH_PARAMETERS[resource_type],
            strict=strict_handling(request),
        )
        with session_scope() as session:
            resources, total, included = screening_results.search_derived(
                session, resource_type, query
            )
        return searchset(request, resource_type, resources, total, query, included)

    return search


for _type in screening_results.SEARCH_PARAMETERS:
    router.add_api_route(f"/{_type}/{{resource_id}}", _read(_type), methods=["GET"])
    router.add_api_route(f"/{_type}", _search(_type), methods=["GET"])
