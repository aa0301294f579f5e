"""What a successful validation hands to the rest of the intake service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

AnswerValue = bool | int | str | tuple[str, ...]
"""A parsed answer: boolean, integer, one choice code, or the codes of a repeating choice."""


@dataclass(frozen=True)
class ValidatedResponse:
    """A QuestionnaireResponse that is valid FHIR R4 and answers our Questionnaire.

    The answers are extracted once here, by the code that just proved them
    well-formed, so no later stage has to walk the FHIR structure again.
    """

    resource: dict[str, Any]
    """The parsed JSON exactly as received (nothing normalised or removed)."""
    patient_reference: str
    """The subject as a relative reference, ``Patient/<id>``."""
    identifier: tuple[str | None, str] | None
    """The response's business identifier as (system, value), if it has one."""
    answers: dict[str, AnswerValue]
    """linkId → answer for every answered question; unanswered questions are absent."""
