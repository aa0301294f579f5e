"""A partly written alert resumes: the next attempt sends only what the EHR has not
acknowledged, cites the acknowledged parts by their EHR ids, and a lost acknowledgement
(stored, then 503) still creates nothing twice. Over a fake EHR, then through claim and
settle on both databases."""

from __future__ import annotations

import json
import math

import httpx
import orjson
import pytest
from fixtures.answers import EGPA_FOOT_DROP
from fixtures.responses import make_response
from support.alerts import alert_bundle

from intake.responses import create_response
from intake.validation import validate_questionnaire_response
from notify.alert_writer import write_alert
from notify.delivery import deliver
from notify.ehr_auth import StaticBearerAuth
from notify.ehr_client import EhrClient, TransientEhrError
from notify.routing import load_routing
from notify.transactions import Acknowledged
from screening.scoring import score
from shared.config import get_settings
from shared.db import session_scope
from shared.models import Delivery, DeliveryAttempt, QuestionnaireResponseRecord

TRANSIENT = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "transient"}],
}


class FlakyEhr:
    """Stores conditional creates atomically per transaction; fails chosen transactions.

    ``faults`` maps the n-th transaction (from 1) to ``"before"`` (503, nothing stored) or
    ``"after"`` (stored, then 503: a lost acknowledgement). Like the Medplum test EHR, it
    refuses a ``urn:uuid`` reference that its own transaction does not resolve.
    """

    def __init__(self, faults: dict[int, str] | None = None) -> None:
        self.faults = faults or {}
        self.stored: dict[str, dict] = {}
        self.transactions: list[list[dict]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        entries = json.loads(request.content)["entry"]
        self.transactions.append(entries)
        fault = self.faults.get(len(self.transactions))
        if fault == "before":
            return httpx.Response(503, json=TRANSIENT)
        own = {entry["fullUrl"] for entry in entries}
        dangling = [u for u in _references(entries) if u.startswith("urn:") and u not in own]
        if dangling:
            return httpx.Response(400, json={**TRANSIENT, "issue": [{"code": "invalid"}]})
        answers = []
        for entry in entries:
            key = entry["request"]["ifNoneExist"]
            if key not in self.stored:
                kind = entry["resource"]["resourceType"]
                self.stored[key] = {**entry["resource"], "id": f"{kind}-{len(self.stored)}"}
            found = self.stored[key]
            answers.append({"response": {"location": f"{found['resourceType']}/{found['id']}"}})
        if fault == "after":
            return httpx.Response(503, json=TRANSIENT)
        return httpx.Response(200, json={"resourceType": "Bundle", "entry": answers})

    def count(self, resource_type: str) -> int:
        return sum(1 for r in self.stored.values() if r["resourceType"] == resource_type)


def _references(value) -> list[str]:
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [r for item in value.values() for r in _references(item)]
    if isinstance(value, list):
        return [r for item in value for r in _references(item)]
    return []


def client_for(ehr: FlakyEhr) -> EhrClient:
    return EhrClient(
        "http://ehr.test/fhir",
        auth=StaticBearerAuth("t"),
        timeout=1,
        transport=httpx.MockTransport(ehr),
    )


def attempt(ehr: FlakyEhr, bundle: dict, acknowledged: Acknowledged):
    return write_alert(
        client_for(ehr), bundle, max_entries=0, public_base_url="", acknowledged=acknowledged
    )


def test_the_next_attempt_sends_only_what_the_ehr_did_not_acknowledge():
    bundle = alert_bundle(EGPA_FOOT_DROP)  # steps of 8 attachments, then the alert
    total = len(bundle["entry"])
    assert total > 3 * 8
    ehr = FlakyEhr({3: "before"})
    acknowledged = Acknowledged()
    with pytest.raises(TransientEhrError):
        attempt(ehr, bundle, acknowledged)
    assert len(acknowledged.by_full_url) == 16  # the two steps answered before the 503
    sent_first, first_acknowledged = len(ehr.transactions), set(acknowledged.by_full_url)

    result = attempt(ehr, bundle, acknowledged)
    resent = [entry for step in ehr.transactions[sent_first:] for entry in step]
    assert len(resent) == total - 16  # only the rest
    assert not {e["fullUrl"] for e in resent} & first_acknowledged
    # What the rest cites of the acknowledged part, it cites by the EHR's id.
    task = next(e["resource"] for e in resent if e["resource"]["resourceType"] == "Task")
    assert task["focus"]["reference"].startswith("RiskAssessment/")
    assert len(result.references) == len(ehr.stored) == total
    assert (ehr.count("Task"), ehr.count("Communication")) == (1, 1)


def test_a_lost_acknowledgement_is_sent_again_and_creates_nothing_twice():
    bundle = alert_bundle(EGPA_FOOT_DROP)
    total = len(bundle["entry"])
    attachments = total - 2
    alert_step = 2 + math.ceil((attachments - 8) / 8) + 1  # in the second attempt
    # Lost: the second step of attachments, then the alert itself.
    ehr = FlakyEhr({2: "after", alert_step: "after"})
    acknowledged = Acknowledged()
    with pytest.raises(TransientEhrError):
        attempt(ehr, bundle, acknowledged)
    assert len(acknowledged.by_full_url) == 8
    with pytest.raises(TransientEhrError):
        attempt(ehr, bundle, acknowledged)  # stored the alert, lost its answer
    assert len(acknowledged.by_full_url) == attachments
    result = attempt(ehr, bundle, acknowledged)
    assert [len(step) for step in ehr.transactions[-1:]] == [2]  # only the Task+Communication
    assert len(ehr.stored) == total and len(set(result.references)) == total
    assert (ehr.count("Task"), ehr.count("Communication")) == (1, 1)


# -- through claim and settle: what was acknowledged is kept with the delivery -----------------


def scored_response() -> str:
    resource = make_response(EGPA_FOOT_DROP, patient="Patient/p1", identifier=("urn:x", "r1"))
    with session_scope() as session:
        record = create_response(
            session, validate_questionnaire_response(orjson.dumps(resource))
        ).record
    with session_scope() as session:
        score(session, record.id)
    return record.id


@pytest.mark.usefixtures("configured")
def test_a_delivery_keeps_what_was_acknowledged_and_resumes_from_it():
    response_id = scored_response()
    settings = get_settings()
    routing = load_routing(settings.coordinator, None)
    ehr = FlakyEhr({4: "before"})
    client = client_for(ehr)

    deliver(session_scope, response_id, settings, routing, client)
    with session_scope() as session:
        delivery = session.get(Delivery, response_id)
        total = len(orjson.loads(delivery.bundle)["entry"])
        assert session.get(QuestionnaireResponseRecord, response_id).state == "retrying"
        kept = orjson.loads(delivery.ehr_acknowledged)
        (first,) = session.query(DeliveryAttempt).filter_by(response_id=response_id).all()
        assert first.outcome == "transient"
        assert f"acknowledged 24 of {total} entries" in first.detail
    assert len(kept) == 24

    deliver(session_scope, response_id, settings, routing, client)
    resent = [entry for step in ehr.transactions[4:] for entry in step]
    assert len(resent) == total - 24
    with session_scope() as session:
        delivery = session.get(Delivery, response_id)
        assert session.get(QuestionnaireResponseRecord, response_id).state == "notified"
        references = orjson.loads(delivery.ehr_references)
    assert len(references) == total and [r.split("/")[0] for r in references[-2:]] == [
        "Task",
        "Communication",
    ]
    assert (ehr.count("Task"), ehr.count("Communication")) == (1, 1)
