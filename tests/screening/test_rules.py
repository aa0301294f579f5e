"""The condition language: each form read from YAML, checked, and interpreted with its evidence.

Conditions are read against the real Questionnaire (through the v1 knowledge
base's contract) and evaluated on a :class:`RuleContext`, as the engine does.
"""

from __future__ import annotations

from typing import Any

import pytest

from screening.knowledge import Knowledge
from screening.knowledge.conditions import ConditionReader
from screening.knowledge.rules import Node, RuleContext, Stage, distinct
from screening.result import AnswerValue


@pytest.fixture(scope="module")
def reader(knowledge: Knowledge) -> ConditionReader:
    reader = ConditionReader(knowledge.contract, knowledge.evidence)
    systemic = reader.read({"any_yes": ["fever-sweats", "weight-loss"]}, Stage.ANSWERS, "t")
    reader.define_fact("systemic", systemic, "t")
    return reader


def read(reader: ConditionReader, raw: dict[str, Any], stage: Stage = Stage.WORKUP) -> Node:
    return reader.read(raw, stage, "test rule")


def texts(node: Node, ctx: RuleContext) -> list[str] | None:
    found = node.check(ctx)
    return None if found is None else [e.text for e in found]


def ctx(**answers: AnswerValue) -> RuleContext:
    return RuleContext({key.replace("_", "-"): value for key, value in answers.items()})


ITEM_FORMS: list[tuple[dict[str, Any], dict[str, AnswerValue], list[str] | None]] = [
    ({"item": "nasal-polyps", "is": True}, {"nasal_polyps": True}, ["nasal polyps: yes"]),
    ({"item": "nasal-polyps", "is": True}, {"nasal_polyps": False}, None),
    ({"item": "nasal-polyps", "is": True}, {}, None),
    ({"item": "numbness", "is": False}, {"numbness": False}, ["numbness: no"]),
    ({"item": "numbness", "is": False}, {}, None),  # unanswered is never "no"
    ({"item": "duration", "in": ["under-4-weeks", "4-to-8-weeks"]},
     {"duration": "4-to-8-weeks"}, ["duration: 4 to 8 weeks"]),
    ({"item": "duration", "in": ["under-4-weeks"]}, {"duration": "over-1-year"}, None),
    ({"item": "regions", "includes": ["left-foot", "right-foot"]},
     {"regions": ("left-hand", "left-foot", "right-foot")},
     ["symptoms in: left foot", "symptoms in: right foot"]),
    ({"item": "regions", "includes": ["face"]}, {"regions": ("left-hand",)}, None),
    ({"item": "regions", "only": ["left-hand", "right-hand"]},
     {"regions": ("left-hand", "right-hand")}, ["symptoms in: left hand", "symptoms in: right hand"]),
    ({"item": "regions", "only": ["left-hand", "right-hand"]},
     {"regions": ("left-hand", "face")}, None),
    ({"item": "regions", "only": ["left-hand"]}, {}, None),
    ({"item": "age", "at_least": 50}, {"age": 50}, ["age: 50"]),
    ({"item": "age", "at_least": 50}, {"age": 49}, None),
    ({"item": "age", "below": 18}, {"age": 17}, ["age: 17"]),
    ({"item": "age", "below": 18}, {"age": 18}, None),
    ({"item": "age", "below": 18}, {}, None),
    ({"item": "duration", "answered": False}, {}, []),
    ({"item": "duration", "answered": False}, {"duration": "over-1-year"}, None),
    ({"item": "onset-speed", "in": ["sudden"]}, {"onset_speed": "sudden"},
     ["onset: sudden (minutes or hours)"]),  # a 1.1.0 item, worded by the Questionnaire
    ({"any_yes": ["fever-sweats", "weight-loss", "raynaud"]},
     {"fever_sweats": True, "weight_loss": False, "raynaud": True},
     ["unexplained fevers or night sweats: yes", "fingers turning white or blue in the cold: yes"]),
    ({"any_yes": ["fever-sweats"]}, {"fever_sweats": False}, None),
    ({"any_answered": ["burning", "tingling"]}, {"tingling": False}, []),
    ({"any_answered": ["burning", "tingling"]}, {"age": 40}, None),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "answers", "expected"), ITEM_FORMS)
def test_answer_forms_give_the_answers_that_made_them_true(reader, raw, answers, expected):
    assert texts(read(reader, raw), ctx(**answers)) == expected


def test_all_needs_every_part_and_reports_every_part(reader):
    node = read(reader, {"all": [{"item": "weakness", "is": True}, {"fact": "systemic"}]})
    assert texts(node, ctx(weakness=True, fever_sweats=True)) == [
        "muscle weakness: yes",
        "unexplained fevers or night sweats: yes",
    ]
    assert texts(node, ctx(weakness=True)) is None
    assert texts(node, ctx(fever_sweats=True)) is None


def test_any_checks_every_part_so_the_evidence_names_every_reason(reader):
    node = read(reader, {"any": [{"item": "raynaud", "is": True}, {"fact": "systemic"}]})
    assert texts(node, ctx(raynaud=True, weight_loss=True)) == [
        "fingers turning white or blue in the cold: yes",
        "unintended weight loss of 4 kg or more: yes",
    ]
    assert texts(node, ctx(raynaud=False)) is None


