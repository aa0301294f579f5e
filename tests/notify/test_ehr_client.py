"""Sorting EHR failures before retrying: a unit test over a fake transport."""

from __future__ import annotations

import httpx
import pytest

from notify.ehr_auth import StaticBearerAuth
from notify.ehr_client import EhrClient, FatalEhrError, TransientEhrError

OUTCOME = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid"}]}
BUNDLE = {"resourceType": "Bundle", "type": "transaction", "entry": []}


def client_answering(handler) -> EhrClient:
    return EhrClient(
        "http://ehr.test/fhir",
        auth=StaticBearerAuth("t"),
        timeout=1,
        transport=httpx.MockTransport(handler),
    )


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_temporary_statuses_are_transient(status):
    client = client_answering(lambda request: httpx.Response(status, json=OUTCOME))
    with pytest.raises(TransientEhrError) as caught:
        client.post_transaction(BUNDLE)
    assert caught.value.status == status


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 412, 422])
def test_other_client_errors_are_fatal_and_keep_the_outcome(status):
    client = client_answering(lambda request: httpx.Response(status, json=OUTCOME))
    with pytest.raises(FatalEhrError) as caught:
        client.post_transaction(BUNDLE)
    assert caught.value.outcome == OUTCOME
    assert "invalid" in str(caught.value)


def test_retry_after_seconds_and_http_date_are_honoured():
    client = client_answering(lambda r: httpx.Response(429, headers={"Retry-After": "120"}))
    with pytest.raises(TransientEhrError) as caught:
        client.post_transaction(BUNDLE)
    assert caught.value.retry_after == 120
    later = "Wed, 21 Oct 2099 07:28:00 GMT"
    client = client_answering(lambda r: httpx.Response(503, headers={"Retry-After": later}))
    with pytest.raises(TransientEhrError) as caught:
        client.post_transaction(BUNDLE)
    assert caught.value.retry_after > 10**8


def test_connection_errors_and_timeouts_are_transient():
    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    def slow(request):
        raise httpx.ReadTimeout("slow", request=request)

    for handler in (refuse, slow):
        with pytest.raises(TransientEhrError):
            client_answering(handler).post_transaction(BUNDLE)


def test_bearer_token_and_fhir_media_type_are_sent():
    seen = {}

    def record(request):
        seen.update(request.headers)
        return httpx.Response(
            200, json={"resourceType": "Bundle", "type": "transaction-response", "entry": []}
        )

    client_answering(record).post_transaction(BUNDLE)
    assert seen["authorization"] == "Bearer t"
    assert seen["content-type"] == "application/fhir+json"


def test_large_transaction_is_written_in_steps_citing_earlier_writes():
    entries = [
        {
            "fullUrl": f"urn:uuid:0000000{i}-0000-4000-8000-000000000000",
            "resource": {
                "resourceType": "Basic",
                "subject": {"reference": f"urn:uuid:0000000{i - 1}-0000-4000-8000-000000000000"}
                if i
                else {},
            },
            "request": {"method": "POST", "url": "Basic"},
        }
        for i in range(5)
    ]
    steps = []

    def answer(request):
        body = httpx.Response(200, content=request.content).json()
        steps.append(body)
        return httpx.Response(
            200,
            json={
                "resourceType": "Bundle",
                "type": "transaction-response",
                "entry": [
                    {"response": {"status": "201", "location": f"Basic/{len(steps)}-{n}"}}
                    for n in range(len(body["entry"]))
                ],
            },
        )

    result = client_answering(answer).write_transaction({**BUNDLE, "entry": entries}, max_entries=2)
    assert [len(s["entry"]) for s in steps] == [2, 2, 1]
    # The first entry of step 2 refers to the last entry of step 1 by its EHR id.
    assert steps[1]["entry"][0]["resource"]["subject"]["reference"] == "Basic/1-1"
    # Within a step, the placeholder stays for the EHR to resolve.
    assert steps[1]["entry"][1]["resource"]["subject"]["reference"].startswith("urn:uuid:")
    assert len(result.references) == 5
