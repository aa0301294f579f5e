"""The alert Bundle: valid R4, conditional creates everywhere, references as placeholders."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fhir.resources.R4B.bundle import Bundle
from fixtures.answers import RAPID_ASCENDING_WEAKNESS
from fixtures.responses import make_response

from notify.alert_bundle import AlertContent, build_alert_bundle
from screening.engine import answers_from_questionnaire_response, evaluate
from screening.knowledge import load_knowledge
from screening.output import build_screening_resources

URN = re.compile(r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def alert(answers: dict) -> tuple[dict, AlertContent]:
    response = make_response(answers, patient="Patient/p1")
    response["id"] = "resp-1"
    result = evaluate(answers_from_questionnaire_response(response), load_knowledge())
    out = build_screening_resources(
        result, response_id="resp-1", patient="Patient/p1", occurred_at=NOW
    )
    content = AlertContent(
        "resp-1",
        "Patient/p1",
        result.tier,
        response,
        out.observation,
        out.risk_assessment,
        out.service_requests,
    )
    return build_alert_bundle(content, coordinator="CareTeam/neuro", authored_at=NOW), content


def test_bundle_is_a_valid_r4_transaction_of_conditional_creates():
    bundle, _ = alert(RAPID_ASCENDING_WEAKNESS)
    Bundle.model_validate(bundle)
    assert bundle["type"] == "transaction"
    for entry in bundle["entry"]:
        assert URN.match(entry["fullUrl"])
        assert entry["request"]["method"] == "POST"
        assert entry["request"]["ifNoneExist"].startswith("identifier=")
        assert "id" not in entry["resource"]


def test_task_and_communication_reach_the_coordinator_with_tier_priority():
    bundle, content = alert(RAPID_ASCENDING_WEAKNESS)
    by_type = {e["resource"]["resourceType"]: e for e in bundle["entry"]}
    task, communication = by_type["Task"]["resource"], by_type["Communication"]["resource"]
    assert content.tier == "urgent"
    assert task["priority"] == communication["priority"] == "stat"
    assert task["owner"] == {"reference": "CareTeam/neuro"}
    assert task["focus"]["reference"] == by_type["RiskAssessment"]["fullUrl"]
    assert communication["recipient"] == [{"reference": "CareTeam/neuro"}]
    assert {a["reference"] for a in communication["about"]} == {
        by_type["Task"]["fullUrl"],
        by_type["RiskAssessment"]["fullUrl"],
    }
    message = communication["payload"][0]["contentString"]
    assert "URGENT" in message
    assert "not a diagnosis" in message


def test_every_reference_between_entries_is_a_placeholder_in_the_bundle():
    bundle, _ = alert(RAPID_ASCENDING_WEAKNESS)
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    references = re.findall(r'"reference": "([^"]+)"', str(bundle).replace("'", '"'))
    local = [r for r in references if not r.startswith(("Patient/", "CareTeam/"))]
    assert local
    assert set(local) <= full_urls


def test_rebuilding_gives_the_same_identifiers():
    first, _ = alert(RAPID_ASCENDING_WEAKNESS)
    second, _ = alert(RAPID_ASCENDING_WEAKNESS)
    conditions = lambda b: [e["request"]["ifNoneExist"] for e in b["entry"]]  # noqa: E731
    assert conditions(first) == conditions(second)
