"""The screening Questionnaire the intake serves and validates against.

The Questionnaire is data in :mod:`shared.fhir.questionnaire`, where the
screening engine reads the same items; this module is the intake's name for it.
"""

from __future__ import annotations

from shared.fhir.questionnaire import (
    ACCEPTED_VERSIONS,
    ANSWER_SYSTEM,
    CANONICAL,
    SCREENING_INDEX,
    SCREENING_QUESTIONNAIRE,
    VERSION,
    ItemDefinition,
    QuestionnaireIndex,
)

__all__ = [
    "ACCEPTED_VERSIONS",
    "ANSWER_SYSTEM",
    "CANONICAL",
    "SCREENING_INDEX",
    "SCREENING_QUESTIONNAIRE",
    "VERSION",
    "ItemDefinition",
    "QuestionnaireIndex",
]
