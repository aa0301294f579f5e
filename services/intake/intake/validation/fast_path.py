"""A fast structural check for the QuestionnaireResponses EHRs actually send.

fhir.resources needs about a millisecond (3.5 ms on slower machines) for a
40-answer response, mostly building pydantic models we then throw away. This
module answers a narrower question about twenty times faster (see
``bench/validation.py``): *does this resource use only elements whose FHIR R4
rules we know completely, and does it keep all of them?* If yes, fhir.resources
would accept it too, and we skip it. If no, for any reason (an unknown or rare
element such as ``contained``, ``modifierExtension``, ``text`` or a ``_status``
primitive extension; a null, an empty object or array; a lax value the library
would coerce; a plain error), :mod:`intake.validation.structure` asks
fhir.resources for the verdict and its error list. So the check never has to
explain a failure, only to never say yes wrongly: every table below is a
subset of the R4B model in fhir.resources 8.3.0, every predicate in
:mod:`.primitives` is at least as strict, and the property tests in
``tests/intake/test_fast_path.py`` mutate valid responses to hold it to that.

It also bounds nesting at :data:`MAX_DEPTH` as it walks, so the common path
needs no separate depth pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from intake.validation import primitives as p
from intake.validation.document import MAX_DEPTH, RESOURCE_TYPE

Check = Callable[[Any, int], bool]
"""``check(value, depth)``: ``depth`` is the nesting level of the object holding ``value``."""


def fully_understood(resource: dict[str, Any]) -> bool:
    """True only if fhir.resources is certain to accept ``resource`` as a QuestionnaireResponse."""
    return _QUESTIONNAIRE_RESPONSE(resource, 0)


def _list(check: Check) -> Check:
    def each(value: Any, depth: int) -> bool:
        if type(value) is not list or not value or depth >= MAX_DEPTH:
            return False
        depth += 1
        for element in value:  # noqa: SIM110 - a loop is faster than all(<genexpr>) here
            if not check(element, depth):
                return False
        return True

    return each


def _object(
    elements: dict[str, Check],
    required: frozenset[str] = frozenset(),
    choice: frozenset[str] = frozenset(),
) -> Check:
    """A complex element; ``choice`` names the value[x] variants, at most one of which is set."""

    strings = frozenset(name for name, check in elements.items() if check is STRING)

    def check(value: Any, depth: int) -> bool:
        if type(value) is not dict or not value or depth >= MAX_DEPTH:
            return False
        depth += 1
        for name, child in value.items():
            if name in strings:
                # Inline p.is_string: strings are most of the values, and a call each adds up.
                # Not all whitespace means a Python \S character, which Rust's \S also matches.
                if type(child) is not str or not child or child.isspace():
                    return False
                continue
            child_check = elements.get(name)
            if child_check is None or not child_check(child, depth):
                return False
        if choice and len(choice.intersection(value)) > 1:
            return False
        return value.keys() >= required

    return check


_DEFINED_LATER: dict[str, Check] = {}


def _later(name: str) -> Check:
    """A check defined further down: FHIR datatypes are recursive (Extension has extensions)."""
    return lambda value, depth: _DEFINED_LATER[name](value, depth)


STRING, CODE, ID, URI, BOOLEAN, INTEGER = (
    p.is_string,
    p.is_code,
    p.is_id,
    p.is_uri,
    p.is_boolean,
    p.is_integer,
)
DATE, DATE_TIME, INSTANT = p.is_date, p.is_date_time, p.is_instant

ELEMENT: dict[str, Check] = {"id": STRING, "extension": _later("EXTENSIONS")}
"""What every datatype and backbone element may carry."""

CODING = _object(
    {
        **ELEMENT,
        "system": URI,
        "version": STRING,
        "code": CODE,
        "display": STRING,
        "userSelected": BOOLEAN,
    }
)
CODEABLE_CONCEPT = _object({**ELEMENT, "coding": _list(CODING), "text": STRING})
PERIOD = _object({**ELEMENT, "start": DATE_TIME, "end": DATE_TIME})
IDENTIFIER = _object(
    {
        **ELEMENT,
        "use": CODE,
        "type": CODEABLE_CONCEPT,
        "system": URI,
        "value": STRING,
        "period": PERIOD,
        "assigner": _later("REFERENCE"),
    }
)
REFERENCE = _object(
    {**ELEMENT, "reference": STRING, "type": URI, "identifier": IDENTIFIER, "display": STRING}
)

_EXTENSION_VALUES: dict[str, Check] = {
    "valueBoolean": BOOLEAN,
    "valueInteger": INTEGER,
    "valueString": STRING,
    "valueCode": CODE,
    "valueId": ID,
    "valueUri": URI,
    "valueCanonical": URI,
    "valueDate": DATE,
    "valueDateTime": DATE_TIME,
    "valueInstant": INSTANT,
    "valueCoding": CODING,
    "valueCodeableConcept": CODEABLE_CONCEPT,
    "valueIdentifier": IDENTIFIER,
    "valuePeriod": PERIOD,
    "valueReference": REFERENCE,
}
EXTENSIONS = _list(
    _object(
        {**ELEMENT, "url": URI, **_EXTENSION_VALUES},
        required=frozenset({"url"}),
        choice=frozenset(_EXTENSION_VALUES),
    )
)

META = _object(
    {
        **ELEMENT,
        "versionId": ID,
        "lastUpdated": INSTANT,
        "source": URI,
        "profile": _list(URI),
        "security": _list(CODING),
        "tag": _list(CODING),
    }
)

_ANSWER_VALUES: dict[str, Check] = {
    "valueBoolean": BOOLEAN,
    "valueInteger": INTEGER,
    "valueDate": DATE,
    "valueDateTime": DATE_TIME,
    "valueString": STRING,
    "valueUri": URI,
    "valueCoding": CODING,
    "valueReference": REFERENCE,
}
ANSWERS = _list(
    _object(
        {**ELEMENT, **_ANSWER_VALUES, "item": _later("ITEMS")},
        choice=frozenset(_ANSWER_VALUES),
    )
)
ITEMS = _list(
    _object(
        {
            **ELEMENT,
            "linkId": STRING,
            "definition": URI,
            "text": STRING,
            "answer": ANSWERS,
            "item": _later("ITEMS"),
        },
        required=frozenset({"linkId"}),
    )
)

_QUESTIONNAIRE_RESPONSE = _object(
    {
        "resourceType": lambda value, _depth: value == RESOURCE_TYPE,
        "id": ID,
        "meta": META,
        "language": CODE,
        "extension": EXTENSIONS,
        "identifier": IDENTIFIER,
        "basedOn": _list(REFERENCE),
        "partOf": _list(REFERENCE),
        "questionnaire": URI,
        "status": CODE,
        "subject": REFERENCE,
        "encounter": REFERENCE,
        "authored": DATE_TIME,
        "author": REFERENCE,
        "source": REFERENCE,
        "item": ITEMS,
    },
    required=frozenset({"status"}),
)
_DEFINED_LATER.update(EXTENSIONS=EXTENSIONS, REFERENCE=REFERENCE, ITEMS=ITEMS)
