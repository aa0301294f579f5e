"""The fast structural check never says yes where fhir.resources says no.

The fast path is only sound if, for every input, ``fully_understood(x)``
implies that ``QuestionnaireResponse.model_validate(x)`` succeeds. These tests
hold it to that three ways: every Unicode character through the string and
code predicates; generated date strings through the date predicates; and
many mutations of valid responses (dropped, renamed and added elements,
wrong JSON types, bad dates and ids, nulls, empty strings, arrays and
objects, wrong nesting) through the whole check. They also check that the
overall structural verdict is exactly the library's.
"""

from __future__ import annotations

import copy
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from fhir.resources.R4B import fhirtypes
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from fixtures.responses import make_response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from intake.validation import primitives, validate_questionnaire_response
from intake.validation.fast_path import fully_understood
from intake.validation.structure import fhirpath, structural_issues
from shared.fhir.outcome import BadRequest, Unprocessable

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures/qr-sample.json"
PROPERTY = settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def library_accepts(resource: Any) -> bool:
    try:
        QuestionnaireResponse.model_validate(resource)
    except ValidationError:
        return False
    except Exception:
        return False
    return True


def rich_response() -> dict[str, Any]:
    """A response using every element the fast path knows, so mutations reach them all."""
    coding = {
        "system": "urn:x",
        "version": "1",
        "code": "c d",
        "display": "C",
        "userSelected": True,
    }
    reference = {"reference": "Patient/p", "type": "Patient", "display": "P"}
    identifier = {
        "use": "official",
        "type": {"coding": [coding], "text": "T"},
        "system": "urn:oid:1.2.3",
        "value": "v",
        "period": {"start": "2024-01", "end": "2024-02-03T04:05:06.789+01:00"},
        "assigner": {"reference": "Organization/o", "identifier": {"value": "o"}},
    }
    extension = {
        "url": "urn:outer",
        "id": "e1",
        "extension": [
            {"url": "urn:a", "valueCoding": coding},
            {"url": "urn:b", "valueInstant": "2024-01-01T00:00:00Z"},
            {"url": "urn:c", "valueIdentifier": {"value": "x"}},
            {"url": "urn:d", "valuePeriod": {"start": "2024"}},
        ],
    }
    resource = make_response(
        {"age": 33, "sex": "other", "regions": ("face", "trunk"), "burning": True},
        identifier=("urn:x", "id-1"),
    )
    resource.update(
        id="rich-1",
        meta={
            "versionId": "3",
            "lastUpdated": "2024-05-01T10:00:00.123Z",
            "source": "urn:src",
            "profile": ["http://example.org/p"],
            "tag": [coding],
            "security": [coding],
        },
        language="en-GB",
        extension=[extension],
        identifier=identifier,
        basedOn=[reference],
        partOf=[{"reference": "Procedure/1"}],
        encounter={"reference": "Encounter/1"},
        author=reference,
        source=reference,
    )
    first = resource["item"][0]
    first.update(id="i1", definition="http://example.org/d", extension=[extension])
    first["item"][0]["answer"][0].update(id="a1", extension=[{"url": "urn:y", "valueInteger": 2}])
    resource["item"].append(
        {
            "linkId": "extra",
            "text": "free",
            "answer": [
                {"valueString": "s"},
                {"valueDate": "2024-02-29"},
                {"valueDateTime": "2024-02-29T23:59:59-05:00"},
                {"valueUri": "urn:u"},
                {"valueReference": reference},
                {
                    "valueBoolean": False,
                    "item": [{"linkId": "child", "answer": [{"valueInteger": 0}]}],
                },
            ],
        }
    )
    return resource


BASES = [
    orjson.loads(SAMPLE.read_bytes()),
    make_response({"age": 70, "numbness": True, "regions": ("left-hand",)}),
    make_response({"age": 70, "duration": "under-4-weeks"}, nested=False),
    rich_response(),
]

