"""One ServiceRequest per orderable test, over engine outputs of every knowledge version.

An EHR that takes the first coding of a request orders one test, so a request
must never carry two. These tests run the real engine on generated responses
(every knowledge version the service can load), build the FHIR output and
check each request: one test, its codings synonyms of that test only, verified
or flagged, and the 1.0.0 short names ordered test by test. They also pin the
codes an EHR routes on (referrals, the CBC with differential) and that a
rationale cites only the rules that fired.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from screening.engine import evaluate
from screening.knowledge import available_versions, load_knowledge
from screening.output import build_screening_resources
from screening.output.orders import ORDERABLE, REPLACED_BY, orderable_tests, read_split
from screening.output.rationale import tier_rationale
from screening.output.terminology import TERMINOLOGY
from screening.result import (
    Contribution,
    Evidence,
    Finding,
    ScreeningResult,
    Suspicion,
    WorkupStep,
)
from shared.fhir import codes
from shared.fhir.codesystems import CODE_SYSTEMS, CodeSystemError

WHEN = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
VERSIONS = sorted(available_versions())
KNOWLEDGE = {version: load_knowledge(version) for version in VERSIONS}


def build(result: ScreeningResult) -> Any:
    return build_screening_resources(
        result, response_id="qr-1", patient="Patient/pat-1", occurred_at=WHEN
    )


def test_each_knowledge_version_is_exercised():
    assert "1.0.0" in VERSIONS  # and 2.0.0 once knowledge base 2.0.0 is merged


# --- every request asks for one test -------------------------------------------------------


def answers(version: str) -> st.SearchStrategy[dict[str, Any]]:
    items = KNOWLEDGE[version].items

    def value_of(link_id: str) -> st.SearchStrategy[Any]:
        spec = items[link_id]
        if spec.kind == "boolean":
            return st.booleans()
        if spec.kind == "integer":
            return st.integers(min_value=0, max_value=120)
        if spec.repeats:
            return st.lists(st.sampled_from(spec.codes), min_size=1, unique=True).map(tuple)
        return st.sampled_from(spec.codes)

    optional = {link_id: value_of(link_id) for link_id in items}
    return st.fixed_dictionaries({}, optional=optional)


def screened(version: str) -> st.SearchStrategy[ScreeningResult]:
    return answers(version).map(lambda given: evaluate(given, KNOWLEDGE[version]))


results = st.sampled_from(VERSIONS).flatmap(screened)


def test_generated_responses_do_propose_work_up():
    """The property below would hold vacuously if the engine never proposed anything."""
    rich = {"numbness": True, "tingling": True, "spread-pattern": "separate-nerves"}
    for knowledge in KNOWLEDGE.values():
        assert len(build(evaluate(rich, knowledge)).service_requests) > 5


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(results)
def test_no_service_request_carries_two_tests(result: ScreeningResult):
    out = build(result)
    tests = [request["code"]["coding"][0]["code"] for request in out.service_requests]
    expected = [t for step in result.workup for t in orderable_tests(step.code)]
    assert tests == list(dict.fromkeys(expected))  # every step ordered, test by test, once
    external_seen: dict[tuple[str, str], str] = {}
    for test, request in zip(tests, out.service_requests, strict=True):
        (project,) = [c for c in request["code"]["coding"] if c["system"] == codes.WORKUP]
        assert project["code"] == test and test in ORDERABLE  # never a deprecated code
        synonyms = {(c.system, c.code) for c in TERMINOLOGY.workup[test].codes}
        for coding in request["code"]["coding"][1:]:
            key = (coding["system"], coding["code"])
            assert key in synonyms, (test, key)
            assert external_seen.setdefault(key, test) == test, key  # one test per code
        _assert_verified_or_flagged(test, request)


def _assert_verified_or_flagged(test: str, request: dict[str, Any]) -> None:
    emitted = {(c["system"], c["code"]): c for c in request["code"]["coding"][1:]}
    notes = " ".join(note["text"] for note in request["note"])
    for code in TERMINOLOGY.workup[test].codes:
        if code.status == "NOT VERIFIED":
            assert (code.system, code.code) not in emitted
            assert code.flag() in notes, (test, code)
        else:
            extension = emitted[(code.system, code.code)]["extension"][0]["valueCode"]
            assert extension == {"V": "verified", "C": "corroborated"}[code.status]


# --- the terminology behind the requests ---------------------------------------------------


def test_no_external_code_stands_for_two_tests():
    owners: dict[tuple[str, str | None], list[str]] = {}
    for test, terms in TERMINOLOGY.workup.items():
        for code in terms.codes:
            if code.code is not None:
                owners.setdefault((code.system, code.code), []).append(test)
    assert {key: tests for key, tests in owners.items() if len(tests) > 1} == {}


def test_a_cbc_or_dipstick_never_stands_for_the_fuller_test():
    loinc = {
        test: [c.code for c in terms.codes if c.system == codes.LOINC]
        for test, terms in TERMINOLOGY.workup.items()
    }
    assert loinc["cbc-differential"] == ["57021-8"]  # CBC W Auto Differential panel
    assert loinc["urinalysis"] == ["24356-8"]  # complete panel, with microscopy
    every = {code for listed in loinc.values() for code in listed}
    assert not every & {"58410-2", "24357-6", "26449-9", "711-2"}  # no diff, dipstick, results


REFERRALS = {
    "neurology-referral": ("183521007", "Referral to neurology service"),
    "rheumatology-referral": ("306127007", "Referral to rheumatology service"),
    "gastroenterology-referral": ("183523005", "Referral to gastroenterology service"),
}


@pytest.mark.parametrize("test", sorted(REFERRALS))
def test_referrals_are_real_snomed_referral_concepts_with_sources(test: str):
    (code,) = TERMINOLOGY.workup[test].codes
    assert (code.system, code.code, code.display) == (codes.SNOMED, *REFERRALS[test])
    assert code.status == "V"
    assert "ReferralTypeCodings.js" in code.source  # the FHIR R3 referral-type expansion
    (request,) = build(_with_steps(WorkupStep(test, ("neuropathy",), ("r",)))).service_requests
    assert request["code"]["coding"][1]["code"] == REFERRALS[test][0]
    assert request["category"][0]["coding"][0]["code"] == "3457005"  # Patient referral


def test_procedures_without_a_checked_snomed_concept_are_text_and_flagged():
    for test in ("ct-sinuses", "nerve-biopsy", "temporal-artery-assessment"):
        (request,) = build(_with_steps(WorkupStep(test, ("baseline",), ("r",)))).service_requests
        assert [c["system"] for c in request["code"]["coding"]] == [codes.WORKUP], test
        assert "NOT VERIFIED, none found, no code emitted" in str(request["note"]), test


TIME_CRITICAL = {
    # clinical basis h4: verified codes where one exists, so an EHR can route the order
    "mri-spine": (codes.SNOMED, "241645008", "V"),
    "mri": (codes.SNOMED, "816077007", "C"),
    "anca": (codes.LOINC, "17351-8", "V"),
    "ct-angiography": (codes.SNOMED, "9521000087109", "V"),
}


@pytest.mark.parametrize("test", sorted(TIME_CRITICAL))
def test_the_time_critical_orders_carry_a_checked_code_and_its_source(test: str):
    system, code, status = TIME_CRITICAL[test]
    (request,) = build(_with_steps(WorkupStep(test, ("red-flag",), ("r",)))).service_requests
    coding = request["code"]["coding"][1]
    assert (coding["system"], coding["code"]) == (system, code)
    terms = next(c for c in TERMINOLOGY.workup[test].codes if c.code == code)
    assert terms.status == status
    assert "ValueSet" in terms.source or "github" in terms.source


@pytest.mark.parametrize("test", ["ncs-emg", "temporal-artery-assessment"])
def test_a_time_critical_order_without_a_published_code_says_so(test: str):
    (request,) = build(_with_steps(WorkupStep(test, ("red-flag",), ("r",)))).service_requests
    assert [c["system"] for c in request["code"]["coding"]] == [codes.WORKUP]
    assert "NOT VERIFIED, none found, no code emitted" in str(request["note"])
    (concept,) = [c for c in CODE_SYSTEMS["workup"]["concept"] if c["code"] == test]
    assert "No LOINC or SNOMED CT code" in concept["definition"]


def test_only_tests_are_told_not_to_delay_the_same_day_assessment():
    steps = (
        WorkupStep("temporal-artery-assessment", ("red-flag",), ("r",)),
        WorkupStep("esr", ("red-flag",), ("r",)),
    )
    giant_cell, esr = build(replace(_with_steps(*steps), tier="urgent")).service_requests
    assert (giant_cell["priority"], esr["priority"]) == ("stat", "stat")
    assert "never delay" not in str(giant_cell["note"])
    assert "never delay" in str(esr["note"])


def test_every_listed_code_names_its_source_and_status():
    for test, terms in TERMINOLOGY.workup.items():
        assert terms.codes, test  # a code, or a NOT VERIFIED entry saying none was found
        for code in terms.codes:
            assert code.status in ("V", "C", "NOT VERIFIED"), (test, code)
            assert len(code.source) > 10, (test, code)


# --- the 1.0.0 short names -----------------------------------------------------------------

SPLIT = {
    "complement": ("complement-c3", "complement-c4"),
    "hepatitis-serology": ("hepatitis-b-surface-antigen", "hepatitis-c-antibody"),
    "spep": ("protein-electrophoresis", "immunofixation"),
    "celiac-serology": ("ttg-iga", "total-iga"),
    "anti-ssa-ssb": ("anti-ssa", "anti-ssb"),
}


def test_code_system_deprecates_the_split_codes_and_names_each_test():
    assert REPLACED_BY == SPLIT
    concepts = {c["code"]: c for c in CODE_SYSTEMS["workup"]["concept"]}
    for old, tests in SPLIT.items():
        properties = concepts[old]["property"]
        assert properties[0]["code"] == "deprecated" and properties[0]["valueDateTime"]
        assert [p["valueCode"] for p in properties[1:]] == list(tests)
        assert old not in TERMINOLOGY.workup  # never coded, never ordered as such
    declared = {p["code"]: p for p in CODE_SYSTEMS["workup"]["property"]}
    assert declared["deprecated"]["uri"] == "http://hl7.org/fhir/concept-properties#deprecated"
    assert declared["replaced-by"]["type"] == "code"


def test_a_stored_1_0_0_result_orders_each_test():
    steps = tuple(WorkupStep(old, ("baseline", "lupus"), (f"workup-{old}",)) for old in SPLIT)
    out = build(_with_steps(*steps))
    by_test = {r["code"]["coding"][0]["code"]: r for r in out.service_requests}
    assert list(by_test) == [test for tests in SPLIT.values() for test in tests]
    c3 = by_test["complement-c3"]
    assert [(c["system"], c["code"]) for c in c3["code"]["coding"]] == [
        (codes.WORKUP, "complement-c3"),
        (codes.LOINC, "4485-9"),
    ]
    assert c3["identifier"][0]["value"] == "service-request/qr-1/complement-c3"
    assert c3["reasonCode"][0]["text"] == "Baseline work-up for any neuropathy"
    notes = [n["text"] for n in c3["note"]]
    assert "Rules: workup-complement." in notes[0]
    assert notes[1] == (
        "Suggested by knowledge base 1.0.0 as 'Complement C3 and C4' (complement); "
        "each of its tests is now a request of its own."
    )
    assert {r["requisition"]["value"] for r in out.service_requests} == {"workup/qr-1"}
    assert len({r["id"] for r in out.service_requests}) == len(out.service_requests)


def test_a_test_suggested_twice_is_ordered_once_with_both_reasons():
    out = build(
        _with_steps(
            WorkupStep("complement", ("lupus",), ("old",)),
            WorkupStep("complement-c3", ("baseline",), ("new",)),
        )
    )
    tests = [r["code"]["coding"][0]["code"] for r in out.service_requests]
    assert tests == ["complement-c3", "complement-c4"]
    c3 = out.service_requests[0]
    assert [r["text"] for r in c3["reasonCode"]] == [
        "Systemic lupus erythematosus: to be excluded",
        "Baseline work-up for any neuropathy",
    ]
    assert "Rules: old, new." in c3["note"][0]["text"]


def test_risk_assessment_flags_the_unverified_codes_of_the_split_tests():
    out = build(_with_steps(WorkupStep("spep", ("baseline",), ("r",))))
    notes = " ".join(n["text"] for n in out.risk_assessment["note"])
    assert "LOINC 24351-1" in notes and "LOINC 25700-6" in notes
    assert "Serum protein electrophoresis with immunofixation" in out.risk_assessment["mitigation"]


DEPRECATED = {"code": "deprecated", "valueDateTime": "2026-11-29"}


@pytest.mark.parametrize(
    ("code", "properties", "message"),
    [
        ("complement", [{"code": "replaced-by", "valueCode": "complement-c3"}], "but is active"),
        ("complement", [DEPRECATED], "names no test"),
        ("complement-c3", [DEPRECATED], "replaced by inactive codes"),
    ],
)
def test_a_broken_split_is_refused_at_load(code, properties, message):
    concepts = copy.deepcopy(CODE_SYSTEMS["workup"]["concept"])
    next(c for c in concepts if c["code"] == code)["property"] = properties
    with pytest.raises(CodeSystemError, match=message):
        read_split(concepts)


# --- a rationale cites only the rules that fired -------------------------------------------

VASCULITIC_DROP = {  # acute foot drop with fevers and weight loss, over weeks: not GBS-like
    "foot-wrist-drop": True,
    "fever-sweats": True,
    "weight-loss": True,
    "numbness": True,
    "tingling": True,
    "spread-pattern": "separate-nerves",
    "duration": "4-to-8-weeks",
    "progression": "worse-over-weeks",
    "age": 60,
}
GBS_CITATIONS = ("Leonhard", "van Doorn")


@pytest.mark.parametrize("version", VERSIONS)
def test_vasculitic_foot_drop_cites_vasculitis_sources_not_guillain_barre(version: str):
    result = evaluate(VASCULITIC_DROP, KNOWLEDGE[version])
    assert result.tier == "urgent"
    assert not any(c in flag.source for flag in result.red_flags for c in GBS_CITATIONS)
    out = build(result)
    rationale = out.risk_assessment["prediction"][0]["rationale"]
    assert "Collins" in rationale
    text = json.dumps([out.risk_assessment, *out.service_requests])
    assert not [c for c in GBS_CITATIONS if c in text], rationale


FOOT_DROP = Evidence("foot-wrist-drop", True, "sudden foot or wrist drop: yes")
FEVER = Evidence("fever-sweats", True, "fevers: yes")
ASCENDING = Evidence("rapid-ascending-weakness", True, "ascending weakness: yes")
OVERRIDE_SOURCE = "Leonhard 2019; van Doorn 2023; Collins 2010; Hellmich 2024"


def _urgent(*flags: Finding) -> ScreeningResult:
    evidence = tuple(item for flag in flags for item in flag.evidence)
    override = Finding("tier-urgent", "a red flag is present", evidence, OVERRIDE_SOURCE)
    return replace(_base(), tier="urgent", red_flags=flags, tier_reasons=(override,))


VASCULITIC = Finding(
    "rf-vasc", "vasculitic drop", (FOOT_DROP, FEVER), "Collins 2010; Hellmich 2024"
)
GBS = Finding("rf-gbs", "possible GBS", (ASCENDING,), "Leonhard 2019; van Doorn 2023")


def test_the_red_flag_override_cites_the_flags_that_fired():
    assert tier_rationale(_urgent(VASCULITIC)).endswith("[Collins 2010; Hellmich 2024].")
    assert tier_rationale(_urgent(GBS)).endswith("[Leonhard 2019; van Doorn 2023].")
    both = tier_rationale(_urgent(VASCULITIC, GBS))
    assert both.endswith(f"[{OVERRIDE_SOURCE}].")


def test_a_cluster_reason_cites_the_strong_cluster_only():
    asthma = Evidence("adult-onset-asthma", True, "asthma: yes")
    egpa = Suspicion("egpa", "high", 9.0, (Contribution("e", 3.0, (asthma,), "Grayson 2022"),))
    pan = Suspicion(
        "polyarteritis-nodosa", "low", 1.0, (Contribution("p", 1.0, (FEVER,), "L 1990"),)
    )
    reason = Finding("tier-cluster", "a strong cluster", (asthma, FEVER), "Grayson 2022; L 1990")
    result = replace(_base(), tier="high", suspicions=(egpa, pan), tier_reasons=(reason,))
    assert tier_rationale(result).endswith("[Grayson 2022].")


def test_a_reason_with_nothing_beneath_it_keeps_its_sources():
    reason = Finding("tier-pattern", "an immune pattern", (FOOT_DROP,), "Collins 2010; Mori 2005")
    result = replace(_base(), tier="high", tier_reasons=(reason,))
    assert tier_rationale(result).endswith("[Collins 2010; Mori 2005].")


# --- helpers --------------------------------------------------------------------------------


def _base() -> ScreeningResult:
    return ScreeningResult(
        knowledge_version="1.0.0",
        dn4_score=2,
        dn4_evidence=(),
        neuropathic=False,
        neuropathy_evidence=True,
        patterns=(),
        suspicions=(),
        red_flags=(),
        alternative_causes=(),
        tier="moderate",
        tier_reasons=(),
        workup=(),
    )


def _with_steps(*steps: WorkupStep) -> ScreeningResult:
    return replace(_base(), workup=steps)
