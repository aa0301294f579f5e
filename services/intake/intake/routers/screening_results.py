"""``/fhir/{RiskAssessment|Observation|ServiceRequest}``: read and search screening output."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from intake import audit, screening_results
from intake.deps import Authenticated, PrincipalDep, allowed
from intake.fhir_response import FhirResponse, version_headers
from intake.rest import searchset, strict_handling
from intake.search import parse_search
from shared.db import session_scope

router = APIRouter(prefix="/fhir", dependencies=[Authenticated])

INCLUDE_TARGETS = {"RiskAssessment:basis": ("QuestionnaireResponse", "Observation")}
"""What each ``_include`` returns: the client needs read access to each of these types."""


def _read(resource_type: str):  # noqa: ANN202 - FastAPI endpoint factory
    def read(resource_id: str, principal: PrincipalDep) -> FhirResponse:
        with session_scope() as session:
            row = screening_results.read_derived(session, resource_type, resource_id)
            audit.record_access(
                session,
                client_id=principal.client_id,
                interaction="read",
                resource_type=resource_type,
                resource_id=resource_id,
                patients=[row.patient],
            )
        return FhirResponse(row.resource.encode(), headers=version_headers(1, row.last_updated))

    return read


def _search(resource_type: str):  # noqa: ANN202 - FastAPI endpoint factory
    def search(request: Request, principal: PrincipalDep) -> FhirResponse:
        query = parse_search(
            list(request.query_params.multi_items()),
            screening_results.SEARCH_PARAMETERS[resource_type],
            strict=strict_handling(request),
        )
        for include in query.include:
            for target in INCLUDE_TARGETS.get(include, ()):
                principal.require(target, "r")
        with session_scope() as session:
            resources, total, included = screening_results.search_derived(
                session, resource_type, query
            )
            audit.record_access(
                session,
                client_id=principal.client_id,
                interaction="search-type",
                resource_type=resource_type,
                patients=[_subject(r) for r in resources] or [None],
                parameters=request.query_params.keys(),
            )
        return searchset(request, resource_type, resources, total, query, included)

    return search


def _subject(resource: dict[str, Any]) -> str | None:
    return (resource.get("subject") or {}).get("reference")


for _type in screening_results.SEARCH_PARAMETERS:
    router.add_api_route(
        f"/{_type}/{{resource_id}}",
        _read(_type),
        methods=["GET"],
        dependencies=[allowed(_type, "r")],
    )
    router.add_api_route(
        f"/{_type}", _search(_type), methods=["GET"], dependencies=[allowed(_type, "s")]
    )
