"""``GET /fhir/openapi.json``: an OpenAPI 3 document of every endpoint the intake serves.

FastAPI lists the routes; this module adds what it cannot see in handlers that
read raw FHIR JSON: request and response bodies (``openapi_schemas``), search
parameters, the error responses and the security schemes (SMART Backend
Services, and the static bearer tokens of ``make run``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from starlette.responses import JSONResponse

from intake import responses, screening_results
from intake.cds.models import CDSHooksFeedback, CDSHooksRequest, CDSHooksResponse, CDSHooksServices
from intake.openapi_schemas import FHIR_JSON, SCHEMAS, ref
from intake.routers import audit_event
from intake.routers.smart import TOKEN_PATH

_OPEN = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/fhir/metadata",
    "/fhir/openapi.json",
    "/fhir/.well-known/smart-configuration",
    "/fhir/.well-known/jwks.json",
    "/fhir" + TOKEN_PATH,
}
_ERRORS = {
    "400": "Not FHIR JSON, or a bad search parameter",
    "401": "Missing, expired or invalid token (WWW-Authenticate: Bearer error=invalid_token)",
    "403": "The token's scopes do not cover the interaction (error=insufficient_scope)",
    "404": "Not found",
    "429": "Over the client's rate limit (Retry-After)",
}
_SEARCH = {
    "/fhir/QuestionnaireResponse": responses.SEARCH_PARAMETERS,
    "/fhir/AuditEvent": audit_event.SEARCH_PARAMETERS,
    **{f"/fhir/{kind}": params for kind, params in screening_results.SEARCH_PARAMETERS.items()},
}
_RESULT_PARAMETERS = ("_count", "_offset", "_lastUpdated", "_include")
_CDS = "/cds-services"
_PLAIN = "application/json"
"""CDS Hooks bodies are plain JSON, not FHIR resources."""
_CDS_MODELS = (CDSHooksServices, CDSHooksRequest, CDSHooksResponse, CDSHooksFeedback)


def install_openapi(app: FastAPI) -> None:
    document: dict[str, Any] = {}

    @app.get("/fhir/openapi.json", include_in_schema=True)
    def openapi(request: Request) -> JSONResponse:
        if not document:
            document.update(build_document(app))
        return JSONResponse(document)


def build_document(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title="NeuroScreen intake FHIR API",
        version=app.version,
        description="FHIR R4 intake of screening QuestionnaireResponses (see README.md).",
        routes=app.routes,
    )
    document["servers"] = [{"url": "/"}]
    components = document.setdefault("components", {})
    components["schemas"] = {**components.get("schemas", {}), **SCHEMAS}
    components["securitySchemes"] = {
        "smart": {
            "type": "oauth2",
            "description": "SMART Backend Services (private_key_jwt client assertion)",
            "flows": {"clientCredentials": {"tokenUrl": "/fhir" + TOKEN_PATH, "scopes": {}}},
        },
        "bearer": {"type": "http", "scheme": "bearer"},
        "cdsHooksJwt": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "CDS Hooks 2.0: a JWT the EHR signs (ES384/RS384), aud = the URL called",
        },
    }
    for model in _CDS_MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components["schemas"].update(schema.pop("$defs", {}))
        components["schemas"][model.__name__] = schema
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            _describe(path, method, operation)
    return document


def _describe(path: str, method: str, operation: dict[str, Any]) -> None:
    if path.startswith(_CDS):
        _describe_cds_hooks(path, method, operation)
        return
    resource_type = path.removeprefix("/fhir/").split("/")[0]
    is_read = "{" in path
    if path == "/fhir" + TOKEN_PATH:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": ref("TokenRequest")}},
        }
        operation["responses"] = {
            "200": _json("Access token", ref("TokenResponse"), "application/json"),
            "400": _json("Refused (invalid_client, ...)", ref("OAuthError"), "application/json"),
            "429": _json("Too many token requests", ref("OAuthError"), "application/json"),
        }
        return
    if path in _OPEN:
        operation.setdefault("security", [])
        if path == "/fhir/metadata":
            operation["responses"] = {"200": _json("Capabilities", ref("CapabilityStatement"))}
        return
    operation["security"] = [{"smart": []}, {"bearer": []}]
    answers: dict[str, Any] = {}
    if path.endswith("$import"):
        # The body is NDJSON (application/fhir+ndjson, one QuestionnaireResponse a line),
        # which OpenAPI 3.0 cannot describe as a schema: see the description.
        operation["description"] = (
            "Body: Content-Type application/fhir+ndjson, one QuestionnaireResponse per "
            "line, streamed (chunked is fine). See README, Re-screening and backlog import."
        )
        answers["202"] = _json(
            "Stored; Content-Location is the job's status", ref("OperationOutcome")
        )
        answers["413"] = _json("Past the import's size or line limit", ref("OperationOutcome"))
        answers["415"] = _json("Not NDJSON", ref("OperationOutcome"))
    elif path.endswith("/errors"):
        answers["200"] = {
            "description": "One OperationOutcome per refused line",
            "content": {"application/fhir+ndjson": {"schema": {"type": "string"}}},
        }
    elif "$rescreen" in path or "/_async/" in path:
        _describe_rescreen(method, operation, answers)
    elif "/_history" in path:
        answers["200"] = _json(
            "A version" if path.endswith("{version_id}") else "History Bundle, newest first",
            ref(resource_type) if path.endswith("{version_id}") else ref("Bundle"),
        )
    elif method == "post":
        schema = ref("Bundle") if path == "/fhir" else ref(resource_type)
        operation["requestBody"] = {
            "required": True,
            "content": {FHIR_JSON: {"schema": schema}, "application/json": {"schema": schema}},
        }
        answers["200"] = _json("Transaction or batch response, or an existing match", schema)
        if path != "/fhir":
            answers["201"] = _json("Created", schema)
        answers["412"] = _json("If-None-Exist matched several", ref("OperationOutcome"))
        answers["413"] = _json("Body too large", ref("OperationOutcome"))
        answers["415"] = _json("Not FHIR JSON", ref("OperationOutcome"))
        answers["422"] = _json("Breaks the screening Questionnaire", ref("OperationOutcome"))
    elif is_read:
        answers["200"] = _json(resource_type, ref(resource_type))
    else:
        answers["200"] = _json(f"Searchset Bundle of {resource_type}", ref("Bundle"))
        operation["parameters"] = _search_parameters(path)
    for status, text in _ERRORS.items():
        answers[status] = _json(text, ref("OperationOutcome"))
    operation["responses"] = answers


def _describe_rescreen(method: str, operation: dict[str, Any], answers: dict[str, Any]) -> None:
    """``$rescreen`` (admin scope) and its asynchronous status URL."""
    if method == "post":
        schema = ref("Parameters")
        operation["requestBody"] = {
            "required": True,
            "content": {FHIR_JSON: {"schema": schema}, "application/json": {"schema": schema}},
        }
        answers["202"] = _json(
            "Started; Content-Location is the status URL", ref("OperationOutcome")
        )
        answers["415"] = _json("Not FHIR JSON", ref("OperationOutcome"))
    elif method == "get":
        answers["200"] = _json("The run ended: its report", ref("Parameters"))
        answers["202"] = _json("Running (X-Progress): progress so far", ref("Parameters"))
    else:
        answers["202"] = _json("Cancelled", ref("OperationOutcome"))


def _search_parameters(path: str) -> list[dict[str, Any]]:
    names = [*_SEARCH.get(path, {}), *_RESULT_PARAMETERS]
    return [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in names
    ]


def _json(description: str, schema: dict[str, Any], media_type: str = FHIR_JSON) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": schema}}}


def _describe_cds_hooks(path: str, method: str, operation: dict[str, Any]) -> None:
    """The CDS Hooks service beside ``/fhir``: plain JSON bodies, the EHR's JWT."""
    if path.endswith("/documentation"):
        operation["security"] = []
        operation["responses"] = {
            "200": {"description": "The screen's documentation (markdown)"},
            "404": _json("Published elsewhere", ref("OperationOutcome")),
        }
        return
    operation["security"] = [{"cdsHooksJwt": []}]
    answers: dict[str, Any]
    if path == _CDS:
        answers = {"200": _json("Discovery", ref("CDSHooksServices"), _PLAIN)}
    elif path.endswith("/feedback"):
        operation["requestBody"] = _json_body(ref("CDSHooksFeedback"))
        answers = {
            "200": {"description": "Feedback stored"},
            "404": _json("No card with this uuid was shown", ref("OperationOutcome")),
        }
    else:
        operation["requestBody"] = _json_body(ref("CDSHooksRequest"))
        answers = {
            "200": _json("Cards (none below the alert tier)", ref("CDSHooksResponse"), _PLAIN),
            "400": _json("Not a patient-view request", ref("OperationOutcome")),
        }
    answers["401"] = _json("No, or a bad, EHR JWT", ref("OperationOutcome"))
    operation["responses"] = answers


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {_PLAIN: {"schema": schema}}}
