"""deploy/local/cds_ehr.py: CDS Hooks tried under make run, signed as an EHR signs its calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from support.local_run import READY, LocalRun, local_run
from support.stack import ROOT

from cli.main import main as neuroscreen

pytestmark = pytest.mark.slow
SCRIPT = ROOT / "deploy/local/cds_ehr.py"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRun]:
    with local_run(tmp_path_factory.mktemp("cds-ehr")) as run:
        run.wait_for_line(READY, 120)
        yield run


def cds_ehr(run: LocalRun, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEUROSCREEN_")}
    env["NEUROSCREEN_DATA_DIR"] = str(run.data_dir)
    base = run.base_url.removesuffix("/fhir")
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--base", base, *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_register_then_discovery_and_a_card(stack: LocalRun, capsys: pytest.CaptureFixture[str]):
    assert cds_ehr(stack, "discovery").returncode != 0  # no key yet: nothing is trusted
    registered = cds_ehr(stack, "register")
    assert registered.returncode == 0, registered.stderr
    assert "registered urn:neuroscreen:local-ehr" in registered.stdout
    key = stack.data_dir / "cds-ehr" / "key.json"
    assert key.stat().st_mode & 0o077 == 0  # the private key is the user's alone

    found = cds_ehr(stack, "discovery")  # the intake re-read the issuers file: no restart
    assert found.returncode == 0, found.stdout + found.stderr
    services = json.loads(found.stdout)["services"]
    assert [s["id"] for s in services] == ["immune-neuropathy-screen"]

    base = ["--base", stack.base_url]
    assert neuroscreen([*base, "post", str(ROOT / "tests/fixtures/qr-sample.json")]) == 0
    response_id = capsys.readouterr().out.strip()
    assert neuroscreen([*base, "status", response_id, "--wait", "60"]) == 0
    assert "tier:  urgent" in capsys.readouterr().out

    shown = cds_ehr(stack, "patient-view", "example")  # the sample's subject: Patient/example
    assert shown.returncode == 0, shown.stdout + shown.stderr
    (card,) = json.loads(shown.stdout)["cards"]
    assert card["indicator"] == "critical"
    assert "decision support" in card["summary"].lower()


def test_registering_twice_keeps_one_entry_and_the_same_key(stack: LocalRun):
    for _ in range(2):
        assert cds_ehr(stack, "register").returncode == 0
    issuers = (stack.data_dir / "cds-issuers.yaml").read_text()
    assert issuers.count("urn:neuroscreen:local-ehr") == 1
