"""Attack (issue 18, item 1): a create-only client reads stored responses through
``If-None-Exist`` or a batch's ``request.ifNoneExist``. Refused on both databases:
criteria need the search scope, the match is returned only to a token that may read
it, and the conditional create is audited as a search."""

from __future__ import annotations

import uuid

import httpx
import orjson
import pytest
from fixtures.responses import make_response
from support.smart_stack import SmartStack

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

VICTIM_NAME = "Ada Victim"
ADMIN = "system/neuroscreen.admin"


def response(patient: str, identifier: str | None = None) -> dict:
    resource = make_response(
        {"burning": True, "numbness": True, "age": 58, "regions": ("left-foot",)},
        patient=patient,
        identifier=("urn:test:attack", identifier or uuid.uuid4().hex),
    )
    resource["subject"]["display"] = VICTIM_NAME
    return resource


@pytest.fixture
def victim(smart_each_database: SmartStack) -> tuple[str, str]:
    """A stored response of another patient: (patient reference, response id)."""
    patient = f"Patient/victim-{uuid.uuid4().hex[:8]}"
    token = smart_each_database.token("ehr-full", "system/QuestionnaireResponse.c")
    with smart_each_database.client(token) as api:
        reply = api.post("/QuestionnaireResponse", content=orjson.dumps(response(patient)))
    assert reply.status_code == 201, reply.text
    return patient, reply.json()["id"]


def assert_reveals_nothing(reply: httpx.Response, victim_id: str) -> None:
    assert victim_id not in reply.text and VICTIM_NAME not in reply.text
    assert "location" not in reply.headers and "etag" not in reply.headers


def stored_for(smart: SmartStack, patient: str) -> int:
    token = smart.token("ehr-full", "system/QuestionnaireResponse.s")
    with smart.client(token) as api:
        return api.get("/QuestionnaireResponse", params={"patient": patient}).json()["total"]


def test_create_only_if_none_exist_is_403_and_stores_nothing(smart_each_database, victim):
    smart = smart_each_database
    patient, victim_id = victim
    token = smart.token("ehr-writer", "system/QuestionnaireResponse.c")
    with smart.client(token) as api:
        reply = api.post(
            "/QuestionnaireResponse",
            content=orjson.dumps(response(patient)),
            headers={"If-None-Exist": f"patient={patient}&_lastUpdated=ge2000"},
        )
    assert reply.status_code == 403, reply.text
    assert reply.json()["issue"][0]["code"] == "forbidden"
    assert "system/QuestionnaireResponse.s" in reply.json()["issue"][0]["diagnostics"]
    assert 'error="insufficient_scope"' in reply.headers["www-authenticate"]
    assert_reveals_nothing(reply, victim_id)
    assert stored_for(smart, patient) == 1


def test_create_only_batch_and_transaction_if_none_exist_are_403(smart_each_database, victim):
    smart = smart_each_database
    patient, victim_id = victim
    token = smart.token("ehr-writer", "system/QuestionnaireResponse.c")
    entry = {
        "resource": response(patient),
        "request": {
            "method": "POST",
            "url": "QuestionnaireResponse",
            "ifNoneExist": f"patient={patient}",
        },
    }
    with smart.client(token) as api:
        batch = api.post("/", json={"resourceType": "Bundle", "type": "batch", "entry": [entry]})
        transaction = api.post(
            "/", json={"resourceType": "Bundle", "type": "transaction", "entry": [entry]}
        )
    assert batch.status_code == 200, batch.text
    refused = batch.json()["entry"][0]["response"]
    assert refused["status"] == "403"
    assert refused["outcome"]["issue"][0]["code"] == "forbidden"
    assert_reveals_nothing(batch, victim_id)
    assert transaction.status_code == 403, transaction.text
    assert_reveals_nothing(transaction, victim_id)
    assert stored_for(smart, patient) == 1


