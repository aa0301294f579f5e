"""One place that renders every failure as an OperationOutcome with its status."""

from __future__ import annotations

import logging

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from intake.fhir_response import FhirResponse
from intake.refusals import AUDITED_STATUSES, audit_refusal
from shared.fhir.outcome import Conflict, FhirError, Issue, Unprocessable, operation_outcome

log = logging.getLogger("neuroscreen.intake")

_HTTP_CODES = {404: "not-found", 405: "not-supported", 406: "not-supported"}


async def _fhir_error(request: Request, exc: Exception) -> FhirResponse:
    assert isinstance(exc, FhirError)
    if exc.status in AUDITED_STATUSES:
        await audit_refusal(request, exc)
    return FhirResponse(exc.outcome(), status_code=exc.status, headers=exc.headers)


async def _http_error(request: Request, exc: Exception) -> FhirResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "processing")
    text = {
        404: f"No such resource type or interaction: {request.method} {request.url.path}",
        405: f"{request.method} is not supported on {request.url.path}",
    }.get(exc.status_code, str(exc.detail))
    return FhirResponse(
        operation_outcome([Issue(code=code, diagnostics=text)]),
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _validation_error(_request: Request, exc: Exception) -> FhirResponse:
    assert isinstance(exc, RequestValidationError)
    issues = [
        Issue(code="invalid", diagnostics=f"{'.'.join(map(str, e['loc']))}: {e['msg']}")
        for e in exc.errors()
    ]
    return FhirResponse(operation_outcome(issues), status_code=400)


async def _database_unavailable(_request: Request, exc: Exception) -> FhirResponse:
    # Never a 201 we cannot keep: without the database nothing is accepted.
    log.error("database unavailable", extra={"error": type(exc).__name__})
    outcome = operation_outcome(
        [Issue(code="transient", diagnostics="Storage is temporarily unavailable; retry later")]
    )
    return FhirResponse(outcome, status_code=503, headers={"Retry-After": "5"})


async def _database_refused(request: Request, exc: Exception) -> FhirResponse:
    # A value the database will not keep (too long, NUL, a broken constraint) is the
    # request's fault: a 503 would make the EHR retry it forever and page on-call. The
    # driver's message may quote the value (PHI): only the error's type is logged.
    log.warning("database refused a value", extra={"error": type(exc).__name__})
    if isinstance(exc, IntegrityError | psycopg.IntegrityError):
        error: FhirError = Conflict("The request conflicts with stored data and was not kept")
    else:
        error = Unprocessable(
            issues=[Issue("invalid", "A value is too long or holds characters that cannot be kept")]
        )
    return await _fhir_error(request, error)


async def _unexpected(_request: Request, exc: Exception) -> FhirResponse:
    log.error("unexpected error", extra={"error": type(exc).__name__}, exc_info=exc)
    outcome = operation_outcome([Issue(code="exception", diagnostics="Internal server error")])
    return FhirResponse(outcome, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(FhirError, _fhir_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # psycopg.Error: errors from psycopg itself, outside SQLAlchemy (the create path on PostgreSQL).
    for db_error in (OperationalError, PoolTimeout, DBAPIError, psycopg.Error):
        app.add_exception_handler(db_error, _database_unavailable)
    # More specific than DBAPIError/psycopg.Error above: handlers are looked up by the MRO.
    for refusal in (DataError, IntegrityError, psycopg.DataError, psycopg.IntegrityError):
        app.add_exception_handler(refusal, _database_refused)
    app.add_exception_handler(Exception, _unexpected)
