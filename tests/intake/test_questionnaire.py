"""The screening Questionnaire: valid R4, true to the contract, and safe to render.

The contract table below is copied from the questionnaire contract (1.1.0) on
purpose: it is an external interface, so a change to the Questionnaire that
breaks it must fail here even where the shared spec is not checked out. It is
the only copy of the items outside the Questionnaire itself: the engine and
every other test read the Questionnaire.
"""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire

from intake.questionnaire import (
    ACCEPTED_VERSIONS,
    ANSWER_SYSTEM,
    CANONICAL,
    SCREENING_INDEX,
    SCREENING_QUESTIONNAIRE,
    VERSION,
    QuestionnaireIndex,
)

B, C, I = "boolean", "choice", "integer"
CONTRACT: dict[str, tuple[str, tuple[str, ...]]] = {
    # Nerve symptoms
    "burning": (B, ()),
    "painful-cold": (B, ()),
    "electric-shocks": (B, ()),
    "tingling": (B, ()),
    "pins-needles": (B, ()),
    "numbness": (B, ()),
    "itching": (B, ()),
    "weakness": (B, ()),
    "balance": (B, ()),
    "touch-sensitivity": (B, ()),
    # Where and how
    "regions": (
        C,
        (
            "left-hand", "right-hand", "left-arm", "right-arm", "left-foot",
            "right-foot", "left-leg", "right-leg", "face", "trunk",
        ),
    ),
    "spread-pattern": (
        C,
        ("both-sides-from-feet", "started-hands-face-trunk", "separate-nerves", "one-area",
         "unsure"),
    ),
    "face-weakness": (B, ()),
    "double-vision": (B, ()),
    "vision-loss": (B, ()),
    "foot-wrist-drop": (B, ()),
    # Course
    "duration": (C, ("under-4-weeks", "4-to-8-weeks", "2-to-12-months", "over-1-year")),
    "progression": (C, ("worse-over-days", "worse-over-weeks", "stable", "improving")),
    "rapid-ascending-weakness": (B, ()),
    "recent-infection": (B, ()),
    "breathing-swallowing": (B, ()),
    # Whole-body signs
    **{
        link: (B, ())
        for link in (
            "adult-onset-asthma", "nasal-polyps", "chronic-sinusitis", "high-eosinophils",
            "joint-swelling", "morning-stiffness", "facial-rash", "mouth-ulcers",
            "dry-eyes-mouth", "raynaud", "weight-loss", "fever-sweats", "skin-lesions",
            "abdominal-pain-meals", "new-hypertension", "gut-symptoms", "iron-deficiency",
            "muscle-pain", "testicular-pain", "blood-protein-urine", "hepatitis-b",
            "hepatitis-c",
        )
    },
    # History
    "age": (I, ()),
    "sex": (C, ("female", "male", "other")),
    "known-conditions": (
        C,
        ("rheumatoid-arthritis", "lupus", "sjogren", "egpa", "polyarteritis-nodosa", "celiac",
         "other-vasculitis", "none"),
    ),
    **{
        link: (B, ())
        for link in (
            "family-autoimmune", "diabetes", "alcohol", "chemotherapy", "b12-deficiency",
            "hypothyroidism", "nerve-injury",
        )
    },
    # Version 1.1.0 additions
    "onset-speed": (C, ("sudden", "days", "weeks-to-months", "years")),
    "chemotherapy-when": (C, ("within-12-months", "over-12-months-ago")),
    **{
        link: (B, ())
        for link in (
            "one-side-body", "pain", "bladder-bowel", "saddle-numbness", "trunk-band",
            "back-neck-pain", "headache-jaw", "family-neuropathy", "nerve-medicines",
            "kidney-failure", "hiv", "cancer",
        )
    },
}  # fmt: skip
ADDED_IN_1_1 = {
    "onset-speed", "one-side-body", "pain", "bladder-bowel", "saddle-numbness", "trunk-band",
    "back-neck-pain", "headache-jaw", "family-neuropathy", "nerve-medicines",
    "chemotherapy-when", "kidney-failure", "hiv", "cancer",
}  # fmt: skip
REPEATING = {"regions", "known-conditions"}
REQUIRED = {"age"}
RED_FLAGS = {
    "rapid-ascending-weakness", "breathing-swallowing", "face-weakness", "double-vision",
    "vision-loss", "foot-wrist-drop", "one-side-body", "bladder-bowel", "saddle-numbness",
    "trunk-band", "back-neck-pain", "headache-jaw",
}  # fmt: skip
ITEM_CONTROL = "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl"
ITEM_CONTROL_SYSTEM = "http://hl7.org/fhir/questionnaire-item-control"
SHORT_TEXT = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-shortText"
OPTION_SHORT_TEXT = "http://neuroscreen.org/fhir/StructureDefinition/answer-short-text"
ALLOWED_EXTENSIONS = {
    ITEM_CONTROL,
    SHORT_TEXT,
    OPTION_SHORT_TEXT,
    "http://hl7.org/fhir/StructureDefinition/minValue",
    "http://hl7.org/fhir/StructureDefinition/maxValue",
}


