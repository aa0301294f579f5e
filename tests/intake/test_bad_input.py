"""Every kind of bad input gets a clear OperationOutcome and the right status,
and none of it disturbs what the intake had already accepted."""

from __future__ import annotations

import socket
import uuid

import httpx
import orjson
import pytest
from fixtures.responses import make_response
from support.stack import Stack

SECRET_IDENTIFIER = "MRN-SECRET-4711"


def outcome(reply: httpx.Response, status: int) -> dict:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/fhir+json")
    body = reply.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"]
    return body


@pytest.fixture(scope="module")
def accepted(intake_stack: Stack) -> dict:
    """A response accepted before any bad input arrives."""
    with intake_stack.client() as api:
        resource = make_response(
            {"burning": True, "age": 61},
            patient="Patient/bad-input-survivor",
            identifier=("urn:oid:2.16.840.1.113883.3.9999", SECRET_IDENTIFIER),
        )
        reply = api.post("/QuestionnaireResponse", content=orjson.dumps(resource))
        assert reply.status_code == 201
        return reply.json()


def test_no_token_or_wrong_token_is_401_with_www_authenticate(intake_stack: Stack):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dGVzdA=="}):
        reply = httpx.get(intake_stack.base_url + "/QuestionnaireResponse", headers=headers)
        outcome(reply, 401)
        assert reply.headers["www-authenticate"].startswith("Bearer")


def test_malformed_json_is_400_with_line_and_column(api: httpx.Client, accepted: dict):
    body = outcome(api.post("/QuestionnaireResponse", content=b'{"resourceType": '), 400)
    assert "JSON" in body["issue"][0]["diagnostics"]
    broken = b'{\n  "resourceType": "QuestionnaireResponse",\n  "status": "completed",,\n}'
    for path in ("/QuestionnaireResponse", "/"):  # a Bundle post says the same
        diagnostics = outcome(api.post(path, content=broken), 400)["issue"][0]["diagnostics"]
        assert "not valid JSON" in diagnostics and "line 3, column 25" in diagnostics


def test_an_unknown_link_id_is_quoted_with_the_nearest_item(api: httpx.Client, accepted: dict):
    resource = make_response({"age": 61, "burnng": True}, nested=False)
    body = outcome(api.post("/QuestionnaireResponse", content=orjson.dumps(resource)), 422)
    (issue,) = body["issue"]
    assert issue["diagnostics"] == (
        "linkId 'burnng' is not an item of the Questionnaire; did you mean 'burning'?"
    )


def test_a_bad_answer_code_lists_the_allowed_codes(api: httpx.Client, accepted: dict):
    resource = make_response({"age": 61, "sex": "mail"}, nested=False)
    body = outcome(api.post("/QuestionnaireResponse", content=orjson.dumps(resource)), 422)
    (issue,) = body["issue"]
    assert issue["expression"] == ["QuestionnaireResponse.item[1].answer[0].valueCoding.code"]
    assert issue["diagnostics"].endswith("its codes are female, male, other")


def test_a_reference_search_without_an_id_is_400(api: httpx.Client, accepted: dict):
    for query in ("basis=QuestionnaireResponse/", "basis=QuestionnaireResponse/x,", "subject=/"):
        body = outcome(api.get(f"/RiskAssessment?{query}"), 400)
        assert "needs a reference with an id" in body["issue"][0]["diagnostics"]
    assert api.get(f"/RiskAssessment?basis=QuestionnaireResponse/{accepted['id']}").is_success


def test_wrong_resource_type_is_400(api: httpx.Client, accepted: dict):
    patient = {"resourceType": "Patient", "id": "x"}
    outcome(api.post("/QuestionnaireResponse", content=orjson.dumps(patient)), 400)


def test_wrong_media_type_is_415(api: httpx.Client, accepted: dict):
    reply = api.post(
        "/QuestionnaireResponse",
        content=b"<QuestionnaireResponse/>",
        headers={"Content-Type": "application/fhir+xml"},
    )
    outcome(reply, 415)


def test_body_over_the_limit_is_413_before_it_is_read(intake_stack: Stack, accepted: dict):
    # Declare 50 MB but send only the headers: the intake must answer without waiting for it.
    host, port = "127.0.0.1", int(intake_stack.env["NEUROSCREEN_INTAKE_PORT"])
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(
            b"POST /fhir/QuestionnaireResponse HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer test-token\r\nContent-Type: application/fhir+json\r\n"
            b"Content-Length: 52428800\r\n\r\n"
        )
        answer = _read_http_response(sock)
    assert answer.startswith("HTTP/1.1 413")
    assert "OperationOutcome" in answer


def _read_http_response(sock: socket.socket) -> str:
    """The whole response: head and body may arrive in separate TCP segments."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data.decode()
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return (head + b"\r\n\r\n" + body).decode()


def test_chunked_body_over_the_limit_is_413(api: httpx.Client, accepted: dict):
    def chunks():
        for _ in range(200):
            yield b" " * 10_000

    outcome(api.post("/QuestionnaireResponse", content=chunks()), 413)


def test_deeply_nested_json_is_400(api: httpx.Client, accepted: dict):
    deep = b'{"resourceType":"QuestionnaireResponse","x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    outcome(api.post("/QuestionnaireResponse", content=deep), 400)


def test_unknown_resource_type_is_404_and_unsupported_interaction_405(
    api: httpx.Client, accepted: dict
):
    outcome(api.get("/Medication"), 404)
    outcome(api.delete(f"/QuestionnaireResponse/{accepted['id']}"), 405)
    outcome(api.put(f"/QuestionnaireResponse/{accepted['id']}", content=b"{}"), 405)
    outcome(api.get(f"/QuestionnaireResponse/{uuid.uuid4()}"), 404)


def test_breaking_the_questionnaire_lists_every_problem_with_its_location(
    api: httpx.Client, accepted: dict
):
    resource = make_response({"burning": True, "age": 40}, patient="Group/g1")
    resource["status"] = "in-progress"
    resource["questionnaire"] = "http://example.org/Questionnaire/other"
    body = outcome(api.post("/QuestionnaireResponse", content=orjson.dumps(resource)), 422)
    expressions = {e for issue in body["issue"] for e in issue.get("expression", [])}
    assert {"QuestionnaireResponse.status", "QuestionnaireResponse.questionnaire"} <= expressions
    assert any(e.startswith("QuestionnaireResponse.subject") for e in expressions)


def test_bad_input_never_disturbs_what_was_accepted(api: httpx.Client, accepted: dict):
    # Runs after the bad-input tests above (file order): the stored response is intact.
    reply = api.get(f"/QuestionnaireResponse/{accepted['id']}")
    assert reply.status_code == 200
    assert reply.json()["item"] == accepted["item"]


def test_logs_carry_no_answers_or_identifier_values(intake_stack: Stack, accepted: dict):
    logs = intake_stack.log_text()
    assert accepted["id"] in logs or "request" in logs
    assert SECRET_IDENTIFIER not in logs
    assert "bad-input-survivor" not in logs
    assert "valueBoolean" not in logs
