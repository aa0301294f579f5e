"""Rules for the items: every answer must fit the screening Questionnaire.

One walk over the response both checks and extracts: each item's linkId must
exist and appear once, sit where the Questionnaire allows, and carry answers
of the item's type (valueBoolean, valueInteger, or valueCoding with our
system and one of the item's codes), more than one only where the item
repeats, none on groups and display items. Required items must be answered.

Placement is lenient by design: an item may sit under its own group, as in
the Questionnaire, or flat at the top level. The contract fixes linkIds and
codes but leaves grouping to the project, and EHR form engines differ in
whether they echo groups; since every linkId is unique, a flat response is
unambiguous. An item under a *different* parent is refused, because that
response was built from some other form.

This layer reads raw JSON that fhir.resources has already accepted. The
library is lax (it takes ``"true"`` for a boolean, ``"5"`` for an integer, a
JSON string for an object), so every value we use is type-checked again
here. It does rely on one library rule: an answer has at most one value[x].

FHIRPath expressions are built only when a problem is reported: formatting a
path for each of 40 valid items would cost more than checking them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

from intake.questionnaire import ANSWER_SYSTEM, SCREENING_INDEX, ItemDefinition
from intake.validation.document import RESOURCE_TYPE
from intake.validation.result import AnswerValue
from shared.fhir.outcome import Issue

_VALUE_ELEMENT = {"boolean": "valueBoolean", "integer": "valueInteger", "choice": "valueCoding"}
_TOKEN = re.compile(r"[A-Za-z0-9._:\-]{1,64}")
_Problem = tuple[str, str, str]
"""Why an answer is unusable: (issue code, rule, element path below the answer)."""


def read_answers(resource: dict[str, Any], issues: list[Issue]) -> dict[str, AnswerValue]:
    """linkId → parsed answer, appending an issue for every broken rule."""
    walk = _Walk(issues)
    walk.items(resource.get("item"), RESOURCE_TYPE, parent=None)
    for link_id in sorted(SCREENING_INDEX.required - walk.answered):
        issues.append(Issue("required", f"item {link_id} is required", f"{RESOURCE_TYPE}.item"))
    return walk.answers


class _Walk:
    """State of one walk: what was seen, what was answered, what went wrong."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        self.seen: set[str] = set()
        self.answered: set[str] = set()
        """linkIds with at least one answer, valid or not (so a bad age is not also 'missing')."""
        self.answers: dict[str, AnswerValue] = {}

    def items(self, items: Any, container: str, parent: str | None) -> None:
        for index, item in enumerate(items or ()):
            self.item(item, container, index, parent)

    def item(self, item: Any, container: str, index: int, parent: str | None) -> None:
        if type(item) is not dict:
            self.problem("structure", "item must be a JSON object", _path(container, index))
            return
        link_id = item.get("linkId")
        definition = SCREENING_INDEX.get(link_id) if type(link_id) is str else None
        if definition is None:
            self.problem("not-found", _unknown_link_id(link_id), _path(container, index, "linkId"))
            return
        if link_id in self.seen:
            self.problem(
                "duplicate", f"item {link_id} appears more than once", _path(container, index)
            )
            return
        self.seen.add(link_id)
        if parent is not None and parent != definition.parent:
            where = f"in group {definition.parent}" if definition.parent else "at the top level"
            self.problem("structure", f"item {link_id} belongs {where}", _path(container, index))
        answers = item.get("answer")
        if answers:
            if definition.answerable:
                self.answer_list(definition, answers, container, index)
            else:
                self.problem(
                    "structure",
                    f"{definition.type} item {link_id} cannot have answers",
                    _path(container, index, "answer"),
                )
            for number, answer in enumerate(answers):
                if type(answer) is dict and "item" in answer:
                    here = _path(container, index, f"answer[{number}]")
                    self.items(answer["item"], here, link_id)
        if item.get("item"):
            self.items(item["item"], _path(container, index), link_id)

    def answer_list(
        self, definition: ItemDefinition, answers: list[Any], container: str, index: int
    ) -> None:
        link_id = definition.link_id
        self.answered.add(link_id)
        if not definition.repeats:
            if len(answers) > 1:
                rule = f"item {link_id} takes one answer"
                self.problem("structure", rule, _path(container, index, "answer"))
            elif self.parsed(definition, answers, 0, container, index):
                self.answers[link_id] = _value(definition, answers[0])
            return
        codes = [
            _value(definition, answer)
            for number, answer in enumerate(answers)
            if self.parsed(definition, answers, number, container, index)
        ]
        if len(codes) < len(answers):
            return
        if len(set(codes)) != len(codes):
            rule = f"item {link_id} lists a code twice"
            self.problem("duplicate", rule, _path(container, index, "answer"))
        else:
            self.answers[link_id] = tuple(codes)

    def parsed(
        self,
        definition: ItemDefinition,
        answers: list[Any],
        number: int,
        container: str,
        index: int,
    ) -> bool:
        """Check answer ``number``; report and return False if it is unusable."""
        problem = _problem(definition, answers[number])
        if problem is None:
            return True
        code, rule, below = problem
        self.problem(code, rule, _path(container, index, f"answer[{number}]{below}"))
        return False

    def problem(self, code: str, diagnostics: str, expression: str) -> None:
        self.issues.append(Issue(code, diagnostics, expression))