def all_items(items: list[dict[str, Any]] = SCREENING_QUESTIONNAIRE["item"], parents=()):
    for item in items:
        yield item, parents
        yield from all_items(item.get("item", []), (*parents, item))


ITEMS = {item["linkId"]: item for item, _ in all_items()}
ANCESTORS = {item["linkId"]: parents for item, parents in all_items()}


def test_is_valid_fhir_r4():
    Questionnaire.model_validate(SCREENING_QUESTIONNAIRE)


def test_metadata():
    q = SCREENING_QUESTIONNAIRE
    assert q["id"] == "immune-neuropathy-screen"
    assert (
        q["url"]
        == CANONICAL
        == ("http://neuroscreen.org/fhir/Questionnaire/immune-neuropathy-screen")
    )
    assert q["version"] == VERSION == "1.1.0"
    assert ACCEPTED_VERSIONS == ("1.0.0", "1.1.0")
    assert q["status"] == "active"
    assert q["subjectType"] == ["Patient"]
    assert q["name"] and q["title"] and q["publisher"] and q["date"]
    assert "decision support" in q["description"]
    assert "does not diagnose" in q["description"]


def test_every_contract_item_once_with_its_type_and_codes():
    link_ids = [item["linkId"] for item, _ in all_items()]
    assert len(link_ids) == len(set(link_ids))
    for link_id, (item_type, codes) in CONTRACT.items():
        item = ITEMS[link_id]
        assert item["type"] == item_type, link_id
        assert bool(item.get("repeats")) == (link_id in REPEATING), link_id
        assert bool(item.get("required")) == (link_id in REQUIRED), link_id
        options = [o["valueCoding"] for o in item.get("answerOption", [])]
        assert [o["code"] for o in options] == list(codes), link_id
        assert all(o["system"] == ANSWER_SYSTEM and o["display"].strip() for o in options)
        assert "answerValueSet" not in item
        assert item["text"].strip()


def test_the_1_1_additions_are_where_a_patient_expects_them():
    """Each new question sits in the group its topic belongs to, after the 1.0.0 items it
    extends, so the form reads in the same order as before with the new questions added."""
    groups = {link: ANCESTORS[link][0]["linkId"] for link in ADDED_IN_1_1}
    assert groups == {
        "pain": "symptoms",
        **dict.fromkeys(
            ("one-side-body", "bladder-bowel", "saddle-numbness", "trunk-band"), "where"
        ),
        "onset-speed": "course",
        "back-neck-pain": "course",
        "headache-jaw": "whole-body",
        **dict.fromkeys(
            ("family-neuropathy", "nerve-medicines", "chemotherapy-when", "kidney-failure",
             "hiv", "cancer"),
            "history",
        ),
    }  # fmt: skip
    order = list(ITEMS)
    assert order.index("chemotherapy-when") == order.index("chemotherapy") + 1


