"""Answers in, answers checked: from a FHIR QuestionnaireResponse to ``linkId -> value``.

The engine scores a plain mapping (see :data:`screening.result.AnswerValue`):
``bool`` for boolean items, ``int`` for ``age``, the code ``str`` for a single
choice, and a ``tuple`` of codes for repeating choices (``regions``,
``known-conditions``). A missing key means "not answered", never "no", so an
item is only present when the response answered it.

Errors::

    AnswerError (ValueError)   an answer does not fit the questionnaire contract
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from screening.knowledge import Knowledge, load_knowledge
from screening.knowledge.contract import ItemSpec
from screening.result import AnswerValue

_MISSING = object()


class AnswerError(ValueError):
    """An answer does not fit the questionnaire contract: wrong type, unknown code, or a
    response to another questionnaire. The message names the linkId but never quotes
    free text from the response."""


def answers_from_questionnaire_response(
    resource: Mapping[str, Any], knowledge: Knowledge | None = None
) -> dict[str, AnswerValue]:
    """Walk a QuestionnaireResponse (items may nest in groups or under answers) into answers.

    Unknown linkIds (groups, display items) are skipped. ``knowledge`` supplies the
    contract; by default the current version is loaded once and cached.
    """
    if resource.get("resourceType") != "QuestionnaireResponse":
        raise AnswerError("not a QuestionnaireResponse")
    knowledge = knowledge or load_knowledge()
    contract = knowledge.contract
    questionnaire = resource.get("questionnaire")
    if questionnaire is not None and not contract.cites(questionnaire):
        raise AnswerError(
            f"the response is for another questionnaire; expected {contract.canonical}"
            f"|{contract.version}"
        )
    collected: dict[str, list[AnswerValue]] = {}
    for item in _walk(resource.get("item") or ()):
        spec = contract.items.get(item.get("linkId"))  # type: ignore[arg-type]
        if spec is None:
            continue
        for answer in item.get("answer") or ():
            collected.setdefault(spec.link_id, []).append(
                _value(answer, spec, contract.answer_system)
            )
    answers: dict[str, AnswerValue] = {}
    for link_id, values in collected.items():
        spec = contract.items[link_id]
        if spec.repeats:
            answers[link_id] = tuple(values)  # type: ignore[arg-type]
        elif len(values) == 1:
            answers[link_id] = values[0]
        else:
            raise AnswerError(f"{link_id}: {len(values)} answers to a single-answer item")
    return dict(checked_answers(answers, knowledge))


def checked_answers(answers: Mapping[str, Any], knowledge: Knowledge) -> Mapping[str, AnswerValue]:
    """Validate answers against the contract; return them in canonical form.

    Repeating choices must be in contract order without duplicates, and an empty
    one counts as unanswered; when that needs fixing a corrected copy is returned,
    otherwise the mapping itself (it is only read). Unknown linkIds are ignored:
    no rule reads them. Raises :class:`AnswerError` for a value that does not fit.
    """
    contract = knowledge.contract
    booleans = answers.keys() & contract.boolean_items
    # Most answers are booleans: check them in one pass at C speed, then the rest.
    if booleans and set(map(type, map(answers.__getitem__, booleans))) != {bool}:
        for link_id in booleans:
            _check_boolean(link_id, answers[link_id])
    fixed: dict[str, AnswerValue] | None = None
    for spec in contract.other_items:
        link_id = spec.link_id
        value = answers.get(link_id, _MISSING)
        if value is _MISSING:
            continue
        if spec.repeats:
            if type(value) is tuple and value in contract.repeat_answers[link_id]:  # type: ignore[index]
                continue
            canonical = _canonical(value, spec)
            fixed = fixed if fixed is not None else dict(answers)
            if canonical:
                fixed[link_id] = canonical
            else:
                del fixed[link_id]
            continue
        if spec.kind == "integer":
            if type(value) is int and value in spec.numbers:
                continue
        elif type(value) is str and value in spec.code_text:  # type: ignore[operator]
            continue
        raise AnswerError(f"{link_id}: {_describe(value)} does not fit a {_kind(spec)} item")
    return answers if fixed is None else fixed


def _canonical(value: object, spec: ItemSpec) -> tuple[str, ...]:
    """A repeating answer given as any collection of valid codes, put in contract order."""
    if isinstance(value, (tuple, list, set, frozenset)) and all(
        type(code) is str and code in spec.code_text  # type: ignore[operator]
        for code in value
    ):
        chosen = set(value)
        return tuple(code for code in spec.codes if code in chosen)
    raise AnswerError(f"{spec.link_id}: {_describe(value)} does not fit a {_kind(spec)} item")


def _check_boolean(link_id: str, value: object) -> None:
    if value is not True and value is not False:
        raise AnswerError(f"{link_id}: {_describe(value)} does not fit a boolean item")


def _walk(items: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    """Every item, depth first: nested groups and items nested under answers included."""
    stack = list(reversed(list(items)))
    while stack:
        item = stack.pop()
        if not isinstance(item, Mapping):
            raise AnswerError("an item is not a JSON object")
        yield item
        children: list[Mapping[str, Any]] = list(item.get("item") or ())
        for answer in item.get("answer") or ():
            if isinstance(answer, Mapping):
                children.extend(answer.get("item") or ())
        stack.extend(reversed(children))


def _value(answer: Any, spec: ItemSpec, system: str) -> AnswerValue:
    if not isinstance(answer, Mapping):
        raise AnswerError(f"{spec.link_id}: an answer is not a JSON object")
    if spec.kind == "boolean":
        value = answer.get("valueBoolean")
        if value is True or value is False:
            return value
    elif spec.kind == "integer":
        value = answer.get("valueInteger")
        if type(value) is int:
            return value
    else:
        coding = answer.get("valueCoding")
        if isinstance(coding, Mapping) and isinstance(coding.get("code"), str):
            if coding.get("system", system) != system:
                raise AnswerError(f"{spec.link_id}: a code from another system than {system}")
            return coding["code"]
    raise AnswerError(f"{spec.link_id}: expected {_kind(spec)} answer value")


def _kind(spec: ItemSpec) -> str:
    if spec.kind == "choice":
        return "repeating choice" if spec.repeats else "choice"
    return spec.kind


def _describe(value: object) -> str:
    return f"a {type(value).__name__} value"
