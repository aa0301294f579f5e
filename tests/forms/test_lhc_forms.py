"""The screening Questionnaire in a standard SDC renderer: LHC-Forms 40.1.3 in headless Chromium.

render.mjs (see README.md) loads the published Questionnaire into LHC-Forms, checks that every
linkId is in the form model and that enableWhen hides and shows the right items, answers it by
clicking and typing on the page, and saves the QuestionnaireResponse LHC-Forms produces and a
screenshot. This test then feeds that response to the intake service's own validator: what a
standard renderer produces from our Questionnaire must be accepted by our intake.

Needs Node, npm (``npm ci`` in tests/forms runs when needed) and /usr/bin/chromium. A missing
browser or Node fails the test in CI (``NEUROSCREEN_REQUIRE_SERVICES=1``) and skips it loudly
elsewhere.
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from intake.questionnaire import CANONICAL, VERSION
from intake.validation import validate_questionnaire_response
from shared.fhir.outcome import FhirError

FORMS_DIR = Path(__file__).resolve().parent
ROOT = FORMS_DIR.parents[1]
QUESTIONNAIRE = ROOT / "shared/fhir/questionnaire/immune-neuropathy-screen.json"
RENDER_SCRIPT = FORMS_DIR / "render.mjs"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
REQUIRED = os.environ.get("NEUROSCREEN_REQUIRE_SERVICES") == "1"
ARTIFACTS = os.environ.get("NEUROSCREEN_TEST_FORMS_ARTIFACTS")
"""A directory to keep the QuestionnaireResponse and screenshot in (default: pytest's tmp_path)."""

NPM_CI_TIMEOUT = 120.0
RENDER_TIMEOUT = 60.0  # render.mjs gives up by itself after 50 s
SUBJECT = {"reference": "Patient/lhc-1"}


def unavailable(message: str) -> None:
    if REQUIRED:
        pytest.fail(f"{message}; CI requires it", pytrace=False)
    pytest.skip(f"SKIPPED LOUDLY: {message}; install it to run the LHC-Forms browser test")


def _install_is_stale() -> bool:
    # npm rewrites node_modules/.package-lock.json on every install (as in tests/ehr_server.py).
    stamp = FORMS_DIR / "node_modules" / ".package-lock.json"
    if not stamp.exists():
        return True
    installed = stamp.stat().st_mtime
    return any(
        (FORMS_DIR / name).stat().st_mtime > installed
        for name in ("package-lock.json", "package.json", ".npmrc")
    )


def ensure_node_modules(npm: str) -> None:
    """`npm ci` in tests/forms when node_modules is missing or older than the lock file.

    tests/ehr_server.ensure_node_modules is hard-wired to tests/ehr, so this is its twin,
    with the same file lock for parallel workers.
    """
    lock_path = Path(tempfile.gettempdir()) / f"neuroscreen-forms-npm-{os.getuid()}.lock"
    with lock_path.open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if not _install_is_stale():
            return
        try:
            result = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=FORMS_DIR,
                capture_output=True,
                text=True,
                timeout=NPM_CI_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"`npm ci` in {FORMS_DIR} took over {NPM_CI_TIMEOUT:.0f} s", pytrace=False)
        if result.returncode != 0:
            pytest.fail(
                f"`npm ci` in {FORMS_DIR} failed with exit code {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}",
                pytrace=False,
            )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Runs render.mjs once: its summary, the QuestionnaireResponse and the screenshot path."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable("Node.js and npm are not on PATH")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    ensure_node_modules(npm)

    out = Path(ARTIFACTS) if ARTIFACTS else tmp_path_factory.mktemp("lhc-forms")
    out.mkdir(parents=True, exist_ok=True)
    qr_path, png_path = out / "questionnaire-response.json", out / "lhc-forms.png"
    for stale in (qr_path, png_path):
        stale.unlink(missing_ok=True)
    try:
        result = subprocess.run(
            [node, str(RENDER_SCRIPT), str(QUESTIONNAIRE), str(qr_path), str(png_path)],
            cwd=FORMS_DIR,
            capture_output=True,
            text=True,
            timeout=RENDER_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"render.mjs did not finish in {RENDER_TIMEOUT:.0f} s: {error}", pytrace=False)
    if result.returncode != 0:
        pytest.fail(
            f"render.mjs failed (exit {result.returncode}):\n{result.stderr}\n{result.stdout}",
            pytrace=False,
        )
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    return {
        "summary": summary,
        "qr": json.loads(qr_path.read_text()),
        "screenshot": png_path,
    }


