"""Attack (issue 18, item 6): identifiers and references the database cannot keep (NUL bytes,
control characters, more than 255 characters) used to be a ``503 Retry-After`` on PostgreSQL
("database unavailable": EHRs retry, on-call is paged) and a ``201`` on SQLite. Now a 422
naming the element, on both; and a value the database still refuses is a 422/409, never a 503.
"""

from __future__ import annotations

import logging
import uuid

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from fixtures.responses import make_response
from sqlalchemy import insert

from intake.errors import install_error_handlers
from shared.db import session_scope
from shared.models import AuditEventRecord
from shared.models.base import utcnow

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

SECRET = "MRN-SECRET-0815"
CREATE = "system/QuestionnaireResponse.c"


def response(**changes: object) -> dict:
    resource = make_response(
        {"burning": True, "age": 44},
        patient="Patient/bad-ids",
        identifier=("urn:test:bad-ids", uuid.uuid4().hex),
    )
    resource.update(changes)
    return resource


BAD = {
    "NUL in identifier.value": (
        {"identifier": {"system": "urn:x", "value": f"{SECRET}\x00"}},
        "QuestionnaireResponse.identifier.value",
        "invalid",
    ),
    "256 characters in identifier.value": (
        {"identifier": {"system": "urn:x", "value": SECRET + "9" * 241}},
        "QuestionnaireResponse.identifier.value",
        "too-long",
    ),
    "a line break in identifier.system": (
        {"identifier": {"system": "urn:x\n" + SECRET, "value": "1"}},
        "QuestionnaireResponse.identifier.system",
        "invalid",
    ),
    "NUL in subject.reference": (
        {"subject": {"reference": f"https://ehr\x00{SECRET}.example/Patient/1"}},
        "QuestionnaireResponse.subject.reference",
        "invalid",
    ),
    "300 characters in author.reference": (
        {"author": {"reference": "Practitioner/" + "a" * 287}},
        "QuestionnaireResponse.author.reference",
        "too-long",
    ),
    "an escape in basedOn[0].reference": (
        {"basedOn": [{"reference": "ServiceRequest/1\x1b[2J"}]},
        "QuestionnaireResponse.basedOn[0].reference",
        "invalid",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_unstorable_identifiers_and_references_are_422_with_the_expression(
    smart_each_database, case
):
    changes, expression, code = BAD[case]
    smart = smart_each_database
    with smart.client(smart.token("ehr-writer", CREATE)) as api:
        reply = api.post("/QuestionnaireResponse", content=orjson.dumps(response(**changes)))
        entry = {
            "resource": response(**changes),
            "request": {"method": "POST", "url": "QuestionnaireResponse"},
        }
        batch = api.post("/", json={"resourceType": "Bundle", "type": "batch", "entry": [entry]})
    assert reply.status_code == 422, reply.text
    issue = reply.json()["issue"][0]
    assert (issue["code"], issue["expression"]) == (code, [expression])
    assert SECRET not in reply.text and "retry-after" not in reply.headers
    refused = batch.json()["entry"][0]["response"]
    assert refused["status"] == "422"
    in_bundle = expression.replace("QuestionnaireResponse", "Bundle.entry[0].resource")
    assert refused["outcome"]["issue"][0]["expression"] == [in_bundle]
    log = smart.stack.log_text()
    assert "database unavailable" not in log and SECRET not in log


def test_255_characters_are_still_accepted(smart_each_database):
    smart = smart_each_database
    value = uuid.uuid4().hex + "7" * (255 - 32)
    with smart.client(smart.token("ehr-writer", CREATE)) as api:
        reply = api.post(
            "/QuestionnaireResponse",
            content=orjson.dumps(response(identifier={"system": "urn:x", "value": value})),
        )
    assert reply.status_code == 201, reply.text


def _app_writing(values: dict) -> TestClient:
    """The intake's error handlers around one write straight to the database (no validation):
    what a value that slipped past validation would meet."""
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/write")
    def write() -> dict:
        with session_scope() as session:
            session.execute(insert(AuditEventRecord), [values])
        return {}

    return TestClient(app, raise_server_exceptions=False)


def _event(**values: object) -> dict:
    return {
        "id": uuid.uuid4().hex,
        "recorded": utcnow(),
        "agent": "ehr",
        "action": "R",
        "outcome": "0",
        "entity_type": None,
        "patient": None,
        "resource": "{}",
        **values,
    }


def test_a_conflicting_write_is_409_not_503(configured, caplog):
    event = _event()
    client = _app_writing(event)
    assert client.post("/write").status_code == 200
    with caplog.at_level(logging.WARNING):
        reply = client.post("/write")
    assert reply.status_code == 409, reply.text
    assert reply.json()["issue"][0]["code"] == "conflict"
    assert "retry-after" not in reply.headers
    assert event["id"] not in caplog.text


# PostgreSQL only: SQLite keeps text of any length, so there validation alone refuses it.
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_value_the_database_refuses_is_422_not_503(configured, caplog):
    client = _app_writing(_event(patient=f"Patient/{SECRET}" + "x" * 300))
    with caplog.at_level(logging.WARNING):
        reply = client.post("/write")
    assert reply.status_code == 422, reply.text
    assert reply.json()["resourceType"] == "OperationOutcome"
    assert SECRET not in reply.text and SECRET not in caplog.text
