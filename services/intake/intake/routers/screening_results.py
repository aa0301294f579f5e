"""``/fhir/{RiskAssessment|Observation|ServiceRequest}``: read and search screening output."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from intake import audit, screening_results
from intake.deps import Authenticated, PrincipalDep, allowed
from intake.fhir_response import FhirResponse, version_headers
from intake.rest import base_url, searchset, strict_handling
from intake.search import parse_search
from intake.smart.principals import Principal
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
        return FhirResponse(
            row.resource.encode(), headers=version_headers(row.version_id, row.last_updated)
        )

    return read


def _history(resource_type: str):  # noqa: ANN202 - FastAPI endpoint factory
    def history(resource_id: str, request: Request, principal: PrincipalDep) -> FhirResponse:
        with session_scope() as session:
            versions = screening_results.history(session, resource_type, resource_id)
            _audit_read(session, principal, resource_type, resource_id, versions[0])
        base = base_url(request)
        entries = [
            {
                "fullUrl": f"{base}/{resource_type}/{resource_id}",
                "resource": resource,
                "request": {
                    "method": "POST" if resource["meta"]["versionId"] == "1" else "PUT",
                    "url": resource_type
                    if resource["meta"]["versionId"] == "1"
                    else f"{resource_type}/{resource_id}",
                },
                "response": {"status": "201" if resource["meta"]["versionId"] == "1" else "200"},
            }
            for resource in versions
        ]
        bundle = {"resourceType": "Bundle", "type": "history", "total": len(entries)}
        return FhirResponse({**bundle, "entry": entries})

    return history


def _vread(resource_type: str):  # noqa: ANN202 - FastAPI endpoint factory
    def vread(resource_id: str, version_id: str, principal: PrincipalDep) -> FhirResponse:
        with session_scope() as session:
            resource, row = screening_results.version(
                session, resource_type, resource_id, version_id
            )
            _audit_read(session, principal, resource_type, resource_id, resource)
        return FhirResponse(resource, headers=version_headers(row.version_id, row.last_updated))

    return vread


def _audit_read(
    session: Session,
    principal: Principal,
    resource_type: str,
    resource_id: str,
    resource: dict[str, Any],
) -> None:
    """A history or version read is a read of the patient's data (BALP PatientRead)."""
    audit.record_access(
        session,
        client_id=principal.client_id,
        interaction="read",
        resource_type=resource_type,
        resource_id=resource_id,
        patients=[_subject(resource)],
    )


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
        f"/{_type}/{{resource_id}}/_history",
        _history(_type),
        methods=["GET"],
        dependencies=[allowed(_type, "r")],
    )
    router.add_api_route(
        f"/{_type}/{{resource_id}}/_history/{{version_id}}",
        _vread(_type),
        methods=["GET"],
        dependencies=[allowed(_type, "r")],
    )
    router.add_api_route(
        f"/{_type}/{{resource_id}}",
        _read(_type),
        methods=["GET"],
        dependencies=[allowed(_type, "r")],
    )
    router.add_api_route(
        f"/{_type}", _search(_type), methods=["GET"], dependencies=[allowed(_type, "s")]
    )
