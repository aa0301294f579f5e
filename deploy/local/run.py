"""``make run``: every NeuroScreen process on this machine, on the embedded default.

Starts the intake API, the outbox relay, the screening worker, the notify
worker and the notify admin API as child processes with the same commands the containers
use, after migrating the database. Their output goes to ``<data dir>/log/<name>.log``
(``--verbose``, i.e. ``make run VERBOSE=1``: to this terminal); the terminal gets one
"ready" line once every service answers its readiness check, so the URL and the
token are not scrolled away. Ctrl-C stops them all; if one dies, the others are
stopped too so nothing runs half-configured.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import httpx

from shared.config import Settings, get_settings
from shared.migrate import upgrade
from shared.relay import heartbeat_path
from shared.worker_ready import ready_file

DEV_TOKEN = "dev-token"
DEV_TOKEN_SCOPES = "system/*.cruds system/neuroscreen.admin"
BIN = Path(sys.executable).parent
READY_WAIT_SECONDS = 180.0
"""Give up (and stop everything) when a service is not ready after this long."""
STILL_WAITING_EVERY_SECONDS = 15.0


def _commands() -> dict[str, list[str]]:
    celery = [str(BIN / "celery")]
    return {
        "intake": [str(BIN / "neuroscreen-intake")],
        "relay": [str(BIN / "neuroscreen-relay")],
        "screening": [
            *celery,
            "-A",
            "screening.worker",
            "worker",
            "-Q",
            "screening",
            "--concurrency",
            "1",
            "--loglevel",
            "INFO",
            "-n",
            "screening@%h",
        ],
        "notify": [
            *celery,
            "-A",
            "notify.worker",
            "worker",
            "-Q",
            "notify",
            "--concurrency",
            "1",
            "--loglevel",
            "INFO",
            "-n",
            "notify@%h",
        ],
        "notify-api": [str(BIN / "neuroscreen-notify-api")],
    }


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _touched_since(path: Path, started: float) -> bool:
    try:
        return path.stat().st_mtime >= started
    except FileNotFoundError:
        return False


def readiness_checks(settings: Settings, started: float) -> dict[str, Callable[[], bool]]:
    """Per service, the check its deployment probe makes (or its equivalent here)."""
    intake, notify = _local_url(settings, "intake"), _local_url(settings, "notify")
    return {
        "intake": lambda: _answers(intake + "/readyz"),
        "relay": lambda: _touched_since(heartbeat_path(settings), started),
        "screening": lambda: _touched_since(ready_file(settings, "screening"), started),
        "notify": lambda: _touched_since(ready_file(settings, "notify"), started),
        "notify-api": lambda: _answers(notify + "/readyz"),
    }


def _local_url(settings: Settings, service: str) -> str:
    host = getattr(settings, f"{service}_host")
    port = getattr(settings, f"{service}_port")
    # A service listening on every interface is reached on loopback from here.
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"


def ready_line(settings: Settings) -> str:
    intake, notify = _local_url(settings, "intake"), _local_url(settings, "notify")
    return (
        f"NeuroScreen is ready: FHIR base URL {intake}/fhir  token {settings.intake_tokens[0]}"
        f"  console {notify}/console"
        f"  (ports: intake {settings.intake_port}, notify admin {settings.notify_port})"
    )


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__.splitlines()[0])
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="every service's output here, not in log files"
    )
    verbose = parser.parse_args(argv).verbose
    os.environ.setdefault("NEUROSCREEN_INTAKE_TOKENS", DEV_TOKEN)
    # make run's token may do everything, the admin API included: said here, explicitly,
    # because a static token is never admin by default (issue 18, item 7).
    os.environ.setdefault("NEUROSCREEN_INTAKE_TOKEN_SCOPES", DEV_TOKEN_SCOPES)
    settings = get_settings()
    storage = (
        "SQLite under " + str(settings.data_dir.resolve()) if settings.uses_sqlite else "PostgreSQL"
    )
    log_dir = settings.data_dir / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    # Registration files to try SMART and CDS Hooks locally (README): add an EHR to one and
    # the intake re-reads it when it changes, no restart. Empty to start with.
    for setting, name in (
        ("smart_clients_file", "smart-clients.yaml"),
        ("cds_issuers_file", "cds-issuers.yaml"),
    ):
        if getattr(settings, setting) is None:
            path = settings.data_dir / name
            if not path.exists():  # a YAML list with no entries yet: append "- ..." entries
                path.write_text(f"# {name}: make run's registrations (README), re-read on change\n")
            os.environ[f"NEUROSCREEN_{setting.upper()}"] = str(path.resolve())
    where = "here" if verbose else f"in {log_dir}/ (make run VERBOSE=1 shows them here)"
    print(f"Starting NeuroScreen ({storage}); service logs {where}.", flush=True)
    upgrade()
    started = time.time()
    logs: dict[str, IO[bytes]] = {}
    children: dict[str, subprocess.Popen[bytes]] = {}
    for name, command in _commands().items():
        if verbose:
            children[name] = subprocess.Popen(command)
        else:
            logs[name] = (log_dir / f"{name}.log").open("ab")
            children[name] = subprocess.Popen(command, stdout=logs[name], stderr=subprocess.STDOUT)

    stopping = False

    def stop(*_args: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    waiting = dict(readiness_checks(settings, started))
    next_note = time.monotonic() + STILL_WAITING_EVERY_SECONDS
    deadline = time.monotonic() + READY_WAIT_SECONDS
    exit_code = 0
    while not stopping:
        dead = next((name for name, child in children.items() if child.poll() is not None), None)
        if dead:
            print(f"{dead} exited with {children[dead].returncode}; stopping the rest", flush=True)
            if not verbose:
                dead_log = log_dir / f"{dead}.log"
                print(f"--- last lines of {dead_log} ---\n{_tail(dead_log)}", flush=True)
            exit_code, stopping = 1, True
            break
        if waiting:
            waiting = {name: check for name, check in waiting.items() if not check()}
            if not waiting:
                print(ready_line(settings), flush=True)
                print(
                    f"EHR: {settings.ehr_base_url or 'none (alerts kept locally, state held)'}."
                    " Ctrl-C stops everything.",
                    flush=True,
                )
            elif time.monotonic() >= deadline:
                print(f"not ready after {READY_WAIT_SECONDS:.0f} s: {', '.join(waiting)}; stopping")
                exit_code, stopping = 1, True
                break
            elif time.monotonic() >= next_note:
                print(f"still starting: {', '.join(waiting)}", flush=True)
                next_note = time.monotonic() + STILL_WAITING_EVERY_SECONDS
        time.sleep(0.2 if waiting else 0.5)
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children.values():
        try:
            child.wait(timeout=40)
        except subprocess.TimeoutExpired:
            child.kill()
    for log in logs.values():
        log.close()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
