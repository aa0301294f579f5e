"""Safety properties of knowledge 2.1.0 (clinical basis h) over generated responses.

Section h: "An answer that is not given is unknown, never 'no': no emergency may depend
on an item the patient skipped." So, for every response where an h1/g1 emergency fires,
taking away any answer that is not part of the flag's trigger (the answers the flag
cites as its evidence) must leave the response `urgent`. And a red flag is never
downgraded: once one fires, no further yes answer, not even an alternative cause, lowers
the tier. (Adding a yes never lowers the tier: ``test_properties.py``, which runs every
version, 2.1.0 included.)
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from test_properties import POSITIVE_ANSWERS, RED_FLAG_ANSWERS, answers_strategy, with_answer

from screening.engine import evaluate
from screening.knowledge import load_knowledge
from screening.result import Evidence, ScreeningResult

KNOWLEDGE = load_knowledge("2.1.0")
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def answer_units(answers: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every single answer: a boolean, integer or choice, or one code of a repeating choice."""
    units = []
    for link_id, value in answers.items():
        if isinstance(value, tuple):
            units.extend((link_id, code) for code in value)
        else:
            units.append((link_id, value))
    return units


def without(answers: dict[str, Any], link_id: str, value: Any) -> dict[str, Any]:
    """The answers with one answer taken away (a repeating item loses one code)."""
    changed = dict(answers)
    if isinstance(changed[link_id], tuple):
        rest = tuple(code for code in changed[link_id] if code != value)
        if rest:
            changed[link_id] = rest
            return changed
    del changed[link_id]
    return changed


def trigger(evidence: tuple[Evidence, ...]) -> set[tuple[str, Any]]:
    return {(item.link_id, item.value) for item in evidence}


def an_emergency(answers: dict[str, Any], red_flag_answer: tuple[str, Any]) -> tuple[dict, Any]:
    changed = with_answer(answers, *red_flag_answer)
    result = evaluate(changed, KNOWLEDGE)
    assume(result.tier == "urgent")
    return changed, result


def check_dropping_keeps_urgent(answers: dict[str, Any], result: ScreeningResult) -> None:
    for flag in result.red_flags:
        kept = trigger(flag.evidence)
        for link_id, value in answer_units(answers):
            if (link_id, value) in kept:
                continue
            after = evaluate(without(answers, link_id, value), KNOWLEDGE)
            assert after.tier == "urgent", (flag.rule_id, link_id, value, after.tier)


@SETTINGS
@given(answers_strategy, st.sampled_from(RED_FLAG_ANSWERS))
@example(  # the review's case: back pain and bladder trouble, the leg items skipped
    answers={"age": 50, "numbness": False, "saddle-numbness": False},
    red_flag_answer=("bladder-bowel", True),
)
@example(  # a GBS plateau: dropping the stable course must not remove the flag
    answers={"age": 45, "weakness": True, "onset-speed": "days", "progression": "stable"},
    red_flag_answer=("duration", "under-4-weeks"),
)
def test_dropping_a_non_trigger_answer_never_lowers_an_emergency(answers, red_flag_answer):
    if red_flag_answer == ("bladder-bowel", True):
        answers = {**answers, "back-neck-pain": True}
    changed, result = an_emergency(answers, red_flag_answer)
    check_dropping_keeps_urgent(changed, result)


@SETTINGS
@given(answers_strategy, st.sampled_from(RED_FLAG_ANSWERS), st.sampled_from(POSITIVE_ANSWERS))
def test_a_red_flag_is_never_downgraded_by_another_yes(answers, red_flag_answer, positive):
    """Whatever else is answered yes - an alternative cause included - urgent stays urgent."""
    changed, _ = an_emergency(answers, red_flag_answer)
    after = evaluate(with_answer(changed, *positive), KNOWLEDGE)
    assert after.tier == "urgent", (positive, [f.rule_id for f in after.red_flags])


@SETTINGS
@given(answers_strategy, st.sampled_from(RED_FLAG_ANSWERS))
def test_an_emergency_starts_with_emergency_assessment_and_keeps_its_own_steps(
    answers, red_flag_answer
):
    """h1.5: emergency assessment first; every fired flag's own steps follow it."""
    _, result = an_emergency(answers, red_flag_answer)
    codes = [step.code for step in result.workup]
    assert codes[0] == "emergency-assessment"
    flags = {flag.id: flag for flag in KNOWLEDGE.red_flags}
    for finding in result.red_flags:
        assert set(flags[finding.rule_id].workup) <= set(codes)
    fired = {finding.source for finding in result.red_flags}
    for reason in result.tier_reasons:
        assert reason.source in fired  # the rationale cites only flags that fired