def test_count_needs_enough_parts_and_reports_every_part_that_holds(reader):
    raw = {
        "count": [
            {"item": "fever-sweats", "is": True},
            {"item": "weight-loss", "is": True},
            {"item": "skin-lesions", "is": True},
        ],
        "at_least": 2,
    }
    node = read(reader, raw)
    assert texts(node, ctx(fever_sweats=True)) is None
    assert texts(node, ctx(fever_sweats=True, skin_lesions=True, weight_loss=False)) == [
        "unexplained fevers or night sweats: yes",
        "livedo, painful skin nodules or skin ulcers: yes",
    ]


def test_not_holds_without_evidence(reader):
    node = read(reader, {"not": {"fact": "systemic"}})
    assert texts(node, ctx()) == []
    assert texts(node, ctx(weight_loss=True)) is None


def test_a_fact_is_evaluated_once_per_response(reader):
    node = read(reader, {"all": [{"fact": "systemic"}, {"fact": "systemic"}]})
    context = ctx(weight_loss=True)
    found = node.check(context)
    assert found is not None
    assert found[0] is found[1]  # the same memoised evidence object, twice
    assert context.facts["systemic"] == found[:1]
    assert distinct(found) == found[:1]


def test_engine_stages_feed_later_rules(reader):
    context = ctx(weakness=True)
    pattern = read(reader, {"pattern": "single-nerve"})
    assert pattern.check(context) is None
    evidence = read(reader, {"item": "weakness", "is": True}).check(context)
    context.patterns["single-nerve"] = evidence
    assert pattern.check(context) == evidence
    context.levels = {"egpa": 2, "lupus": 1}
    context.clusters = {"egpa": 3, "lupus": 1}
    context.suspicion_evidence = {"egpa": evidence, "lupus": ()}
    context.leading = "egpa"
    assert read(reader, {"suspicion": "egpa", "at_least": "moderate"}).check(context) == evidence
    assert read(reader, {"suspicion": "egpa", "at_least": "high"}).check(context) is None
    assert read(reader, {"cluster": "egpa", "at_least": "high"}).check(context) == evidence
    assert read(reader, {"suspicion": "any"}).check(context) == evidence
    assert (
        read(reader, {"suspicion": ["lupus", "celiac"], "at_least": "moderate"}).check(context)
        is None
    )
    leading = {"leading_suspicion": ["egpa", "lupus"], "at_least": "moderate"}
    assert read(reader, leading).check(context) == evidence
    context.tier = 2
    assert read(reader, {"tier_at_least": "high"}).check(context) == ()
    assert read(reader, {"tier_at_least": "urgent"}).check(context) is None


REFUSED = [
    ({"item": "eosinophils", "is": True}, Stage.ANSWERS, "'eosinophils' is not a linkId"),
    ({"item": "duration", "in": ["soon"]}, Stage.ANSWERS, "not answer codes"),
    ({"item": "age", "is": True}, Stage.ANSWERS, "does not fit integer item"),
    ({"item": "burning", "is": "yes"}, Stage.ANSWERS, "expected true or false"),
    ({"item": "burning"}, Stage.ANSWERS, "exactly one test"),
    ({"any_yes": ["age"]}, Stage.ANSWERS, "not a boolean item"),
    ({"fact": "later"}, Stage.ANSWERS, "not defined"),
    ({"fact": "red-flag"}, Stage.PATTERNS, "not known yet at the patterns stage"),
    ({"pattern": "single-nerve"}, Stage.ANSWERS, "cannot look at the pattern"),
    ({"pattern": "radiculopathy"}, Stage.PATTERNS, "not a neuropathy-pattern code"),
    ({"suspicion": "egpa"}, Stage.RED_FLAGS, "cannot look at the suspicion"),
    ({"suspicion": "gout"}, Stage.TIERS, "not a screened condition"),
    ({"leading_suspicion": "any"}, Stage.TIERS, "not a screened condition"),
    ({"tier_at_least": "high"}, Stage.TIERS, "cannot look at the tier"),
    ({"all": []}, Stage.ANSWERS, "non-empty list"),
    ({"not": {"fact": "systemic"}, "any": []}, Stage.ANSWERS, "unexpected keys"),
    ({"answer": "burning"}, Stage.ANSWERS, "unknown condition form"),
    ({"count": [{"fact": "systemic"}], "at_least": 1}, Stage.ANSWERS, "at least two"),
    ({"count": [{"fact": "systemic"}, {"item": "raynaud", "is": True}]}, Stage.ANSWERS,
     "at_least between 1 and 2"),
    ({"count": [{"fact": "systemic"}, {"pattern": "none"}], "at_least": 1}, Stage.ANSWERS,
     "cannot look at the pattern"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "stage", "message"), REFUSED)
def test_bad_conditions_are_refused_at_load(reader, raw, stage, message):
    with pytest.raises(ValueError, match=message):
        read(reader, raw, stage)
