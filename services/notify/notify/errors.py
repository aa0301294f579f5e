"""The admin API's failures as OperationOutcomes, like the intake's.

A refused token (401/403 with its ``WWW-Authenticate``), an unknown delivery
(404), a bad query (400) and an unexpected error (500) all answer
``application/fhir+json`` with one issue; the console's pages render their own
refusals as HTML and never reach these handlers.
"""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from shared.fhir.outcome import Issue, operation_outcome

log = logging.getLogger("neuroscreen.notify")

_CODES = {401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported"}


def _outcome(issues: list[Issue], status: int, headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps(operation_outcome(issues))
    return Response(body, status, headers=headers, media_type="application/fhir+json")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    text = str(exc.detail)
    if exc.status_code == 404 and text == "Not Found":
        text = f"No such admin resource: {request.method} {request.url.path}"
    code = _CODES.get(exc.status_code, "processing")
    return _outcome([Issue(code=code, diagnostics=text)], exc.status_code, exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    issues = [
        Issue(code="invalid", diagnostics=f"{'.'.join(map(str, e['loc']))}: {e['msg']}")
        for e in exc.errors()
    ]
    return _outcome(issues, 400)


async def _unexpected(_request: Request, exc: Exception) -> Response:
    log.error("unexpected error", extra={"error": type(exc).__name__}, exc_info=exc)
    return _outcome([Issue(code="exception", diagnostics="Internal server error")], 500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
