"""End to end on real processes: POST a response, find the Task and Communication in the EHR."""

from __future__ import annotations

import httpx
from ehr_server import EhrServer
from fhir.resources.R4B.riskassessment import RiskAssessment
from fixtures.answers import EGPA_FOOT_DROP, NOTHING_WRONG
from support.pipeline import (
    COORDINATOR,
    audit_ehr,
    create_patient,
    post_response,
    read_state,
    wait_for_states,
)
from support.stack import Stack


def test_alerting_response_reaches_the_coordinator_through_the_ehr(
    pipeline: Stack, postgres_url: str, ehr_with_token: EhrServer
):
    ehr = ehr_with_token
    patient = create_patient(ehr)
    response_id = post_response(pipeline, EGPA_FOOT_DROP, patient, identifier="e2e-1")
    assert wait_for_states(postgres_url, [response_id], 60)[response_id] == "notified"

    state, references = read_state(pipeline, response_id)
    assert state == "notified"
    assert any(r.startswith("Task/") for r in references)
    assert any(r.startswith("Communication/") for r in references)

    tasks = ehr.search("Task", {"owner": COORDINATOR})
    assert len(tasks) == 1
    task = tasks[0]
    assert task["status"] == "requested"
    assert task["intent"] == "order"
    assert task["priority"] == "stat"  # acute foot drop with systemic features: urgent tier
    assert task["for"]["reference"] == patient
    risk = ehr.read_reference(task["focus"]["reference"])
    assert risk is not None
    assert risk["resourceType"] == "RiskAssessment"
    assert risk["subject"]["reference"] == patient
    inputs = {
        i["type"]["text"]: ehr.read_reference(i["valueReference"]["reference"])["resourceType"]
        for i in task["input"]
    }
    # The report first, then the proposed work-up.
    assert inputs == {
        "Screening report": "DiagnosticReport",
        "Proposed diagnostic workup": "ServiceRequest",
    }
    (report_input, *_) = task["input"]
    report = report_input["valueReference"]["reference"]
    communications = ehr.search("Communication", {"recipient": COORDINATOR})
    assert len(communications) == 1
    message = communications[0]["payload"][0]["contentString"]
    assert "not a diagnosis" in message
    assert {a["reference"] for a in communications[0]["about"]} == {
        f"Task/{task['id']}",
        task["focus"]["reference"],
        report,
    }
    # Every reference inside the EHR resolves there, the response included.
    basis = [b["reference"] for b in risk["basis"]]
    assert any(ehr.read_reference(b)["resourceType"] == "QuestionnaireResponse" for b in basis)
    assert len(ehr.search("RiskAssessment", {"subject": patient})) == 1
    audit_ehr(ehr, [response_id])

    # The intake serves the same assessment, found by its basis.
    with pipeline.client() as api:
        found = api.get(
            "/RiskAssessment",
            params={
                "basis": f"QuestionnaireResponse/{response_id}",
                "_include": "RiskAssessment:basis",
            },
        ).json()
    matches = [e["resource"] for e in found["entry"] if e["search"]["mode"] == "match"]
    included = {
        e["resource"]["resourceType"] for e in found["entry"] if e["search"]["mode"] == "include"
    }
    assert len(matches) == 1
    assert included == {"QuestionnaireResponse", "Observation"}
    RiskAssessment.model_validate(matches[0])
    tier = matches[0]["prediction"][0]["qualitativeRisk"]["coding"]
    assert {
        "system": "http://neuroscreen.org/fhir/CodeSystem/screening-tier",
        "code": "urgent",
    }.items() <= next(c for c in tier if c["system"].endswith("screening-tier")).items()


def test_low_tier_is_recorded_as_no_alert_and_nothing_is_written(
    pipeline: Stack, postgres_url: str, ehr_with_token: EhrServer
):
    patient = create_patient(ehr_with_token)
    response_id = post_response(pipeline, NOTHING_WRONG, patient)
    assert wait_for_states(postgres_url, [response_id], 60)[response_id] == "no-alert"
    assert ehr_with_token.search("Task", {}) == []
    with pipeline.client() as api:
        risk = api.get("/RiskAssessment", params={"subject": patient}).json()["entry"][0][
            "resource"
        ]
    assert risk["prediction"][0]["qualitativeRisk"]["coding"][0]["code"] == "low"


def test_same_response_posted_twice_is_screened_and_alerted_once(
    pipeline: Stack, postgres_url: str, ehr_with_token: EhrServer
):
    patient = create_patient(ehr_with_token)
    first = post_response(pipeline, EGPA_FOOT_DROP, patient, identifier="twice")
    second = post_response(pipeline, EGPA_FOOT_DROP, patient, identifier="twice")
    assert first == second
    wait_for_states(postgres_url, [first], 60)
    with pipeline.client() as api:
        risks = api.get("/RiskAssessment", params={"subject": patient}).json()
    assert risks["total"] == 1
    audit_ehr(ehr_with_token, [first])


def test_metrics_show_the_pipeline(pipeline: Stack, postgres_url: str, ehr_with_token: EhrServer):
    patient = create_patient(ehr_with_token)
    response_id = post_response(pipeline, EGPA_FOOT_DROP, patient)
    wait_for_states(postgres_url, [response_id], 60)
    text = httpx.get(pipeline.base_url[: -len("/fhir")] + "/metrics").text
    assert 'neuroscreen_responses{state="notified"} 1.0' in text
    assert "neuroscreen_dead_letters 0.0" in text
