"""Knowledge 2.1.0 (clinical basis section h): its sources, its new engine capabilities,
and what a coordinator reads for the cases section h was written for.

The vignettes (``vignettes-v2.1.yaml``) check the clinical outputs case by case; the
properties (``test_properties_v21.py``) check the safety rules over generated answers.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from screening.engine import evaluate
from screening.knowledge import KnowledgeError, load_knowledge, load_knowledge_file
from screening.knowledge.loader import KNOWLEDGE_DIR
from screening.output import build_screening_resources

SPEC_DIR = Path(__file__).resolve().parents[3] / "shared" / "spec"
V21_FILE = KNOWLEDGE_DIR / "v2.1.yaml"


def raw(version_file: str = "v2.1.yaml") -> dict[str, Any]:
    return yaml.safe_load((KNOWLEDGE_DIR / version_file).read_text("utf-8"))


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "draft.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def test_2_1_is_the_default_and_the_older_versions_still_load():
    assert load_knowledge().version == "2.1.0"
    assert load_knowledge("2.0.0").version == "2.0.0"
    assert load_knowledge("1.0.0").version == "1.0.0"


@pytest.mark.skipif(not SPEC_DIR.exists(), reason="the shared spec is not checked out here")
def test_every_source_new_in_2_1_is_one_section_h_names():
    basis = (SPEC_DIR / "clinical-basis.md").read_text("utf-8")
    section_h = basis[basis.index("## h.") :]
    new = set(raw()["sources"]) - set(raw("v2.yaml")["sources"]) - {"clinical-basis-h"}
    assert len(new) >= 9
    for key in sorted(new):
        citation = raw()["sources"][key]
        author = citation.split(",")[0].split(" et al")[0].split(" (")[0]
        year = re.search(r"\b(19|20)\d\d\b", citation)
        assert author in " ".join(section_h.split()), key
        assert year and year.group(0) in section_h, key


def test_the_2_1_capabilities_are_inert_in_the_older_versions():
    for version in ("1.0.0", "2.0.0"):
        knowledge = load_knowledge(version)
        assert not any(rule.in_emergency for rule in knowledge.workup.rules)
        assert all(c.moderate_requires is None for c in knowledge.conditions)


BAD_2_1 = {
    "moderate_requires looking at the tier": (
        lambda d: d["conditions"]["polyarteritis-nodosa"].update(
            moderate_requires={"tier_at_least": "high"}
        ),
        "polyarteritis-nodosa moderate_requires: a suspicions rule cannot look at the tier",
    ),
    "in_emergency on the baseline": (
        lambda d: d["workup"]["baseline"].update(in_emergency=True),
        "drop 'in_emergency'",
    ),
    "count of one condition": (
        lambda d: d["facts"]["old-settled-deficit"].update(
            when={"count": [{"item": "duration", "in": ["over-1-year"]}], "at_least": 1}
        ),
        "at least two conditions",
    ),
    "count needing more than it lists": (
        lambda d: d["facts"]["old-settled-deficit"].update(
            when={
                "count": [
                    {"item": "duration", "in": ["over-1-year"]},
                    {"item": "progression", "in": ["stable"]},
                ],
                "at_least": 3,
            }
        ),
        "at_least between 1 and 2",
    ),
}


@pytest.mark.parametrize("mutation", BAD_2_1, ids=list(BAD_2_1))
def test_bad_2_1_fields_fail_loudly(mutation: str, tmp_path: Path):
    mutate, message = BAD_2_1[mutation]
    data = copy.deepcopy(raw())
    mutate(data)
    with pytest.raises(KnowledgeError, match=re.compile(re.escape(message), re.DOTALL)):
        load_knowledge_file(write(tmp_path, data))


def test_an_unchanged_copy_of_2_1_loads_and_scores_the_same(tmp_path: Path):
    copy_ = load_knowledge_file(write(tmp_path, raw()))
    answers = {"age": 76, "headache-jaw": True}
    assert evaluate(answers, copy_).tier == evaluate(answers, load_knowledge()).tier == "urgent"


# -- what the coordinator reads --------------------------------------------------------------

GUT_WEIGHT_ATAXIA = {
    "age": 35,
    "numbness": True,
    "balance": True,
    "spread-pattern": "both-sides-from-feet",
    "gut-symptoms": True,
    "weight-loss": True,
}


def test_the_summary_names_the_capped_answers_when_the_score_passes():
    """h2: never "fewer than two independent answers" while the score passes a threshold."""
    result = evaluate(GUT_WEIGHT_ATAXIA, load_knowledge())
    celiac = next(s for s in result.suspicions if s.condition == "celiac")
    assert celiac.level == "low" and not celiac.ranked and celiac.score >= 5
    sentence = next(part for part in result.summary.split(". ") if "coeliac disease" in part)
    assert "fewer than two independent answers" not in sentence
    assert "reach the high score" in sentence
    for answer in ("diarrhoea", "balance", "weight loss"):
        assert answer in sentence.lower()


def test_the_summary_keeps_the_short_wording_for_one_answer_below_the_threshold():
    result = evaluate(
        {"age": 40, "numbness": True, "dry-eyes-mouth": False, "new-hypertension": True},
        load_knowledge(),
    )
    assert "fewer than two independent answers point to it): polyarteritis nodosa" in (
        result.summary
    )


def test_an_emergency_cites_only_the_flags_that_fired():
    """h1.5: the vasculitic work-up stays, and the rationale names the fired flag only."""
    answers = {
        "age": 61,
        "weakness": True,
        "regions": ("left-foot", "right-hand"),
        "duration": "under-4-weeks",
        "progression": "worse-over-days",
        "fever-sweats": True,
        "weight-loss": True,
    }
    result = evaluate(answers, load_knowledge())
    assert [f.rule_id for f in result.red_flags] == ["rf-gbs"]
    assert [r.rule_id for r in result.tier_reasons] == ["tier-urgent-gbs"]
    first = result.workup[0]
    assert first.code == "emergency-assessment" and first.rule_ids == ("rf-gbs",)
    flag = result.red_flags[0]
    assert result.tier_reasons[0].source == flag.source
    assert "Collins" not in flag.source  # the vasculitis sources belong to the tests below
    anca = next(step for step in result.workup if step.code == "anca")
    assert "rf-gbs" not in anca.rule_ids


def test_a_focal_acute_weakness_is_not_labelled_guillain_barre():
    answers = {
        "age": 63,
        "foot-wrist-drop": True,
        "regions": ("left-foot",),
        "onset-speed": "days",
        "duration": "under-4-weeks",
        "progression": "stable",
    }
    result = evaluate(answers, load_knowledge())
    assert result.tier == "urgent"
    assert [f.rule_id for f in result.red_flags] == ["rf-acute-focal-weakness"]
    assert "Guillain" not in result.summary.split("Red flag:")[1].split(".")[0]
    answers["regions"] = ("left-foot", "right-foot")
    assert [f.rule_id for f in evaluate(answers, load_knowledge()).red_flags] == ["rf-gbs"]


def test_version_2_0_still_misses_what_2_1_was_made_for():
    """The review's cases: 2.0.0 behaves as before, 2.1.0 makes each urgent."""
    cases = [
        {"age": 45, "weakness": True, "onset-speed": "days", "duration": "under-4-weeks",
         "progression": "stable"},
        {"age": 50, "bladder-bowel": True, "back-neck-pain": True},
        {"age": 71, "balance": True, "onset-speed": "sudden"},
        {"age": 76, "headache-jaw": True},
    ]  # fmt: skip
    for answers in cases:
        assert evaluate(answers, load_knowledge("2.0.0")).tier != "urgent", answers
        assert evaluate(answers, load_knowledge("2.1.0")).tier == "urgent", answers


def test_ana_for_lupus_features_names_the_ena_reflex():
    """h2: ANA, with the ENA panel named as the laboratory's reflex, not ordered apart."""
    answers = {"age": 27, "tingling": True, "mouth-ulcers": True, "raynaud": True}
    result = evaluate(answers, load_knowledge())
    assert "ena-panel" not in [step.code for step in result.workup]
    resources = build_screening_resources(
        result, response_id="qr-1", patient="Patient/p-1", occurred_at=datetime.now(UTC)
    )
    (ana,) = [
        request
        for request in resources.service_requests
        if request["code"]["coding"][0]["code"] == "ana"
    ]
    assert "reflex" in str(ana["reasonCode"])
