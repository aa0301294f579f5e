"""Sorting EHR failures before retrying: a unit test over a fake transport."""

from __future__ import annotations

import httpx
import pytest

from notify.ehr_auth import StaticBearerAuth
from notify.ehr_client import EhrClient, FatalEhrError, TransactionTooLarge, TransientEhrError
from notify.transactions import write_in_steps

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

    result = write_in_steps(client_answering(answer), {**BUNDLE, "entry": entries}, max_entries=2)
    assert [len(s["entry"]) for s in steps] == [2, 2, 1]
    # The first entry of step 2 refers to the last entry of step 1 by its EHR id.
    assert steps[1]["entry"][0]["resource"]["subject"]["reference"] == "Basic/1-1"
    # Within a step, the placeholder stays for the EHR to resolve.
    assert steps[1]["entry"][1]["resource"]["subject"]["reference"].startswith("urn:uuid:")
    assert len(result.references) == 5


def basic_entries(count: int) -> list[dict]:
    """``count`` conditional creates, each citing the one before (as alerts do)."""
    urls = [f"urn:uuid:{n:08d}-0000-4000-8000-000000000000" for n in range(count)]
    return [
        {
            "fullUrl": urls[n],
            "resource": {
                "resourceType": "Basic",
                "identifier": [{"system": "urn:test", "value": str(n)}],
                **({"subject": {"reference": urls[n - 1]}} if n else {}),
            },
            "request": {"method": "POST", "url": "Basic", "ifNoneExist": f"identifier={n}"},
        }
        for n in range(count)
    ]


def capped_ehr(cap: int, refusal: tuple[int, dict]) -> tuple[list[int], object]:
    """An EHR that refuses transactions of more than ``cap`` entries with ``refusal``."""
    sizes: list[int] = []

    def answer(request):
        entries = httpx.Response(200, content=request.content).json()["entry"]
        sizes.append(len(entries))
        if len(entries) > cap:
            return httpx.Response(refusal[0], json=refusal[1])
        return httpx.Response(
            200,
            json={
                "resourceType": "Bundle",
                "type": "transaction-response",
                "entry": [
                    {"response": {"status": "201", "location": f"Basic/{e['fullUrl'][9:17]}"}}
                    for e in entries
                ],
            },
        )

    return sizes, answer


MEDPLUM_TOO_MANY = (
    400,
    {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "invalid",
                "details": {
                    "text": "Transaction requires strict isolation but has too many entries"
                },
            }
        ],
    },
)


def test_default_size_fits_an_unmodified_medplum_without_a_refusal():
    sizes, answer = capped_ehr(8, MEDPLUM_TOO_MANY)
    result = write_in_steps(client_answering(answer), {**BUNDLE, "entry": basic_entries(20)})
    assert sizes == [8, 8, 4]
    assert len(result.references) == 20


@pytest.mark.parametrize(
    "refusal",
    [
        MEDPLUM_TOO_MANY,
        (413, {}),
        (
            422,
            {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "too-costly", "diagnostics": "no"}],
            },
        ),
        (
            400,
            {
                "resourceType": "OperationOutcome",
                "issue": [
                    {
                        "severity": "error",
                        "code": "processing",
                        "diagnostics": "Bundle exceeds the maximum of 3 entries",
                    }
                ],
            },
        ),
    ],
    ids=["medplum-400", "413", "too-costly", "other-words"],
)
def test_too_many_entries_splits_retries_and_remembers_the_size(refusal):
    sizes, answer = capped_ehr(3, refusal)
    client = client_answering(answer)
    bundle = {**BUNDLE, "entry": basic_entries(10)}
    result = write_in_steps(client, bundle, max_entries=10)  # the override is too big here
    assert len(result.references) == 10
    assert sizes[:3] == [10, 5, 2]  # refused, refused, then steps that fit
    assert sum(size for size in sizes if size <= 3) == 10
    # Every later step cites the earlier steps' resources by their EHR ids.
    cited = [r for r in result.by_full_url.values()]
    assert len(set(cited)) == 10
    # Learned for the process: the next alert is not refused first.
    sizes.clear()
    write_in_steps(client, bundle, max_entries=10)
    assert max(sizes) <= 3 and sum(sizes) == 10


def test_a_refusal_about_content_is_not_split():
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invariant", "details": {"text": "ras-2 not met"}}],
    }
    sizes, answer = capped_ehr(0, (400, outcome))
    with pytest.raises(FatalEhrError) as caught:
        write_in_steps(client_answering(answer), {**BUNDLE, "entry": basic_entries(6)})
    assert not isinstance(caught.value, TransactionTooLarge)
    assert sizes == [6]


def test_one_entry_still_too_large_is_fatal():
    sizes, answer = capped_ehr(0, MEDPLUM_TOO_MANY)
    with pytest.raises(TransactionTooLarge):
        write_in_steps(client_answering(answer), {**BUNDLE, "entry": basic_entries(4)})
    assert sizes == [4, 2, 1]
