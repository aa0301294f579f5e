"""The screening Questionnaire, kept as data and loaded once: the one definition of its items.

``immune-neuropathy-screen.json`` beside this module *is* the Questionnaire.
The intake serves it to EHRs as it is and validates responses against
:data:`SCREENING_INDEX`; the screening engine builds its contract (item types,
answer codes, the age range, the short wording results quote) from the same
index, and the knowledge base's rules are checked against it at load. Its
linkIds, answer codes, canonical URL and version are an external contract (see
the questionnaire contract in the project's shared spec); grouping, wording,
help text and ``enableWhen`` are the project's to change.

Treat :data:`SCREENING_QUESTIONNAIRE` as read-only: it is shared by the whole process.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import orjson

from shared.fhir.codes import SCREEN_ANSWERS
from shared.fhir.questionnaire.index import ItemDefinition, QuestionnaireIndex

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

ANSWER_SYSTEM = SCREEN_ANSWERS
"""The CodeSystem of every choice answer (part of the contract; see :mod:`shared.fhir.codes`)."""

SCREENING_QUESTIONNAIRE: dict[str, Any] = orjson.loads(
    files(__package__).joinpath("immune-neuropathy-screen.json").read_bytes()
)
CANONICAL: str = SCREENING_QUESTIONNAIRE["url"]
VERSION: str = SCREENING_QUESTIONNAIRE["version"]
ACCEPTED_VERSIONS: tuple[str, ...] = ("1.0.0", VERSION)
"""The versions a response may cite (besides the bare canonical).

Versions within a major version only add items, and a linkId never changes
meaning, so a response to 1.0.0 is valid against 1.1.0 as it is. A response
that cites 1.0.0 yet answers an item added in 1.1.0 is accepted and screened
with that answer: the answer means the same whatever the version, and refusing
the response would drop answers that may report an emergency."""

SCREENING_INDEX: QuestionnaireIndex = QuestionnaireIndex.compile(
    SCREENING_QUESTIONNAIRE, ANSWER_SYSTEM
)
