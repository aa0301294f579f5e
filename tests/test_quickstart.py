"""The README's quickstart, run verbatim against ``make run``'s stack (SQLite, SQLite broker).

The shell block is read from README.md at test time (the fenced block after the
marker comment), so a README edit that breaks the quickstart breaks this test.
Only ``BASE`` comes from outside, as the README allows (the stack runs on free
ports here, not 8000).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.local_run import READY, LocalRun, local_run
from support.stack import PATIENCE, ROOT

pytestmark = pytest.mark.slow

MARKER = "<!-- tests/test_quickstart.py runs the next block verbatim"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def quickstart_block() -> str:
    readme = (ROOT / "README.md").read_text()
    after = readme[readme.index(MARKER) :]
    match = re.search(r"```sh\n(.*?)```", after, re.DOTALL)
    assert match, "no ```sh block after the quickstart marker"
    return match.group(1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRun]:
    with local_run(tmp_path_factory.mktemp("quickstart")) as run:
        run.wait_for_line(READY, 120)
        yield run


def test_the_readme_quickstart_works_as_printed(stack: LocalRun, tmp_path: Path) -> None:
    block = quickstart_block()
    assert "/tmp/" not in block and "| head" not in block and "| tee" not in block
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEUROSCREEN_")}
    env.update(BASE=stack.base_url, TMPDIR=str(tmp_path))  # mktemp honours TMPDIR
    done = subprocess.run(
        ["bash", "-c", block],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120 * PATIENCE,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr
    lines = done.stdout.splitlines()

    # 1. the POST: stored, its answer written whole to a private temp file
    assert lines[0] == "POST QuestionnaireResponse: HTTP 201"
    (kept,) = list(tmp_path.iterdir())
    assert kept.stat().st_mode & 0o077 == 0, "the temp file is readable by others"
    stored = json.loads(kept.read_text())
    assert stored["resourceType"] == "QuestionnaireResponse"
    # 2. the id read from it
    assert re.fullmatch(f"stored as QuestionnaireResponse/({UUID})", lines[1])
    response_id = stored["id"]
    assert lines[1].endswith(response_id)
    # 3. neuroscreen status: scored, and the tier the sample response earns
    assert lines[2] == f"QuestionnaireResponse/{response_id}"
    assert lines[3].startswith("  state: ")
    assert lines[3].split()[1] != "received", "the status step did not wait for the screening"
    assert lines[4].startswith("  tier:  urgent: ")
    assert lines[5] == "  EHR:   nothing written to an EHR"  # make run has no EHR
    # 4. the RiskAssessment search, pretty-printed: the one result, citing this response
    bundle = json.loads("\n".join(lines[6:]))
    assert bundle["total"] == 1
    (entry,) = bundle["entry"]
    assessment = entry["resource"]
    assert assessment["basis"][0]["reference"] == f"QuestionnaireResponse/{response_id}"
    tiers = assessment["prediction"][0]["qualitativeRisk"]["coding"]
    assert {"urgent"} <= {coding["code"] for coding in tiers}
    assert "not a diagnosis" in assessment["note"][0]["text"]