def _issues(error: FhirError) -> str:
    return json.dumps([issue.to_fhir() for issue in error.issues], indent=2)


def test_lhc_forms_renders_every_item(rendered: dict[str, Any]) -> None:
    summary = rendered["summary"]
    assert summary["ok"] is True
    assert summary["lformsVersion"] == "40.1.3"
    linkids: list[str] = []

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            linkids.append(item["linkId"])
            walk(item.get("item", []))

    walk(json.loads(QUESTIONNAIRE.read_text())["item"])
    assert summary["linkIds"] == len(linkids)  # render.mjs found each one in the form model
    assert summary["helpItems"] == 7


def test_what_lhc_forms_produces_is_what_the_patient_entered(rendered: dict[str, Any]) -> None:
    qr = rendered["qr"]
    assert qr["resourceType"] == "QuestionnaireResponse"
    # LHC-Forms cites the versioned canonical and marks the response completed by itself...
    assert qr["questionnaire"] == f"{CANONICAL}|{VERSION}"
    assert qr["status"] == "completed"
    # ...but knows no patient: it has no FHIR context here, so there is no subject.
    assert "subject" not in qr
    assert qr["meta"]["tag"] == [{"code": "lformsVersion: 40.1.3"}]
    # Hidden items (enableWhen false) and unanswered questions are left out.
    assert set(rendered["summary"]["answered"]) == {
        "age", "sex", "burning", "electric-shocks", "tingling", "numbness", "regions",
        "spread-pattern", "recent-infection", "weight-loss", "known-conditions", "diabetes",
        "one-side-body", "chemotherapy", "chemotherapy-when", "onset-speed",
    }  # fmt: skip


def test_lhc_forms_response_passes_the_intake_validator(rendered: dict[str, Any]) -> None:
    produced = rendered["qr"]

    # As produced, the only thing our intake misses is the patient (LHC-Forms had none).
    with pytest.raises(FhirError) as raw:
        validate_questionnaire_response(json.dumps(produced).encode())
    assert [(i.code, i.expression) for i in raw.value.issues] == [
        ("required", "QuestionnaireResponse.subject")
    ], _issues(raw.value)

    qr = copy.deepcopy(produced)
    qr["subject"] = SUBJECT
    qr["status"] = "completed"
    qr.setdefault("questionnaire", f"{CANONICAL}|{VERSION}")
    try:
        validated = validate_questionnaire_response(json.dumps(qr).encode())
    except FhirError as error:
        pytest.fail(
            f"the intake validator rejects LHC-Forms' QuestionnaireResponse "
            f"({type(error).__name__}):\n{_issues(error)}",
            pytrace=False,
        )
    assert validated.patient_reference == "Patient/lhc-1"
    answers = validated.answers
    assert answers["age"] == 52
    assert answers["sex"] == "female"
    assert answers["burning"] is True
    assert answers["tingling"] is True
    assert answers["numbness"] is True
    assert answers["electric-shocks"] is False
    assert answers["spread-pattern"] == "separate-nerves"
    assert isinstance(answers["regions"], tuple)
    assert set(answers["regions"]) == {"left-foot", "right-hand"}
    assert answers["known-conditions"] == ("sjogren",)
    assert answers["recent-infection"] is False
    assert answers["weight-loss"] is True
    assert answers["diabetes"] is False
    assert "testicular-pain" not in answers  # hidden once sex is Female
    # Version 1.1.0 items, the enableWhen-dependent one included.
    assert answers["one-side-body"] is False
    assert answers["chemotherapy"] is True
    assert answers["chemotherapy-when"] == "over-12-months-ago"
    assert answers["onset-speed"] == "weeks-to-months"


def test_screenshot_shows_the_whole_form(rendered: dict[str, Any]) -> None:
    png: Path = rendered["screenshot"]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 50_000, f"{png} is only {len(data)} bytes"
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    assert width == 1280
    assert height > 1500, f"a full-page screenshot of ~50 questions is taller than {height} px"
