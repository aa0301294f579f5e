"""``$import`` on real processes (intake, relay, bulk screening worker; PostgreSQL, Redis):
lines validated like single POSTs, refused ones in an NDJSON error file with their line
numbers, the backlog screened on the bulk queue, and a re-run storing nothing twice."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fixtures.backlog import backlog_lines, backlog_response
from support.stack import BIN, PATIENCE, TOKEN, Stack, wait_until

NDJSON = {"Content-Type": "application/fhir+ndjson"}
VALID = 120


@pytest.fixture
def stack(postgres_url: str, redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    # Small batches and a small line limit, so both are crossed by a small file.
    stack = Stack.create(
        postgres_url, redis_url, tmp_path, import_batch_size="50", max_body_bytes="20000"
    )
    stack.start("intake")
    stack.start("relay")
    yield stack
    stack.stop_all()


def mixed_file() -> tuple[list[bytes], dict[int, str]]:
    """120 valid lines with 5 bad ones among them: line number -> what is wrong."""
    lines = list(backlog_lines(VALID))
    no_identifier = backlog_response(1000)
    del no_identifier["identifier"]
    breaks_questionnaire = backlog_response(1001)
    breaks_questionnaire["status"] = "in-progress"
    too_long = backlog_response(1002)
    too_long["text"] = {"status": "generated", "div": "<div>" + "x" * 30000 + "</div>"}
    bad = {
        3: b"{not json\n",
        10: json.dumps(no_identifier).encode() + b"\n",
        50: json.dumps(breaks_questionnaire).encode() + b"\n",
        51: json.dumps(too_long).encode() + b"\n",
        120: b'{"resourceType": "Patient"}\n',
    }
    for number, line in sorted(bad.items()):
        lines.insert(number - 1, line)
    lines.insert(20, b"\n")  # a blank line is skipped, and still counted
    return lines, {n if n < 21 else n + 1: "" for n in bad}


def upload(api: httpx.Client, lines: list[bytes]) -> httpx.Response:
    def chunks() -> Iterator[bytes]:  # streamed: chunked transfer, no Content-Length
        yield from lines

    return api.post("/QuestionnaireResponse/$import", content=chunks(), headers=NDJSON)


def counts(api: httpx.Client, reply: httpx.Response) -> dict:
    assert reply.status_code == 202, reply.text
    result = api.get(reply.headers["Content-Location"])
    assert result.status_code == 200, result.text
    return {
        p["name"]: next(v for k, v in p.items() if k.startswith("value"))
        for p in result.json()["parameter"]
    }


def stored_count(database_url: str) -> int:
    with psycopg.connect(database_url) as connection:
        return connection.execute("SELECT count(*) FROM questionnaire_response").fetchone()[0]


def test_a_backlog_is_stored_refusals_are_listed_by_line_and_a_rerun_stores_nothing_twice(
    stack: Stack, postgres_url: str
):
    lines, refused = mixed_file()
    with stack.client() as api:
        first = counts(api, upload(api, lines))
        error_file = api.get(first["errorFile"])
        again = counts(api, upload(api, lines))
    assert (first["status"], first["stored"], first["refused"]) == ("completed", VALID, 5)
    assert first["lines"] == len(lines)
    assert error_file.headers["content-type"].startswith("application/fhir+ndjson")
    outcomes = [json.loads(line) for line in error_file.text.splitlines()]
    assert [o["extension"][0]["valueInteger"] for o in outcomes] == sorted(refused)
    by_line = {o["extension"][0]["valueInteger"]: o for o in outcomes}
    assert by_line[3]["extension"][1]["valueInteger"] == 400
    assert by_line[10]["issue"][0]["expression"] == ["QuestionnaireResponse.identifier"]
    assert by_line[51]["extension"][1]["valueInteger"] == 422
    assert by_line[52]["issue"][0]["code"] == "too-costly"
    assert all(
        i["diagnostics"].startswith(f"line {n}: ") for n, o in by_line.items() for i in o["issue"]
    )
    assert (again["stored"], again["duplicates"], again["refused"]) == (0, VALID, 5)
    assert stored_count(postgres_url) == VALID


def test_the_backlog_is_screened_by_the_bulk_worker(stack: Stack, postgres_url: str):
    # Only the bulk worker runs: the backlog's jobs are on its queue, not the live one.
    stack.start("screening-bulk")
    with stack.client() as api:
        result = counts(api, upload(api, list(backlog_lines(20))))
    assert result["stored"] == 20

    def scored() -> bool:
        with psycopg.connect(postgres_url) as connection:
            return connection.execute("SELECT count(*) FROM screening").fetchone()[0] == 20

    wait_until(scored, 120, "the backlog to be screened")


def test_another_response_under_a_stored_identifier_is_refused_as_a_single_post_would_be(
    stack: Stack,
):
    changed = backlog_response(7)
    changed["authored"] = "2026-01-01T00:00:00Z"
    with stack.client() as api:
        counts(api, upload(api, list(backlog_lines(10))))
        result = counts(api, upload(api, [json.dumps(changed).encode() + b"\n"]))
        outcome = json.loads(api.get(result["errorFile"]).text.splitlines()[0])
    assert (result["stored"], result["refused"]) == (0, 1)
    assert outcome["issue"][0]["code"] == "duplicate"


def test_limits_and_media_type_give_clear_errors(postgres_url: str, redis_url: str, tmp_path: Path):
    stack = Stack.create(postgres_url, redis_url, tmp_path, import_max_lines="5")
    stack.start("intake")
    try:
        with stack.client() as api:
            too_many = upload(api, list(backlog_lines(8)))
            wrong_type = api.post("/QuestionnaireResponse/$import", content=b"{}")
            status = api.get(too_many.headers["Content-Location"]).json()
    finally:
        stack.stop_all()
    assert too_many.status_code == 413
    assert "NEUROSCREEN_IMPORT_MAX_LINES (5)" in too_many.json()["issue"][0]["diagnostics"]
    assert {"name": "status", "valueCode": "failed"} in status["parameter"]
    assert {"name": "stored", "valueInteger": 5} in status["parameter"]
    assert wrong_type.status_code == 415


def test_the_command_line_imports_a_file_and_saves_the_error_file_beside_it(
    stack: Stack, tmp_path: Path
):
    lines, refused = mixed_file()
    backlog = tmp_path / "backlog.ndjson"
    backlog.write_bytes(b"".join(lines))
    command = [str(BIN / "neuroscreen"), "--base", stack.base_url, "--token", TOKEN]
    done = subprocess.run(
        [*command, "import", str(backlog)],
        capture_output=True,
        text=True,
        timeout=120 * PATIENCE,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if str(VALID) in line)
    assert [cell.strip() for cell in row.split("│")[1:5]] == [str(len(lines)), str(VALID), "0", "5"]
    errors = (tmp_path / "backlog.ndjson.errors.ndjson").read_text().splitlines()
    assert [json.loads(e)["extension"][0]["valueInteger"] for e in errors] == sorted(refused)
