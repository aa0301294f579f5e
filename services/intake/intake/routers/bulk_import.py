"""``$import``: a backlog of QuestionnaireResponses as one streamed NDJSON body.

``POST /fhir/QuestionnaireResponse/$import`` with ``Content-Type: application/fhir+ndjson``
(needs ``system/QuestionnaireResponse.c``). The body is read as it arrives and stored a
batch at a time (:mod:`intake.backlog`), so memory stays flat whatever the file's size;
when it has all been read the answer is ``202`` with ``Content-Location`` to the job's
status (FHIR asynchronous pattern: screening of the backlog goes on, on the
``screening-bulk`` queue). The status (``202`` while the upload runs, then ``200``) is a
``Parameters`` with the counts and, if any line was refused, ``errorFile``: an NDJSON of
OperationOutcomes, one per refused line, each with its line number. A body past
``NEUROSCREEN_IMPORT_MAX_BYTES`` or ``_MAX_LINES`` is cut off there with ``413``; what
was stored before stays stored (a re-run skips it by identifier).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from intake.backlog import NdjsonLines, Prepared, commit_batch, prepare_batch
from intake.deps import PrincipalDep, SettingsDep
from intake.fhir_response import FhirResponse
from intake.rest import base_url
from shared.config import Settings
from shared.db import session_scope
from shared.fhir.outcome import (
    FhirError,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    information,
)
from shared.models import ImportJob, RefusedLine
from shared.models.base import utcnow

router = APIRouter(prefix="/fhir")

IMPORT_PATH = "/fhir/QuestionnaireResponse/$import"
STATUS_PATH = "/_async/import"
NDJSON_TYPES = ("application/fhir+ndjson", "application/ndjson", "application/x-ndjson")


@router.post("/QuestionnaireResponse/$import")
async def start(request: Request, principal: PrincipalDep, settings: SettingsDep) -> FhirResponse:
    principal.require("QuestionnaireResponse", "c")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in NDJSON_TYPES:
        raise UnsupportedMediaType("Send the backlog as Content-Type: application/fhir+ndjson")
    job_id = await run_in_threadpool(_open_job, principal.client_id)
    status_url = f"{base_url(request)}{STATUS_PATH}/{job_id}"
    try:
        received = await _read(request, settings, job_id)
    except FhirError as error:
        await run_in_threadpool(_close_job, job_id, "failed", str(error))
        error.headers["Content-Location"] = status_url
        raise
    except Exception:
        await run_in_threadpool(_close_job, job_id, "failed", "the upload broke off")
        raise
    job = await run_in_threadpool(_close_job, job_id, "completed", None, received)
    summary = (
        f"{job['lines']} lines read: {job['stored']} stored, {job['duplicates']} already "
        f"stored, {job['refused']} refused; screening runs on the backlog queue"
    )
    return FhirResponse(
        information(summary), status_code=202, headers={"Content-Location": status_url}
    )


async def _read(request: Request, settings: Settings, job_id: str) -> int:
    """Store the body's lines a batch at a time; returns the bytes read.

    Validating a batch (CPU, this process) overlaps with writing the previous one (the
    database): at most one write is in flight, so batches commit in order.
    """
    lines = NdjsonLines(settings.max_body_bytes)
    batch: list[tuple[int, bytes | None]] = []
    writing: asyncio.Future[None] | None = None
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > settings.import_max_bytes:
                raise PayloadTooLarge(
                    f"the import passed NEUROSCREEN_IMPORT_MAX_BYTES "
                    f"({settings.import_max_bytes} bytes) at line {lines.number + 1}; the "
                    "lines before it were processed"
                )
            for line in lines.feed(chunk):
                if line[0] > settings.import_max_lines:
                    raise PayloadTooLarge(
                        f"the import has more than NEUROSCREEN_IMPORT_MAX_LINES "
                        f"({settings.import_max_lines}) lines; the lines before it were processed"
                    )
                batch.append(line)
                if len(batch) >= settings.import_batch_size:
                    writing = await _hand_over(batch, settings, job_id, writing)
                    batch = []
        batch.extend(lines.close())
    finally:
        # Whatever stopped the reading, the lines read so far are stored.
        writing = await _hand_over(batch, settings, job_id, writing)
        if writing is not None:
            await writing
    return received


async def _hand_over(
    batch: list[tuple[int, bytes | None]],
    settings: Settings,
    job_id: str,
    writing: asyncio.Future[None] | None,
) -> asyncio.Future[None] | None:
    """Validate ``batch`` now, then start writing it once the previous write is done."""
    if not batch:
        return writing
    prepared = await run_in_threadpool(
        prepare_batch,
        batch,
        max_line_bytes=settings.max_body_bytes,
        screening_due_seconds=settings.import_screening_due_seconds,
    )
    if writing is not None:
        await writing
    return asyncio.ensure_future(run_in_threadpool(_commit, job_id, prepared))


def _commit(job_id: str, prepared: Prepared) -> None:
    with session_scope() as session:
        commit_batch(session, job_id, prepared)


@router.get(STATUS_PATH + "/{job_id}")
def status(job_id: str, request: Request, principal: PrincipalDep) -> FhirResponse:
    principal.require("QuestionnaireResponse", "c")
    with session_scope() as session:
        job = _job(session.get(ImportJob, job_id), job_id)
        values = _values(job)
    parameters: list[dict[str, Any]] = [
        {"name": "status", "valueCode": values["status"]},
        *({"name": k, "valueInteger": values[k]} for k in _COUNTS),
    ]
    if values["detail"]:
        parameters.append({"name": "detail", "valueString": values["detail"]})
    if values["refused"]:
        url = f"{base_url(request)}{STATUS_PATH}/{job_id}/errors"
        parameters.append({"name": "errorFile", "valueUrl": url})
    body = {"resourceType": "Parameters", "parameter": parameters}
    if values["status"] == "running":
        progress = f"{values['lines']} lines read, {values['stored']} stored"
        return FhirResponse(body, status_code=202, headers={"X-Progress": progress})
    return FhirResponse(body)


@router.get(STATUS_PATH + "/{job_id}/errors")
def errors(job_id: str, principal: PrincipalDep) -> StreamingResponse:
    """The refused lines' OperationOutcomes as NDJSON, by line number, streamed."""
    principal.require("QuestionnaireResponse", "c")
    with session_scope() as session:
        _job(session.get(ImportJob, job_id), job_id)
    return StreamingResponse(_error_lines(job_id), media_type="application/fhir+ndjson")


