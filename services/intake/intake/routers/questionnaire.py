"""``/fhir/Questionnaire``: the screening Questionnaire, by id or by canonical URL."""

from __future__ import annotations

from fastapi import APIRouter, Request

from intake.deps import Authenticated, allowed
from intake.fhir_response import FhirResponse
from intake.questionnaire import CANONICAL, SCREENING_QUESTIONNAIRE, VERSION
from intake.rest import searchset
from intake.search import SearchQuery
from shared.fhir.outcome import NotFound

router = APIRouter(prefix="/fhir/Questionnaire", dependencies=[Authenticated])


@router.get("/{questionnaire_id}", dependencies=[allowed("Questionnaire", "r")])
def read(questionnaire_id: str) -> FhirResponse:
    if questionnaire_id != SCREENING_QUESTIONNAIRE["id"]:
        raise NotFound(f"Questionnaire/{questionnaire_id} is not known")
    return FhirResponse(SCREENING_QUESTIONNAIRE)


@router.get("", dependencies=[allowed("Questionnaire", "s")])
def search(request: Request) -> FhirResponse:
    url = request.query_params.get("url")
    version = request.query_params.get("version")
    if url and "|" in url:
        url, _, version = url.partition("|")
    matches = (url in (None, CANONICAL)) and (version in (None, VERSION))
    found = [SCREENING_QUESTIONNAIRE] if matches else []
    criteria = {k: [v] for k, v in (("url", url), ("version", version)) if v}
    return searchset(request, "Questionnaire", found, len(found), SearchQuery(criteria=criteria))
