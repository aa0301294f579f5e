"""Properties over generated responses: safety monotonicity, purity and well-formed output.

Answers are generated from the contract itself, so every valid combination,
however clinically odd, is fair game.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from screening.engine import answers_from_questionnaire_response, evaluate
from screening.knowledge import load_knowledge
from screening.result import TIER_ORDER

KNOWLEDGE = load_knowledge()
ITEMS = KNOWLEDGE.items
RANK = {tier: index for index, tier in enumerate(TIER_ORDER)}

SYMPTOMS = ("burning", "painful-cold", "electric-shocks", "tingling", "pins-needles", "numbness",
            "itching", "weakness", "balance", "touch-sensitivity", "face-weakness",
            "double-vision", "vision-loss", "foot-wrist-drop", "rapid-ascending-weakness")  # fmt: skip
LOCATION = ("regions", "spread-pattern")

# Positive answers to every feature a red flag looks at (clinical basis c).
RED_FLAG_ANSWERS: tuple[tuple[str, Any], ...] = (
    *((link_id, True) for link_id in (
        "rapid-ascending-weakness", "weakness", "breathing-swallowing", "foot-wrist-drop",
        "fever-sweats", "weight-loss", "skin-lesions", "high-eosinophils", "adult-onset-asthma",
        "new-hypertension", "abdominal-pain-meals", "face-weakness", "double-vision",
        "vision-loss")),
    ("progression", "worse-over-days"),
    ("duration", "under-4-weeks"),
    ("known-conditions", "egpa"),
    ("known-conditions", "polyarteritis-nodosa"),
    ("known-conditions", "other-vasculitis"),
)  # fmt: skip
ALTERNATIVES = ("diabetes", "alcohol", "chemotherapy", "b12-deficiency", "hypothyroidism",
                "nerve-injury")  # fmt: skip


def value_of(link_id: str) -> st.SearchStrategy[Any]:
    spec = ITEMS[link_id]
    if spec.kind == "boolean":
        return st.booleans()
    if spec.kind == "integer":
        return st.integers(min_value=0, max_value=120)
    if spec.repeats:
        return st.lists(st.sampled_from(spec.codes), min_size=1, unique=True).map(tuple)
    return st.sampled_from(spec.codes)


answers_strategy = st.fixed_dictionaries(
    {}, optional={link_id: value_of(link_id) for link_id in ITEMS}
)


def with_answer(answers: dict[str, Any], link_id: str, value: Any) -> dict[str, Any]:
    changed = dict(answers)
    if ITEMS[link_id].repeats:
        changed[link_id] = tuple({*changed.get(link_id, ()), value})
    else:
        changed[link_id] = value
    return changed


SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(answers_strategy, st.sampled_from(RED_FLAG_ANSWERS))
@example(  # once found: an old, settled ascending weakness let diabetes "explain" it
    answers={
        "diabetes": True,
        "painful-cold": True,
        "duration": "2-to-12-months",
        "progression": "stable",
    },
    red_flag_answer=("rapid-ascending-weakness", True),
)
def test_adding_a_red_flag_answer_never_lowers_the_tier(answers, red_flag_answer):
    before = evaluate(answers, KNOWLEDGE)
    after = evaluate(with_answer(answers, *red_flag_answer), KNOWLEDGE)
    assert RANK[after.tier] >= RANK[before.tier], (before.tier, after.tier)


@SETTINGS
@given(answers_strategy, st.lists(st.sampled_from(RED_FLAG_ANSWERS), min_size=1, max_size=4))
def test_adding_several_red_flag_answers_never_lowers_the_tier(answers, red_flag_answers):
    before = evaluate(answers, KNOWLEDGE)
    changed = answers
    for link_id, value in red_flag_answers:
        changed = with_answer(changed, link_id, value)
    assert RANK[evaluate(changed, KNOWLEDGE).tier] >= RANK[before.tier]


POSITIVE_ANSWERS: tuple[tuple[str, Any], ...] = (
    *((i, True) for i, spec in ITEMS.items() if spec.kind == "boolean" and i not in ALTERNATIVES),
    *(("known-conditions", code) for code in ITEMS["known-conditions"].codes if code != "none"),
)


@SETTINGS
@given(answers_strategy, st.sampled_from(POSITIVE_ANSWERS))
@example(  # haematuria scores -1 for EGPA: it re-ranks, it must not de-escalate
    answers={
        "numbness": True,
        "spread-pattern": "both-sides-from-feet",
        "adult-onset-asthma": True,
        "nasal-polyps": True,
    },
    positive_answer=("blood-protein-urine", True),
)
@example(  # hepatitis C excludes Sjögren's classification but not the urgency
    answers={
        "numbness": True,
        "spread-pattern": "started-hands-face-trunk",
        "dry-eyes-mouth": True,
    },
    positive_answer=("hepatitis-c", True),
)
def test_adding_any_feature_other_than_an_alternative_cause_never_lowers_the_tier(
    answers, positive_answer
):
    before = evaluate(answers, KNOWLEDGE)
    after = evaluate(with_answer(answers, *positive_answer), KNOWLEDGE)
    assert RANK[after.tier] >= RANK[before.tier], (before.tier, after.tier)


@SETTINGS
@given(answers_strategy, st.sampled_from(ALTERNATIVES))
def test_an_alternative_cause_never_lowers_high_or_urgent(answers, alternative):
    before = evaluate(answers, KNOWLEDGE)
    after = evaluate(with_answer(answers, alternative, True), KNOWLEDGE)
    if before.tier in ("urgent", "high"):
        assert after.tier == before.tier
    if before.red_flags:
        assert {f.rule_id for f in after.red_flags} == {f.rule_id for f in before.red_flags}
    codes = {step.code for step in before.workup}
    if "anca" in codes and any(
        answers.get(i) is True
        for i in ("fever-sweats", "weight-loss", "skin-lesions", "high-eosinophils")
    ):
        assert "anca" in {step.code for step in after.workup}


@SETTINGS
@given(answers_strategy)
def test_symptoms_answered_no_give_low_and_no_workup(answers):
    result = evaluate(answers | dict.fromkeys(SYMPTOMS, False), KNOWLEDGE)
    assert result.tier == "low"
    assert result.workup == ()
    assert result.red_flags == ()
    assert not result.neuropathy_evidence
    assert [p.code for p in result.patterns] == ["none"]


@SETTINGS
@given(answers_strategy)
def test_removing_symptoms_and_their_location_gives_low_and_no_workup(answers):
    stripped = {k: v for k, v in answers.items() if k not in SYMPTOMS and k not in LOCATION}
    result = evaluate(stripped, KNOWLEDGE)
    assert result.tier == "low"
    assert result.workup == ()


@SETTINGS
@given(answers_strategy)
def test_any_valid_answers_score_deterministically_and_well_formed(answers):
    result = evaluate(answers, KNOWLEDGE)
    assert evaluate(dict(reversed(list(answers.items()))), KNOWLEDGE) == result
    contract = KNOWLEDGE.contract
    assert result.tier in contract.tiers
    assert {p.code for p in result.patterns} <= set(contract.patterns)
    assert len({p.code for p in result.patterns}) == len(result.patterns)
    assert {s.condition for s in result.suspicions} <= set(contract.conditions)
    codes = [step.code for step in result.workup]
    assert set(codes) <= set(contract.workup)
    assert len(set(codes)) == len(codes)
    assert (result.tier == "urgent") is bool(result.red_flags)
    if result.tier == "urgent":
        assert codes[0] == "emergency-assessment"
    else:
        assert "emergency-assessment" not in codes
    if result.tier in ("moderate", "high"):
        assert "neurology-referral" in codes
    levels = [s.level for s in result.suspicions]
    order = {"high": 0, "moderate": 1, "low": 2}
    assert levels == sorted(levels, key=order.__getitem__)
    assert 0 <= result.dn4_score <= 7
    assert "not a diagnosis" in result.summary
    assert result.knowledge_version == "1.0.0"


@SETTINGS
@given(answers_strategy)
def test_a_questionnaire_response_round_trips(answers):
    def answer(link_id: str, value: Any) -> list[dict[str, Any]]:
        spec = ITEMS[link_id]
        if spec.kind == "boolean":
            return [{"valueBoolean": value}]
        if spec.kind == "integer":
            return [{"valueInteger": value}]
        codes = value if spec.repeats else (value,)
        return [{"valueCoding": {"system": KNOWLEDGE.contract.answer_system, "code": c}}
                for c in codes]  # fmt: skip

    resource = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": KNOWLEDGE.contract.canonical,
        "item": [{"linkId": "group", "item": [
            {"linkId": link_id, "answer": answer(link_id, value)}
            for link_id, value in answers.items()
        ]}],
    }  # fmt: skip
    parsed = answers_from_questionnaire_response(resource, KNOWLEDGE)
    assert evaluate(parsed, KNOWLEDGE) == evaluate(answers, KNOWLEDGE)


def test_no_added_feature_lowers_the_tier_of_any_vignette():
    """Deterministic companion to the properties, from every clinical vignette."""
    vignettes = yaml.safe_load((Path(__file__).parent / "vignettes.yaml").read_text("utf-8"))
    for vignette in vignettes:
        answers = {
            k: tuple(v) if isinstance(v, list) else v for k, v in vignette["answers"].items()
        }
        before = RANK[evaluate(answers, KNOWLEDGE).tier]
        for link_id, value in (*POSITIVE_ANSWERS, *RED_FLAG_ANSWERS):
            after = evaluate(with_answer(answers, link_id, value), KNOWLEDGE)
            assert RANK[after.tier] >= before, (vignette["id"], link_id, value)
