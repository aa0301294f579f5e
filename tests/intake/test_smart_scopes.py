"""Scopes per interaction and fair use, against a running intake with SMART clients.

A client gets exactly what its token's scopes cover (SMART v2 or v1 syntax):
anything else is a 403 with an OperationOutcome and ``insufficient_scope``.
Batch and transaction entries are checked one by one. Rate limits are per client.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import orjson
import pytest
from fixtures.responses import make_response
from support.smart import token_request
from support.smart_stack import SmartStack, start_smart_stack
from support.stack import TOKEN

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(scope="module")
def smart(postgres_server, redis_server, tmp_path_factory) -> Iterator[SmartStack]:
    yield from start_smart_stack(postgres_server, redis_server, tmp_path_factory.mktemp("scopes"))


def response(patient: str = "Patient/scope-1") -> dict:
    answers = {"burning": True, "numbness": True, "age": 61, "regions": ("left-foot",)}
    return make_response(answers, patient=patient, identifier=("urn:test:scopes", uuid.uuid4().hex))


def assert_forbidden(reply: httpx.Response, scope: str) -> None:
    assert reply.status_code == 403, reply.text
    assert reply.json()["resourceType"] == "OperationOutcome"
    assert reply.json()["issue"][0]["code"] == "forbidden"
    challenge = reply.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert scope in challenge


def test_a_create_only_client_can_create_and_nothing_else(smart: SmartStack):
    token = smart.token("ehr-writer", "system/QuestionnaireResponse.c")
    with smart.client(token) as api:
        created = api.post("/QuestionnaireResponse", content=orjson.dumps(response()))
        assert created.status_code == 201
        created_id = created.json()["id"]
        assert_forbidden(
            api.get(f"/QuestionnaireResponse/{created_id}"), "system/QuestionnaireResponse.r"
        )
        assert_forbidden(
            api.get("/QuestionnaireResponse", params={"patient": "Patient/scope-1"}),
            "system/QuestionnaireResponse.s",
        )
        assert_forbidden(api.get("/RiskAssessment"), "system/RiskAssessment.s")
        assert_forbidden(api.get("/Questionnaire/immune-neuropathy-screen"), "Questionnaire.r")
        assert_forbidden(api.get("/AuditEvent"), "system/neuroscreen.admin")
    # The static token of make run and the tests still reads it.
    static = httpx.get(
        f"{smart.base_url}/QuestionnaireResponse/{created_id}",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert static.status_code == 200


def test_v1_scopes_read_and_write(smart: SmartStack):
    token = smart.token(
        "ehr-v1", "system/QuestionnaireResponse.read system/QuestionnaireResponse.write"
    )
    with smart.client(token) as api:
        created = api.post("/QuestionnaireResponse", content=orjson.dumps(response()))
        assert created.status_code == 201
        assert api.get(f"/QuestionnaireResponse/{created.json()['id']}").status_code == 200
        assert api.get("/QuestionnaireResponse", params={"patient": "scope-1"}).status_code == 200
        assert_forbidden(api.get("/Observation"), "system/Observation.s")


def test_search_needs_read_on_every_include_target(smart: SmartStack):
    token = smart.token("ehr-full", "system/RiskAssessment.rs")
    with smart.client(token) as api:
        assert api.get("/RiskAssessment", params={"subject": "Patient/scope-1"}).status_code == 200
        included = api.get(
            "/RiskAssessment",
            params={"subject": "Patient/scope-1", "_include": "RiskAssessment:basis"},
        )
        assert_forbidden(included, "system/QuestionnaireResponse.r")
    wider = smart.token(
        "ehr-full", "system/RiskAssessment.rs system/QuestionnaireResponse.r system/Observation.r"
    )
    with smart.client(wider) as api:
        included = api.get(
            "/RiskAssessment",
            params={"subject": "Patient/scope-1", "_include": "RiskAssessment:basis"},
        )
        assert included.status_code == 200


def _bundle(kind: str, *entries: dict) -> bytes:
    return orjson.dumps({"resourceType": "Bundle", "type": kind, "entry": list(entries)})


def _create_entry() -> dict:
    return {"resource": response(), "request": {"method": "POST", "url": "QuestionnaireResponse"}}


def test_batch_and_transaction_entries_are_checked_one_by_one(smart: SmartStack):
    token = smart.token("ehr-writer", "system/QuestionnaireResponse.c")
    read_entry = {"request": {"method": "GET", "url": "Observation?subject=Patient/scope-1"}}
    with smart.client(token) as api:
        batch = api.post("/", content=_bundle("batch", _create_entry(), read_entry))
        assert batch.status_code == 200
        first, second = batch.json()["entry"]
        assert first["response"]["status"] == "201 Created"
        assert second["response"]["status"] == "403"
        assert second["response"]["outcome"]["issue"][0]["code"] == "forbidden"
        before = _count(smart)
        transaction = api.post("/", content=_bundle("transaction", _create_entry(), read_entry))
        assert_forbidden(transaction, "system/Observation.s")
        assert _count(smart) == before  # all or nothing: the allowed entry was not stored
        allowed = api.post("/", content=_bundle("transaction", _create_entry(), _create_entry()))
        assert allowed.status_code == 200
        assert _count(smart) == before + 2


def _count(smart: SmartStack) -> int:
    reply = httpx.get(
        f"{smart.base_url}/QuestionnaireResponse",
        params={"_count": 0},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    return reply.json()["total"]


@pytest.fixture(scope="module")
def limited(postgres_server, redis_server, tmp_path_factory) -> Iterator[SmartStack]:
    yield from start_smart_stack(
        postgres_server,
        redis_server,
        tmp_path_factory.mktemp("limited"),
        rate_limit_per_second="0.5",
        rate_limit_burst="3",
        token_requests_per_minute="3",
        # Budgets are per intake process (README, fair use): one process, one budget to exhaust.
        intake_workers="1",
    )


def test_token_requests_are_limited_per_client(limited: SmartStack):
    scope = "system/QuestionnaireResponse.c"
    replies = [
        token_request(limited.base_url, limited.assertion("ehr-writer"), scope) for _ in range(4)
    ]
    assert [r.status_code for r in replies[:3]] == [200, 200, 200]
    assert replies[3].status_code == 429
    assert int(replies[3].headers["retry-after"]) >= 1
    assert replies[3].headers["cache-control"] == "no-store"
    other = token_request(
        limited.base_url, limited.assertion("ehr-v1"), "system/QuestionnaireResponse.read"
    )
    assert other.status_code == 200  # another client's budget is untouched


def test_api_requests_are_limited_per_client(limited: SmartStack):
    token = limited.token("ehr-full", "system/Questionnaire.rs")
    with limited.client(token) as api:
        statuses = [
            api.get("/Questionnaire/immune-neuropathy-screen").status_code for _ in range(4)
        ]
        assert statuses[:3] == [200, 200, 200]
        refused = api.get("/Questionnaire/immune-neuropathy-screen")
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["issue"][0]["code"] == "throttled"
    # One client over its rate does not starve another.
    other = httpx.get(
        f"{limited.base_url}/Questionnaire/immune-neuropathy-screen",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert other.status_code == 200
