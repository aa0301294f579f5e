"""From request bytes to a JSON object that claims to be a QuestionnaireResponse.

Everything here is a 400: the body is not JSON, not an object, not a
QuestionnaireResponse, or nested deeper than any response to our
Questionnaire can be. The nesting limit protects the recursive validators
behind this step (ours and pydantic's) from hostile input. Checking it costs
nothing on the common path: the fast structural check counts depth as it
walks and fails over to :func:`deeper_than` (an explicit, iterative walk) only
for the rare resource it cannot vouch for.
"""

from __future__ import annotations

from typing import Any

import orjson

from shared.fhir.outcome import BadRequest, Issue

RESOURCE_TYPE = "QuestionnaireResponse"
MAX_DEPTH = 32
"""Deepest JSON nesting accepted; a nested response to our Questionnaire needs about 8."""


def parse_document(body: bytes) -> dict[str, Any]:
    """Parse ``body`` and check it is a JSON object with our resourceType."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest(issues=[json_syntax_issue(error)]) from None
    if not isinstance(document, dict):
        raise BadRequest(
            issues=[Issue("structure", "The request body must be a JSON object (a FHIR resource)")]
        )
    resource_type = document.get("resourceType")
    if resource_type != RESOURCE_TYPE:
        rule = "is missing" if resource_type is None else f"must be {RESOURCE_TYPE}"
        raise BadRequest(
            issues=[Issue("structure", f"resourceType {rule}", f"{RESOURCE_TYPE}.resourceType")]
        )
    return document


def json_syntax_issue(error: orjson.JSONDecodeError) -> Issue:
    """Where the body stops being JSON, so the sender can find it: "line 3, column 17".

    orjson's reason names the JSON rule broken, never the text around it, so
    nothing the sender wrote is echoed back.
    """
    # orjson refuses nesting past 1024 levels with the same exception.
    if "recursion" in error.msg or "depth" in error.msg:
        return Issue("structure", "The request body is nested too deeply")
    return Issue(
        "structure",
        f"The request body is not valid JSON: {error.msg} at line {error.lineno}, "
        f"column {error.colno}",
    )


def deeper_than(document: Any, limit: int) -> bool:
    """True if ``document`` nests containers more than ``limit`` levels deep.

    Iterative, so that a hostile document cannot exhaust the Python stack here.
    """
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def too_deep_issue() -> Issue:
    return Issue(
        "structure",
        f"The resource is nested more than {MAX_DEPTH} levels deep",
        RESOURCE_TYPE,
    )
