"""The README's SMART example (the EHR's side, in Python) runs as printed against make run.

The block is read from README.md at test time. It is run twice, as the README
says: the first run is refused (not registered), its printed entry is appended
to the clients file make run gave the intake, and the second run gets a token
and uses it, with the intake never restarted.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from support.local_run import READY, LocalRun, local_run
from support.stack import PATIENCE, ROOT, wait_until

pytestmark = pytest.mark.slow

MARKER = "<!-- tests/test_smart_example.py runs the next block as printed -->"


def example() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"```python\n(.*?)```", readme[readme.index(MARKER) :], re.DOTALL)
    assert match, "no ```python block after the SMART example marker"
    return match.group(1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRun]:
    with local_run(tmp_path_factory.mktemp("smart-example")) as run:
        run.wait_for_line(READY, 120)
        yield run


def run_example(stack: LocalRun, workdir: Path) -> list[str]:
    script = workdir / "ehr_token.py"
    script.write_text(example())
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEUROSCREEN_")}
    env["NEUROSCREEN_BASE"] = stack.base_url
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60 * PATIENCE,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_example_gets_a_token_once_registered_without_a_restart(
    stack: LocalRun, tmp_path: Path
) -> None:
    first = run_example(stack, tmp_path)
    assert first[-1] == "token endpoint: 400 invalid_client"
    assert (tmp_path / "my-ehr-key.json").stat().st_mode & 0o077 == 0
    entry = yaml.safe_load("\n".join(first[:3]))  # the printed clients-file entry
    assert entry[0]["client_id"] == "my-ehr" and "d" not in entry[0]["jwks"]["keys"][0]

    clients = stack.data_dir / "smart-clients.yaml"
    with clients.open("a") as file:
        file.write("\n".join(first[:3]) + "\n")  # as the README says: append the entry
    intake_pid = stack.process.pid

    # The intake notices the changed file at its next look-up (checked at most once a second).
    second = wait_until(
        lambda: (out := run_example(stack, tmp_path))[-1] != first[-1] and out,
        20,
        "the appended client to be accepted",
    )
    assert second[-2] == "token endpoint: 200 granted system/QuestionnaireResponse.crs"
    assert second[-1] == "search with the token: 200 Bundle"
    assert second[:3] == first[:3]  # the same key, kept in its file
    assert stack.process.pid == intake_pid and stack.process.poll() is None
