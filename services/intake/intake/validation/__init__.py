"""Validating an incoming QuestionnaireResponse: bytes in, :class:`ValidatedResponse` out.

Three layers, each reporting every problem it finds, not just the first::

    document    JSON object, resourceType, nesting depth       BadRequest   400
    structure   valid FHIR R4 (fhir.resources' verdict)        BadRequest   400
    answers     fits our Questionnaire and intake rules        Unprocessable 422

The structure layer is where the time would go: fhir.resources needs 1-3.5 ms
for a 40-answer response, about ten times the rest of this pipeline. A fast
checker vouches for the shapes EHRs really send and falls back to the library
for anything else, so the verdict is the library's at a fraction of the cost
(``bench/validation.py`` measures it). Issues carry a FHIRPath ``expression``
and never the values sent.
"""

from __future__ import annotations

from intake.validation.answers import read_answers
from intake.validation.document import MAX_DEPTH, parse_document
from intake.validation.envelope import (
    business_identifier,
    check_questionnaire,
    check_references,
    check_status,
    patient_reference,
)
from intake.validation.result import AnswerValue, ValidatedResponse
from intake.validation.structure import structural_issues
from shared.fhir.outcome import BadRequest, Issue, Unprocessable

__all__ = [
    "MAX_DEPTH",
    "MAX_ISSUES",
    "AnswerValue",
    "ValidatedResponse",
    "validate_questionnaire_response",
]

MAX_ISSUES = 100
"""Issues reported at most; a hostile body could otherwise make a huge OperationOutcome."""


def validate_questionnaire_response(body: bytes) -> ValidatedResponse:
    """Parse and validate a QuestionnaireResponse sent to the intake service.

    Raises ``BadRequest`` if the body is not a valid FHIR R4 QuestionnaireResponse
    and ``Unprocessable`` if it is, but breaks the screening Questionnaire's rules.
    """
    resource = parse_document(body)
    issues = structural_issues(resource)
    if issues:
        raise BadRequest(issues=_capped(issues))
    check_status(resource, issues)
    check_questionnaire(resource, issues)
    patient = patient_reference(resource, issues)
    identifier = business_identifier(resource, issues)
    check_references(resource, issues)
    answers = read_answers(resource, issues)
    if issues or patient is None:
        raise Unprocessable(issues=_capped(issues))
    return ValidatedResponse(
        resource=resource, patient_reference=patient, identifier=identifier, answers=answers
    )


def _capped(issues: list[Issue]) -> list[Issue]:
    if len(issues) <= MAX_ISSUES:
        return issues
    more = Issue(
        "too-costly",
        f"{len(issues) - MAX_ISSUES + 1} more problems are not listed",
        severity="information",
    )
    return [*issues[: MAX_ISSUES - 1], more]
