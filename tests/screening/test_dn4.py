"""DN4-interview scoring (Bouhassira 2005): the count of "yes" among items 1-7.

Checked against the published definition for every yes/no combination, and for
every combination with unanswered items (which count 0 but are reported).
"""

from __future__ import annotations

import itertools

import pytest

from screening.engine import evaluate
from screening.knowledge import Knowledge

DN4_ITEMS = ("burning", "painful-cold", "electric-shocks", "tingling", "pins-needles",
             "numbness", "itching")  # fmt: skip


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
    assert result.neuropathic is (expected >= 3)
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
        assert result.neuropathic is (expected >= 3)
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