def _error_lines(job_id: str) -> Iterator[bytes]:
    last = 0
    while True:  # pages by line number: no transaction held across the whole file
        with session_scope() as session:
            page = session.execute(
                RefusedLine.__table__.select()
                .where(RefusedLine.job_id == job_id, RefusedLine.line > last)
                .order_by(RefusedLine.line)
                .limit(1000)
            ).all()
        if not page:
            return
        yield b"".join(row.outcome.encode() + b"\n" for row in page)
        last = page[-1].line


_COUNTS = ("lines", "stored", "duplicates", "refused", "bytes_read")


def _open_job(client_id: str) -> str:
    now = utcnow()
    job_id = str(uuid.uuid4())
    with session_scope() as session:
        session.add(
            ImportJob(
                id=job_id,
                status="running",
                lines=0,
                stored=0,
                duplicates=0,
                refused=0,
                bytes_read=0,
                client_id=client_id,
                created_at=now,
                updated_at=now,
            )
        )
    return job_id


def _close_job(
    job_id: str, status: str, detail: str | None, bytes_read: int | None = None
) -> dict[str, Any]:
    with session_scope() as session:
        job = session.get(ImportJob, job_id, with_for_update=True)
        assert job is not None  # opened by this request
        if bytes_read is not None:
            job.bytes_read = bytes_read
        job.status = status
        job.detail = detail
        job.finished_at = job.updated_at = utcnow()
        return _values(job)


def _values(job: ImportJob) -> dict[str, Any]:
    return {
        "status": job.status,
        "detail": job.detail,
        **{name: getattr(job, name) for name in _COUNTS},
    }


def _job(job: ImportJob | None, job_id: str) -> ImportJob:
    if job is None:
        raise NotFound(f"no import job {job_id[:64]}")
    return job