def _problem(definition: ItemDefinition, answer: Any) -> _Problem | None:
    """Why one answer is unusable for ``definition``, or None if it is fine."""
    expected = _VALUE_ELEMENT[definition.type]
    if type(answer) is not dict or expected not in answer:
        given = [key for key in answer if key.startswith("value")] if type(answer) is dict else []
        rule = f"the answer to {definition.type} item {definition.link_id} must be {expected}"
        return "value", rule, f".{given[0]}" if given else ""
    value = answer[expected]
    below = f".{expected}"
    if definition.type == "boolean":
        return (
            None if type(value) is bool else ("value", f"{expected} must be a JSON boolean", below)
        )
    if definition.type == "integer":
        return _integer_problem(definition, value, below)
    return _code_problem(definition, value, below)


def _value(definition: ItemDefinition, answer: dict[str, Any]) -> AnswerValue:
    """The parsed value of an answer :func:`_problem` found fine."""
    value = answer[_VALUE_ELEMENT[definition.type]]
    return value["code"] if definition.type == "choice" else value


def _integer_problem(definition: ItemDefinition, value: Any, below: str) -> _Problem | None:
    if type(value) is not int:
        return "value", "valueInteger must be a JSON integer", below
    low, high = definition.min_value, definition.max_value
    if (low is not None and value < low) or (high is not None and value > high):
        return "value", f"{definition.link_id} must be between {low} and {high}", below
    return None


def _code_problem(definition: ItemDefinition, coding: Any, below: str) -> _Problem | None:
    if type(coding) is not dict:
        return "value", "valueCoding must be a JSON object", below
    if coding.get("system") != ANSWER_SYSTEM:
        return "code-invalid", f"valueCoding.system must be {ANSWER_SYSTEM}", below + ".system"
    code = coding.get("code")
    if type(code) is not str or code not in definition.codes:
        # The code sent is an answer about the patient: not echoed; the allowed ones are ours.
        rule = (
            f"valueCoding.code is not an answer code of item {definition.link_id}; "
            f"its codes are {', '.join(definition.options)}"
        )
        return "code-invalid", rule, below + ".code"
    return None


def _unknown_link_id(link_id: Any) -> str:
    if not _quoted(link_id):
        return "linkId is not an item of the Questionnaire"
    return (
        f"linkId {_quoted(link_id)} is not an item of the Questionnaire"
        f"{_near_match(link_id, SCREENING_INDEX)}"
    )


def _quoted(text: Any) -> str:
    """``text`` in quotes if it has the shape of a linkId, else "" (not echoed).

    A linkId names a question of the form, not anything about the patient, so an
    unknown one is quoted back to its sender (it is usually a typo). Only a short
    identifier-shaped token is: free text in its place could carry anything.
    """
    return f"'{text}'" if type(text) is str and _TOKEN.fullmatch(text) else ""


def _near_match(text: Any, choices: Iterable[str]) -> str:
    """Suggest the closest of ``choices`` (difflib): "; did you mean 'x'?", or ""."""
    if not _quoted(text):
        return ""
    near = difflib.get_close_matches(text, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{near[0]}'?" if near else ""


def _path(container: str, index: int, below: str = "") -> str:
    """FHIRPath of item ``index`` in ``container`` (plus an element below it)."""
    return f"{container}.item[{index}].{below}" if below else f"{container}.item[{index}]"