NAMES = [
    "id", "meta", "language", "extension", "modifierExtension", "identifier", "basedOn", "partOf",
    "questionnaire", "status", "subject", "encounter", "authored", "author", "source", "item",
    "linkId", "definition", "text", "answer", "valueBoolean", "valueInteger", "valueDecimal",
    "valueDate", "valueDateTime", "valueTime", "valueString", "valueUri", "valueCoding",
    "valueQuantity", "valueReference", "valueAttachment", "url", "valueCode", "valueId",
    "valueCanonical", "valueInstant", "valueUrl", "valueIdentifier", "valuePeriod", "system",
    "version", "code", "display", "userSelected", "reference", "type", "use", "value", "period",
    "assigner", "start", "end", "versionId", "lastUpdated", "profile", "security", "tag", "coding",
    "contained", "implicitRules", "fhir_comments", "_status", "_linkId", "status__ext",
    "resourceType", "foo", "",
]  # fmt: skip
NASTY: list[Any] = [
    None, "", " ", "\t", "\x0b", "\u00a0", "\x1c", "a  b", "a\nb", "ab\n", " a", "a_b", "a" * 65,
    "a" * 256, [], {}, [None], [{}], 0, 1, -1, 2**31, -(2**31) - 1, 1.5, 5.0, True, False, "true",
    "5", "2024-02-30", "2023-02-29", "2024-13-01", "2024-00", "0000", "2016-12-31T23:59:60Z",
    "2024-05-01T10:00:00", "2024-05-01T10:00Z", "2024-05-01T24:00:00Z", "2024-05-01T10:00:00+15:00",
    "2024-05-01T10:00:00.1234567890123Z", "2024-01-01", "2024-01-01T00:00:00Z", "urn:x",
    "Patient/1", "has space", "{\"reference\": \"Patient/1\"}", {"reference": "Patient/x"},
    {"system": "urn:x", "code": "c"}, {"url": "urn:x", "valueString": "v"},
    [{"url": "urn:x", "valueBoolean": True}], {"url": "urn:x", "valueString": "v", "valueBoolean": True},
    [{"linkId": "age", "answer": [{"valueInteger": 5}]}], [{"valueBoolean": True}],
    [{"valueBoolean": True, "valueInteger": 1}], {"start": "2024"}, {"value": "x"},
    [{"resourceType": "Patient", "id": "p"}], {"resourceType": "Reference"}, [["nested"]],
]  # fmt: skip


def mutate(resource: dict[str, Any], choose: Callable[[Sequence[Any]], Any]) -> None:
    """One random change somewhere in ``resource`` (in place)."""
    targets = list(_paths(resource))
    path = choose(targets)
    parent: Any = resource
    for step in path[:-1]:
        parent = parent[step]
    key = path[-1]
    value = parent[key]
    operation = choose(["replace", "delete", "rename", "add", "wrap", "unwrap", "stringify"])
    if operation == "replace":
        parent[key] = copy.deepcopy(choose(NASTY))
    elif operation == "delete":
        del parent[key]
    elif operation == "rename" and isinstance(parent, dict):
        parent[choose(NAMES)] = parent.pop(key)
    elif operation == "add" and isinstance(value, dict):
        value[choose(NAMES)] = copy.deepcopy(choose([*NASTY, *NASTY[-20:]]))
    elif operation == "wrap":
        parent[key] = [value]
    elif operation == "unwrap" and isinstance(value, list) and value:
        parent[key] = value[0]
    elif operation == "stringify":
        parent[key] = orjson.dumps(value).decode()


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Any:
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, child in items:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


# --- the typical responses take the fast path ---------------------------------------------


@pytest.mark.parametrize("resource", BASES, ids=["sample", "nested", "flat", "rich"])
def test_typical_responses_take_the_fast_path(resource):
    assert fully_understood(resource)
    assert library_accepts(resource)


# --- the property, on whole resources -------------------------------------------------------


@PROPERTY
@given(data=st.data())
def test_fast_acceptance_implies_library_acceptance(data):
    resource = copy.deepcopy(data.draw(st.sampled_from(BASES)))
    for _ in range(data.draw(st.integers(1, 3))):
        mutate(resource, lambda options: data.draw(st.sampled_from(options)))
    accepted = library_accepts(resource)
    if fully_understood(resource):
        assert accepted, resource
    assert (structural_issues(resource) == []) == accepted
    # End to end: a 400 exactly when the library (or our resourceType rule) refuses it.
    try:
        validate_questionnaire_response(orjson.dumps(resource))
    except BadRequest:
        assert not accepted or resource.get("resourceType") != "QuestionnaireResponse"
    except Unprocessable:
        assert accepted
    else:
        assert accepted


def test_mutation_census():
    """The property test is not vacuous: both outcomes of the fast path occur often."""
    rng = random.Random(20261126)
    fast = fallback = 0
    for _ in range(300):
        resource = copy.deepcopy(rng.choice(BASES))
        mutate(resource, rng.choice)
        if fully_understood(resource):
            fast += 1
            assert library_accepts(resource), resource
        else:
            fallback += 1
    assert fast > 30 and fallback > 100, (fast, fallback)


@pytest.mark.parametrize(
    ("path", "value", "library", "fast"),
    [
        # Values the library's lax mode accepts: the fast path declines, the library decides
        # (and the Questionnaire rules then refuse the answers among them).
        (("item", 0, "item", 0, "answer", 0, "valueInteger"), "52", True, False),
        (("item", 1, "item", 0, "answer", 0, "valueBoolean"), "true", True, False),
        (("authored",), 2024, True, False),
        (("authored",), "2016-12-31T23:59:60Z", True, False),
        (("subject",), {}, True, False),
        (("item", 0, "answer"), [], True, False),
        (("encounter",), None, True, False),
        (("fhir_comments",), "note", True, False),
        (("questionnaire",), "", True, False),
        (("id",), "a" * 100, True, False),
        # FHIR leaves the status value set to profiles; ours refuses it later (422).
        (("status",), "done", True, True),
        # And values it rejects.
        (("item", 0, "linkId"), "", False, False),
        (("item", 0, "linkId"), "\x0b", False, False),
        (("status",), "a  b", False, False),
        (("id",), "a" * 256, False, False),
        (("authored",), "2023-02-29", False, False),
        (("item",), [None], False, False),
        (("resourceType",), "Patient", False, False),
    ],
)
def test_library_behaviour_the_design_relies_on(path, value, library, fast):
    """Pinned so that an upgrade of fhir.resources that changes them is noticed."""
    resource = copy.deepcopy(BASES[0])
    target = resource
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    assert library_accepts(resource) is library
    assert fully_understood(resource) is fast
    assert (structural_issues(resource) == []) is library


