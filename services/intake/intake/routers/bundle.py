"""``POST /fhir``: batch and transaction Bundles of QuestionnaireResponse creates.

A ``batch`` stores each entry on its own (one failing entry does not stop the
others); a ``transaction`` stores all entries in one database transaction or
none of them, answering with the first failure's OperationOutcome.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from intake import conditional_create, refusals, responses
from intake.deps import Authenticated, PrincipalDep
from intake.fhir_response import FhirResponse
from intake.rest import base_url, require_json_body
from intake.smart.principals import Principal
from intake.validation import ValidatedResponse, validate_questionnaire_response
from intake.validation.document import json_syntax_issue
from shared.db import session_scope
from shared.fhir.outcome import BadRequest, FhirError, Issue, MethodNotAllowed

router = APIRouter(prefix="/fhir", dependencies=[Authenticated])

MAX_ENTRIES = 1000


@router.post("")
@router.post("/", include_in_schema=False)
async def process_bundle(request: Request, principal: PrincipalDep) -> FhirResponse:
    require_json_body(request)
    bundle = _parse_bundle(await request.body())
    base = base_url(request)
    if bundle["type"] == "transaction":
        reply = await run_in_threadpool(_transaction, bundle, base, principal)
    else:
        reply = await run_in_threadpool(_batch, bundle, base, principal)
    return FhirResponse(reply)


def _parse_bundle(body: bytes) -> dict[str, Any]:
    try:
        bundle = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest(issues=[json_syntax_issue(error)]) from None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BadRequest(
            issues=[Issue("structure", "POST to the base expects a Bundle", "Bundle.resourceType")]
        )
    if bundle.get("type") not in ("batch", "transaction"):
        raise BadRequest(
            issues=[Issue("value", "Bundle.type must be batch or transaction", "Bundle.type")]
        )
    entries = bundle.get("entry", [])
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise BadRequest(f"Bundle.entry must be a list of at most {MAX_ENTRIES} entries")
    return bundle


_ENTRY_INTERACTIONS = {"POST": "c", "PUT": "u", "PATCH": "u", "DELETE": "d"}


def _validate_entry(
    index: int, entry: Any, principal: Principal
) -> tuple[ValidatedResponse, str | None]:
    """Check one entry is a QuestionnaireResponse create the token allows; validate it."""
    where = f"Bundle.entry[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
        raise BadRequest(issues=[Issue("required", "Each entry needs a request", where)])
    request = entry["request"]
    method, url = request.get("method"), str(request.get("url", "")).split("?")[0]
    _check_scope(principal, method, url)
    if_none_exist = request.get("ifNoneExist")
    if method != "POST" or url.rstrip("/") != "QuestionnaireResponse":
        raise MethodNotAllowed(
            issues=[
                Issue(
                    "not-supported",
                    "Only POST QuestionnaireResponse entries are supported",
                    f"{where}.request",
                )
            ]
        )
    if if_none_exist is not None and not isinstance(if_none_exist, str):
        raise BadRequest(
            issues=[Issue("structure", "ifNoneExist must be a string", f"{where}.request")]
        )
    conditional_create.require_scopes(principal, if_none_exist)
    try:
        validated = validate_questionnaire_response(orjson.dumps(entry.get("resource")))
    except FhirError as error:
        error.issues = [_relocate(issue, f"{where}.resource") for issue in error.issues]
        raise
    return validated, if_none_exist


def _check_scope(principal: Principal, method: Any, url: str) -> None:
    """Each entry needs the scope its own interaction would need on its own (403 if not)."""
    resource_type, _, resource_id = url.strip("/").partition("/")
    if not resource_type[:1].isupper():
        return  # not a resource URL: refused as unsupported below
    if method == "GET":
        interaction = "r" if resource_id else "s"
    else:
        interaction = _ENTRY_INTERACTIONS.get(str(method), "c")
    principal.require(resource_type, interaction)


def _relocate(issue: Issue, prefix: str) -> Issue:
    if issue.expression and issue.expression.startswith("QuestionnaireResponse"):
        expression = prefix + issue.expression[len("QuestionnaireResponse") :]
    else:
        expression = issue.expression or prefix
    return Issue(issue.code, issue.diagnostics, expression, issue.severity)


def _entry_reply(
    outcome: responses.CreateOutcome, base: str, principal: Principal
) -> dict[str, Any]:
    if not conditional_create.shows_match(principal, outcome):
        return {
            "response": {
                "status": "200 OK",
                "outcome": conditional_create.existing_unreadable(),
            }
        }
    record = outcome.record
    location = f"{base}/QuestionnaireResponse/{record.id}/_history/{record.version_id}"
    return {
        "fullUrl": f"{base}/QuestionnaireResponse/{record.id}",
        "response": {
            "status": "201 Created" if outcome.created else "200 OK",
            "location": location,
            "etag": f'W/"{record.version_id}"',
            "lastModified": record.last_updated.isoformat(),
        },
    }


def _transaction(bundle: dict[str, Any], base: str, principal: Principal) -> dict[str, Any]:
    validated = [
        _validate_entry(i, entry, principal) for i, entry in enumerate(bundle.get("entry", []))
    ]
    with session_scope() as session:
        outcomes = []
        for response, if_none_exist in validated:
            outcome = responses.create_response(session, response, if_none_exist=if_none_exist)
            conditional_create.record_audit(session, principal, outcome, if_none_exist)
            outcomes.append(outcome)
    return {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [_entry_reply(outcome, base, principal) for outcome in outcomes],
    }


def _batch(bundle: dict[str, Any], base: str, principal: Principal) -> dict[str, Any]:
    replies = []
    for index, entry in enumerate(bundle.get("entry", [])):
        try:
            response, if_none_exist = _validate_entry(index, entry, principal)
            with session_scope() as session:
                outcome = responses.create_response(session, response, if_none_exist=if_none_exist)
                conditional_create.record_audit(session, principal, outcome, if_none_exist)
            replies.append(_entry_reply(outcome, base, principal))
        except FhirError as error:
            if error.status in refusals.AUDITED_STATUSES:
                refusals.record_refusal(principal.client_id, "batch", None, error)
            replies.append({"response": {"status": str(error.status), "outcome": error.outcome()}})
    return {"resourceType": "Bundle", "type": "batch-response", "entry": replies}
