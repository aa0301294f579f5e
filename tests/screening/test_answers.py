"""Reading a FHIR QuestionnaireResponse into answers, and checking answers."""

from __future__ import annotations

from typing import Any

import pytest

from screening.engine import AnswerError, answers_from_questionnaire_response, evaluate
from screening.knowledge import Knowledge, load_knowledge

CANONICAL = "http://neuroscreen.org/fhir/Questionnaire/immune-neuropathy-screen"
SYSTEM = "http://neuroscreen.org/fhir/CodeSystem/screen-answers"


def coding(code: str) -> dict[str, Any]:
    return {"valueCoding": {"system": SYSTEM, "code": code}}


def response(*items: dict[str, Any], questionnaire: str | None = CANONICAL + "|1.0.0"):
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "item": list(items),
    }
    if questionnaire:
        resource["questionnaire"] = questionnaire
    return resource


def test_nested_groups_and_all_value_types(knowledge: Knowledge):
    resource = response(
        {"linkId": "about-you", "item": [{"linkId": "age", "answer": [{"valueInteger": 47}]}]},
        {
            "linkId": "symptoms",
            "item": [
                {"linkId": "symptoms-intro", "text": "display"},
                {"linkId": "burning", "answer": [{"valueBoolean": True}]},
                {"linkId": "numbness", "answer": [{"valueBoolean": False}]},
            ],
        },
        {
            "linkId": "where",
            "item": [
                {"linkId": "regions", "answer": [coding("right-foot"), coding("left-hand")]},
                {"linkId": "spread-pattern", "answer": [coding("separate-nerves")]},
            ],
        },
        {
            "linkId": "history",
            "item": [
                {
                    "linkId": "diabetes",
                    "answer": [
                        {
                            "valueBoolean": True,
                            # Items nested under an answer (enableWhen-style follow-ups).
                            "item": [{"linkId": "known-conditions", "answer": [coding("lupus")]}],
                        }
                    ],
                }
            ],
        },
    )
    answers = answers_from_questionnaire_response(resource, knowledge)
    assert answers == {
        "age": 47,
        "burning": True,
        "numbness": False,
        "regions": ("left-hand", "right-foot"),
        "spread-pattern": "separate-nerves",
        "diabetes": True,
        "known-conditions": ("lupus",),
    }
    evaluate(answers, knowledge)


def test_unanswered_items_are_absent_not_false(knowledge: Knowledge):
    resource = response({"linkId": "burning"}, {"linkId": "tingling", "answer": []})
    assert answers_from_questionnaire_response(resource, knowledge) == {}


@pytest.mark.parametrize(
    "questionnaire", [CANONICAL, CANONICAL + "|1.0.0", CANONICAL + "|1.1.0", None]
)
@pytest.mark.parametrize("version", ["1.0.0", "2.0.0"])
def test_accepts_the_canonical_with_or_without_version(questionnaire, version):
    """Contract minor versions are additive: every knowledge of major 1 reads 1.0.0 and
    1.1.0 responses. Each reads every item of the one Questionnaire (1.0.0's rules just
    never look at the 1.1.0 items)."""
    resource = response(
        {"linkId": "age", "answer": [{"valueInteger": 30}]},
        {"linkId": "one-side-body", "answer": [{"valueBoolean": True}]},
        questionnaire=questionnaire,
    )
    answers = answers_from_questionnaire_response(resource, load_knowledge(version))
    assert answers == {"age": 30, "one-side-body": True}


def test_uses_the_current_knowledge_by_default():
    resource = response({"linkId": "age", "answer": [{"valueInteger": 30}]})
    assert answers_from_questionnaire_response(resource) == {"age": 30}


BAD: dict[str, tuple[dict[str, Any], str]] = {
    "not a response": ({"resourceType": "Patient"}, "not a QuestionnaireResponse"),
    "another questionnaire": (
        response(questionnaire=CANONICAL + "|2.0.0"),
        "another questionnaire",
    ),
    "boolean as string": (
        response({"linkId": "burning", "answer": [{"valueString": "yes"}]}),
        "burning",
    ),
    "integer as boolean": (
        response({"linkId": "age", "answer": [{"valueInteger": True}]}),
        "age",
    ),
    "unknown code": (
        response({"linkId": "spread-pattern", "answer": [coding("everywhere")]}),
        "spread-pattern",
    ),
    "code from another system": (
        response(
            {
                "linkId": "sex",
                "answer": [{"valueCoding": {"system": "http://loinc.org", "code": "female"}}],
            }
        ),
        "another system",
    ),
    "two answers to a single item": (
        response({"linkId": "duration", "answer": [coding("under-4-weeks"), coding("stable")]}),
        "duration",
    ),
    "negative age": (response({"linkId": "age", "answer": [{"valueInteger": -1}]}), "age"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_answers_that_break_the_contract_fail(case: str, knowledge: Knowledge):
    resource, message = BAD[case]
    with pytest.raises(AnswerError, match=message):
        answers_from_questionnaire_response(resource, knowledge)


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"burning": 1}, "burning"),
        ({"burning": "yes"}, "burning"),
        ({"age": 50.5}, "age"),
        ({"age": "50"}, "age"),
        ({"sex": "woman"}, "sex"),
        ({"regions": "face"}, "regions"),
        ({"regions": ("face", "nose")}, "regions"),
        ({"spread-pattern": ("one-area",)}, "spread-pattern"),
    ],
)
def test_evaluate_rejects_values_that_do_not_fit(answers, message, knowledge: Knowledge):
    with pytest.raises(AnswerError, match=message):
        evaluate(answers, knowledge)


def test_evaluate_normalises_repeating_choices(knowledge: Knowledge):
    as_list = evaluate({"numbness": True, "regions": ["right-foot", "left-hand"]}, knowledge)
    as_tuple = evaluate({"numbness": True, "regions": ("left-hand", "right-foot")}, knowledge)
    assert as_list == as_tuple
    assert {p.code for p in as_list.patterns} == {"mononeuritis-multiplex"}
    empty = evaluate({"numbness": True, "regions": ()}, knowledge)
    assert "regions" in {u.link_id for u in empty.unanswered}


def test_unknown_link_ids_are_ignored(knowledge: Knowledge):
    assert evaluate({"numbness": True, "favourite-colour": "blue"}, knowledge) == evaluate(
        {"numbness": True}, knowledge
    )
