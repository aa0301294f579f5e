"""``neuroscreen post`` and ``neuroscreen status`` against ``make run``'s stack (SQLite)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.answers import EGPA_FOOT_DROP
from fixtures.responses import make_response
from support.local_run import READY, LocalRun, local_run

from cli.main import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRun]:
    with local_run(tmp_path_factory.mktemp("cli")) as run:
        run.wait_for_line(READY, 120)
        yield run


def neuroscreen(run: LocalRun, *arguments: str) -> list[str]:
    return ["--base", run.base_url, *arguments]


def write(tmp_path: Path, resource: dict) -> str:
    path = tmp_path / "response.json"
    path.write_text(json.dumps(resource))
    return str(path)


def test_post_prints_the_id_and_status_shows_tier_state_and_ehr(
    stack: LocalRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write(tmp_path, make_response(EGPA_FOOT_DROP, identifier=("urn:test", uuid.uuid4().hex)))
    assert main(neuroscreen(stack, "post", file)) == 0
    posted = capsys.readouterr()
    response_id = posted.out.strip()  # the id alone, for ID=$(neuroscreen post ...)
    assert f"stored as QuestionnaireResponse/{response_id}" in posted.err

    assert main(neuroscreen(stack, "status", response_id, "--wait", "60")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"QuestionnaireResponse/{response_id}"
    assert lines[2].startswith("  tier:  urgent: ") and "RiskAssessment/" in lines[2]
    # No EHR under make run: the alert is kept locally, nothing written to an EHR.
    assert lines[1].startswith("  state: ") and lines[1].split()[1] in {"scored", "sending", "held"}
    assert lines[3] == "  EHR:   nothing written to an EHR"

    assert main(neuroscreen(stack, "post", file)) == 0  # same identifier: idempotent
    again = capsys.readouterr()
    assert again.out.strip() == response_id
    assert "already stored" in again.err


def test_a_refusal_prints_the_servers_reasons(
    stack: LocalRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    resource = make_response(EGPA_FOOT_DROP)
    del resource["status"]
    assert main(neuroscreen(stack, "post", write(tmp_path, resource))) == 1
    error = capsys.readouterr().err
    assert "400 Bad Request" in error
    assert "at QuestionnaireResponse.status" in error


def test_status_of_an_unknown_id_says_so(
    stack: LocalRun, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(neuroscreen(stack, "status", "no-such-response")) == 1
    assert "404 Not Found" in capsys.readouterr().err


def test_an_unreachable_intake_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--base", "http://127.0.0.1:9/fhir", "status", "x"]) == 1
    assert "cannot reach the intake at http://127.0.0.1:9/fhir/" in capsys.readouterr().err


def test_a_missing_file_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["post", str(tmp_path / "nope.json")]) == 1
    assert "cannot read" in capsys.readouterr().err