def short_text(item: dict[str, Any], url: str = SHORT_TEXT) -> str | None:
    return next((e["valueString"] for e in item.get("extension", []) if e["url"] == url), None)


def test_every_question_and_answer_has_a_short_clinician_wording():
    """Evidence in screening results quotes these ("nasal polyps: yes"), not the question."""
    for link_id in CONTRACT:
        item = ITEMS[link_id]
        text = short_text(item)
        assert text and text.strip() == text and len(text) < len(item["text"]), link_id
        for option in item.get("answerOption", []):
            assert short_text(option, OPTION_SHORT_TEXT), (link_id, option)


def test_items_outside_the_contract_are_groups_or_display_only():
    extra = {link: item["type"] for link, item in ITEMS.items() if link not in CONTRACT}
    assert set(extra.values()) <= {"group", "display"}
    assert {"symptoms", "where", "course", "whole-body", "history"} <= set(extra)


def test_help_items_use_the_standard_item_control():
    helps = [item for item in ITEMS.values() if item["linkId"].endswith("-help")]
    assert helps
    for item in helps:
        assert item["type"] == "display"
        (extension,) = item["extension"]
        assert extension["url"] == ITEM_CONTROL
        (coding,) = extension["valueCodeableConcept"]["coding"]
        assert (coding["system"], coding["code"]) == (ITEM_CONTROL_SYSTEM, "help")


def test_only_widely_supported_extensions():
    def urls(node: Any):
        if isinstance(node, dict):
            for extension in node.get("extension", []):
                yield extension["url"]
            for value in node.values():
                yield from urls(value)
        elif isinstance(node, list):
            for value in node:
                yield from urls(value)

    assert set(urls(SCREENING_QUESTIONNAIRE)) <= ALLOWED_EXTENSIONS


def test_enable_when_references_existing_answerable_items_with_matching_types():
    answer_element = {"boolean": "answerBoolean", "integer": "answerInteger",
                      "choice": "answerCoding"}  # fmt: skip
    for item in ITEMS.values():
        conditions = item.get("enableWhen", [])
        if len(conditions) > 1:
            assert item["enableBehavior"] in ("any", "all"), item["linkId"]
        for condition in conditions:
            question = ITEMS[condition["question"]]
            assert question["type"] in answer_element, item["linkId"]
            given = [key for key in condition if key.startswith("answer")]
            if condition["operator"] == "exists":
                assert given == ["answerBoolean"]
                continue
            assert given == [answer_element[question["type"]]], item["linkId"]
            if question["type"] == "choice":
                coding = condition["answerCoding"]
                assert coding["system"] == ANSWER_SYSTEM
                assert coding["code"] in CONTRACT[question["linkId"]][1]


def enabled(link_id: str, answers: dict[str, Any]) -> bool:
    """R4 enableWhen semantics for the operators the Questionnaire uses, incl. ancestors."""
    for item in (*ANCESTORS[link_id], ITEMS[link_id]):
        conditions = item.get("enableWhen")
        if not conditions:
            continue
        results = []
        for condition in conditions:
            answer = answers.get(condition["question"])
            if condition["operator"] == "exists":
                results.append((answer is not None) == condition["answerBoolean"])
                continue
            expected = condition.get("answerBoolean", condition.get("answerCoding", {}).get("code"))
            if answer is None:
                results.append(False)
            elif condition["operator"] == "=":
                results.append(answer == expected)
            else:
                assert condition["operator"] == "!="
                results.append(answer != expected)
        combine = all if item.get("enableBehavior") == "all" else any
        if not combine(results):
            return False
    return True


def test_required_items_are_always_reachable():
    for link_id in REQUIRED:
        assert enabled(link_id, {})
        assert not any(item.get("enableWhen") for item in (*ANCESTORS[link_id], ITEMS[link_id]))


def test_red_flag_questions_are_never_hidden():
    for link_id in RED_FLAGS:
        assert not any(item.get("enableWhen") for item in (*ANCESTORS[link_id], ITEMS[link_id]))