def test_create_and_search_without_read_is_told_only_that_one_exists(smart_each_database, victim):
    smart = smart_each_database
    patient, victim_id = victim
    token = smart.token("ehr-full", "system/QuestionnaireResponse.cs")
    with smart.client(token) as api:
        reply = api.post(
            "/QuestionnaireResponse",
            content=orjson.dumps(response(patient)),
            headers={"If-None-Exist": f"patient={patient}"},
        )
        entry = {
            "resource": response(patient),
            "request": {
                "method": "POST",
                "url": "QuestionnaireResponse",
                "ifNoneExist": f"patient={patient}",
            },
        }
        batch = api.post("/", json={"resourceType": "Bundle", "type": "batch", "entry": [entry]})
    # FHIR: one match is 200 OK, nothing created; the body only says so.
    assert reply.status_code == 200, reply.text
    assert reply.json()["resourceType"] == "OperationOutcome"
    assert reply.json()["issue"][0]["severity"] == "information"
    assert "system/QuestionnaireResponse.r" in reply.json()["issue"][0]["diagnostics"]
    assert_reveals_nothing(reply, victim_id)
    answer = batch.json()["entry"][0]
    assert answer["response"]["status"] == "200 OK"
    assert "location" not in answer["response"] and "resource" not in answer
    assert_reveals_nothing(batch, victim_id)
    assert stored_for(smart, patient) == 1


def test_a_token_that_may_read_gets_the_match(smart_each_database, victim):
    smart = smart_each_database
    patient, victim_id = victim
    token = smart.token("ehr-full", "system/QuestionnaireResponse.crs")
    with smart.client(token) as api:
        reply = api.post(
            "/QuestionnaireResponse",
            content=orjson.dumps(response(patient)),
            headers={"If-None-Exist": f"patient={patient}"},
        )
    assert reply.status_code == 200, reply.text
    assert reply.json()["id"] == victim_id
    assert victim_id in reply.headers["location"]


def test_criteria_that_match_everything_are_400(smart_each_database):
    token = smart_each_database.token("ehr-full", "system/QuestionnaireResponse.crs")
    with smart_each_database.client(token) as api:
        reply = api.post(
            "/QuestionnaireResponse",
            content=orjson.dumps(response("Patient/any")),
            headers={"If-None-Exist": "_count=1"},
        )
    assert reply.status_code == 400, reply.text
    assert "criteria" in reply.json()["issue"][0]["diagnostics"]


def test_a_create_only_replay_is_told_only_that_it_is_stored(smart_each_database):
    smart = smart_each_database
    token = smart.token("ehr-writer", "system/QuestionnaireResponse.c")
    resource = response(f"Patient/replay-{uuid.uuid4().hex[:8]}")
    with smart.client(token) as api:
        first = api.post("/QuestionnaireResponse", content=orjson.dumps(resource))
        again = api.post("/QuestionnaireResponse", content=orjson.dumps(resource))
    assert first.status_code == 201
    assert again.status_code == 200, again.text
    assert again.json()["resourceType"] == "OperationOutcome"
    assert "location" not in again.headers


def test_conditional_create_is_audited_as_a_search(smart_each_database, victim):
    smart = smart_each_database
    patient, _victim_id = victim
    token = smart.token("ehr-full", "system/QuestionnaireResponse.cs")
    with smart.client(token) as api:
        api.post(
            "/QuestionnaireResponse",
            content=orjson.dumps(response(patient)),
            headers={"If-None-Exist": f"patient={patient}"},
        )
    with smart.client(smart.token("ehr-full", ADMIN)) as admin:
        events = admin.get(
            "/AuditEvent", params={"agent": "ehr-full", "patient": patient, "_count": "50"}
        ).json()["entry"]
    kinds = [e["resource"]["subtype"][0]["code"] for e in events]
    # The victim's create, then the conditional create: a search of that patient, no create.
    assert sorted(kinds) == ["create", "search-type"]
    search = next(e["resource"] for e in events if e["resource"]["subtype"][0]["code"] != "create")
    assert search["action"] == "E"
    assert search["entity"][0]["description"] == "search parameters: patient"
