"""``GET /fhir/metadata``: the CapabilityStatement (no token needed)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from intake.capability import capability_statement
from intake.fhir_response import FhirResponse
from intake.rest import base_url

router = APIRouter(prefix="/fhir")


@router.get("/metadata")
def metadata(request: Request) -> FhirResponse:
    return FhirResponse(capability_statement(base_url(request), request.app.state.derived_search))
