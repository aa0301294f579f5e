"""The CDS Hooks patient-view service on real processes: the card a clinician sees.

A real intake, screening and notify worker and the notify admin API run on
PostgreSQL and Redis; patients are screened by the real pipeline from answer
sets the engine puts in each tier; the EHR is a client signing real ES384 JWTs
with a key published at a ``jwks_uri`` (``support.cds_stack``). Every body
sent and received is validated against the CDS Hooks models.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ehr_server import EhrServer
from support.cds_stack import CdsService, answers_in_tier, start_cds_service
from support.stack import TOKEN

from intake.cds.card import SUGGESTION_LABELS
from intake.cds.models import CDSHooksResponse
from intake.report_links import report_link
from intake.smart.keys import GENERATED_NAME, SigningKeys
from shared.fhir.codes import CDS_OVERRIDE_REASON
from shared.fhir.workup_groups import workup_group

INDICATOR = {"urgent": "critical", "high": "warning", "moderate": "info"}


@pytest.fixture(scope="module")
def cds(
    postgres_server: str, redis_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CdsService]:
    yield from start_cds_service(postgres_server, redis_server, tmp_path_factory.mktemp("cds"))


def test_discovery_lists_the_patient_view_service(cds: CdsService):
    services = cds.ehr.discover().services
    assert [(s.hook, s.id) for s in services] == [("patient-view", "immune-neuropathy-screen")]
    assert services[0].title and services[0].description
    assert services[0].prefetch == {"patient": "Patient/{{context.patientId}}"}


@pytest.mark.parametrize("tier", sorted(INDICATOR))
def test_the_card_shows_the_stored_screening(cds: CdsService, tier: str):
    risk, requests = cds.stored(tier)
    (card,) = cds.ehr.cards(cds.patients[tier])

    assert card["indicator"] == INDICATOR[tier]
    leading = risk["prediction"][1]["outcome"]["text"]
    assert len(card["summary"]) <= 140
    assert card["summary"].lower().startswith(tier)
    assert leading[:40] in card["summary"]
    assert "decision support" in card["summary"]
    uuid.UUID(card["uuid"])

    detail = card["detail"]
    tier_display = risk["prediction"][0]["qualitativeRisk"]["coding"][0]["display"]
    for suspicion in risk["prediction"][1:]:
        # The answers that drove each suspicion ("Raised by: ..."), as stored.
        first_answer = suspicion["rationale"].removeprefix("Raised by: ").split(";")[0]
        assert first_answer.split(":")[0] in detail.replace("\\", "")
    assert "**Pattern:**" in detail
    if "[" in risk["prediction"][0]["rationale"]:
        assert "**Sources cited**" in detail

    assert card["source"]["label"]
    assert card["source"]["topic"]["code"] == "immune-neuropathy-screen"
    documentation = httpx.get(card["source"]["url"], timeout=10)
    assert documentation.status_code == 200
    assert "decision support" in documentation.text.lower()

    assert card["selectionBehavior"] == "any"
    # At most three suggestions: the emergency step, the first-line work-up, the specialist.
    proposed = {r["code"]["text"]: workup_group(r["code"]["coding"][0]["code"]) for r in requests}
    labels = [s["label"] for s in card["suggestions"]]
    expected = [g for g in ("emergency", "first-line", "specialist") if g in proposed.values()]
    assert [_group_of(label) for label in labels] == expected
    assert len(card["suggestions"]) <= 3
    assert "Order the first-line work-up" in labels or "first-line" not in expected
    for suggestion in card["suggestions"]:
        uuid.UUID(suggestion["uuid"])
        assert suggestion["isRecommended"] is True
        names = {a["resource"]["code"]["text"] for a in suggestion["actions"]}
        # Every request of the group, in one suggestion.
        group = _group_of(suggestion["label"])
        assert names == {name for name, g in proposed.items() if g == group}
        for action in suggestion["actions"]:
            assert action["type"] == "create"
            assert action["resource"]["resourceType"] == "ServiceRequest"
            assert action["resource"]["intent"] == "proposal"
            assert action["resource"]["subject"] == {"reference": f"Patient/{cds.patients[tier]}"}
    # The tier is said once, in the summary; the detail does not repeat it.
    assert tier_display not in detail

    assert card["overrideReasons"]
    assert all(r["system"] == CDS_OVERRIDE_REASON and r["display"] for r in card["overrideReasons"])
    (link,) = card["links"]
    assert link["type"] == "absolute"
    # A browser opens the report with the link alone: no bearer token.
    page = httpx.get(link["url"], headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert tier_display in page.text
    assert "Bearer" not in link["url"]


def _group_of(label: str) -> str:
    return next(group for group, text in SUGGESTION_LABELS.items() if label.startswith(text))


def test_a_report_link_is_refused_once_expired_for_another_report_or_forged(cds: CdsService):
    risk, _ = cds.stored("urgent")
    other, _ = cds.stored("high")
    keys = SigningKeys(Path(cds.stack.env["NEUROSCREEN_DATA_DIR"]) / GENERATED_NAME)
    root = cds.stack.base_url.removesuffix("/fhir")

    def link(risk_id: str, lifetime: int, now: float | None = None) -> str:
        return report_link(
            keys, root=root, risk_assessment_id=risk_id, issued_to="t", lifetime=lifetime, now=now
        )

    assert httpx.get(link(risk["id"], 60), timeout=10).status_code == 200
    expired = link(risk["id"], 60, now=time.time() - 3600)  # issued an hour ago, for a minute
    refused = httpx.get(expired, timeout=10)
    assert refused.status_code == 401
    assert refused.json()["resourceType"] == "OperationOutcome"
    elsewhere = link(other["id"], 60).replace(other["id"], risk["id"], 1)
    assert httpx.get(elsewhere, timeout=10).status_code == 403
    forged = link(risk["id"], 60)[:-4] + "AAAA"
    assert httpx.get(forged, timeout=10).status_code == 401
    # An access token is no link.
    assert httpx.get(f"{root}/reports/RiskAssessment/{risk['id']}?link={TOKEN}").status_code == 401
    assert httpx.get(f"{root}/reports/RiskAssessment/{risk['id']}").status_code == 401


def test_each_card_served_is_in_the_audit_trail_under_the_ehrs_issuer(cds: CdsService):
    risk, _ = cds.stored("high")
    cds.ehr.cards(cds.patients["high"])
    with cds.stack.client() as api:
        events = api.get("/AuditEvent", params={"agent": cds.ehr.iss, "_count": "100"}).json()
    references = [
        entity["what"]["reference"]
        for entry in events.get("entry", [])
        for entity in entry["resource"]["entity"]
        if "what" in entity
    ]
    assert f"RiskAssessment/{risk['id']}" in references
    assert f"Patient/{cds.patients['high']}" in references


def test_the_same_screening_is_the_same_card_on_every_view(cds: CdsService):
    first = cds.ehr.cards(cds.patients["urgent"])[0]
    again = cds.ehr.cards(cds.patients["urgent"])[0]
    assert first["uuid"] == again["uuid"]
    assert [s["uuid"] for s in first["suggestions"]] == [s["uuid"] for s in again["suggestions"]]


def test_an_unscreened_patient_gets_no_cards(cds: CdsService):
    reply = cds.ehr.patient_view("never-screened")
    assert reply.status_code == 200
    CDSHooksResponse.model_validate(reply.json())
    assert reply.json() == {"cards": []}


def test_a_low_tier_gets_no_card(cds: CdsService):
    """Below NEUROSCREEN_ALERT_MIN_TIER (moderate) nothing is shown: see intake/cds/card.py."""
    assert cds.ehr.cards(cds.patients["low"]) == []


def test_the_latest_screening_wins(cds: CdsService):
    patient = f"cds-rescreened-{uuid.uuid4().hex[:8]}"
    cds.screen(answers_in_tier("moderate"), patient)
    assert cds.ehr.cards(patient)[0]["indicator"] == "info"
    cds.screen(answers_in_tier("urgent"), patient)
    assert cds.ehr.cards(patient)[0]["indicator"] == "critical"


def test_a_suggestion_is_a_resource_the_real_ehr_accepts(cds: CdsService, ehr: EhrServer):
    (card,) = cds.ehr.cards(cds.patients["high"])
    resource = card["suggestions"][0]["actions"][0]["resource"]
    with ehr.client() as client:
        patient = client.post("/Patient", json={"resourceType": "Patient", "active": True})
        resource = {**resource, "subject": {"reference": f"Patient/{patient.json()['id']}"}}
        created = client.post("/ServiceRequest", json=resource)
    assert created.status_code == 201, created.text
    assert created.json()["intent"] == "proposal"


def test_fhir_authorization_is_never_logged_or_echoed(cds: CdsService):
    secret = f"ehr-access-token-{uuid.uuid4().hex}"
    authorization = {
        "access_token": secret,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/Patient.read",
        "subject": "neuroscreen",
    }
    assert cds.ehr.patient_view(
        cds.patients["moderate"], fhirAuthorization=authorization
    ).is_success
    broken = {**authorization, "token_type": "MAC"}
    reply = httpx.post(
        cds.ehr.service_url,
        json={**cds.ehr.hook_body("x"), "fhirAuthorization": broken},
        headers=cds.ehr.bearer(cds.ehr.service_url),
        timeout=10,
    )
    assert reply.status_code == 400
    assert secret not in reply.text
    assert secret not in cds.stack.log_text()
