"""Rules for the elements around the answers: status, questionnaire, subject, identifier.

Each check returns the value the rest of the service needs (or None) and
appends an :class:`Issue` per broken rule, so one response reports every
problem at once. Diagnostics name the element and the rule, never the value
sent (a reference or identifier may identify a patient).
"""

from __future__ import annotations

import re
from typing import Any

from intake.questionnaire import ACCEPTED_VERSIONS, CANONICAL
from intake.validation.document import RESOURCE_TYPE
from shared.fhir.outcome import Issue

ACCEPTED_STATUSES = ("completed", "amended")
MAX_KEY_LENGTH = 255
"""The identifier columns' width (shared/models/resources.py); references are held to it too."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""C0 and C1 control characters (NUL, line breaks, escapes): PostgreSQL refuses NUL in text,
and none of them belongs in an identifier or a reference."""
_REFERENCES = ("author", "source", "encounter")
_REFERENCE_LISTS = ("basedOn", "partOf")
_PATIENT_REFERENCE = re.compile(
    r"(?:https?://[^\s/]+(?:/[^\s/]+)*/)?Patient/([A-Za-z0-9\-.]{1,64})"
)


def check_status(resource: dict[str, Any], issues: list[Issue]) -> None:
    """Only finished answers are screened: an in-progress form would be scored half-empty."""
    if resource.get("status") not in ACCEPTED_STATUSES:
        issues.append(
            Issue(
                "value",
                "status must be completed or amended to be screened",
                f"{RESOURCE_TYPE}.status",
            )
        )


def check_questionnaire(resource: dict[str, Any], issues: list[Issue]) -> None:
    """The response must cite our canonical, bare or with an accepted version (|1.0.0, |1.1.0)."""
    expression = f"{RESOURCE_TYPE}.questionnaire"
    cited = resource.get("questionnaire")
    if not isinstance(cited, str):
        issues.append(Issue("required", f"questionnaire is required ({CANONICAL})", expression))
        return
    url, bar, version = cited.partition("|")
    if url != CANONICAL:
        issues.append(Issue("value", f"questionnaire must be {CANONICAL}", expression))
    elif bar and version not in ACCEPTED_VERSIONS:
        issues.append(
            Issue(
                "not-supported",
                f"only versions {', '.join(ACCEPTED_VERSIONS)} of the questionnaire are accepted",
                expression,
            )
        )


def patient_reference(resource: dict[str, Any], issues: list[Issue]) -> str | None:
    """``Patient/<id>`` from a relative or absolute subject reference."""
    expression = f"{RESOURCE_TYPE}.subject"
    subject = resource.get("subject")
    if not isinstance(subject, dict) or subject.get("reference") is None:
        issues.append(
            Issue("required", "subject must reference the Patient who answered", expression)
        )
        return None
    if subject.get("type") not in (None, "Patient"):
        issues.append(Issue("value", "subject.type must be Patient", f"{expression}.type"))
    reference = subject["reference"]
    if isinstance(reference, str) and not storable(
        reference, f"{expression}.reference", "subject.reference", issues
    ):
        return None
    match = _PATIENT_REFERENCE.fullmatch(reference) if isinstance(reference, str) else None
    if match is None:
        issues.append(
            Issue(
                "value",
                "subject.reference must be Patient/<id> or an absolute URL ending in it",
                f"{expression}.reference",
            )
        )
        return None
    return f"Patient/{match[1]}"


def business_identifier(
    resource: dict[str, Any], issues: list[Issue]
) -> tuple[str | None, str] | None:
    """(system, value) of ``identifier``; it is the idempotency key, so it needs a value."""
    identifier = resource.get("identifier")
    if identifier is None:
        return None
    value = identifier.get("value") if isinstance(identifier, dict) else None
    if not isinstance(value, str):
        issues.append(
            Issue(
                "required",
                "identifier.value is required when identifier is present",
                f"{RESOURCE_TYPE}.identifier.value",
            )
        )
        return None
    system = identifier.get("system")
    system = system if isinstance(system, str) else None
    expression = f"{RESOURCE_TYPE}.identifier"
    value_ok = storable(value, f"{expression}.value", "identifier.value", issues)
    if system is not None and not storable(
        system, f"{expression}.system", "identifier.system", issues
    ):
        return None
    return (system, value) if value_ok else None


def check_references(resource: dict[str, Any], issues: list[Issue]) -> None:
    """The other references (author, source, encounter, basedOn, partOf): storable text."""
    for name in _REFERENCES:
        _check_reference(resource.get(name), name, issues)
    for name in _REFERENCE_LISTS:
        elements = resource.get(name)
        for index, element in enumerate(elements if isinstance(elements, list) else ()):
            _check_reference(element, f"{name}[{index}]", issues)


def storable(value: str, expression: str, what: str, issues: list[Issue]) -> bool:
    """At most 255 characters and no control characters (issue 18, item 6), else an issue.

    Checked here so that a bad value is a 422 naming the element, never a database
    error (PostgreSQL: DataError) that would look like an outage.
    """
    if len(value) > MAX_KEY_LENGTH:
        issues.append(
            Issue("too-long", f"{what} must be at most {MAX_KEY_LENGTH} characters", expression)
        )
        return False
    if _CONTROL.search(value):
        issues.append(
            Issue("invalid", f"{what} must not contain control characters (NUL etc.)", expression)
        )
        return False
    return True


def _check_reference(element: Any, path: str, issues: list[Issue]) -> None:
    reference = element.get("reference") if isinstance(element, dict) else None
    if isinstance(reference, str):
        what = f"{path}.reference"
        storable(reference, f"{RESOURCE_TYPE}.{what}", what, issues)
