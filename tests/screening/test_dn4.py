"""DN4-interview scoring (Bouhassira 2005): the count of "yes" among items 1-7.

Checked against the published definition for every yes/no combination, and for
every combination with unanswered items (which count 0 but are reported), in
every knowledge version. From 2.0.0, "neuropathic pain likely" also needs pain
reported (clinical basis g2): DN4 presumes pain, so tingling, pins and needles
and numbness alone are neuropathy evidence, not neuropathic pain.
"""

from __future__ import annotations

import itertools

import pytest

from screening.engine import evaluate
from screening.knowledge import Knowledge, load_knowledge

DN4_ITEMS = ("burning", "painful-cold", "electric-shocks", "tingling", "pins-needles",
             "numbness", "itching")  # fmt: skip
PAINFUL_ITEMS = ("burning", "painful-cold", "electric-shocks")
"""The DN4 items that are themselves pain (the 2.0.0 gate also accepts ``pain``)."""


@pytest.fixture(params=["1.0.0", "2.0.0"], scope="module")
def knowledge(request: pytest.FixtureRequest) -> Knowledge:
    return load_knowledge(request.param)


def neuropathic_expected(knowledge: Knowledge, score: int, answers: dict[str, bool]) -> bool:
    if knowledge.version == "1.0.0":
        return score >= 3
    return score >= 3 and any(answers.get(item) is True for item in (*PAINFUL_ITEMS, "pain"))


def test_knowledge_lists_exactly_the_seven_interview_items(knowledge: Knowledge):
    assert knowledge.dn4.items == DN4_ITEMS
    assert knowledge.dn4.cutoff == 3
    assert "touch-sensitivity" not in knowledge.dn4.items


@pytest.mark.parametrize("combination", list(itertools.product((False, True), repeat=7)))
def test_score_is_the_count_of_yes_for_all_128_combinations(
    combination: tuple[bool, ...], knowledge: Knowledge
):
    answers = dict(zip(DN4_ITEMS, combination, strict=True))
    result = evaluate({"age": 50, **answers}, knowledge)
    expected = sum(combination)
    assert result.dn4_score == expected
    assert result.neuropathic is neuropathic_expected(knowledge, expected, answers)
    assert [e.link_id for e in result.dn4_evidence] == [
        item for item, yes in answers.items() if yes
    ]
    assert not {u.link_id for u in result.unanswered} & set(DN4_ITEMS)


def test_score_with_unanswered_items_for_all_2187_combinations(knowledge: Knowledge):
    for combination in itertools.product((None, False, True), repeat=7):
        answers = {i: v for i, v in zip(DN4_ITEMS, combination, strict=True) if v is not None}
        result = evaluate({"age": 50, **answers}, knowledge)
        expected = sum(1 for v in combination if v)
        missing = {i for i, v in zip(DN4_ITEMS, combination, strict=True) if v is None}
        assert result.dn4_score == expected
        assert result.neuropathic is neuropathic_expected(knowledge, expected, answers)
        assert {u.link_id for u in result.unanswered} & set(DN4_ITEMS) == missing
        if missing and expected < 3 <= expected + len(missing):
            reported = {u.link_id: u.why for u in result.unanswered}
            assert all("cut-off" in reported[i] for i in missing)


@pytest.mark.parametrize("touch", [True, False])
def test_touch_sensitivity_is_recorded_but_never_scored(touch: bool, knowledge: Knowledge):
    result = evaluate({"age": 50, "burning": True, "touch-sensitivity": touch}, knowledge)
    assert result.dn4_score == 1
    assert ("sign-touch-evoked-pain" in {s.rule_id for s in result.neuropathy_signs}) is touch


def test_painless_neuropathy_is_not_missed(knowledge: Knowledge):
    answers = {i: False for i in DN4_ITEMS} | {"age": 60, "weakness": True, "balance": True}
    result = evaluate(answers, knowledge)
    assert result.dn4_score == 0
    assert not result.neuropathic
    assert result.neuropathy_evidence
    assert result.tier != "low"
    signs = {s.rule_id for s in result.neuropathy_signs}
    assert {"sign-painless", "sign-motor", "sign-balance"} <= signs


def test_numbness_alone_is_neuropathy_evidence(knowledge: Knowledge):
    result = evaluate({"age": 60, "numbness": True}, knowledge)
    assert result.dn4_score == 1
    assert result.neuropathy_evidence
    assert result.tier == "moderate"


@pytest.mark.parametrize("pain", [True, False, None])
def test_v2_tingling_pins_and_numbness_are_not_neuropathic_pain_without_pain(pain: bool | None):
    knowledge = load_knowledge("2.0.0")
    answers: dict[str, object] = {"age": 50, "tingling": True, "pins-needles": True}
    answers |= {"numbness": True} | ({} if pain is None else {"pain": pain})
    result = evaluate(answers, knowledge)
    assert result.dn4_score == 3
    assert result.neuropathic is (pain is True)
    assert ("neuropathic pain likely" in result.summary) is (pain is True)
    signs = {s.rule_id for s in result.neuropathy_signs}
    assert ("sign-neuropathic-pain" in signs) is (pain is True)
    assert result.neuropathy_evidence
    if pain is None:
        assert "pain" in {item.link_id for item in result.unanswered}
