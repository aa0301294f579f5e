"""Is the resource valid FHIR R4? fhir.resources decides, the fast path answers first.

The verdict is exactly fhir.resources' (``R4B`` models, identical to R4 for
QuestionnaireResponse): :func:`structural_issues` returns no issues if and
only if ``QuestionnaireResponse.model_validate`` accepts the resource. The
fast path (:mod:`.fast_path`) may only say "certainly valid"; everything else
goes to the library, whose errors become issues here.

Diagnostics are written from pydantic's error *type*, never from its message
or input, so no answer value, name or identifier can leak into an
OperationOutcome.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from intake.validation.document import MAX_DEPTH, RESOURCE_TYPE, deeper_than, too_deep_issue
from intake.validation.fast_path import fully_understood
from shared.fhir.outcome import Issue

logger = logging.getLogger(__name__)

_ELEMENT_NAME = re.compile(r"_?[A-Za-z][A-Za-z0-9]*")
_DATE_TIME_RULE = ("value", "is not a valid FHIR date, dateTime, instant or time")
_RULES: dict[str, tuple[str, str]] = {
    "extra_forbidden": ("structure", "is not an element of this FHIR R4 type"),
    "missing": ("required", "is required"),
    "model_field_validation.missing": ("required", "is required"),
    "string_type": ("structure", "must be a JSON string"),
    "bool_type": ("structure", "must be a JSON boolean"),
    "bool_parsing": ("structure", "must be a JSON boolean"),
    "int_type": ("structure", "must be a JSON integer"),
    "int_parsing": ("structure", "must be a JSON integer"),
    "int_from_float": ("structure", "must be a JSON integer"),
    "less_than_equal": ("value", "is out of range for its FHIR type"),
    "greater_than_equal": ("value", "is out of range for its FHIR type"),
    "string_pattern_mismatch": ("value", "does not match the format of its FHIR type"),
    "string_too_short": ("value", "must not be empty"),
    "string_too_long": ("value", "is too long for its FHIR type"),
    "list_type": ("structure", "must be a JSON array of elements (no nulls)"),
    "dict_type": ("structure", "must be a JSON object"),
    "model_type": ("structure", "must be a JSON object"),
    "model_attributes_type": ("structure", "must be a JSON object"),
    "json_invalid": ("structure", "must be a JSON object"),
    "json_type": ("structure", "must be a JSON object"),
    "model_validation_format": ("structure", "has the wrong shape for its FHIR type"),
    "fhir-validation-wrong-resource-type": ("structure", "names the wrong resourceType"),
}


def structural_issues(resource: dict[str, Any]) -> list[Issue]:
    """Every FHIR R4 structure problem of ``resource`` (empty if it is valid)."""
    if fully_understood(resource):
        return []
    if deeper_than(resource, MAX_DEPTH):
        return [too_deep_issue()]
    try:
        QuestionnaireResponse.model_validate(resource)
    except ValidationError as error:
        return _deduplicated(_issue(detail) for detail in error.errors())
    except Exception as error:  # the library itself failed on hostile input
        # fhir.resources 8.3.0 raises KeyError for e.g. an unknown contained resourceType.
        # Only the exception type is logged: its message may quote the sender's content.
        logger.warning("fhir.resources raised %s on a QuestionnaireResponse", type(error).__name__)
        return [
            Issue(
                "structure",
                "The resource could not be read as a FHIR R4 QuestionnaireResponse",
                RESOURCE_TYPE,
            )
        ]
    return []


def fhirpath(location: tuple[int | str, ...]) -> str:
    """A pydantic error location as a FHIRPath, e.g. ``QuestionnaireResponse.item[0].linkId``.

    pydantic adds segments that are not elements (``root``, union member tags such
    as ``function-wrap[...]``); they are dropped. A primitive's extension sibling
    ``_status`` is addressed as ``status`` in FHIRPath.
    """
    path = RESOURCE_TYPE
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "resource_type":
            path += ".resourceType"
        elif part != "root" and _ELEMENT_NAME.fullmatch(part):
            path += "." + part.lstrip("_")
    return path


def _issue(detail: ErrorDetails) -> Issue:
    expression = fhirpath(detail["loc"])
    code, rule = _RULES.get(detail["type"]) or _rule_from_message(detail)
    element = expression.rsplit(".", 1)[-1] if "." in expression else expression
    return Issue(code, f"{element} {rule}", expression)


def _rule_from_message(detail: ErrorDetails) -> tuple[str, str]:
    """Rules for errors pydantic reports only by message; the message itself is not copied."""
    kind, message = detail["type"], detail["msg"]
    if kind == "value_error" and "but got multiple" in message:
        return "structure", "has more than one value[x]; only one is allowed"
    if kind == "value_error" and "Expect any of field value" in message:
        return "required", "needs a value[x]"
    if kind.startswith(("datetime", "date", "time")) or (
        kind == "value_error" and any(word in message for word in ("Date", "Instant", "Time"))
    ):
        return _DATE_TIME_RULE
    if kind.startswith("decimal"):
        return "value", "is not a valid FHIR decimal"
    if kind.startswith("url"):
        return "value", "is not a valid URL"
    return "structure", f"breaks a FHIR R4 rule ({kind})"


def _deduplicated(issues: Any) -> list[Issue]:
    return list(dict.fromkeys(issues))
