"""An alert gets through when the EHR refuses an attachment: a unit test over a fake EHR."""

from __future__ import annotations

import httpx
import pytest
from fixtures.answers import RAPID_ASCENDING_WEAKNESS
from support.alerts import alert_bundle

from notify.alert_writer import write_alert
from notify.ehr_auth import StaticBearerAuth, ehr_auth
from notify.ehr_client import EhrAuthFailed, EhrClient, FatalEhrError, TransientEhrError
from shared.config import Settings
from shared.fhir.codes import SCREENING_OUTPUT_IDENTIFIER

BASE = "https://neuroscreen.example.org/fhir"
TOKEN_URL = "http://ehr.test/auth/token"


def outcome(code: str) -> dict:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code}]}


class FakeEhr:
    """Stores conditional creates; refuses any transaction holding a ``refused`` type."""

    def __init__(self, refused: set[str], status: int = 400) -> None:
        self.refused, self.status = refused, status
        self.stored: dict[str, dict] = {}
        self.transactions: list[list[dict]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        entries = httpx.Response(200, content=request.content).json()["entry"]
        self.transactions.append(entries)
        if any(e["resource"]["resourceType"] in self.refused for e in entries):
            return httpx.Response(self.status, json=outcome("invariant"))
        answers = []
        for entry in entries:
            resource = entry["resource"]
            key = entry["request"]["ifNoneExist"]
            if key not in self.stored:
                self.stored[key] = {**resource, "id": f"id{len(self.stored)}"}
            location = f"{resource['resourceType']}/{self.stored[key]['id']}"
            answers.append({"response": {"status": "201", "location": location}})
        return httpx.Response(200, json={"resourceType": "Bundle", "entry": answers})

    def one(self, resource_type: str) -> dict:
        (found,) = [r for r in self.stored.values() if r["resourceType"] == resource_type]
        return found


def write(ehr: FakeEhr, base: str = BASE, auth: httpx.Auth | None = None):
    client = EhrClient(
        "http://ehr.test/fhir",
        auth=auth or StaticBearerAuth("t"),
        timeout=1,
        transport=httpx.MockTransport(ehr),
    )
    return write_alert(
        client, alert_bundle(RAPID_ASCENDING_WEAKNESS), max_entries=0, public_base_url=base
    )


def test_refused_risk_assessment_the_alert_cites_neuroscreen_instead():
    ehr = FakeEhr({"RiskAssessment"})
    result = write(ehr)
    (refusal,) = result.refused
    assert refusal.resource_type == "RiskAssessment"
    assert refusal.status == 400
    assert refusal.outcome == outcome("invariant")
    risk_url = f"{BASE}/{refusal.local_reference}"
    assert refusal.local_reference.startswith("RiskAssessment/")
    task, communication = ehr.one("Task"), ehr.one("Communication")
    assert task["focus"]["reference"] == risk_url
    assert task["focus"]["identifier"]["system"] == SCREENING_OUTPUT_IDENTIFIER
    assert risk_url in [a.get("reference") for a in communication["about"]]
    assert any(risk_url in p.get("contentString", "") for p in communication["payload"])
    assert "NeuroScreen" in communication["payload"][0]["contentString"]  # the summary stays
    # The ServiceRequests that cite the RiskAssessment were stored, citing NeuroScreen's copy.
    requests = [r for r in ehr.stored.values() if r["resourceType"] == "ServiceRequest"]
    assert requests
    assert all(r["supportingInfo"][0]["reference"] == risk_url for r in requests)
    # Everything else landed; NeuroScreen's own bookkeeping never reaches the EHR.
    assert {"QuestionnaireResponse", "Observation"} <= {
        r["resourceType"] for r in ehr.stored.values()
    }
    assert all("link" not in e for t in ehr.transactions for e in t)
    assert len(result.references) == len(ehr.stored)


def test_without_a_public_base_url_the_reference_is_logical():
    ehr = FakeEhr({"RiskAssessment"})
    write(ehr, base="")
    focus = ehr.one("Task")["focus"]
    assert "reference" not in focus
    assert focus["identifier"]["value"].startswith("risk-assessment/")
    note = ehr.one("Communication")["payload"][-1]["contentString"]
    assert "kept by NeuroScreen (RiskAssessment risk-assessment/resp-1)" in note


def test_nothing_refused_means_one_pass_and_no_note():
    ehr = FakeEhr(set())
    result = write(ehr)
    assert result.refused == ()
    message, report = ehr.one("Communication")["payload"]  # no note after the report
    assert (
        "contentString" in message
        and "DiagnosticReport/" in report["contentReference"]["reference"]
    )
    # Attachments in steps of the default size, then the alert itself in one transaction.
    assert [len(t) for t in ehr.transactions][-1] == 2


@pytest.mark.parametrize("refused", ["Task", "Communication"])
def test_a_refused_task_or_communication_is_a_refused_alert(refused):
    with pytest.raises(FatalEhrError):
        write(FakeEhr({refused}))


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_or_scope_are_not_an_attachment_problem(status):
    # 403 included: a scope missing for one attachment type is the registration's fault,
    # and citing NeuroScreen's copy instead would hide it until someone read the metrics.
    ehr = FakeEhr({"RiskAssessment"}, status=status)
    with pytest.raises(EhrAuthFailed) as caught:
        write(ehr)
    assert caught.value.status == status
    assert not [r for r in ehr.stored.values() if r["resourceType"] in ("Task", "Communication")]
    assert all(len(t) > 1 for t in ehr.transactions)  # no one-by-one probing


def test_a_token_endpoint_refusal_is_not_an_attachment_problem():
    ehr = FakeEhr(set())
    settings = Settings(
        ehr_base_url="http://ehr.test/fhir",
        ehr_auth="client-secret-basic",
        ehr_client_id="neuroscreen",
        ehr_client_secret="wrong",
        ehr_token_url=TOKEN_URL,
    )

    def refusing_token_endpoint(request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            return httpx.Response(401, json={"error": "invalid_client"})
        return ehr(request)

    auth = ehr_auth(settings, httpx.MockTransport(refusing_token_endpoint))
    with pytest.raises(EhrAuthFailed) as caught:
        write(ehr, auth=auth)
    assert caught.value.error_code == "invalid_client"
    assert ehr.transactions == []  # nothing reached the FHIR API, nothing was cited instead


def test_transient_errors_still_mean_retry():
    ehr = FakeEhr({"Observation"}, status=503)
    with pytest.raises(TransientEhrError):
        write(ehr)
    assert not [r for r in ehr.stored.values() if r["resourceType"] == "Task"]