@pytest.mark.parametrize(
    ("answers", "shown"),
    [({"sex": "female"}, False), ({"sex": "male"}, True), ({"sex": "other"}, True), ({}, True)],
)
def test_testicular_pain_depends_on_sex(answers, shown):
    assert enabled("testicular-pain", answers) is shown


@pytest.mark.parametrize("link_id", ["regions", "spread-pattern"])
def test_where_questions_need_a_symptom(link_id):
    assert not enabled(link_id, {})
    assert not enabled(link_id, {"burning": False, "numbness": False})
    assert enabled(link_id, {"numbness": True})
    assert enabled(link_id, {"touch-sensitivity": True})


def test_course_questions_follow_any_nerve_problem():
    assert not enabled("duration", {"age": 40})
    assert enabled("duration", {"double-vision": True})
    assert enabled("recent-infection", {"rapid-ascending-weakness": True})
    for link_id in ("duration", "progression", "onset-speed"):
        assert not enabled(link_id, {"pain": False})
        assert enabled(link_id, {"one-side-body": True})
        assert enabled(link_id, {"bladder-bowel": True})


@pytest.mark.parametrize(
    ("answers", "shown"),
    [({}, False), ({"chemotherapy": False}, False), ({"chemotherapy": True}, True)],
)
def test_chemotherapy_when_is_asked_only_after_chemotherapy(answers, shown):
    assert enabled("chemotherapy-when", answers) is shown


@pytest.mark.parametrize("link_id", ["one-side-body", "bladder-bowel", "saddle-numbness"])
def test_a_central_emergency_answer_shows_the_urgent_advice(link_id):
    assert not enabled("central-advice", {})
    assert not enabled("central-advice", {link_id: False})
    assert enabled("central-advice", {link_id: True})
    assert "today" in ITEMS["central-advice"]["text"]


def test_index_matches_the_contract():
    assert isinstance(SCREENING_INDEX, QuestionnaireIndex)
    assert SCREENING_INDEX.required == REQUIRED
    for link_id, (item_type, codes) in CONTRACT.items():
        definition = SCREENING_INDEX[link_id]
        assert definition.type == item_type
        assert definition.codes == frozenset(codes)
        assert definition.repeats == (link_id in REPEATING)
        assert definition.parent is not None
        assert SCREENING_INDEX[definition.parent].type == "group"
    age = SCREENING_INDEX["age"]
    assert (age.min_value, age.max_value) == (0, 130)


def question(link_id: str, **more: Any) -> dict[str, Any]:
    short = [{"url": SHORT_TEXT, "valueString": link_id}]
    return {"linkId": link_id, "type": "boolean", "extension": short, **more}


def test_index_refuses_a_broken_questionnaire():
    twice = {"item": [question("a"), question("a")]}
    with pytest.raises(ValueError, match="used twice"):
        QuestionnaireIndex.compile(twice, ANSWER_SYSTEM)
    foreign = {"item": [{"linkId": "a", "type": "choice",
                         "answerOption": [{"valueCoding": {"system": "urn:x", "code": "y"}}]}]}  # fmt: skip
    with pytest.raises(ValueError, match="outside"):
        QuestionnaireIndex.compile(foreign, ANSWER_SYSTEM)
    with pytest.raises(ValueError, match="unsupported type"):
        QuestionnaireIndex.compile({"item": [{"linkId": "a", "type": "date"}]}, ANSWER_SYSTEM)
    unworded = {"item": [{"linkId": "a", "type": "boolean"}]}
    with pytest.raises(ValueError, match="short wording"):
        QuestionnaireIndex.compile(unworded, ANSWER_SYSTEM)
    option = {"valueCoding": {"system": ANSWER_SYSTEM, "code": "y"}}
    unworded_option = {"item": [question("a", type="choice", answerOption=[option])]}
    with pytest.raises(ValueError, match="short wording"):
        QuestionnaireIndex.compile(unworded_option, ANSWER_SYSTEM)
