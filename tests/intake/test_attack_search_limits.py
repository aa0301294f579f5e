"""Attack (issue 18, item 9): searches built to crash or stall the intake. Refused on both
databases with a 400 OperationOutcome: a date past year 9999, and OR lists of thousands
of identifiers."""

from __future__ import annotations

import uuid

import httpx
import pytest
from support.smart_stack import SmartStack

from intake.search import MAX_TERMS

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

SEARCH = "system/QuestionnaireResponse.s system/RiskAssessment.s system/neuroscreen.admin"


@pytest.fixture
def api(smart_each_database: SmartStack) -> httpx.Client:
    with smart_each_database.client(smart_each_database.token("ehr-full", SEARCH)) as client:
        yield client


def assert_bad_request(reply: httpx.Response, words: str) -> None:
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert body["resourceType"] == "OperationOutcome"
    assert words in body["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    "value", ["gt9999", "9999-12-31", "le9999-12-31T23:59:59.999999Z", "lt99999"]
)
def test_a_date_past_year_9999_is_400_not_500(api, value):
    for path, name in (
        ("/QuestionnaireResponse", "_lastUpdated"),
        ("/RiskAssessment", "_lastUpdated"),
        ("/AuditEvent", "date"),
    ):
        reply = api.get(path, params={name: value})
        assert_bad_request(reply, "date")


def test_twenty_thousand_identifiers_are_refused_with_the_limit(api):
    terms = ",".join(["x"] * 20_000)  # short terms: the URL stays within the client's limit
    reply = api.get(f"/QuestionnaireResponse?identifier={terms}")
    assert_bad_request(reply, f"at most {MAX_TERMS} values")
    assert reply.json()["issue"][0]["code"] == "too-costly"


def test_repeated_parameters_count_towards_the_limit(api):
    params = [("identifier", f"urn:x|{n}") for n in range(MAX_TERMS + 1)]
    assert_bad_request(api.get("/QuestionnaireResponse", params=params), "at most")
    reply = api.get("/QuestionnaireResponse", params={"_id": ",".join(["x"] * (MAX_TERMS + 1))})
    assert_bad_request(reply, "at most")


def test_a_list_within_the_limit_is_answered(api):
    terms = ",".join(f"urn:x|{uuid.uuid4().hex}" for _ in range(MAX_TERMS))
    reply = api.get("/QuestionnaireResponse", params={"identifier": terms})
    assert reply.status_code == 200, reply.text
    assert reply.json()["total"] == 0
