"""``$rescreen`` over HTTP on real processes (intake, relay, bulk worker; PostgreSQL, Redis):
the FHIR asynchronous pattern, the report as Parameters, cancel, errors, ``_history``."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from fixtures.vignettes import MIXED_1_TO_2, vignette_answers
from sqlalchemy.orm import Session
from support.scored import store_scored
from support.smart_stack import SmartStack, start_smart_stack
from support.stack import BIN, PATIENCE, TOKEN, Stack, wait_until

from shared.db import make_engine
from shared.pipeline import ResponseState


@pytest.fixture
def stack(postgres_url: str, redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    stack = Stack.create(postgres_url, redis_url, tmp_path, rescreen_batch_size="3")
    engine = make_engine(postgres_url)
    answers = vignette_answers()
    with Session(engine) as session, session.begin():
        for case in MIXED_1_TO_2:
            store_scored(
                session, case, answers[case], state=ResponseState.NOTIFIED, version="1.0.0"
            )
    engine.dispose()
    stack.start("intake")
    stack.start("relay")
    yield stack
    stack.stop_all()


def parameters(**values: object) -> bytes:
    typed = {"knowledgeVersion": "valueString", "dryRun": "valueBoolean"}
    return orjson.dumps(
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": name, typed.get(name, "valueDateTime"): value}
                for name, value in values.items()
            ],
        }
    )


def start(api: httpx.Client, **values: object) -> str:
    reply = api.post("/QuestionnaireResponse/$rescreen", content=parameters(**values))
    assert reply.status_code == 202, reply.text
    return reply.headers["Content-Location"]


def finished(api: httpx.Client, status_url: str) -> dict:
    def ended() -> dict | None:
        reply = api.get(status_url)
        if reply.status_code == 202:
            assert "done" in reply.headers["X-Progress"]
            return None
        assert reply.status_code == 200, reply.text
        return reply.json()

    return wait_until(ended, 60, "the re-screening run to end", every=0.2)


def named(result: dict, name: str) -> list[dict]:
    return [p for p in result["parameter"] if p["name"] == name]


def value(result: dict, name: str) -> object:
    (parameter,) = named(result, name)
    return next(v for k, v in parameter.items() if k.startswith("value"))


def summaries(result: dict) -> dict[str, list[str]]:
    found = {}
    for transition in named(result, "transition"):
        parts = transition["part"]
        summary = next(p["valueString"] for p in parts if p["name"] == "summary")
        found[summary] = sorted(
            p["valueReference"]["reference"].split("/")[1] for p in parts if p["name"] == "response"
        )
    return found


def test_dry_run_is_asynchronous_and_reports_each_transition_with_its_responses(stack: Stack):
    stack.start("screening-bulk")
    with stack.client() as api:
        status_url = start(api, knowledgeVersion="2.0.0", dryRun=True)
        assert status_url.startswith(stack.base_url + "/_async/rescreen/")
        result = finished(api, status_url)
        risk = api.get(
            "/RiskAssessment", params={"basis": "QuestionnaireResponse/gbs-classic"}
        ).json()["entry"][0]["resource"]
    assert value(result, "status") == "completed"
    assert (value(result, "done"), value(result, "total")) == (7, 7)
    assert summaries(result) == {
        "low -> urgent: 1": ["g1-breathing-swallowing-alone"],
        "high -> moderate: 1": ["g2-asthma-and-polyps-not-high"],
        "moderate -> high: 1": ["g1-isolated-acute-foot-drop"],
        "low -> moderate: 1": ["diabetic-symmetric-feet"],
        "moderate -> low: 1": ["g3-metformin"],
    }
    assert len(named(result, "alert")) == 3  # would alert: the three that rose
    assert risk["method"]["coding"][0]["code"] == "1.0.0"  # a dry run writes nothing


def test_apply_makes_a_new_version_and_the_old_one_stays_readable(stack: Stack):
    stack.start("screening-bulk")
    with stack.client() as api:
        result = finished(api, start(api, knowledgeVersion="2.0.0", dryRun=False))
        assert value(result, "status") == "completed"
        search = api.get(
            "/RiskAssessment",
            params={"basis": "QuestionnaireResponse/g1-breathing-swallowing-alone"},
        ).json()
        risk_id = search["entry"][0]["resource"]["id"]
        current = api.get(f"/RiskAssessment/{risk_id}")
        history = api.get(f"/RiskAssessment/{risk_id}/_history").json()
        first = api.get(f"/RiskAssessment/{risk_id}/_history/1")
        missing = api.get(f"/RiskAssessment/{risk_id}/_history/9")
    assert search["total"] == 1
    assert current.headers["ETag"] == 'W/"2"'
    assert current.json()["method"]["coding"][0]["code"] == "2.0.0"
    assert history["type"] == "history"
    assert [
        (e["resource"]["meta"]["versionId"], e["resource"]["method"]["coding"][0]["code"])
        for e in history["entry"]
    ] == [("2", "2.0.0"), ("1", "1.0.0")]
    assert first.status_code == 200
    tier = first.json()["prediction"][0]["qualitativeRisk"]["coding"][0]["code"]
    assert (first.headers["ETag"], tier) == ('W/"1"', "low")
    assert missing.status_code == 404


def test_delete_cancels_a_run(stack: Stack):
    # No bulk worker yet: the run cannot have moved when it is cancelled.
    with stack.client() as api:
        status_url = start(api, knowledgeVersion="2.0.0", dryRun=False)
        assert api.get(status_url).status_code == 202
        assert api.delete(status_url).status_code == 202
        stack.start("screening-bulk")
        result = api.get(status_url)
    assert result.status_code == 200
    assert (value(result.json(), "status"), value(result.json(), "done")) == ("cancelled", 0)


def test_an_unknown_knowledge_version_fails_the_run_with_an_operation_outcome(stack: Stack):
    stack.start("screening-bulk")
    with stack.client() as api:
        status_url = start(api, knowledgeVersion="9.9.9", dryRun=True)
        reply = wait_until(
            lambda: (r := api.get(status_url)).status_code != 202 and r, 60, "the run to fail"
        )
    assert reply.status_code == 400
    assert reply.json()["resourceType"] == "OperationOutcome"
    assert "9.9.9" in reply.json()["issue"][0]["diagnostics"]


def test_bad_parameters_are_refused_each_with_its_expression(stack: Stack):
    with stack.client() as api:
        reply = api.post(
            "/QuestionnaireResponse/$rescreen",
            content=parameters(knowledgeVersion="latest", since="2026-12-01T00:00:00", color=1),
        )
        missing = api.get(stack.base_url + "/_async/rescreen/nope")
        capability = api.get("/metadata").json()
    assert reply.status_code == 400
    issues = reply.json()["issue"]
    assert [i["expression"] for i in issues] == [
        ["Parameters.parameter[2]"],
        ["Parameters.parameter[0]"],
        ["Parameters.parameter[1]"],
    ]
    assert missing.status_code == 404
    (resource,) = [
        r for r in capability["rest"][0]["resource"] if r["type"] == "QuestionnaireResponse"
    ]
    assert [o["name"] for o in resource["operation"]] == ["rescreen"]


@pytest.fixture
def smart(postgres_server: str, redis_server: str, tmp_path: Path) -> Iterator[SmartStack]:
    yield from start_smart_stack(postgres_server, redis_server, tmp_path)


def test_rescreen_needs_the_admin_scope(smart: SmartStack):
    token = smart.token("ehr-writer", "system/QuestionnaireResponse.c")
    with smart.client(token) as api:
        reply = api.post(
            "/QuestionnaireResponse/$rescreen", content=parameters(knowledgeVersion="2.0.0")
        )
    assert reply.status_code == 403
    assert "neuroscreen.admin" in reply.headers["WWW-Authenticate"]


def test_the_command_line_runs_a_dry_run_and_prints_the_transitions(stack: Stack):
    stack.start("screening-bulk")
    command = [str(BIN / "neuroscreen"), "--base", stack.base_url, "--token", TOKEN]
    done = subprocess.run(
        [*command, "rescreen", "--knowledge", "2.0.0", "--ids"],
        capture_output=True,
        text=True,
        timeout=120 * PATIENCE,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if "g1-breathing-swallowing-alone" in line]
    assert len(rows) == 1
    assert [cell.strip() for cell in rows[0].split("│")[1:4]] == ["low", "urgent", "1"]
    assert "would alert: 3" in done.stdout
    assert "dry run, completed: 7 of 7" in done.stdout.replace("\n", " ")
