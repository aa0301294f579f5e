"""validate_questionnaire_response: each rule, the right status, every problem listed.

Every failing case checks the exception class (400 for bad JSON or FHIR,
422 for a valid resource that breaks our Questionnaire) and the FHIRPath
expression of each issue. ``test_diagnostics_never_echo_values`` checks that
no value sent ends up in an OperationOutcome.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest
from fixtures.responses import make_response

from intake.questionnaire import CANONICAL
from intake.validation import (
    MAX_DEPTH,
    MAX_ISSUES,
    ValidatedResponse,
    validate_questionnaire_response,
)
from intake.validation.document import deeper_than
from intake.validation.fast_path import fully_understood
from shared.fhir.outcome import BadRequest, FhirError, Unprocessable

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures/qr-sample.json"
QR = "QuestionnaireResponse"
BASIC = {"age": 61, "numbness": True, "regions": ("left-foot", "right-foot"), "sex": "male"}


def body(resource: Any) -> bytes:
    return orjson.dumps(resource)


def rejected(resource: Any, kind: type[FhirError]) -> list[tuple[str | None, str]]:
    """(expression, issue code) of every issue, after checking the exception class."""
    raw = resource if isinstance(resource, bytes) else body(resource)
    with pytest.raises(FhirError) as caught:
        validate_questionnaire_response(raw)
    assert type(caught.value) is kind, [i.diagnostics for i in caught.value.issues]
    return [(issue.expression, issue.code) for issue in caught.value.issues]


def expressions(resource: Any, kind: type[FhirError]) -> list[str | None]:
    return [expression for expression, _ in rejected(resource, kind)]


# --- what passes ---------------------------------------------------------------------------


def test_sample_passes_untouched():
    raw = SAMPLE.read_bytes()
    result = validate_questionnaire_response(raw)
    assert result.resource == orjson.loads(raw)
    assert result.patient_reference == "Patient/example"
    assert result.identifier == ("urn:oid:2.16.840.1.113883.3.9999", "qr-0001")
    assert len(result.answers) == 40
    assert result.answers["age"] == 52
    assert result.answers["burning"] is True
    assert result.answers["itching"] is False
    assert result.answers["spread-pattern"] == "separate-nerves"
    assert result.answers["regions"] == ("right-foot", "right-leg", "left-hand")
    assert result.answers["known-conditions"] == ("none",)
    assert "testicular-pain" not in result.answers


def test_result_is_frozen():
    result = validate_questionnaire_response(body(make_response(BASIC)))
    assert isinstance(result, ValidatedResponse)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.patient_reference = "Patient/other"  # type: ignore[misc]


@pytest.mark.parametrize("nested", [True, False])
def test_nested_and_flat_responses_pass_alike(nested):
    result = validate_questionnaire_response(body(make_response(BASIC, nested=nested)))
    assert result.answers == {
        "age": 61, "numbness": True, "regions": ("left-foot", "right-foot"), "sex": "male",
    }  # fmt: skip
    assert result.identifier is None


def test_mixed_nesting_passes():
    resource = make_response({"age": 40, "burning": True}, nested=False)
    resource["item"][1] = {"linkId": "symptoms", "item": [resource["item"][1]]}
    assert validate_questionnaire_response(body(resource)).answers["burning"] is True


@pytest.mark.parametrize("questionnaire", [CANONICAL, f"{CANONICAL}|1.0.0", f"{CANONICAL}|1.1.0"])
def test_bare_or_versioned_canonical(questionnaire):
    validate_questionnaire_response(body(make_response(BASIC, questionnaire=questionnaire)))


NEW_IN_1_1 = {"bladder-bowel": True, "onset-speed": "sudden", "chemotherapy": True,
              "chemotherapy-when": "within-12-months"}  # fmt: skip


def test_a_1_1_response_keeps_its_new_answers():
    resource = make_response({**BASIC, **NEW_IN_1_1}, questionnaire=f"{CANONICAL}|1.1.0")
    assert validate_questionnaire_response(body(resource)).answers == {**BASIC, **NEW_IN_1_1}


def test_a_response_citing_1_0_0_may_answer_1_1_items():
    """Deliberate: a linkId means the same in every 1.x version, so the answer is kept and
    screened rather than the response refused (it may report an emergency)."""
    resource = make_response({**BASIC, **NEW_IN_1_1}, questionnaire=f"{CANONICAL}|1.0.0")
    assert validate_questionnaire_response(body(resource)).answers == {**BASIC, **NEW_IN_1_1}


def test_new_items_are_checked_like_the_old_ones():
    resource = make_response({**BASIC, "onset-speed": "instantly"})
    assert rejected(resource, Unprocessable) == [
        ("QuestionnaireResponse.item[3].item[0].answer[0].valueCoding.code", "code-invalid")
    ]


@pytest.mark.parametrize(
    "reference",
    ["Patient/abc-1.2", "https://ehr.example.org/fhir/Patient/abc", "http://h/Patient/x"],
)
def test_patient_references_are_normalised(reference):
    result = validate_questionnaire_response(body(make_response(BASIC, patient=reference)))
    assert result.patient_reference == f"Patient/{reference.rsplit('/', 1)[1]}"


def test_identifier_without_system():
    resource = make_response(BASIC, identifier=(None, "abc"))
    assert validate_questionnaire_response(body(resource)).identifier == (None, "abc")


@pytest.mark.parametrize("age", [0, 130])
def test_age_bounds_are_inclusive(age):
    assert validate_questionnaire_response(body(make_response({"age": age}))).answers == {
        "age": age
    }


def test_amended_status_passes():
    validate_questionnaire_response(body(make_response(BASIC, status="amended")))


def test_unusual_but_valid_fhir_passes_through_the_fallback():
    resource = make_response(BASIC)
    resource["_status"] = {"extension": [{"url": "urn:x", "valueString": "note"}]}
    resource["text"] = {"status": "generated", "div": "<div xmlns='http://www.w3.org/1999/xhtml'/>"}
    assert validate_questionnaire_response(body(resource)).answers["age"] == 61


# --- 400: not JSON, not a QuestionnaireResponse, too deep, not FHIR -------------------------


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe", b'{"a": 1,}', b"NaN"])
def test_unparseable(raw):
    assert rejected(raw, BadRequest) == [(None, "structure")]


@pytest.mark.parametrize("raw", [b"[]", b'"x"', b"null", b"42"])
def test_not_an_object(raw):
    assert rejected(raw, BadRequest) == [(None, "structure")]


@pytest.mark.parametrize("resource_type", [None, "Patient", 7])
def test_wrong_resource_type(resource_type):
    resource = make_response(BASIC)
    resource["resourceType"] = resource_type
    assert rejected(resource, BadRequest) == [(f"{QR}.resourceType", "structure")]


def nested_items(depth: int) -> dict[str, Any]:
    item: dict[str, Any] = {"linkId": "symptoms"}
    for _ in range(depth):
        item = {"linkId": "symptoms", "item": [item]}
    return item


def nested_extensions(depth: int) -> dict[str, Any]:
    """A response exactly ``depth`` containers deep (its innermost is a CodeableConcept)."""
    extension: dict[str, Any] = {"url": "urn:x", "valueCodeableConcept": {"text": "deep"}}
    if depth % 2:  # one more level: an (empty) array inside the innermost CodeableConcept
        extension["valueCodeableConcept"]["coding"] = []
    for _ in range((depth - 2) // 2 - 1):
        extension = {"url": "urn:x", "extension": [extension]}
    resource = make_response(BASIC)
    resource["extension"] = [extension]
    return resource


def test_nesting_limit_is_exact():
    assert not deeper_than(nested_extensions(MAX_DEPTH), MAX_DEPTH)
    assert deeper_than(nested_extensions(MAX_DEPTH + 1), MAX_DEPTH)
    assert fully_understood(nested_extensions(MAX_DEPTH))
    validate_questionnaire_response(body(nested_extensions(MAX_DEPTH)))
    assert rejected(nested_extensions(MAX_DEPTH + 1), BadRequest) == [(QR, "structure")]


def test_nesting_deeper_than_the_limit():
    resource = make_response(BASIC)
    resource["item"].append(nested_items(MAX_DEPTH // 2))
    assert rejected(resource, BadRequest) == [(QR, "structure")]


def test_nesting_deeper_than_the_limit_in_unusual_elements():
    resource = make_response(BASIC)
    extension: dict[str, Any] = {"url": "urn:x", "valueString": "x"}
    for _ in range(MAX_DEPTH):
        extension = {"url": "urn:x", "extension": [extension]}
    resource["modifierExtension"] = [extension]
    assert rejected(resource, BadRequest) == [(QR, "structure")]


def test_nesting_beyond_the_json_parser():
    raw = b'{"resourceType": "QuestionnaireResponse", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert rejected(raw, BadRequest) == [(None, "structure")]


def test_structure_errors_are_all_listed_with_paths():
    resource = make_response(BASIC)
    resource["item"][0]["item"][0]["colour"] = "blue"  # about-you / age
    resource["authored"] = "2026-02-30T10:00:00Z"
    resource["item"][1]["item"][0]["linkId"] = 12
    resource["status"] = 3
    found = dict(rejected(resource, BadRequest))
    assert found == {
        f"{QR}.item[0].item[0].colour": "structure",
        f"{QR}.authored": "value",
        f"{QR}.item[1].item[0].linkId": "structure",
        f"{QR}.status": "structure",
    }


def test_missing_status():
    # fhir.resources checks required elements only once every field is valid,
    # so this issue comes alone (after the others are fixed).
    resource = make_response(BASIC)
    del resource["status"]
    assert rejected(resource, BadRequest) == [(f"{QR}.status", "required")]


@pytest.mark.parametrize(
    ("mutate", "expression"),
    [
        (lambda r: r["item"][0]["item"][0]["answer"][0].update(valueString="x"),
         f"{QR}.item[0].item[0].answer[0]"),
        (lambda r: r.update(id="no_underscores"), f"{QR}.id"),
        (lambda r: r["subject"].update(reference=""), f"{QR}.subject.reference"),
        (lambda r: r.update(item=[None]), f"{QR}.item"),
        (lambda r: r.update(identifier=[{"value": "x"}]), f"{QR}.identifier"),
        (lambda r: r.update(authored="2026-11-26T10:00:00"), f"{QR}.authored"),
        (lambda r: r.update(status="in  progress"), f"{QR}.status"),
        (lambda r: r.update(_status={}), f"{QR}.status"),
        (lambda r: r.update(contained=[{"resourceType": "NoSuchResource"}]), QR),
    ],
)  # fmt: skip
def test_invalid_fhir(mutate, expression):
    resource = make_response(BASIC)
    mutate(resource)
    assert expression in expressions(resource, BadRequest)


# --- 422: valid FHIR that breaks our Questionnaire -------------------------------------------


@pytest.mark.parametrize("status", ["in-progress", "entered-in-error", "stopped", "unknown"])
def test_status_must_be_final(status):
    resource = make_response(BASIC, status=status)
    assert rejected(resource, Unprocessable) == [(f"{QR}.status", "value")]


@pytest.mark.parametrize(
    ("questionnaire", "code"),
    [
        (None, "required"),
        (f"{CANONICAL}|2.0.0", "not-supported"),
        (f"{CANONICAL}|1.2.0", "not-supported"),
        (f"{CANONICAL}|1.0", "not-supported"),
        (f"{CANONICAL}|", "not-supported"),
        ("http://example.org/Questionnaire/other", "value"),
        (f"{CANONICAL}/", "value"),
    ],
)
def test_questionnaire_must_be_ours(questionnaire, code):
    resource = make_response(BASIC, questionnaire=questionnaire)
    assert rejected(resource, Unprocessable) == [(f"{QR}.questionnaire", code)]


@pytest.mark.parametrize(
    ("subject", "expression"),
    [
        (None, f"{QR}.subject"),
        ({"display": "someone"}, f"{QR}.subject"),
        ({"reference": "Practitioner/1"}, f"{QR}.subject.reference"),
        ({"reference": "Patient/"}, f"{QR}.subject.reference"),
        ({"reference": "Patient/a/_history/2"}, f"{QR}.subject.reference"),
        ({"reference": "urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427"},
         f"{QR}.subject.reference"),
        ({"reference": "#contained"}, f"{QR}.subject.reference"),
        ({"reference": "Patient/x", "type": "Group"}, f"{QR}.subject.type"),
    ],
)  # fmt: skip
def test_subject_must_be_a_patient(subject, expression):
    resource = make_response(BASIC)
    if subject is None:
        del resource["subject"]
    else:
        resource["subject"] = subject
    assert expressions(resource, Unprocessable) == [expression]


def test_identifier_needs_a_value():
    resource = make_response(BASIC)
    resource["identifier"] = {"system": "urn:x"}
    assert rejected(resource, Unprocessable) == [(f"{QR}.identifier.value", "required")]


def test_unknown_link_id():
    resource = make_response({**BASIC, "not-a-question": True}, nested=False)
    assert rejected(resource, Unprocessable) == [(f"{QR}.item[4].linkId", "not-found")]


@pytest.mark.parametrize(
    ("link_id", "diagnostics"),
    [
        (
            "numbnes",
            "linkId 'numbnes' is not an item of the Questionnaire; did you mean 'numbness'?",
        ),
        ("zzz-unrelated", "linkId 'zzz-unrelated' is not an item of the Questionnaire"),
        ("free text, not a linkId", "linkId is not an item of the Questionnaire"),
    ],
)
def test_an_unknown_link_id_is_quoted_with_a_near_match(link_id, diagnostics):
    resource = make_response({**BASIC, link_id: True}, nested=False)
    with pytest.raises(Unprocessable) as caught:
        validate_questionnaire_response(body(resource))
    assert [issue.diagnostics for issue in caught.value.issues] == [diagnostics]


def test_a_bad_code_lists_the_codes_of_the_item_in_questionnaire_order():
    resource = make_response({**BASIC, "sex": "mael"}, nested=False)
    with pytest.raises(Unprocessable) as caught:
        validate_questionnaire_response(body(resource))
    (issue,) = caught.value.issues
    assert issue.diagnostics == (
        "valueCoding.code is not an answer code of item sex; its codes are female, male, other"
    )
    assert "mael" not in issue.diagnostics  # an answer about the patient: never echoed


@pytest.mark.parametrize(
    ("raw", "where"),
    [(b'{"a": 1,}', "line 1, column 8"), (b'{\n  "status": \n}', "line 3, column 1")],
)
def test_malformed_json_says_where(raw, where):
    with pytest.raises(BadRequest) as caught:
        validate_questionnaire_response(raw)
    assert caught.value.issues[0].diagnostics.endswith(f"at {where}")


def test_duplicate_link_id():
    resource = make_response(BASIC, nested=False)
    resource["item"].append(copy.deepcopy(resource["item"][0]))
    assert rejected(resource, Unprocessable) == [(f"{QR}.item[4]", "duplicate")]


def test_item_under_the_wrong_group():
    resource = make_response({"age": 40, "burning": True})
    burning = resource["item"][1]["item"].pop()
    del resource["item"][1]
    resource["item"][0]["item"].append(burning)  # under about-you
    assert rejected(resource, Unprocessable) == [(f"{QR}.item[0].item[1]", "structure")]


def test_group_at_the_wrong_level():
    resource = make_response({"age": 40, "burning": True})
    symptoms = resource["item"].pop()
    resource["item"][0]["item"].append(symptoms)
    assert expressions(resource, Unprocessable) == [f"{QR}.item[0].item[1]"]


def test_group_cannot_be_answered():
    resource = make_response(BASIC)
    resource["item"][0]["answer"] = [{"valueBoolean": True}]
    assert rejected(resource, Unprocessable) == [(f"{QR}.item[0].answer", "structure")]


def test_display_item_cannot_be_answered():
    resource = make_response(BASIC, nested=False)
    resource["item"].append({"linkId": "urgent-advice", "answer": [{"valueBoolean": True}]})
    assert expressions(resource, Unprocessable) == [f"{QR}.item[4].answer"]


def test_one_answer_unless_repeating():
    resource = make_response({**BASIC, "sex": ("male", "female")}, nested=False)
    assert rejected(resource, Unprocessable) == [(f"{QR}.item[1].answer", "structure")]


def test_repeating_answer_lists_each_code_once():
    resource = make_response({"age": 30, "regions": ("face", "trunk", "face")}, nested=False)
    assert rejected(resource, Unprocessable) == [(f"{QR}.item[1].answer", "duplicate")]


@pytest.mark.parametrize(
    ("link_id", "answer", "below"),
    [
        ("numbness", {"valueString": "yes"}, ".valueString"),
        ("numbness", {"valueInteger": 1}, ".valueInteger"),
        ("numbness", {"valueBoolean": "true"}, ".valueBoolean"),
        ("numbness", {"valueBoolean": 1}, ".valueBoolean"),
        ("numbness", {}, ""),
        ("age", {"valueInteger": "61"}, ".valueInteger"),
        ("age", {"valueInteger": 61.0}, ".valueInteger"),
        ("age", {"valueInteger": True}, ".valueInteger"),
        ("age", {"valueDecimal": 61}, ".valueDecimal"),
        ("age", {"valueInteger": -1}, ".valueInteger"),
        ("age", {"valueInteger": 131}, ".valueInteger"),
        ("sex", {"valueCoding": {"system": "urn:other", "code": "male"}}, ".valueCoding.system"),
        ("sex", {"valueCoding": {"code": "male"}}, ".valueCoding.system"),
        ("sex", {"valueCoding": {"system": "http://neuroscreen.org/fhir/CodeSystem/screen-answers",
                                 "code": "face"}}, ".valueCoding.code"),
        ("sex", {"valueCoding": {"system": "http://neuroscreen.org/fhir/CodeSystem/screen-answers",
                                 "display": "Male"}}, ".valueCoding.code"),
        ("sex", {"valueString": "male"}, ".valueString"),
    ],
)  # fmt: skip
def test_answer_must_match_the_item_type(link_id, answer, below):
    resource = make_response(BASIC, nested=False)
    position = [item["linkId"] for item in resource["item"]].index(link_id)
    resource["item"][position]["answer"] = [answer]
    found = expressions(resource, Unprocessable)
    assert found == [f"{QR}.item[{position}].answer[0]{below}"]


@pytest.mark.parametrize("items", [None, [], [{"linkId": "about-you"}]])
def test_age_is_required(items):
    resource = make_response({})
    resource["item"] = items
    if items is None:
        del resource["item"]
    assert rejected(resource, Unprocessable) == [(f"{QR}.item", "required")]


def test_age_with_an_empty_answer_is_missing():
    resource = make_response({"age": 50})
    resource["item"][0]["item"][0]["answer"] = []
    assert rejected(resource, Unprocessable) == [(f"{QR}.item", "required")]


def test_answers_nested_under_answers_are_checked():
    resource = make_response(BASIC, nested=False)
    resource["item"][0]["answer"][0]["item"] = [{"linkId": "burning"}]  # age's answer
    assert expressions(resource, Unprocessable) == [f"{QR}.item[0].answer[0].item[0]"]


def test_every_problem_is_listed():
    resource = make_response(
        {"age": 300, "sex": "unknown", "burning": "yes", "regions": ("knee",), "nope": 1},
        status="in-progress",
        questionnaire=None,
        patient="Group/9",
        nested=False,
    )
    found = rejected(resource, Unprocessable)
    assert sorted(found) == sorted([
        (f"{QR}.status", "value"),
        (f"{QR}.questionnaire", "required"),
        (f"{QR}.subject.reference", "value"),
        (f"{QR}.item[0].answer[0].valueInteger", "value"),
        (f"{QR}.item[1].answer[0].valueCoding.code", "code-invalid"),
        (f"{QR}.item[2].answer[0].valueCoding", "value"),  # "yes" became a Coding
        (f"{QR}.item[3].answer[0].valueCoding.code", "code-invalid"),
        (f"{QR}.item[4].linkId", "not-found"),
    ])  # fmt: skip


def test_issue_count_is_capped():
    resource = make_response({"age": 40}, nested=False)
    resource["item"] += [{"linkId": f"unknown-{n}"} for n in range(MAX_ISSUES * 2)]
    with pytest.raises(Unprocessable) as caught:
        validate_questionnaire_response(body(resource))
    assert len(caught.value.issues) == MAX_ISSUES
    assert caught.value.issues[-1].severity == "information"


# --- no PHI in OperationOutcomes --------------------------------------------------------------

SECRETS = ["SECRET-ID-4711", "Jane-Secret-Doe", "Secret link", "SECRETPATIENT42", "secret-code"]


@pytest.mark.parametrize("kind", [BadRequest, Unprocessable])
def test_diagnostics_never_echo_values(kind):
    resource = make_response(
        # An unknown linkId is quoted only when shaped like one: free text never is.
        {"age": 4711, "Secret link: Jane-Secret-Doe": True, "sex": "secret-code"},
        patient="Practitioner/SECRETPATIENT42",
        identifier=("urn:SECRET-ID-4711", "SECRET-ID-4711"),
        nested=False,
    )
    resource["subject"]["display"] = "Jane-Secret-Doe"
    resource["item"][0]["answer"].append({"valueString": "Jane-Secret-Doe"})
    if kind is BadRequest:
        resource["identifier"]["SECRET-ID-4711"] = "SECRET-ID-4711"
        resource["subject"]["reference"] = {"SECRETPATIENT42": "Jane-Secret-Doe"}
        resource["item"][1]["answer"][0]["valueBoolean"] = "Jane-Secret-Doe"
        resource["authored"] = "SECRET-ID-4711"
    with pytest.raises(kind) as caught:
        validate_questionnaire_response(body(resource))
    assert len(caught.value.issues) >= 3
    text = orjson.dumps(caught.value.outcome()).decode()
    for secret in [*SECRETS, "4711"]:
        assert secret not in text
