"""``$rescreen``: re-screen stored responses under a knowledge version (admin scope).

FHIR asynchronous request pattern: ``POST /fhir/QuestionnaireResponse/$rescreen`` answers
``202`` with ``Content-Location`` to the run's status URL; ``GET`` there is ``202`` with
``X-Progress`` while it runs and ``200`` with the report once it ended; ``DELETE`` cancels
it (``202``); a run that could not start (a knowledge version the screening workers do
not have) is ``400`` with the OperationOutcome. The batches run on the ``screening-bulk``
queue (:mod:`screening.rescreen`); this service only creates, reads and cancels runs.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from intake.deps import PrincipalDep
from intake.fhir_response import FhirResponse
from intake.rescreen_operation import parse_request, progress_header, status_parameters
from intake.rest import base_url, require_json_body
from shared.db import session_scope
from shared.fhir.outcome import BadRequest, NotFound, information
from shared.models import RescreenRun, RunStatus
from shared.rescreen import cancel_run, create_run, report
from shared.trust.scopes import ADMIN_SCOPE

router = APIRouter(prefix="/fhir")

STATUS_PATH = "/_async/rescreen"


@router.post("/QuestionnaireResponse/$rescreen")
async def start(request: Request, principal: PrincipalDep) -> FhirResponse:
    principal.require_scope(ADMIN_SCOPE)
    require_json_body(request)
    wanted = parse_request(await request.body())
    with session_scope() as session:
        run = create_run(
            session,
            wanted.knowledge_version,
            since=wanted.since,
            until=wanted.until,
            dry_run=wanted.dry_run,
        )
        run_id, total = run.id, run.total
    kind = "dry run" if wanted.dry_run else "apply"
    return FhirResponse(
        information(f"re-screening {kind} of {total} responses started"),
        status_code=202,
        headers={"Content-Location": f"{base_url(request)}{STATUS_PATH}/{run_id}"},
    )


@router.get(STATUS_PATH + "/{run_id}")
def status(run_id: str, principal: PrincipalDep) -> FhirResponse:
    principal.require_scope(ADMIN_SCOPE)
    with session_scope() as session:
        run = _run(session.get(RescreenRun, run_id), run_id)
        if run.status == RunStatus.FAILED:
            raise BadRequest(run.detail or "the re-screening run could not start")
        result = report(session, run)
    if run.status == RunStatus.RUNNING:
        return FhirResponse(
            status_parameters(result),
            status_code=202,
            headers={"X-Progress": progress_header(result), "Retry-After": "2"},
        )
    return FhirResponse(status_parameters(result))


@router.delete(STATUS_PATH + "/{run_id}")
def cancel(run_id: str, principal: PrincipalDep) -> FhirResponse:
    principal.require_scope(ADMIN_SCOPE)
    with session_scope() as session:
        run = _run(cancel_run(session, run_id), run_id)
        text = f"re-screening run {run.status}: {run.done} of {run.total} done"
    return FhirResponse(information(text), status_code=202)


def _run(run: RescreenRun | None, run_id: str) -> RescreenRun:
    if run is None:
        raise NotFound(f"no re-screening run {run_id[:64]}")
    return run
