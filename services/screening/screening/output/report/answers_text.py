"""The patient's own answers, worded as the Questionnaire asked them.

The engine quotes answers in short clinician wording ("nasal polyps: yes");
the report shows the question the patient read and the answer they chose, both
from the Questionnaire itself (item ``text``, answer option ``display``), so a
reader can check each conclusion against the form.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from screening.result import AnswerValue, Evidence
from shared.fhir.questionnaire import SCREENING_QUESTIONNAIRE


@dataclass(frozen=True)
class QuotedAnswer:
    """One answer as the patient gave it."""

    question: str
    answer: str


def _items(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        yield item
        yield from _items(item.get("item", []))


def _wording(questionnaire: Mapping[str, Any]) -> dict[str, tuple[str, dict[str, str]]]:
    wording = {}
    for item in _items(questionnaire.get("item", [])):
        options = {
            option["valueCoding"]["code"]: option["valueCoding"].get("display", "")
            for option in item.get("answerOption", [])
            if "valueCoding" in option
        }
        wording[item["linkId"]] = (item.get("text", item["linkId"]), options)
    return wording


_WORDING = _wording(SCREENING_QUESTIONNAIRE)


def answer_text(link_id: str, value: AnswerValue) -> str:
    """An answer as the patient chose it: "Yes", "No", a number or the option's display."""
    options = _WORDING.get(link_id, ("", {}))[1]
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, tuple):
        return "; ".join(options.get(code) or code for code in value)
    if isinstance(value, str):
        return options.get(value) or value
    return str(value)


def question_text(link_id: str) -> str:
    return _WORDING.get(link_id, (link_id, {}))[0]


def quoted(evidence: tuple[Evidence, ...]) -> tuple[QuotedAnswer, ...]:
    """Each answer once, in the engine's order, in the patient's own wording."""
    seen: dict[str, QuotedAnswer] = {}
    for item in evidence:
        key = item.link_id + repr(item.value)
        seen.setdefault(
            key, QuotedAnswer(question_text(item.link_id), answer_text(item.link_id, item.value))
        )
    return tuple(seen.values())
