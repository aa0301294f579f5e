"""The screening engine: a pure, deterministic function from answers to a result.

    answers = answers_from_questionnaire_response(resource)   # FHIR JSON -> linkId: value
    result = evaluate(answers, load_knowledge())              # -> ScreeningResult

No I/O, no database, no HTTP: everything clinical comes from the knowledge base
(:mod:`screening.knowledge`), and every finding carries the answers and the
rule that produced it.

Errors::

    AnswerError (ValueError)   an answer does not fit the questionnaire contract
"""

from __future__ import annotations

from screening.engine.answers import (
    AnswerError,
    answers_from_questionnaire_response,
    checked_answers,
)
from screening.engine.evaluation import evaluate

__all__ = ["AnswerError", "answers_from_questionnaire_response", "checked_answers", "evaluate"]