# --- the primitives, exhaustively or by grammar --------------------------------------------

ALL_CHARACTERS = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]


def library_rejects_any(type_: Any, values: list[str]) -> set[str]:
    try:
        TypeAdapter(list[type_]).validate_python(values)
    except ValidationError as error:
        return {values[e["loc"][0]] for e in error.errors()}
    return set()


@pytest.mark.parametrize(
    ("predicate", "type_", "template"),
    [
        (primitives.is_string, fhirtypes.StringType, "{}"),
        (primitives.is_string, fhirtypes.StringType, "{}{}"),
        (primitives.is_code, fhirtypes.CodeType, "{}"),
        (primitives.is_code, fhirtypes.CodeType, "a{}b"),
        (primitives.is_code, fhirtypes.CodeType, "a {}"),
        (primitives.is_code, fhirtypes.CodeType, "{} a"),
        (primitives.is_id, fhirtypes.IdType, "{}"),
        (primitives.is_uri, fhirtypes.UriType, "u{}"),
    ],
)
def test_every_character(predicate, type_, template):
    values = [template.format(c, c) for c in ALL_CHARACTERS]
    accepted = [v for v in values if predicate(v)]
    assert accepted, "the predicate accepts nothing"
    assert library_rejects_any(type_, accepted) == set()


def test_fast_path_inlines_the_string_rule():
    resource = copy.deepcopy(BASES[1])
    for character in ALL_CHARACTERS[:0x3100]:
        resource["item"][0]["text"] = character
        if fully_understood(resource):
            assert primitives.is_string(character)
    assert not primitives.is_string(" ") and primitives.is_string("a")


def _pick(*options: str) -> st.SearchStrategy[str]:
    return st.sampled_from(options) | st.text("0123456789", min_size=1, max_size=4)


DATES = st.builds(
    lambda y, m, d, t, f, z, cut, junk: (
        "-".join((y, m, d))[: [4, 7, 10, 10][cut]] + (f"T{t}{f}{z}" if cut == 3 else "") + junk
    ),
    _pick("0000", "0001", "1900", "2000", "2023", "2024", "9999"),
    _pick("00", "01", "02", "04", "12", "13"),
    _pick("00", "01", "28", "29", "30", "31", "32"),
    _pick("00:00:00", "23:59:59", "24:00:00", "23:60:00", "23:59:60", "12:30"),
    st.sampled_from(["", ".1", ".123456", ".123456789", ".1234567890", "."]),
    st.sampled_from(["Z", "+00:00", "-00:00", "+13:59", "+14:00", "+14:01", "-15:00", "", "+0100"]),
    st.integers(0, 3),
    st.sampled_from(["", "", "", " ", "\n", "Z"]),
)


@PROPERTY
@given(DATES)
def test_date_predicates(text):
    for predicate, type_ in [
        (primitives.is_date_time, fhirtypes.DateTimeType),
        (primitives.is_instant, fhirtypes.InstantType),
        (primitives.is_date, fhirtypes.DateType),
    ]:
        if predicate(text):
            assert library_rejects_any(type_, [text]) == set(), (predicate.__name__, text)


@PROPERTY
@given(st.integers(-(2**40), 2**40) | st.booleans() | st.floats() | st.text(max_size=3))
def test_integer_and_boolean_predicates(value):
    if primitives.is_integer(value):
        assert library_rejects_any(fhirtypes.IntegerType, [value]) == set()
    if primitives.is_boolean(value):
        TypeAdapter(bool).validate_python(value)


# --- pydantic locations as FHIRPath -------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "expression"),
    [
        (("item", 2, "answer", 0, "valueCoding", "code"),
         "QuestionnaireResponse.item[2].answer[0].valueCoding.code"),
        (("identifier", "root"), "QuestionnaireResponse.identifier"),
        (("_status", "extension", 0, "url"), "QuestionnaireResponse.status.extension[0].url"),
        (("resource_type",), "QuestionnaireResponse.resourceType"),
        (("extension", 0, "valueUrl", "function-wrap[_validate()]"),
         "QuestionnaireResponse.extension[0].valueUrl"),
        ((), "QuestionnaireResponse"),
    ],
)  # fmt: skip
def test_fhirpath(location, expression):
    assert fhirpath(location) == expression
