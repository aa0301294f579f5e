"""Clinical vignettes (vignettes.yaml): tier, patterns, suspicions and work-up per case.

The vignettes were written from the clinical basis as a clinician would expect
them, one disease several times, urgent cases, negatives, alternative causes and
overlaps. Each failure message lists what the engine produced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from screening.engine import evaluate
from screening.engine.summary import DISCLAIMER
from screening.knowledge import Knowledge
from screening.result import ScreeningResult

VIGNETTES = yaml.safe_load((Path(__file__).parent / "vignettes.yaml").read_text("utf-8"))
LEVELS = {"low": 1, "moderate": 2, "high": 3}


def answers_of(vignette: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in vignette["answers"].items()}


def describe(result: ScreeningResult) -> str:
    return (
        f"tier={result.tier} patterns={[p.code for p in result.patterns]} "
        f"suspicions={[(s.condition, s.level, s.score) for s in result.suspicions]} "
        f"workup={[w.code for w in result.workup]} "
        f"red_flags={[f.rule_id for f in result.red_flags]}"
    )


def test_there_are_enough_vignettes():
    assert len(VIGNETTES) >= 45
    assert len({v["id"] for v in VIGNETTES}) == len(VIGNETTES)


@pytest.mark.parametrize("vignette", VIGNETTES, ids=[v["id"] for v in VIGNETTES])
def test_vignette(vignette: dict[str, Any], knowledge: Knowledge):
    result = evaluate(answers_of(vignette), knowledge)
    expect = vignette["expect"]
    seen = describe(result)

    assert result.tier == expect["tier"], seen
    assert {p.code for p in result.patterns} == set(expect["patterns"]), seen

    levels = {s.condition: s.level for s in result.suspicions}
    if "leading" in expect:
        assert result.suspicions, seen
        assert result.suspicions[0].condition in expect["leading"], seen
    for condition, level in expect.get("suspicions", {}).items():
        assert LEVELS.get(levels.get(condition, ""), 0) >= LEVELS[level], seen
    for condition in expect.get("absent", []):
        assert condition not in levels, seen

    codes = [step.code for step in result.workup]
    if "workup_exact" in expect:
        assert codes == expect["workup_exact"], seen
    for code in expect.get("workup", []):
        assert code in codes, seen
    for code in expect.get("no_workup", []):
        assert code not in codes, seen
    if "first_workup" in expect:
        assert codes[0] == expect["first_workup"], seen

    flags = {f.rule_id for f in result.red_flags}
    assert flags == set(expect.get("red_flags", [])), seen
    considerations = {f.rule_id for f in result.considerations}
    assert set(expect.get("considerations", [])) <= considerations, seen
    signs = {f.rule_id for f in result.neuropathy_signs}
    assert set(expect.get("signs", [])) <= signs, seen

    unanswered = {item.link_id: item.why for item in result.unanswered}
    assert set(expect.get("unanswered", [])) <= set(unanswered), unanswered
    for link_id, phrase in expect.get("unanswered_mentions", {}).items():
        assert phrase in unanswered[link_id]


@pytest.mark.parametrize("vignette", VIGNETTES, ids=[v["id"] for v in VIGNETTES])
def test_summary_states_tier_patterns_suspicions_and_limits(
    vignette: dict[str, Any], knowledge: Knowledge
):
    result = evaluate(answers_of(vignette), knowledge)
    summary = result.summary
    assert result.tier.upper() in summary
    assert DISCLAIMER in summary
    assert "not a diagnosis" in summary
    for pattern in result.patterns:
        if pattern.code != "none":
            assert knowledge.contract.patterns[pattern.code] in summary
    if result.suspicions:
        leading = next(
            c.label for c in knowledge.conditions if c.code == result.suspicions[0].condition
        )
        assert leading in summary
    lowered = summary.lower()
    for phrase in ("classified as", "meets criteria", "diagnosed with", "has lupus"):
        assert phrase not in lowered


@pytest.mark.parametrize("vignette", VIGNETTES, ids=[v["id"] for v in VIGNETTES])
def test_every_finding_is_explained(vignette: dict[str, Any], knowledge: Knowledge):
    """Every pattern, contribution, red flag and tier reason lists its rule and source."""
    result = evaluate(answers_of(vignette), knowledge)
    for finding in (*result.red_flags, *result.tier_reasons, *result.alternative_causes):
        assert finding.rule_id and finding.source
    for red_flag in result.red_flags:
        assert red_flag.evidence
    for pattern in result.patterns:
        assert pattern.rationale
        assert pattern.code == "none" or pattern.rule_ids
    for suspicion in result.suspicions:
        assert suspicion.contributions
        assert suspicion.evidence
        for contribution in suspicion.contributions:
            assert contribution.source and contribution.label and contribution.evidence
    assert result.tier_reasons
