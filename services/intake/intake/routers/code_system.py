"""``/fhir/CodeSystem``: the project's CodeSystems, so every code NeuroScreen emits resolves."""

from __future__ import annotations

from fastapi import APIRouter, Request

from intake.deps import Authenticated, allowed
from intake.fhir_response import FhirResponse
from intake.rest import searchset
from intake.search import SearchQuery
from shared.fhir.codesystems import CODE_SYSTEMS
from shared.fhir.outcome import NotFound

router = APIRouter(prefix="/fhir/CodeSystem", dependencies=[Authenticated])


@router.get("/{code_system_id}", dependencies=[allowed("CodeSystem", "r")])
def read(code_system_id: str) -> FhirResponse:
    if code_system_id not in CODE_SYSTEMS:
        raise NotFound(f"CodeSystem/{code_system_id} is not known")
    return FhirResponse(CODE_SYSTEMS[code_system_id])


@router.get("", dependencies=[allowed("CodeSystem", "s")])
def search(request: Request) -> FhirResponse:
    url = request.query_params.get("url")
    found = [cs for cs in CODE_SYSTEMS.values() if url in (None, cs["url"])]
    criteria = {"url": [url]} if url else {}
    query = SearchQuery(criteria=criteria, count=len(found))
    return searchset(request, "CodeSystem", found, len(found), query)
