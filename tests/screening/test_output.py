"""FHIR output of a screening: hand-built results in, valid and explainable R4 out.

Results are constructed directly from ``screening.result`` so these tests pin
the output layer alone, whatever the engine decides. Resources are checked
with the ``fhir.resources`` R4B models (R4B and R4 agree on Observation,
RiskAssessment, ServiceRequest and CodeSystem).
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

import pytest
import yaml
from fhir.resources.R4B.codesystem import CodeSystem
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.riskassessment import RiskAssessment
from fhir.resources.R4B.servicerequest import ServiceRequest

from screening.output import ScreeningResources, build_screening_resources
from screening.output.concepts import condition_concept
from screening.output.identity import ID_NAMESPACE
from screening.output.rationale import DECISION_SUPPORT
from screening.output.terminology import TERMINOLOGY, TerminologyError, parse_terminology
from screening.result import (
    Contribution,
    Evidence,
    Finding,
    PatternFinding,
    ScreeningResult,
    Suspicion,
    UnansweredItem,
    WorkupStep,
)
from shared.fhir import codes
from shared.fhir.codesystems import CODE_SYSTEMS
from shared.fhir.questionnaire import SCREENING_INDEX, SCREENING_QUESTIONNAIRE

WHEN = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
VERIFICATION = "http://neuroscreen.org/fhir/StructureDefinition/code-verification"

# --- hand-built results -----------------------------------------------------------------


def yes(link_id: str, text: str) -> Evidence:
    return Evidence(link_id, True, f"{text}: yes")


POLYPS = yes("nasal-polyps", "nasal polyps")
ASTHMA = yes("adult-onset-asthma", "adult-onset asthma")
FOOT_DROP = yes("foot-wrist-drop", "sudden foot or wrist drop")
SEPARATE = Evidence("spread-pattern", "separate-nerves", "spread: patches in unrelated places")
DIABETES = yes("diabetes", "diabetes")


def gbs_result() -> ScreeningResult:
    """Urgent: rapidly ascending weakness after an infection, no immune suspicion."""
    weakness = yes("rapid-ascending-weakness", "weakness spreading from legs to arms in days")
    return ScreeningResult(
        knowledge_version="1.0.0",
        dn4_score=1,
        dn4_evidence=(yes("tingling", "tingling"),),
        neuropathic=False,
        neuropathy_evidence=True,
        patterns=(
            PatternFinding("symmetric-polyneuropathy", "bilateral ascending weakness", (weakness,)),
        ),
        suspicions=(),
        red_flags=(
            Finding(
                "red-flag-gbs", "possible Guillain-Barré syndrome", (weakness,), "Leonhard 2019"
            ),
        ),
        alternative_causes=(),
        tier="urgent",
        tier_reasons=(
            Finding("tier-urgent", "a red flag is present", (weakness,), "Leonhard 2019"),
        ),
        workup=(WorkupStep("emergency-assessment", ("red-flag",), ("workup-emergency",)),),
        summary="Possible Guillain-Barré syndrome: same-day emergency assessment.",
    )


def egpa_result() -> ScreeningResult:
    """High: multifocal pattern with an EGPA cluster; suspicions deliberately out of order."""
    egpa = Suspicion(
        "egpa",
        "high",
        9.0,
        (
            Contribution("egpa-polyps", 3.0, (POLYPS,), "Grayson 2022"),
            Contribution("egpa-asthma", 3.0, (ASTHMA,), "Grayson 2022"),
            Contribution("egpa-mnm", 1.0, (SEPARATE, FOOT_DROP), "Grayson 2022"),
        ),
    )
    pan = Suspicion(
        "polyarteritis-nodosa",
        "moderate",
        3.0,
        (
            Contribution("pan-mnm", 2.0, (SEPARATE,), "Lightfoot 1990"),
            Contribution("pan-diabetes", -1.0, (DIABETES,), "Pop-Busui 2017"),
        ),
        modifiers=(Finding("alt-diabetes", "diabetes reported", (DIABETES,), "Pop-Busui 2017"),),
    )
    sjogren = Suspicion(
        "sjogren", "low", 1.0, (Contribution("sj-mnm", 1.0, (SEPARATE,), "Mori 2005"),)
    )
    return ScreeningResult(
        knowledge_version="1.0.0",
        dn4_score=4,
        dn4_evidence=(
            yes("burning", "burning pain"),
            yes("tingling", "tingling"),
            yes("pins-needles", "pins and needles"),
            yes("numbness", "numbness"),
        ),
        neuropathic=True,
        neuropathy_evidence=True,
        patterns=(
            PatternFinding("mononeuritis-multiplex", "patches in unrelated places", (SEPARATE,)),
        ),
        suspicions=(sjogren, egpa, pan),
        red_flags=(),
        alternative_causes=(Finding("alt-diabetes", "diabetes", (DIABETES,), "Pop-Busui 2017"),),
        tier="high",
        tier_reasons=(
            Finding("tier-high-mnm", "multifocal pattern", (SEPARATE,), "clinical basis f.6"),
        ),
        workup=(
            WorkupStep(
                "cbc-differential", ("baseline", "egpa"), ("workup-baseline", "workup-egpa")
            ),
            WorkupStep("metabolic-panel", ("baseline",), ("workup-baseline",)),
            WorkupStep("spep", ("baseline",), ("workup-baseline",)),
            WorkupStep("anca", ("egpa", "mononeuritis-multiplex"), ("workup-egpa", "workup-mnm")),
            WorkupStep("ncs-emg", ("baseline",), ("workup-baseline",)),
            WorkupStep("neurology-referral", ("neuropathy",), ("workup-neurology-referral",)),
        ),
        unanswered=(UnansweredItem("high-eosinophils", "eosinophilia weighs most for EGPA"),),
        summary="Multifocal nerve symptoms with asthma and nasal polyps.",
    )


def low_result() -> ScreeningResult:
    """Low: no nerve symptoms, nothing proposed."""
    return ScreeningResult(
        knowledge_version="1.0.0",
        dn4_score=0,
        dn4_evidence=(),
        neuropathic=False,
        neuropathy_evidence=False,
        patterns=(PatternFinding("none", "no nerve symptoms reported", ()),),
        suspicions=(),
        red_flags=(),
        alternative_causes=(),
        tier="low",
        tier_reasons=(Finding("tier-low", "no nerve symptoms reported", (), "Bouhassira 2005"),),
        workup=(),
    )


def build(result: ScreeningResult, response_id: str = "qr-1") -> ScreeningResources:
    return build_screening_resources(
        result, response_id=response_id, patient="Patient/pat-1", occurred_at=WHEN
    )


def all_resources(out: ScreeningResources) -> list[dict[str, Any]]:
    return [out.observation, out.risk_assessment, *out.service_requests]


def codings(value: Any) -> Iterator[dict[str, Any]]:
    """Every Coding-like dict (has system and code) anywhere in ``value``."""
    if isinstance(value, dict):
        if "system" in value and "code" in value:
            yield value
        for item in value.values():
            yield from codings(item)
    elif isinstance(value, list):
        for item in value:
            yield from codings(item)


def by_code(out: ScreeningResources) -> dict[str, dict[str, Any]]:
    return {sr["code"]["coding"][0]["code"]: sr for sr in out.service_requests}


CASES = [gbs_result, egpa_result, low_result]

# --- validity ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_every_resource_is_valid_r4(case):
    out = build(case())
    Observation.model_validate(out.observation)
    RiskAssessment.model_validate(out.risk_assessment)
    for request in out.service_requests:
        ServiceRequest.model_validate(request)


def test_every_workup_code_yields_a_valid_service_request():
    steps = tuple(WorkupStep(code, ("baseline",), ("r",)) for code in TERMINOLOGY.workup)
    out = build(replace(egpa_result(), workup=steps))
    assert [sr["code"]["coding"][0]["code"] for sr in out.service_requests] == list(
        TERMINOLOGY.workup
    )
    for request in out.service_requests:
        ServiceRequest.model_validate(request)
    RiskAssessment.model_validate(out.risk_assessment)


@pytest.mark.parametrize("case", CASES)
def test_references_are_relative_and_resolvable(case):
    out = build(case())
    pattern = re.compile(
        r"(Patient|QuestionnaireResponse|Observation|RiskAssessment)/[A-Za-z0-9\-.]{1,64}"
    )
    for resource in all_resources(out):
        assert resource["subject"] == {"reference": "Patient/pat-1"}
        refs = [c["reference"] for c in _walk(resource, "reference")]
        assert refs
        assert all(pattern.fullmatch(ref) for ref in refs), refs


def _walk(value: Any, key: str) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if key in value:
            yield value
        for item in value.values():
            yield from _walk(item, key)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item, key)


# --- Observation ------------------------------------------------------------------------


def test_dn4_observation():
    obs = build(egpa_result()).observation
    assert obs["status"] == "final"
    assert obs["category"][0]["coding"][0] == {
        "system": codes.OBSERVATION_CATEGORY,
        "code": "survey",
        "display": "Survey",
    }
    assert obs["code"]["coding"] == [
        {
            "system": codes.SCREENING_OBSERVATION,
            "code": "dn4-interview-score",
            "display": "DN4 interview score",
        }
    ]  # project code only: no LOINC code for the DN4 interview is verified
    assert obs["valueInteger"] == 4
    assert obs["effectiveDateTime"] == "2026-11-26T09:30:00+00:00"
    assert obs["derivedFrom"] == [{"reference": "QuestionnaireResponse/qr-1"}]
    assert obs["interpretation"][0]["coding"][0]["code"] == "POS"
    assert "3 or more" in obs["interpretation"][0]["text"]
    notes = " ".join(n["text"] for n in obs["note"])
    assert "burning pain: yes; tingling: yes; pins and needles: yes; numbness: yes" in notes


def test_dn4_below_cutoff_is_negative():
    obs = build(gbs_result()).observation
    assert obs["valueInteger"] == 1
    assert obs["interpretation"][0]["coding"][0]["code"] == "NEG"
    assert "painless neuropathies score low" in " ".join(n["text"] for n in obs["note"])


def test_dn4_at_cutoff_without_pain_is_not_called_neuropathic_pain():
    """Knowledge 2.0.0 (clinical basis g2): 3/7 without pain reported is not neuropathic."""
    painless = replace(gbs_result(), dn4_score=3, neuropathic=False)
    interpretation = build(painless).observation["interpretation"][0]
    assert interpretation["coding"][0]["code"] == "NEG"
    assert "no pain reported" in interpretation["text"]
    assert "below" not in interpretation["text"]
    assert "neuropathic pain likely" not in interpretation["text"]


# --- RiskAssessment ---------------------------------------------------------------------


def test_risk_assessment_cites_the_response_and_the_observation():
    out = build(egpa_result())
    risk = out.risk_assessment
    assert risk["status"] == "final"
    assert risk["basis"] == [
        {"reference": "QuestionnaireResponse/qr-1"},
        {"reference": f"Observation/{out.observation['id']}"},
    ]
    assert risk["method"]["coding"][0]["system"] == codes.KNOWLEDGE_BASE
    assert risk["method"]["coding"][0]["code"] == "1.0.0"
    assert risk["code"]["coding"][0]["code"] == "immune-neuropathy-screen"
    assert risk["occurrenceDateTime"] == "2026-11-26T09:30:00+00:00"


def test_overall_prediction_codes_outcome_and_tier():
    overall = build(egpa_result()).risk_assessment["prediction"][0]
    assert overall["outcome"]["text"] == "Immune-mediated neuropathy"
    assert {"system": codes.SNOMED, "code": "302226006"}.items() <= overall["outcome"]["coding"][
        0
    ].items()
    risk_codes = {(c["system"], c["code"]) for c in overall["qualitativeRisk"]["coding"]}
    assert risk_codes == {(codes.SCREENING_TIER, "high"), (codes.RISK_PROBABILITY, "high")}
    assert "multifocal pattern" in overall["rationale"]
    assert "spread: patches in unrelated places" in overall["rationale"]


def test_condition_predictions_most_suspected_first_with_the_answers():
    predictions = build(egpa_result()).risk_assessment["prediction"][1:]
    order = [p["outcome"]["coding"][0]["code"] for p in predictions]
    assert order == ["egpa", "polyarteritis-nodosa", "sjogren"]
    egpa = predictions[0]
    assert [(c["system"], c["code"]) for c in egpa["outcome"]["coding"]] == [
        (codes.SCREEN_ANSWERS, "egpa"),
        (codes.SNOMED, "82275008"),
    ]
    assert egpa["qualitativeRisk"]["coding"][0] == {
        "system": codes.RISK_PROBABILITY,
        "code": "high",
        "display": "High likelihood",
    }
    assert "not a probability" in egpa["qualitativeRisk"]["text"]
    assert "nasal polyps: yes; adult-onset asthma: yes" in egpa["rationale"]
    pan = predictions[1]
    assert pan["qualitativeRisk"]["coding"][0]["code"] == "moderate"
    assert "Lowered by: diabetes: yes" in pan["rationale"]
    assert "Modifiers applied: diabetes reported" in pan["rationale"]


def test_reason_code_is_the_pattern_with_snomed():
    reason = build(egpa_result()).risk_assessment["reasonCode"]
    assert [(c["system"], c["code"]) for c in reason[0]["coding"]] == [
        (codes.NEUROPATHY_PATTERN, "mononeuritis-multiplex"),
        (codes.SNOMED, "30292005"),
    ]
    symmetric = build(gbs_result()).risk_assessment["reasonCode"][0]["coding"]
    assert (symmetric[1]["system"], symmetric[1]["code"]) == (codes.SNOMED, "42345000")


@pytest.mark.parametrize("case", CASES)
def test_every_risk_assessment_says_decision_support(case):
    out = build(case())
    assert out.risk_assessment["note"][-1]["text"] == DECISION_SUPPORT
    assert DECISION_SUPPORT.startswith("Clinical decision support, not a diagnosis: ")
    for request in out.service_requests:
        assert DECISION_SUPPORT in [n["text"] for n in request["note"]]


def test_notes_carry_summary_red_flags_and_unanswered_items():
    urgent = " ".join(n["text"] for n in build(gbs_result()).risk_assessment["note"])
    assert "Possible Guillain-Barré syndrome: same-day emergency assessment." in urgent
    assert "Red flags" in urgent
    assert "possible Guillain-Barré syndrome" in urgent
    high = " ".join(n["text"] for n in build(egpa_result()).risk_assessment["note"])
    assert "high-eosinophils: eosinophilia weighs most for EGPA" in high
    assert "never 'no'" in high


def test_low_result_proposes_nothing():
    out = build(low_result())
    assert out.service_requests == ()
    risk = out.risk_assessment
    assert [p["outcome"]["text"] for p in risk["prediction"]] == ["Immune-mediated neuropathy"]
    assert risk["prediction"][0]["qualitativeRisk"]["coding"][1]["code"] == "low"
    assert risk["mitigation"] == "No work-up proposed by the screen."
    assert risk["reasonCode"][0]["coding"] == [
        {"system": codes.NEUROPATHY_PATTERN, "code": "none", "display": "No pattern"}
    ]


# --- ServiceRequests --------------------------------------------------------------------


def test_service_requests_are_draft_proposals_supported_by_the_risk_assessment():
    out = build(egpa_result())
    risk_ref = f"RiskAssessment/{out.risk_assessment['id']}"
    assert [sr["code"]["coding"][0]["code"] for sr in out.service_requests] == [
        "cbc-differential",
        "metabolic-panel",
        "protein-electrophoresis",  # 1.0.0 "spep": one request per test
        "immunofixation",
        "anca",
        "ncs-emg",
        "neurology-referral",
    ]
    for request in out.service_requests:
        assert (request["status"], request["intent"]) == ("draft", "proposal")
        assert request["requisition"] == {
            "system": codes.SCREENING_OUTPUT_IDENTIFIER,
            "value": "workup/qr-1",
        }
        assert request["code"]["coding"][0]["system"] == codes.WORKUP
        assert request["supportingInfo"] == [{"reference": risk_ref}]
        assert request["authoredOn"] == "2026-11-26T09:30:00+00:00"
        assert "reasonReference" not in request


def test_service_request_codes_reasons_and_category():
    requests = by_code(build(egpa_result()))
    cbc = requests["cbc-differential"]
    assert cbc["category"][0]["coding"][0]["code"] == "108252007"
    loinc = [c["code"] for c in cbc["code"]["coding"] if c["system"] == codes.LOINC]
    assert loinc == ["57021-8"]  # with differential; not 58410-2 (without) nor result codes
    reasons = cbc["reasonCode"]
    assert reasons[0] == {"text": "Baseline work-up for any neuropathy"}
    assert [(c["system"], c["code"]) for c in reasons[1]["coding"]] == [
        (codes.SCREEN_ANSWERS, "egpa"),
        (codes.SNOMED, "82275008"),
    ]
    anca_reasons = requests["anca"]["reasonCode"]
    assert anca_reasons[1]["coding"][0]["code"] == "mononeuritis-multiplex"
    assert "category" not in requests["ncs-emg"]  # no checked category fits NCS/EMG
    assert "Suggested because" in requests["anca"]["note"][0]["text"]
    assert requests["neurology-referral"]["reasonCode"][0]["text"]  # engine reason as text


@pytest.mark.parametrize(
    ("tier", "priority", "probability"),
    [
        ("urgent", "stat", "high"),
        ("high", "urgent", "high"),
        ("moderate", "routine", "moderate"),
        ("low", "routine", "low"),
    ],
)
def test_tier_maps_to_priority_and_risk_probability(tier, priority, probability):
    result = replace(egpa_result(), tier=tier)
    out = build(result)
    assert {sr["priority"] for sr in out.service_requests} == {priority}
    assert out.risk_assessment["prediction"][0]["qualitativeRisk"]["coding"] == [
        {
            "system": codes.SCREENING_TIER,
            "code": tier,
            "display": _display("screening-tier", tier),
        },
        {
            "system": codes.RISK_PROBABILITY,
            "code": probability,
            "display": f"{probability.capitalize()} likelihood",
        },
    ]


def test_urgent_emergency_assessment_is_stat_and_comes_first():
    out = build(gbs_result())
    (emergency,) = out.service_requests
    assert emergency["priority"] == "stat"
    assert [(c["system"], c["code"]) for c in emergency["code"]["coding"]] == [
        (codes.WORKUP, "emergency-assessment"),
        (codes.SNOMED, "4525004"),
    ]
    assert emergency["reasonCode"][0]["text"].startswith("Red flag: possible Guillain-Barré")


def test_urgent_tests_say_they_must_not_delay_the_emergency():
    result = egpa_result()
    steps = (WorkupStep("emergency-assessment", ("red-flag",), ("e",)), *result.workup)
    out = build(replace(result, tier="urgent", workup=steps))
    for request in out.service_requests[1:]:
        assert any("never delay" in n["text"] for n in request["note"])
    assert not any("never delay" in n["text"] for n in out.service_requests[0]["note"])


# --- verification status of external codes ----------------------------------------------


def _terminology_codes() -> dict[tuple[str, str | None], str]:
    status: dict[tuple[str, str | None], str] = {}
    concepts = [*TERMINOLOGY.conditions.values(), *TERMINOLOGY.patterns.values()]
    concepts += [*TERMINOLOGY.workup.values(), TERMINOLOGY.outcome]
    for concept in concepts:
        for code in concept.codes:
            status[(code.system, code.code)] = code.status
    for step in TERMINOLOGY.workup.values():
        if step.category:
            status[(step.category.system, step.category.code)] = step.category.status
    return status


def test_not_verified_codes_are_never_emitted_and_always_flagged():
    out = build(egpa_result())
    emitted = {(c["system"], c["code"]) for c in codings(all_resources(out))}
    status = _terminology_codes()
    assert not [key for key in emitted if status.get(key) == "NOT VERIFIED"]
    electrophoresis = by_code(out)["protein-electrophoresis"]
    flags = " ".join(n["text"] for n in electrophoresis["note"])
    assert "LOINC 24351-1" in flags and "NOT VERIFIED" in flags
    assert "25700-6" not in flags  # immunofixation's code is flagged on its own request
    assert [c["code"] for c in electrophoresis["code"]["coding"]] == ["protein-electrophoresis"]
    immunofixation = " ".join(n["text"] for n in by_code(out)["immunofixation"]["note"])
    assert "LOINC 25700-6" in immunofixation and "NOT VERIFIED" in immunofixation
    risk_notes = " ".join(n["text"] for n in out.risk_assessment["note"])
    assert "LOINC 24351-1" in risk_notes
    assert "SNOMED CT 42803009" in risk_notes  # EMG, NOT VERIFIED


def test_external_codings_carry_their_verification_status():
    out = build(egpa_result())
    status = _terminology_codes()
    expected = {"V": "verified", "C": "corroborated"}
    for coding in codings(all_resources(out)):
        if coding["system"] in (codes.SNOMED, codes.LOINC):
            (extension,) = coding["extension"]
            assert extension["url"] == VERIFICATION
            assert extension["valueCode"] == expected[status[(coding["system"], coding["code"])]]
    metabolic = by_code(out)["metabolic-panel"]["code"]["coding"][1]
    assert metabolic["code"] == "24323-8"
    assert metabolic["extension"][0]["valueCode"] == "corroborated"


def test_cranial_pattern_gets_no_snomed_code_and_is_flagged():
    result = low_result()
    pattern = PatternFinding("cranial-neuropathy", "double vision", (yes("double-vision", "dv"),))
    out = build(replace(result, patterns=(pattern,)))
    assert [c["system"] for c in out.risk_assessment["reasonCode"][0]["coding"]] == [
        codes.NEUROPATHY_PATTERN
    ]
    notes = " ".join(n["text"] for n in out.risk_assessment["note"])
    assert "Cranial neuropathy (general)': NOT VERIFIED" in notes


# --- determinism and identity -----------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_rebuilding_gives_identical_resources(case):
    assert build(case()) == build(case())


def test_ids_derive_from_the_response_id():
    first, second = build(egpa_result(), "qr-1"), build(egpa_result(), "qr-2")
    first_ids = {r["id"] for r in all_resources(first)}
    assert len(first_ids) == len(all_resources(first))
    assert first_ids.isdisjoint({r["id"] for r in all_resources(second)})
    for resource in all_resources(first):
        (identifier,) = resource["identifier"]
        assert identifier["system"] == codes.SCREENING_OUTPUT_IDENTIFIER
        assert resource["id"] == str(uuid.uuid5(ID_NAMESPACE, identifier["value"]))
    assert first.risk_assessment["identifier"][0]["value"] == "risk-assessment/qr-1"
    assert first.observation["identifier"][0]["value"] == "observation/qr-1/dn4-interview-score"
    assert by_code(first)["anca"]["identifier"][0]["value"] == "service-request/qr-1/anca"


def test_inputs_are_checked():
    result = low_result()
    bare = build_screening_resources(result, response_id="qr-1", patient="pat-1", occurred_at=WHEN)
    assert bare.observation["subject"] == {"reference": "Patient/pat-1"}
    with pytest.raises(ValueError, match="timezone"):
        build_screening_resources(
            result, response_id="qr-1", patient="Patient/p", occurred_at=datetime(2026, 1, 1)
        )
    with pytest.raises(ValueError, match="patient"):
        build_screening_resources(
            result, response_id="qr-1", patient="Practitioner/x", occurred_at=WHEN
        )
    with pytest.raises(ValueError, match="response_id"):
        build_screening_resources(result, response_id="a b", patient="p", occurred_at=WHEN)


def test_codes_outside_the_contract_fail_loudly():
    result = egpa_result()
    other = Suspicion("other-vasculitis", "low", 1.0, ())
    with pytest.raises(ValueError, match="other-vasculitis"):
        build(replace(result, suspicions=(other,)))
    twice = (*result.workup, result.workup[0])
    with pytest.raises(ValueError, match="unique"):
        build(replace(result, workup=twice))
    with pytest.raises(ValueError, match="pet"):
        build(replace(result, workup=(WorkupStep("pet", (), ()),)))


# --- CodeSystems ------------------------------------------------------------------------

ANSWERS: dict[str, tuple[str, ...]] = {
    link_id: item.options for link_id, item in SCREENING_INDEX.items() if item.options
}
"""The choice items and their answer codes, as the Questionnaire defines them."""

WORKUP_CODES = (
    "cbc-differential", "esr", "crp", "metabolic-panel", "hba1c", "vitamin-b12",
    "methylmalonic-acid", "tsh", "protein-electrophoresis", "immunofixation", "free-light-chains",
    "urinalysis", "urine-protein-creatinine", "ana", "anti-dsdna", "ena-panel", "complement-c3",
    "complement-c4", "anca", "ige", "anti-ssa", "anti-ssb", "rheumatoid-factor", "anti-ccp",
    "ttg-iga", "total-iga", "hepatitis-b-surface-antigen", "hepatitis-c-antibody", "hiv-serology",
    "cryoglobulins", "creatine-kinase", "ncs-emg", "mri", "mri-spine", "ct", "ct-angiography",
    "ct-sinuses", "chest-imaging", "nerve-biopsy", "skin-biopsy", "temporal-artery-assessment",
    "neurology-referral", "rheumatology-referral", "gastroenterology-referral",
    "emergency-assessment",
)  # fmt: skip
"""Contract 1.1.0: one orderable test or step per code (the names knowledge 2.0.0 uses)."""

SPLIT_1_0_0 = {
    "complement": ("complement-c3", "complement-c4"),
    "hepatitis-serology": ("hepatitis-b-surface-antigen", "hepatitis-c-antibody"),
    "spep": ("protein-electrophoresis", "immunofixation"),
    "celiac-serology": ("ttg-iga", "total-iga"),
    "anti-ssa-ssb": ("anti-ssa", "anti-ssb"),
}
"""The 1.0.0 codes that named two tests, and the tests they are ordered as."""

CONTRACT = {
    "screening-tier": {"urgent", "high", "moderate", "low"},
    "neuropathy-pattern": {
        "mononeuritis-multiplex",
        "symmetric-polyneuropathy",
        "non-length-dependent",
        "cranial-neuropathy",
        "single-nerve",
        "none",
    },
    "screen-answers": {code for answer_codes in ANSWERS.values() for code in answer_codes},
    "workup": set(WORKUP_CODES) | set(SPLIT_1_0_0),
    "screening-observation": {"dn4-interview-score", "immune-neuropathy-screen"},
    "tasks": {"review-screening"},
    "cds-override-reason": {
        "already-assessed",
        "other-explanation",
        "disagree-with-screen",
        "patient-declined",
        "not-now",
    },
}


def _display(system_id: str, code: str) -> str:
    concepts = CODE_SYSTEMS[system_id]["concept"]
    return next(c["display"] for c in concepts if c["code"] == code)


@pytest.mark.parametrize("system_id", sorted(CONTRACT))
def test_code_systems_are_valid_r4_with_exactly_the_contract_codes(system_id):
    resource = CODE_SYSTEMS[system_id]
    CodeSystem.model_validate(resource)
    assert resource["url"] == codes.CODE_SYSTEM_BASE + system_id
    assert (resource["status"], resource["content"]) == ("active", "complete")
    assert {c["code"] for c in resource["concept"]} == CONTRACT[system_id]
    assert all(c["display"] and c["definition"] for c in resource["concept"])


def test_code_systems_match_the_code_constants():
    assert set(CODE_SYSTEMS) == set(CONTRACT)
    for constant in (
        codes.SCREEN_ANSWERS,
        codes.SCREENING_TIER,
        codes.NEUROPATHY_PATTERN,
        codes.WORKUP,
        codes.SCREENING_OBSERVATION,
        codes.TASKS,
        codes.CDS_OVERRIDE_REASON,
    ):
        assert constant.removeprefix(codes.CODE_SYSTEM_BASE) in CODE_SYSTEMS


def test_screen_answers_name_the_item_each_code_answers():
    items = {
        concept["code"]: concept["property"][0]["valueString"]
        for concept in CODE_SYSTEMS["screen-answers"]["concept"]
    }
    assert items == {code: item for item, codes_ in ANSWERS.items() for code in codes_}


def test_each_condition_has_one_name_the_code_system_display():
    # Issue 20: one name per condition everywhere ("Sjögren's disease"); the result's
    # text, the Questionnaire's option and its short wording all read the display.
    def options(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for item in items:
            yield from item.get("answerOption", [])
            yield from options(item.get("item", []))

    shown = {
        option["valueCoding"]["code"]: option["valueCoding"]["display"]
        for option in options(SCREENING_QUESTIONNAIRE["item"])
    }
    for code in (
        "egpa",
        "polyarteritis-nodosa",
        "lupus",
        "sjogren",
        "rheumatoid-arthritis",
        "celiac",
    ):
        name = _display("screen-answers", code)
        assert condition_concept(code)["text"] == name
        assert shown[code] == name
    assert _display("screen-answers", "sjogren") == "Sjögren's disease"
    short = SCREENING_INDEX["known-conditions"].option_text
    assert short["sjogren"] == "Sjögren's disease"


def test_every_emitted_project_code_is_in_its_code_system():
    results = [case() for case in CASES]
    every_step = tuple(WorkupStep(code, ("baseline",), ()) for code in CONTRACT["workup"])
    results.append(replace(egpa_result(), workup=every_step))
    seen = set()
    for result in results:
        for coding in codings(all_resources(build(result))):
            system = coding["system"]
            if not system.startswith(codes.CODE_SYSTEM_BASE) or system == codes.KNOWLEDGE_BASE:
                continue
            system_id = system.removeprefix(codes.CODE_SYSTEM_BASE)
            assert coding["display"] == _display(system_id, coding["code"]), coding
            seen.add(system_id)
    assert seen == {
        "screening-tier",
        "neuropathy-pattern",
        "screen-answers",
        "workup",
        "screening-observation",
    }


# --- terminology.yaml -------------------------------------------------------------------


def _packaged_yaml() -> dict[str, Any]:
    text = files("screening.output").joinpath("terminology.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def test_terminology_covers_the_contract_with_sources():
    assert set(TERMINOLOGY.workup) == set(WORKUP_CODES)  # the split 1.0.0 codes expand
    assert set(TERMINOLOGY.patterns) == CONTRACT["neuropathy-pattern"]
    assert set(TERMINOLOGY.conditions) == {
        "egpa",
        "polyarteritis-nodosa",
        "lupus",
        "sjogren",
        "rheumatoid-arthritis",
        "celiac",
    }
    for key, status in _terminology_codes().items():
        assert status in ("V", "C", "NOT VERIFIED"), key
    assert TERMINOLOGY.conditions["polyarteritis-nodosa"].codes[0].code == "155441006"
    assert TERMINOLOGY.outcome.codes[0].code == "302226006"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("workup", "esr", "codes", 0, "source"), "", "source"),
        (("workup", "esr", "codes", 0, "status"), "verified", "status"),
        (("conditions", "egpa", "codes", 0, "code"), None, "only a NOT VERIFIED"),
        (("tiers", "urgent", "priority"), "immediately", "priority"),
        (("tiers", "low", "risk_probability"), "none", "risk-probability"),
        (("workup", "esr", "category"), "lab", "category"),
        (("outcome", "codes", 0, "status"), "NOT VERIFIED", "outcome"),
        (("service_request_categories", "imaging", "status"), "NOT VERIFIED", "verified"),
    ],
)
def test_bad_terminology_is_refused(path, value, message):
    data = copy.deepcopy(_packaged_yaml())
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(TerminologyError, match=message):
        parse_terminology(data)


def test_terminology_must_name_every_workup_code():
    data = copy.deepcopy(_packaged_yaml())
    del data["workup"]["crp"]
    with pytest.raises(TerminologyError, match="crp"):
        parse_terminology(data)
    data = copy.deepcopy(_packaged_yaml())
    data["workup"]["pet-scan"] = data["workup"]["ct"]
    with pytest.raises(TerminologyError, match="pet-scan"):
        parse_terminology(data)


def test_knowledge_base_reasons_outside_the_contract_become_text():
    step = WorkupStep("anca", ("vasculitis-features", "something-new"), ("r",))
    (request,) = build(replace(egpa_result(), workup=(step,))).service_requests
    assert request["reasonCode"] == [
        {"text": "Systemic features of vasculitis reported"},
        {"text": "Something new"},
    ]
